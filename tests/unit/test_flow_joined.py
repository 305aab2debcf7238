"""nfdump pipe + fmt lines -> flow table rows, on literal nfdump 1.7.1 output."""
from __future__ import annotations

import io
from collections import Counter

import pyarrow as pa
import pytest

from common.errors import DecodeError
from common.schemas import FLOW
from pipelines.flow.joined import (DIRECTIONS, FMT, Names, addresses, durations, fmt_argv,
                                   joined_batches, pipe_argv, records_filter)

# nfdump -q -o pipe / -q -N -6 -o fmt:... of the same two records (TZ=UTC)
PIPE = (b"2|1451898932100|1451898973535|6|0|0|0|2887380787|8443|0|0|0|178608430|64492|"
        b"4200000001|0|2|1|31|40|18|7956\n"
        b"10|1451899514057|1451899502441|17|536939960|0|0|1|53|536939960|0|1|2|5353|65000|"
        b"64512|3|4|0|0|1|80\n")
FMT_OUT = (b"1796123585.493|                              127.0.0.1|       0|       0|  0|   0|"
           b"  I\n"
           b"1451901600.000|                                    ::1|       5|     500| 64|   8|"
           b"  E\n")
NAMES = Names(tuple("TCP" if i == 6 else "UDP" if i == 17 else str(i) for i in range(256)),
              tuple(f"f{i}" for i in range(256)))


def rows(pipe: bytes, fmt: bytes, tz: str = "UTC", nulled: Counter | None = None) -> list[dict]:
    batches = list(joined_batches(io.BytesIO(pipe), io.BytesIO(fmt), NAMES, tz, nulled=nulled))
    return pa.Table.from_batches(batches, FLOW.arrow_schema()).to_pylist()


def test_every_column_of_two_records():
    nulled = Counter()
    first, second = rows(PIPE, FMT_OUT, nulled=nulled)
    assert first == {
        "treceived": "2026-12-01 11:13:05", "unix_tstamp": 1796123585, "tryear": 2026,
        "trmonth": 12, "trday": 1, "trhour": 11, "trminute": 13, "trsec": 5,
        "tdur": pytest.approx(41.435), "sip": "172.25.239.51", "dip": "10.165.89.46",
        "sport": 8443, "dport": 64492, "proto": "TCP", "flag": "f31", "fwd": 0, "stos": 40,
        "ipkt": 18, "ibyt": 7956, "opkt": 0, "obyt": 0, "input": 2, "output": 1, "sas": None,
        "das": 0, "dtos": 0, "dir": 0, "rip": "127.0.0.1"}
    assert (second["sip"], second["dip"], second["proto"], second["rip"]) == \
        ("2001:db8::1", "2001:db8::1:0:2", "UDP", "::1")
    assert (second["opkt"], second["obyt"], second["fwd"], second["dtos"], second["dir"]) == \
        (5, 500, 64, 8, 1)
    assert second["tdur"] == pytest.approx(1.8446744e16)     # ended before it started
    assert nulled == Counter({"sas": 1})


def test_times_render_in_the_workers_zone():
    first, second = rows(PIPE, FMT_OUT, tz="America/Los_Angeles")
    assert (first["treceived"], first["unix_tstamp"]) == ("2026-12-01 03:13:05", 1796123585)
    assert (second["treceived"], second["trhour"]) == ("2016-01-04 02:00:00", 2)


def test_outputs_of_different_lengths_are_a_decode_error():
    with pytest.raises(DecodeError) as info:
        rows(PIPE, FMT_OUT.splitlines(keepends=True)[0])
    assert str(info.value) == "nfdump's pipe and fmt outputs of one file differ in length"
    with pytest.raises(DecodeError):
        rows(PIPE.splitlines(keepends=True)[0], FMT_OUT)


def test_no_matching_flows_is_no_rows():
    assert rows(b"No matching flows\n", b"No matching flows\n") == []


def test_durations_as_csv_prints_them():
    got = durations(pa.array([1000, 5, 100, 0], pa.uint64()),
                    pa.array([1500, 5, 88, 1], pa.uint64()))
    assert got.to_pylist() == [0.5, 0.0, pytest.approx(1.8446744e16), pytest.approx(0.001)]


def test_addresses_through_inet_ntop():
    batch = pa.RecordBatch.from_pydict({
        "af": pa.array([2, 10, 10, 10], pa.uint64()),
        "sa0": pa.array([0, 0, 0, 0], pa.uint64()), "sa1": pa.array([0, 0, 0, 0], pa.uint64()),
        "sa2": pa.array([0, 65535, 0, 0], pa.uint64()),
        "sa3": pa.array([167772161, 167772161, 167772161, 1], pa.uint64())})
    assert addresses(batch, "sa").to_pylist() == ["10.0.0.1", "::ffff:10.0.0.1", "::10.0.0.1",
                                                  "::1"]


def test_both_outputs_read_the_usual_directions_within_a_half():
    assert pipe_argv("/s/f", "proto tcp")[-3:] == ["-o", "pipe", f"({DIRECTIONS}) and (proto tcp)"]
    assert fmt_argv("/s/f") == ["nfdump", "-r", "/s/f", "-q", "-N", "-6", "-o", FMT, DIRECTIONS]
    assert records_filter(None) == "flowdir 0 or flowdir 1"
