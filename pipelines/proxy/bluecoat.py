"""Blue Coat ProxySG access log, ELFF "main" format -> `proxy` table rows: the reference parser.

This module is the contract for one log line. The Spark job (job.py) applies the same
contract with Spark SQL functions inside the JVM; the tests hold the two to the same answers
on the same lines, so every rule below is deliberate and small.

Line grammar (SPEC.md):
  * a line is split off its message at `\\n`; trailing `\\r` characters are stripped (CRLF);
  * an empty line, or one starting with `#` (the `#Software`, `#Version`, `#Date`, `#Fields`
    headers, repeated whenever the proxy restarts its log), is skipped: neither row nor
    rejection;
  * fields are separated by one space; two spaces in a row hold an empty field between them;
  * a field starting with `"` is quoted: it runs to the next `"`, which must be followed by a
    space or the end of the line; the quotes are not part of the value, there is no escape
    inside (Blue Coat never writes one there);
  * any other field runs to the next space; a `"` inside it (not first) is an ordinary
    character;
  * a tab is an ordinary character, not a separator. Blue Coat's ELFF writes spaces; a
    tab-separated line therefore arrives as fewer, wider fields and is rejected for its field
    count instead of being silently re-split (which could shift values between columns);
  * `-` (or an empty field) means empty: "" in string columns, NULL in the integer columns
    duration, scbytes, csbytes.

A line that does not fit is rejected with one reason, checked in this order: invalid UTF-8,
unclosed quote, text after a closing quote, wrong field count, unparseable date, unparseable
time, then the integer columns in table order.
"""
from __future__ import annotations

import calendar
import re
from collections import namedtuple
from collections.abc import Iterator
from typing import NamedTuple

from common.schemas import PROXY

FIELD_COUNT = 27
FIELDS = (  # ELFF names, by 0-based position (SPEC.md)
    "date", "time", "time-taken", "c-ip", "cs-username", "cs-auth-group", "x-exception-id",
    "sc-filter-result", "cs-categories", "cs(Referer)", "sc-status", "s-action", "cs-method",
    "rs(Content-Type)", "cs-uri-scheme", "cs-host", "cs-uri-port", "cs-uri-path",
    "cs-uri-query", "cs-uri-extension", "cs(User-Agent)", "s-ip", "sc-bytes", "cs-bytes",
    "x-virus-id", "x-bluecoat-application-name", "x-bluecoat-application-operation",
)
COLUMN_FIELDS: dict[str, int] = {  # table column -> field position; fulluri is derived
    "p_date": 0, "p_time": 1, "clientip": 3, "host": 15, "reqmethod": 12, "useragent": 20,
    "resconttype": 13, "duration": 2, "username": 4, "authgroup": 5, "exceptionid": 6,
    "filterresult": 7, "webcat": 8, "referer": 9, "respcode": 10, "action": 11,
    "urischeme": 14, "uriport": 16, "uripath": 17, "uriquery": 18, "uriextension": 19,
    "serverip": 21, "scbytes": 22, "csbytes": 23, "virusid": 24, "bcappname": 25,
    "bcappoper": 26,
}
INT_COLUMNS = tuple(c.name for c in PROXY.columns if c.hive_type == "INT")
PARTITION_COLUMNS = tuple(c.name for c in PROXY.partition_columns)
EMPTY = "-"
INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1

# Reasons, shared with the Spark job so both name a problem the same way.
INVALID_UTF8 = "invalid UTF-8"
UNCLOSED_QUOTE = "unclosed quote"
TEXT_AFTER_QUOTE = "text after a closing quote"
BAD_DATE = "unparseable date"
BAD_TIME = "unparseable time"
WRONG_FIELD_COUNT = f"wrong field count: %d (expected {FIELD_COUNT})"  # printf: Java's too


def wrong_field_count(found: int) -> str:
    return WRONG_FIELD_COUNT % found


def non_integer(column: str) -> str:
    return f"non-integer {column}"


def out_of_int_range(column: str) -> str:
    return f"{column} out of INT range"


# The table's 28 columns, then the partition values: derived from the one declaration.
Row = namedtuple("Row", PROXY.column_names + list(PARTITION_COLUMNS))


class Rejected(NamedTuple):
    reason: str
    line: bytes  # the line as received, trailing CRs removed


