"""Blue Coat ProxySG access log (ELFF) -> `proxy` table rows: the reference parser.

This module is the contract for one log line. The Spark job (parse.py) applies the same
contract with Spark SQL functions inside the JVM; the tests hold the two to the same answers
on the same lines, so every rule below is deliberate and small. The line grammar (syslog
headers, separators, quotes) is elff.py's; layouts and the name table are layouts.py's.

One line, in order:
  * a line is split off its message at `\\n`; trailing `\\r` characters are stripped (CRLF);
  * an empty line, or one starting with `#` (the `#Software`, `#Version`, `#Date`, `#Fields`
    directives), is skipped: neither row nor rejection;
  * invalid UTF-8 rejects the line;
  * a syslog header is removed; what is left is skipped when blank or a `#` directive;
  * the fields (elff.py) are mapped by the line's layout (layouts.py): the one its message
    names, else the well-known layout with its field count;
  * `-` (or an empty field) means empty: "" in string columns, NULL in the integer columns
    duration, scbytes, csbytes; a column the layout lacks is NULL; a value that does not fit
    its integer column (not a decimal number, or out of the INT range) is NULL in that cell,
    counted (nulled_cells), and the row is kept; fulluri = host + path + query (NULL when
    the layout has none of them); p_time keeps HH:MM:SS of a time with fractions.

A line is rejected only when it cannot be a record, with one reason, checked in this order:
invalid UTF-8, unclosed quote, text after a closing quote, wrong field count (its layout's,
or for a headerless log no well-known layout's), a layout without date and time, unparseable
date, unparseable time.
"""
from __future__ import annotations

import calendar
import re
from collections import namedtuple
from collections.abc import Iterator
from typing import NamedTuple

from common.schemas import PROXY
from pipelines.proxy import elff, layouts
from pipelines.proxy.layouts import Layout

FIELD_COUNT = len(layouts.SPOT)          # Spot's own layout, for headerless logs
FIELDS = layouts.SPOT
COLUMN_FIELDS: dict[str, int] = dict(layouts.layout(layouts.SPOT).positions)
INT_COLUMNS = tuple(c.name for c in PROXY.columns if c.hive_type == "INT")
PARTITION_COLUMNS = tuple(c.name for c in PROXY.partition_columns)
EMPTY = "-"
INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1

# Reasons, shared with the Spark job so both name a problem the same way.
INVALID_UTF8 = "invalid UTF-8"
UNCLOSED_QUOTE = "unclosed quote"
TEXT_AFTER_QUOTE = "text after a closing quote"
NO_DATE_TIME = "the layout has no date and time fields"
BAD_DATE = "unparseable date"
BAD_TIME = "unparseable time"
WRONG_FIELD_COUNT = "wrong field count: %d (expected %s)"  # printf: Java's too


def wrong_field_count(found: int, expected: int | str | None = None) -> str:
    """expected: the layout's count; None for a headerless line (the well-known counts)."""
    return WRONG_FIELD_COUNT % (found, layouts.KNOWN_COUNTS if expected is None else expected)


# The table's 28 columns, then the partition values: derived from the one declaration.
Row = namedtuple("Row", PROXY.column_names + list(PARTITION_COLUMNS))


class Rejected(NamedTuple):
    reason: str
    line: bytes  # the line as received, trailing CRs removed


class Malformed(ValueError):
    """A line that does not fit the grammar; str() is the reason."""


_INTEGER = re.compile(elff.python(elff.INTEGER))
_DATE = re.compile(elff.python(elff.DATE))
_TIME = re.compile(elff.python(elff.TIME))
_UNQUOTED = re.compile(r"[^ \t]*")
_BLANK = re.compile(r"[ \t]*")


def split_fields(text: str) -> list[str]:
    """The fields of one record, quotes removed; raises Malformed for broken quoting."""
    fields: list[str] = []
    i, n = _BLANK.match(text).end(), len(text)
    while i < n:
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise Malformed(UNCLOSED_QUOTE)
            fields.append(text[i + 1:close])
            i = close + 1
            if i < n and text[i] not in " \t":
                raise Malformed(TEXT_AFTER_QUOTE)
        else:
            end = _UNQUOTED.match(text, i).end()
            fields.append(text[i:end])
            i = end
        i = _BLANK.match(text, i).end()
    return fields


def clean(value: str) -> str:
    """`-` means empty."""
    return "" if value == EMPTY else value


