"""nfdump csv -> flow table rows, on literal nfdump 1.7 output."""
from __future__ import annotations

import io
from collections import Counter
from datetime import datetime

import pyarrow as pa
import pytest

from common.errors import ConfigError, DecodeError, DecoderUnavailable
from common.plugin import RejectedFile
from common.schemas import FLOW
from pipelines.flow.collector import flow_file_time, is_in_progress
from pipelines.flow.decode import (HALVES, SPLIT_MIN_BYTES, check_options, csv_batches,
                                   decoders_for, header_names, nfdump_argv, nfdump_failed)

HEADER = (b"ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,"
          b"dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,"
          b"mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr")
TAIL = (b",0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,"
        b"00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,"
        b"    0.000,    0.000,    0.000,")
LINES = [
    b"2016-01-04 09:00:00,2016-01-04 09:00:03,3.555,10.46.139.166,172.17.232.192,0,769,ICMP,"
    b"........,0,16,4,336,0,0,1,2,0,64512,0,0,0,0" + TAIL + b"127.0.0.1,0/0,1,2016-01-04 09:59:22.794",
    b"2016-01-04 09:00:01,2016-01-04 09:01:09,67.955,192.168.57.216,10.250.7.169,3389,20136,TCP,"
    b"......S.,0,184,26,7748,3,120,2,1,64524,0,0,0,8,1" + TAIL + b"10.0.0.1,0/0,1,2016-01-04 10:00:00.000",
]
NAMES = header_names(HEADER)


def rows(data: bytes, tz: str = "UTC") -> list[dict]:
    batches = list(csv_batches(io.BytesIO(data), NAMES, tz))
    assert all(b.schema == FLOW.arrow_schema() for b in batches)
    return pa.Table.from_batches(batches, FLOW.arrow_schema()).to_pylist() if batches else []


def test_mapping_of_every_column():
    first, second = rows(b"\n".join(LINES) + b"\n")
    assert first == {
        "treceived": "2016-01-04 09:59:22", "unix_tstamp": 1451901562, "tryear": 2016,
        "trmonth": 1, "trday": 4, "trhour": 9, "trminute": 59, "trsec": 22,
        "tdur": pytest.approx(3.555), "sip": "10.46.139.166", "dip": "172.17.232.192",
        "sport": 0, "dport": 769, "proto": "ICMP", "flag": "........", "fwd": 0, "stos": 16,
        "ipkt": 4, "ibyt": 336, "opkt": 0, "obyt": 0, "input": 1, "output": 2, "sas": 0,
        "das": 64512, "dtos": 0, "dir": 0, "rip": "127.0.0.1"}
    assert (second["treceived"], second["unix_tstamp"], second["trhour"]) == \
        ("2016-01-04 10:00:00", 1451901600, 10)
    assert (second["opkt"], second["obyt"], second["dtos"], second["dir"], second["rip"]) == \
        (3, 120, 8, 1, "10.0.0.1")


def test_times_in_the_workers_time_zone():
    """nfdump prints UTC (it runs with TZ=UTC); treceived and its parts render that instant in
    the worker's zone, unix_tstamp is the instant."""
    (row,) = rows(LINES[0] + b"\n", tz="America/New_York")
    assert row["treceived"] == "2016-01-04 04:59:22"
    assert (row["tryear"], row["trmonth"], row["trday"], row["trhour"], row["trminute"],
            row["trsec"]) == (2016, 1, 4, 4, 59, 22)
    assert row["unix_tstamp"] == 1451901562


def received(*utc: str) -> bytes:
    return b"".join(LINES[0].replace(b"2016-01-04 09:59:22.794", t.encode()) + b"\n" for t in utc)


def test_fall_back_hour_keeps_its_two_instants_apart():
    """America/Los_Angeles, 2016-11-06: 01:30 PDT (08:30 UTC) and 01:30 PST (09:30 UTC) are an
    hour apart; both render as 01:30 in the zone."""
    first, second = rows(received("2016-11-06 08:30:00.000", "2016-11-06 09:30:00.000"),
                         tz="America/Los_Angeles")
    assert (first["unix_tstamp"], second["unix_tstamp"]) == (1478421000, 1478424600)
    assert first["treceived"] == second["treceived"] == "2016-11-06 01:30:00"
    assert (first["trhour"], second["trhour"]) == (1, 1)


