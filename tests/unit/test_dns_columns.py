"""pipelines/dns/columns.py on literal streams: the rows of a batch laid out as
pipelines/dns/dnsdecode/columns.go writes it, and every way such a stream can be wrong."""
from __future__ import annotations

import io
import struct

import pytest

from common.errors import DecodeError
from pipelines.dns.columns import MAGIC, column_batches


def strings(values: list[str]) -> list[bytes]:
    data = b"".join(v.encode() for v in values)
    ends, at = [0], 0
    for v in values:
        at += len(v.encode())
        ends.append(at)
    return [struct.pack(f"<{len(ends)}i", *ends), data]


def bits(flags: list[bool]) -> bytes:
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        out[i // 8] |= flag << (i % 8)
    return bytes(out)


def ints(fmt: str, values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}{fmt}", *values)


def batch(buffers: list[bytes], rows: int) -> bytes:
    payload = b"".join(struct.pack("<Q", len(b)) + b + b"\0" * (-len(b) % 8) for b in buffers)
    return struct.pack("<II", rows, len(payload)) + payload


TWO_ROWS = [bits([True, True]), ints("q", [1451912280, 1451912281]),
            *strings(["050000000", "000000007"]), ints("i", [90, 120]),
            *strings(["10.0.0.1", "2001:db8::1"]), *strings(["192.0.2.53", "2001:db8::53"]),
            *strings(["www.example.com", "nx.example.org"]), *strings(["0x0001", "0x0001"]),
            bits([True, False]), ints("i", [1, 0]), bits([True, True]), ints("i", [0, 3]),
            *strings(["192.0.2.1", ""])]


def rows(data: bytes, tz: str = "UTC") -> list[dict]:
    return [row for b in column_batches(io.BytesIO(data), tz) for row in b.to_pylist()]


def test_a_batch_gives_the_table_s_rows():
    assert rows(MAGIC + batch(TWO_ROWS, 2)) == [
        {"frame_time": "Jan  4 2016 12:58:00.050000000 UTC", "unix_tstamp": 1451912280,
         "frame_len": 90, "ip_dst": "10.0.0.1", "ip_src": "192.0.2.53",
         "dns_qry_name": "www.example.com", "dns_qry_class": "0x0001", "dns_qry_type": 1,
         "dns_qry_rcode": 0, "dns_a": "192.0.2.1"},
        {"frame_time": "Jan  4 2016 12:58:01.000000007 UTC", "unix_tstamp": 1451912281,
         "frame_len": 120, "ip_dst": "2001:db8::1", "ip_src": "2001:db8::53",
         "dns_qry_name": "nx.example.org", "dns_qry_class": "0x0001", "dns_qry_type": None,
         "dns_qry_rcode": 3, "dns_a": ""}]


def test_frame_time_is_in_the_worker_s_zone():
    assert [r["frame_time"] for r in rows(MAGIC + batch(TWO_ROWS, 2), "America/New_York")] == [
        "Jan  4 2016 07:58:00.050000000 EST", "Jan  4 2016 07:58:01.000000007 EST"]


def test_no_output_and_no_rows_give_no_batch():
    assert rows(b"") == []
    assert rows(MAGIC) == []


@pytest.mark.parametrize("seconds, valid, fraction, shown", [
    (1451912280, False, "", "''"),                           # a block without a time
    (-1, True, "000000000", "'-1.000000000'"),
    (1451912280, True, "1500000000", "'1451912280.1500000000'"),   # a damaged stamp
])
def test_a_row_without_a_readable_time_fails_as_the_text_does(seconds, valid, fraction, shown):
    buffers = [bits([valid]), ints("q", [seconds]), *strings([fraction]), ints("i", [90]),
               *strings(["a"]), *strings(["b"]), *strings(["c"]), *strings(["0x0001"]),
               bits([True]), ints("i", [1]), bits([True]), ints("i", [0]), *strings([""])]
    with pytest.raises(DecodeError) as caught:
        rows(MAGIC + batch(buffers, 1))
    assert str(caught.value) == f"unexpected frame.time_epoch in tshark output: {shown}"


@pytest.mark.parametrize("data, message", [
    (b"Jan  4 2016\t", "dnsdecode columns output starts with b'Jan  4 2'"
                       ", not b'DNSCOL1\\n'"),
    (MAGIC + b"\2\0\0", "dnsdecode columns output ends inside a batch header"),
    (MAGIC + batch(TWO_ROWS, 2)[:100],
     "dnsdecode columns output ends inside a batch of 2 rows (92 of its 448 bytes)"),
    (MAGIC + batch(TWO_ROWS[:18], 2), "dnsdecode columns batch holds 18 buffers, not 19"),
    (MAGIC + batch(TWO_ROWS + [b"x"], 2), "dnsdecode columns batch has 16 bytes after its "
                                          "buffers"),
])
def test_a_stream_that_is_not_whole_fails_with_one_line(data, message):
    with pytest.raises(DecodeError) as caught:
        rows(data)
    assert str(caught.value) == message


def test_a_buffer_too_short_for_its_rows_fails():
    short = [*TWO_ROWS[:4], ints("i", [90]), *TWO_ROWS[5:]]
    with pytest.raises(DecodeError) as caught:
        rows(MAGIC + batch(short, 2))
    assert str(caught.value) == ("dnsdecode columns batch, frame_len: Buffer #1 too small in "
                                 "array of type int32 and length 2: expected at least 8 "
                                 "byte(s), got 4")


def test_an_offset_past_the_data_fails():
    bad = [*TWO_ROWS[:5], struct.pack("<3i", 0, 8, 99), *TWO_ROWS[6:]]
    with pytest.raises(DecodeError) as caught:
        rows(MAGIC + batch(bad, 2))
    assert str(caught.value) == ("dnsdecode columns batch, ip_dst: Length spanned by binary "
                                 "offsets (99) larger than values array (size 19)")


def test_a_name_that_is_not_utf8_fails():
    bad = [*TWO_ROWS[:9], struct.pack("<3i", 0, 1, 1), b"\xff", *TWO_ROWS[11:]]
    with pytest.raises(DecodeError) as caught:
        rows(MAGIC + batch(bad, 2))
    assert str(caught.value) == ("dnsdecode columns batch, dns_qry_name: Invalid UTF8 sequence "
                                 "at string index 0")
