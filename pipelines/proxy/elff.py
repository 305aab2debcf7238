"""The grammar of one ELFF log line, written once for Python (bluecoat.py, the master) and
for Java's regular expressions (parse.py, inside the JVM): the same pattern text, with `\\Z`
(Python) or `\\z` (Java) for "the very end" (Java's `$` accepts a final line terminator).
Atomic groups and possessive quantifiers make each match one linear pass in both.

- A line may arrive behind a syslog header (RFC 5424 `<PRI>1 TIMESTAMP HOST APP PROCID
  MSGID SD `, or RFC 3164 `[<PRI>]Mmm dd hh:mm:ss HOST [TAG[PID]: ]`, also with an ISO
  timestamp as rsyslog writes files): SYSLOG matches it, and it is not part of the record.
- Fields are separated by runs of spaces and tabs outside quotes (the original framework
  collapsed them before splitting); leading and trailing ones count for nothing.
- A field starting with `"` runs to the next `"`, which must be followed by a separator or
  the end (no escape inside: Blue Coat writes none); the quotes are not part of the value.
  Any other field runs to the next separator; a `"` inside it is an ordinary character.
- `#Fields: name name ...` (possibly behind a syslog header) declares the layout of the
  lines that follow; every line starting with `#` is a directive, not a record.
"""
from __future__ import annotations

import re

_END = "(?:END)"
_FIELD = r'(?>"[^"]*+"|[^ \t"][^ \t]*+)'
_SYSLOG = (
    r"^(?:<[0-9]{1,3}>[0-9]{1,2} [^ ]++ [^ ]++ [^ ]++ [^ ]++ [^ ]++ "
    r'(?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*+")*+\])++) (?:\ufeff)?+'
    r"|(?:<[0-9]{1,3}>)?+"
    r"(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]++)?+"
    r'(?:Z|[+-][0-9]{2}:[0-9]{2})) [^ ]++ (?:[^ :\[\]"#][^ :\[\]"]*+(?:\[[0-9]++\])?+: )?+)')
_WELL_FORMED = rf"^[ \t]*+(?:{_FIELD}(?:[ \t]++{_FIELD})*+)?+[ \t]*+{_END}"
_UNCLOSED = rf'^[ \t]*+(?:{_FIELD}[ \t]++)*+"[^"]*+{_END}'
_DIRECTIVE = r"^#Fields:[ \t]*+(.*)"
_DATE = r"^([0-9]{4})-([0-9]{2})-([0-9]{2})" + _END
_TIME = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]++)?+" + _END
_INTEGER = r"^-?[0-9]++" + _END


def java(pattern: str) -> str:
    return pattern.replace(_END, r"\z")


def python(pattern: str) -> str:
    return pattern.replace(_END, r"\Z")


FIELD = _FIELD                    # one field, quotes included (regexp_extract_all)
SYSLOG, WELL_FORMED, UNCLOSED = _SYSLOG, _WELL_FORMED, _UNCLOSED
DATE, TIME, INTEGER = _DATE, _TIME, _INTEGER

_syslog = re.compile(python(_SYSLOG))
_directive = re.compile(_DIRECTIVE)
_separators = re.compile(r"[ \t]+")


def strip_syslog(text: str) -> str:
    """The record behind a syslog header (the text itself when it has none)."""
    match = _syslog.match(text)
    return text[match.end():] if match else text


def directive_fields(line: bytes) -> tuple[str, ...] | None:
    """The field names a `#Fields:` line declares (behind a syslog header or not; trailing
    CRs ignored), None for any other line or a `#Fields:` that names nothing."""
    text = strip_syslog(line.rstrip(b"\r\n").decode("utf-8", "replace"))
    match = _directive.match(text)
    if not match:
        return None
    names = tuple(n for n in _separators.split(match.group(1).strip()) if n)
    return names or None