def test_spring_forward_skips_an_hour():
    """America/Los_Angeles, 2016-03-13: 01:59:59 PST (09:59:59 UTC) is followed one second later
    by 03:00:00 PDT (10:00:00 UTC)."""
    before, after = rows(received("2016-03-13 09:59:59.999", "2016-03-13 10:00:00.000"),
                         tz="America/Los_Angeles")
    assert (before["unix_tstamp"], after["unix_tstamp"]) == (1457863199, 1457863200)
    assert (before["treceived"], after["treceived"]) == ("2016-03-13 01:59:59",
                                                         "2016-03-13 03:00:00")
    assert (before["trhour"], after["trhour"]) == (1, 3)


def test_same_rows_in_utc_and_utc_aliases():
    assert rows(LINES[0] + b"\n", tz="Etc/UTC") == rows(LINES[0] + b"\n", tz="UTC")


def test_no_matching_flows_is_zero_rows():
    assert rows(b"No matching flows\n") == []
    assert rows(b"") == []


def test_header_must_carry_the_mapped_names():
    """A header without the columns is this nfdump's fault, not the file's."""
    with pytest.raises(DecoderUnavailable) as info:
        header_names(b"ts,te,td,sa,da\n")
    assert str(info.value) == ("nfdump's csv header lacks tr, sp, dp, pr, flg, fwd, stos, ipkt, "
                               "ibyt, opkt, obyt, in, out, sas, das, dtos, dir, ra (nfdump 1.7 is "
                               "needed): b'ts,te,td,sa,da\\n'")


@pytest.mark.parametrize("opt, message", [
    ("-o json", "process_opt '-o json' sets -o: the worker sets -r -R -M -w -o -q itself (use "
                "process_opt for filters)"),
    ("'proto tcp", "process_opt \"'proto tcp\" cannot be split into arguments: No closing "
                   "quotation"),
])
def test_options_the_worker_owns_or_cannot_split_are_refused(opt, message):
    with pytest.raises(ConfigError) as info:
        check_options(opt)
    assert str(info.value) == message


def test_malformed_csv_is_a_decode_error():
    with pytest.raises(DecodeError) as info:
        rows(LINES[0] + b"\n" + b"2016-01-04 09:00:00,only,three\n")
    assert str(info.value) == ("nfdump csv output cannot be parsed: CSV parse error: Expected 48 "
                               "columns, got 3: 2016-01-04 09:00:00,only,three")


def nulled_rows(line: bytes, tz: str = "UTC") -> tuple[list[dict], Counter]:
    nulled: Counter = Counter()
    batches = list(csv_batches(io.BytesIO(line + b"\n"), NAMES, tz, nulled=nulled))
    return pa.Table.from_batches(batches, FLOW.arrow_schema()).to_pylist(), nulled


def test_four_byte_asn_is_null_in_its_cell_and_the_row_stays():
    """nfdump prints sas/das/input/output unsigned 32-bit; Spot's columns are INT."""
    line = LINES[1].replace(b",2,1,64524,0,0,0,8,1,", b",4294967295,2147483648,4200000001,"
                                                     b"2147483647,0,0,8,1,")
    (row,), nulled = nulled_rows(line)
    assert (row["input"], row["output"], row["sas"], row["das"]) == (None, None, None, 2147483647)
    assert nulled == Counter({"input": 1, "output": 1, "sas": 1})
    expected = rows(LINES[1] + b"\n")[0]
    assert {k: v for k, v in row.items() if k not in ("input", "output", "sas", "das")} == \
        {k: v for k, v in expected.items() if k not in ("input", "output", "sas", "das")}


def test_out_of_range_and_non_numbers_in_every_number_column():
    bad = LINES[0].replace(b",0,769,ICMP,", b",0,99999999999,ICMP,")
    (row,), nulled = nulled_rows(bad)
    assert row["dport"] is None and row["sport"] == 0 and nulled == Counter({"dport": 1})
    counters = LINES[0].replace(b",16,4,336,0,0,1,2,", b",16,18446744073709551615,336,-,x1,1,2,")
    (row,), nulled = nulled_rows(counters)
    assert (row["ipkt"], row["ibyt"], row["opkt"], row["obyt"]) == (None, 336, None, None)
    assert nulled == Counter({"ipkt": 1, "opkt": 1, "obyt": 1})
    duration = LINES[0].replace(b",3.555,", b",n/a,").replace(b",16,4,", b",tos,4,")
    (row,), nulled = nulled_rows(duration)
    assert (row["tdur"], row["stos"], row["ipkt"]) == (None, None, 4)
    assert nulled == Counter({"tdur": 1, "stos": 1})