class Malformed(ValueError):
    """A line that does not fit the grammar; str() is the reason."""


_INTEGER = re.compile(r"-?[0-9]+")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]")


def split_fields(text: str) -> list[str]:
    """The fields of one line, quotes removed; raises Malformed for broken quoting."""
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise Malformed(UNCLOSED_QUOTE)
            fields.append(text[i + 1:close])
            i = close + 1
            if i < n and text[i] != " ":
                raise Malformed(TEXT_AFTER_QUOTE)
        else:
            space = text.find(" ", i)
            end = n if space < 0 else space
            fields.append(text[i:end])
            i = end
        if i >= n:
            return fields
        i += 1  # the separating space; a trailing one leaves an empty last field


def clean(value: str) -> str:
    """`-` means empty."""
    return "" if value == EMPTY else value


def to_int(value: str, column: str) -> int | None:
    """Empty -> None; otherwise a decimal INT, or Malformed naming the column."""
    if value in ("", EMPTY):
        return None
    if not _INTEGER.fullmatch(value):
        raise Malformed(non_integer(column))
    number = int(value)
    if not INT_MIN <= number <= INT_MAX:
        raise Malformed(out_of_int_range(column))
    return number


def check_date(value: str) -> None:
    """YYYY-MM-DD, a real day of the proleptic Gregorian calendar (as Spark's dates)."""
    match = _DATE.fullmatch(value)
    if not match:
        raise Malformed(BAD_DATE)
    y, m, d = (int(g) for g in match.groups())
    if not 1 <= m <= 12 or not 1 <= d <= _days_in_month(y, m):
        raise Malformed(BAD_DATE)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if calendar.isleap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def check_time(value: str) -> None:
    if not _TIME.fullmatch(value):
        raise Malformed(BAD_TIME)


def fields_to_row(fields: list[str]) -> Row:
    """27 fields -> the table's columns and the partition values; raises Malformed."""
    if len(fields) != FIELD_COUNT:
        raise Malformed(wrong_field_count(len(fields)))
    date, time = fields[0], fields[1]
    check_date(date)
    check_time(time)
    values: dict[str, object] = {}
    for column, position in COLUMN_FIELDS.items():
        raw = fields[position]
        values[column] = to_int(raw, column) if column in INT_COLUMNS else clean(raw)
    values["fulluri"] = values["host"] + values["uripath"] + values["uriquery"]
    return Row(**values, y=date[0:4], m=date[5:7], d=date[8:10], h=time[0:2])


def strip_line_end(line: bytes) -> bytes:
    """Drops one trailing `\\n` (convenience for callers) and every trailing `\\r` (CRLF)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    return line.rstrip(b"\r")


def is_skipped(line: bytes) -> bool:
    """Empty lines and `#` header lines carry no record."""
    return not line or line.startswith(b"#")


def parse_line(line: bytes | str) -> Row | Rejected | None:
    """One log line -> a Row, a Rejected (with its reason), or None for a header/empty line."""
    raw = _as_bytes(line)
    if raw is None:
        return Rejected(INVALID_UTF8, str(line).encode("utf-8", "surrogatepass"))
    raw = strip_line_end(raw)
    if is_skipped(raw):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected(INVALID_UTF8, raw)
    try:
        return fields_to_row(split_fields(text))
    except Malformed as exc:
        return Rejected(str(exc), raw)


def _as_bytes(line: bytes | str) -> bytes | None:
    """str lines are encoded back to their bytes (surrogate escapes restore undecodable ones);
    None when the str holds a lone surrogate that no bytes produced."""
    if isinstance(line, (bytes, bytearray, memoryview)):
        return bytes(line)
    try:
        return line.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


def split_lines(data: bytes) -> list[bytes]:
    """A message (a batch of whole lines) -> its lines, as the job splits it."""
    return data.split(b"\n")


def parse_message(data: bytes) -> Iterator[Row | Rejected]:
    """Every row and rejection of one message, in line order; headers and empty lines skipped."""
    for line in split_lines(data):
        result = parse_line(line)
        if result is not None:
            yield result


def table_values(row: Row) -> dict[str, object]:
    """The 28 table columns of a row (without the partition values)."""
    return {name: getattr(row, name) for name in PROXY.column_names}
