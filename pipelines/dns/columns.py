"""`dnsdecode columns CAPTURE` -> Arrow record batches of the dns table.

dnsdecode makes the table's columns itself (pipelines/dns/dnsdecode/columns.go describes the
stream), so the worker wraps its buffers as Arrow arrays without parsing text: on the bench's
312,095-packet capture this side's CPU is a fraction of reading the same rows as tshark-style
text (`decode.dns_batches`: a CSV parse, then regular expressions and casts per column).
The rows are those `dns_batches` makes from dnsdecode's text output, value for value
(tests/integration/test_dns_fast.py proves it over every capture the suite has); frame_time is
made by the same function, in the worker's time zone, and a row without a usable time fails
the piece with the same message.
"""
from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from common.errors import DecodeError
from pipelines.dns.decode import bad_epoch, check_tz, frame_times, table_batch

MAGIC = b"DNSCOL1\n"
BUFFERS = 19
_BATCH_HEAD = struct.Struct("<II")       # rows, payload bytes
_LENGTH = struct.Struct("<Q")
_MAX_FRACTION = 9                        # digits the text path accepts (decode._EPOCH)
_NINE = pa.scalar(_MAX_FRACTION, pa.int32())
_ZERO = pa.scalar(0, pa.int64())


def column_batches(stdout: IO[bytes], tz: str = "UTC",
                   nulled: Counter | None = None) -> Iterator[pa.RecordBatch]:
    """Streams dnsdecode's columns output as dns-table record batches, one of dnsdecode's
    batches (at most 32,768 rows) at a time. No output yields nothing (dnsdecode prints
    nothing for a file it cannot open: its exit status says why). Output that is not this
    stream, or ends inside a batch, raises DecodeError with one line. `nulled` is accepted
    for `dns_batches`' signature: every value dnsdecode writes fits its column."""
    check_tz(tz)
    magic = stdout.read(len(MAGIC))
    if not magic:
        return
    if magic != MAGIC:
        raise DecodeError(f"dnsdecode columns output starts with {magic!r}, not {MAGIC!r}")
    while True:
        head = stdout.read(_BATCH_HEAD.size)
        if not head:
            return
        if len(head) < _BATCH_HEAD.size:
            raise DecodeError("dnsdecode columns output ends inside a batch header")
        rows, size = _BATCH_HEAD.unpack(head)
        payload = stdout.read(size)
        if len(payload) < size:
            raise DecodeError(f"dnsdecode columns output ends inside a batch of {rows} rows "
                              f"({len(payload)} of its {size} bytes)")
        yield batch_of(rows, payload, tz)


def buffers_of(payload: bytes) -> list[pa.Buffer]:
    """The payload's BUFFERS buffers, as slices of it (no copy)."""
    whole, out, at = pa.py_buffer(payload), [], 0
    for _ in range(BUFFERS):
        if at + _LENGTH.size > len(payload):
            raise DecodeError(f"dnsdecode columns batch holds {len(out)} buffers, "
                              f"not {BUFFERS}")
        (length,) = _LENGTH.unpack_from(payload, at)
        at += _LENGTH.size
        if at + length > len(payload):
            raise DecodeError(f"dnsdecode columns buffer {len(out)} claims {length} bytes; "
                              f"the batch has {len(payload) - at} left")
        out.append(whole.slice(at, length))
        at += (length + 7) & ~7
    if at != len(payload):
        raise DecodeError(f"dnsdecode columns batch has {len(payload) - at} bytes after its "
                          "buffers")
    return out


def _array(name: str, arrow_type: pa.DataType, rows: int, buffers: list) -> pa.Array:
    """The buffers as an array of rows values, checked whole (sizes, offsets, UTF-8)."""
    try:
        array = pa.Array.from_buffers(arrow_type, rows, buffers)
        array.validate(full=True)
    except (pa.ArrowInvalid, ValueError) as exc:
        raise DecodeError(f"dnsdecode columns batch, {name}: {exc}") from None
    return array


def batch_of(rows: int, payload: bytes, tz: str = "UTC") -> pa.RecordBatch:
    """One batch's payload -> the dns table's record batch."""
    b = buffers_of(payload)
    ints, text = pa.int32(), pa.string()
    seconds = _array("unix_tstamp", pa.int64(), rows, [b[0], b[1]])
    fraction = _array("the time's fraction", text, rows, [None, b[2], b[3]])
    check_times(seconds, fraction)
    values = {
        "frame_time": frame_times(seconds, fraction, tz),
        "unix_tstamp": seconds,
        "frame_len": _array("frame_len", ints, rows, [None, b[4]]),
        "ip_dst": _array("ip_dst", text, rows, [None, b[5], b[6]]),
        "ip_src": _array("ip_src", text, rows, [None, b[7], b[8]]),
        "dns_qry_name": _array("dns_qry_name", text, rows, [None, b[9], b[10]]),
        "dns_qry_class": _array("dns_qry_class", text, rows, [None, b[11], b[12]]),
        "dns_qry_type": _array("dns_qry_type", ints, rows, [b[13], b[14]]),
        "dns_qry_rcode": _array("dns_qry_rcode", ints, rows, [b[15], b[16]]),
        "dns_a": _array("dns_a", text, rows, [None, b[17], b[18]]),
    }
    return table_batch(values)


def check_times(seconds: pa.Array, fraction: pa.Array) -> None:
    """DecodeError, as the text path raises it, for the first row without a time or with one
    its frame.time_epoch text would not read as (a negative second, more than 9 digits of
    fraction: a damaged time stamp)."""
    bad = pc.or_kleene(pc.is_null(seconds),
                       pc.or_(pc.less(seconds, _ZERO),
                              pc.greater(pc.binary_length(fraction), _NINE)))
    if not pc.any(bad).as_py():
        return
    first = pc.index(bad, True).as_py()
    second = seconds[first].as_py()
    raise bad_epoch("" if second is None else f"{second}.{fraction[first].as_py()}")