def to_int(value: str) -> tuple[int | None, bool]:
    """(the INT, True); (None, True) when empty; (None, False) when it does not fit."""
    if value in ("", EMPTY):
        return None, True
    if not _INTEGER.match(value):
        return None, False
    number = int(value)
    return (number, True) if INT_MIN <= number <= INT_MAX else (None, False)


def check_date(value: str) -> None:
    """YYYY-MM-DD, a real day of the proleptic Gregorian calendar (as Spark's dates)."""
    match = _DATE.match(value)
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
    if not _TIME.match(value):
        raise Malformed(BAD_TIME)


def layout_for(fields: list[str], declared: Layout | None) -> Layout:
    """The line's layout: the declared one (its count must match), else by field count."""
    if declared is not None:
        if len(fields) != declared.count:
            raise Malformed(wrong_field_count(len(fields), declared.count))
        chosen = declared
    else:
        chosen = layouts.BY_COUNT.get(len(fields))
        if chosen is None:
            raise Malformed(wrong_field_count(len(fields)))
    if not chosen.has_date_and_time:
        raise Malformed(NO_DATE_TIME)
    return chosen


def fields_to_row(fields: list[str], declared: Layout | None = None
                  ) -> tuple[Row, tuple[str, ...]]:
    """Fields -> (the table's columns and the partition values, the integer columns whose
    value did not fit and is NULL); raises Malformed."""
    chosen = layout_for(fields, declared)
    positions = dict(chosen.positions)
    date, time = fields[positions["p_date"]], fields[positions["p_time"]]
    check_date(date)
    check_time(time)
    values: dict[str, object] = {}
    nulled = []
    for column in PROXY.column_names:
        position = positions.get(column)
        if column == "fulluri":
            continue
        if position is None:
            values[column] = None
        elif column in INT_COLUMNS:
            values[column], fits = to_int(fields[position])
            if not fits:
                nulled.append(column)
        else:
            values[column] = clean(fields[position])
    values["p_time"] = time[:8]
    parts = [values[c] for c in layouts.URI_PARTS if c in positions]
    values["fulluri"] = "".join(parts) if parts else None
    return Row(**values, y=date[0:4], m=date[5:7], d=date[8:10], h=time[0:2]), tuple(nulled)


def strip_line_end(line: bytes) -> bytes:
    """Drops one trailing `\\n` (convenience for callers) and every trailing `\\r` (CRLF)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    return line.rstrip(b"\r")


def is_skipped(line: bytes) -> bool:
    """Empty lines and `#` directive lines carry no record."""
    return not line or line.startswith(b"#")


def parse(line: bytes | str, layout: Layout | None = None
          ) -> tuple[Row | Rejected | None, tuple[str, ...]]:
    """One log line -> (a Row, a Rejected with its reason, or None for a directive or
    empty line; the columns nulled in the row)."""
    raw = _as_bytes(line)
    if raw is None:
        return Rejected(INVALID_UTF8, str(line).encode("utf-8", "surrogatepass")), ()
    raw = strip_line_end(raw)
    if is_skipped(raw):
        return None, ()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected(INVALID_UTF8, raw), ()
    record = elff.strip_syslog(text)
    if record.startswith("#") or _BLANK.fullmatch(record):
        return None, ()
    try:
        return fields_to_row(split_fields(record), layout)
    except Malformed as exc:
        return Rejected(str(exc), raw), ()


def parse_line(line: bytes | str, layout: Layout | None = None) -> Row | Rejected | None:
    """One log line -> a Row, a Rejected (with its reason), or None for a directive/empty
    line. `layout`: the line's declared layout (None: headerless, by field count)."""
    return parse(line, layout)[0]


def nulled_cells(line: bytes | str, layout: Layout | None = None) -> tuple[str, ...]:
    """The integer columns of a line's row whose value did not fit (NULL in the row)."""
    return parse(line, layout)[1]


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


def parse_message(data: bytes, layout: Layout | str | bytes | None = None
                  ) -> Iterator[Row | Rejected]:
    """Every row and rejection of one message, in line order; directives and empty lines
    skipped. `layout`: the message's (a Layout, or its HEADER value)."""
    if not isinstance(layout, Layout):
        layout = layouts.from_header(layout)
    for line in split_lines(data):
        result = parse_line(line, layout)
        if result is not None:
            yield result


def table_values(row: Row) -> dict[str, object]:
    """The 28 table columns of a row (without the partition values)."""
    return {name: getattr(row, name) for name in PROXY.column_names}