def test_a_flow_that_ends_before_it_starts_keeps_nfdumps_duration():
    """nfdump prints (last - first) of unsigned milliseconds: 18446744073709540.000 s."""
    line = LINES[0].replace(b",3.555,", b",18446744073709540.000,")
    (row,), nulled = nulled_rows(line)
    assert row["tdur"] == pytest.approx(1.8446744e16) and not nulled


def test_an_unreadable_time_received_is_null_and_counted():
    (row,), nulled = nulled_rows(received("not a time")[:-1])
    assert (row["treceived"], row["unix_tstamp"], row["trhour"]) == (None, None, None)
    assert row["sip"] == "10.46.139.166" and nulled == Counter({"treceived": 1})


def test_nfdump_argv_never_uses_a_shell():
    assert nfdump_argv("/s/nfcapd.1", "-6 'proto tcp and port 80'") == [
        "nfdump", "-r", "/s/nfcapd.1", "-q", "-o", "csv", "-6", "proto tcp and port 80"]
    assert nfdump_argv("/s/x; rm -rf /", "") == ["nfdump", "-r", "/s/x; rm -rf /", "-q", "-o", "csv"]


def test_a_half_is_a_filter_and_the_other_its_negation():
    assert nfdump_argv("/s/nfcapd.1", "", records=HALVES[1]) == [
        "nfdump", "-r", "/s/nfcapd.1", "-q", "-o", "csv",
        "not ((src net 0.0.0.0 0.0.0.1 and dst net 0.0.0.0 0.0.0.1) or "
        "(src net 0.0.0.1 0.0.0.1 and dst net 0.0.0.1 0.0.0.1))"]
    assert HALVES[1] == f"not ({HALVES[0]})"


def test_only_large_files_without_process_opt_are_decoded_in_halves():
    assert decoders_for(SPLIT_MIN_BYTES, "", 2) == 2
    assert decoders_for(SPLIT_MIN_BYTES - 1, "", 2) == 1
    assert decoders_for(1 << 30, "", 1) == 1
    assert decoders_for(1 << 30, "proto tcp", 2) == 1        # a filter of the user's
    assert decoders_for(1 << 30, "-a -A srcip", 2) == 1      # an aggregate over halves differs
    assert decoders_for(1 << 30, "  ", 2) == 2


def test_nfdump_stderr_errors():
    assert nfdump_failed("Open file 'x': bad magic: 0x4CB9\nGetNextFile() error in nfdump.c line 295")
    assert nfdump_failed("Open file x: appendix offset error")
    assert nfdump_failed("Short read from file: /s/nfcapd.1")       # 0 rows, exit code 0
    assert nfdump_failed("Open file x: Can not handle encrypted files")
    assert nfdump_failed("Unknown block type 65532. Skip block")
    assert nfdump_failed("Corrupt data file: Read 6 bytes, requested 12")
    assert not nfdump_failed("Skip unknown record type 9")            # 1.6's sampler record
    assert not nfdump_failed("")


def test_file_names():
    assert flow_file_time("nfcapd.201601040900") == datetime(2016, 1, 4, 9, 0)
    assert flow_file_time("nfcapd.20160104091530") == datetime(2016, 1, 4, 9, 15, 30)
    assert flow_file_time("nfcapd.201601040900+0100") == datetime(2016, 1, 4, 9, 0)
    with pytest.raises(RejectedFile) as info:
        flow_file_time("nfcapd.last")
    assert str(info.value) == ("file name 'nfcapd.last' carries no time stamp: expected "
                               "nfcapd.YYYYMMDDhhmm or nfcapd.YYYYMMDDhhmmss")
    with pytest.raises(RejectedFile):
        flow_file_time("nfcapd.201613400900")      # month 13
    assert is_in_progress("nfcapd.current.4242")
    assert not is_in_progress("nfcapd.201601040900")
