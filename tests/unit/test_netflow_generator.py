"""NetFlow v5 packing on literal inputs, and real nfcapd/nfdump round trips."""
from __future__ import annotations

import csv
import os
import random
import struct
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.flow.netflow_generator import (HEADER_LEN, MAX_RECORDS, RECORD_LEN, Flow,
                                              capture, count_flows, datagrams, pack_header,
                                              pack_record, synthetic_flows)

UTC = timezone.utc
T0 = datetime(2016, 1, 4, 9, 0, 0, 250_000, tzinfo=UTC)

SAMPLE = Flow(src_ip="10.0.0.1", dst_ip="192.168.1.2", src_port=1234, dst_port=80, proto=6,
              packets=10, octets=5000, start=T0, duration_ms=1500, tcp_flags=0x1B, tos=0x10,
              input_if=3, output_if=4, src_as=65000, dst_as=65001, nexthop="10.0.0.254",
              src_mask=24, dst_mask=16)


def decode(datagram: bytes) -> tuple[tuple, list[tuple]]:
    header = struct.unpack_from("!HHIIIIBBH", datagram, 0)
    records = [struct.unpack_from("!IIIHHIIIIHHBBBBHHBBH", datagram, HEADER_LEN + i * 48)
               for i in range(header[1])]
    return header, records


def test_header_bytes_are_exact():
    got = pack_header(count=2, sys_uptime=0x01020304, unix_secs=0x568A0000,
                      unix_nsecs=0x000F4240, flow_sequence=7, engine_type=1, engine_id=2)
    assert got == bytes.fromhex("0005 0002 01020304 568A0000 000F4240 00000007 01 02 0000")
    assert HEADER_LEN == 24


def test_record_bytes_are_exact():
    got = pack_record(SAMPLE, first=0x100, last=0x200)
    assert len(got) == RECORD_LEN == 48
    assert got == bytes.fromhex(
        "0A000001 C0A80102 0A0000FE 0003 0004 0000000A 00001388 00000100 00000200"
        " 04D2 0050 00 1B 06 10 FDE8 FDE9 18 10 0000")


def test_datagrams_split_at_30_records_with_count_and_sequence():
    flows = [SAMPLE] * 61
    grams = datagrams(flows)
    assert MAX_RECORDS == 30
    assert [len(g) for g in grams] == [24 + 30 * 48, 24 + 30 * 48, 24 + 48]
    headers = [decode(g)[0] for g in grams]
    assert [h[0] for h in headers] == [5, 5, 5]
    assert [h[1] for h in headers] == [30, 30, 1]
    assert [h[5] for h in headers] == [0, 30, 60]  # flow_sequence
    assert [h[8] for h in headers] == [0, 0, 0]  # no sampling announced
    assert datagrams([]) == []


def test_first_last_are_relative_to_sys_uptime():
    export = datetime(2016, 1, 4, 9, 5, 0, tzinfo=UTC)
    later = Flow("10.0.0.2", "10.0.0.3", 1, 2, 17, 1, 60, T0 + timedelta(minutes=3), 0)
    (grams,) = [datagrams([SAMPLE, later], export_time=export)]
    header, records = decode(grams[0])
    _, _, uptime, secs, nsecs, *_ = header
    assert (secs, nsecs) == (1451898300, 0)
    boot_ms = secs * 1000 + nsecs // 1_000_000 - uptime
    start_ms = int(T0.timestamp() * 1000)
    assert boot_ms + records[0][7] == start_ms  # first
    assert boot_ms + records[0][8] == start_ms + 1500  # last
    assert boot_ms + records[1][7] == boot_ms + records[1][8] == start_ms + 180_000
    assert records[0][:3] == (0x0A000001, 0xC0A80102, 0x0A0000FE)


def test_default_export_time_follows_the_last_flow_and_keeps_millis():
    header, _ = decode(datagrams([SAMPLE])[0])
    assert header[3] * 1000 + header[4] // 1_000_000 == int(T0.timestamp() * 1000) + 1500 + 1000


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        datagrams([Flow("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 40, datetime(2016, 1, 4), 0)])
    with pytest.raises(ValueError, match="49 days"):
        datagrams([SAMPLE], export_time=T0 + timedelta(days=60))
    with pytest.raises(ValueError, match="IPv4"):
        datagrams([Flow("10.0.0", "10.0.0.2", 1, 2, 6, 1, 40, T0, 0)])


def test_synthetic_flows_are_deterministic_varied_and_in_range():
    start = datetime(2016, 1, 4, 9, tzinfo=UTC)
    flows = synthetic_flows(2000, start, seed=5, spread_seconds=600)
    assert flows == synthetic_flows(2000, start, seed=5, spread_seconds=600)
    assert flows != synthetic_flows(2000, start, seed=6, spread_seconds=600)
    assert all(start <= f.start < start + timedelta(seconds=600) for f in flows)
    assert {f.proto for f in flows} == {1, 6, 17}
    assert len({f.src_ip for f in flows}) > 100 and len({f.dst_port for f in flows}) > 100
    assert all(f.packets >= 1 and f.octets >= f.packets for f in flows)
    assert len(datagrams(flows)) == 67


def nfdump_rows(path) -> list[dict[str, str]]:
    header = subprocess.run(["nfdump", "-r", str(path), "-o", "csv", "-c", "1"],
                            capture_output=True, text=True, check=True).stdout.splitlines()[0]
    out = subprocess.run(["nfdump", "-r", str(path), "-q", "-o", "csv"], capture_output=True,
                         text=True, check=True, env={**os.environ, "TZ": "UTC"}).stdout
    return list(csv.DictReader(out.splitlines(), fieldnames=header.split(",")))


def test_real_nfcapd_round_trip(tmp_path):
    flows = synthetic_flows(50, datetime(2016, 1, 4, 9, tzinfo=UTC), seed=1) + [SAMPLE]
    path = capture(flows, tmp_path / "out", "nfcapd.201601040900")
    assert path == tmp_path / "out" / "nfcapd.201601040900"
    assert sorted(p.name for p in path.parent.iterdir()) == ["nfcapd.201601040900"]
    assert count_flows(path) == 51
    rows = nfdump_rows(path)
    assert len(rows) == 51
    (row,) = [r for r in rows if r["sa"] == "10.0.0.1"]
    assert {k: row[k] for k in ("ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "stos",
                                 "ipkt", "ibyt", "opkt", "obyt", "in", "out", "sas", "das",
                                 "ra")} == {
        "ts": "2016-01-04 09:00:00", "te": "2016-01-04 09:00:01", "td": "1.500",
        "sa": "10.0.0.1", "da": "192.168.1.2", "sp": "1234", "dp": "80", "pr": "TCP",
        "flg": "...AP.SF", "stos": "16", "ipkt": "10", "ibyt": "5000", "opkt": "0",
        "obyt": "0", "in": "3", "out": "4", "sas": "65000", "das": "65001",
        "ra": "127.0.0.1"}
    by_key = {(r["sa"], r["da"], r["sp"], r["dp"], r["ibyt"]) for r in rows}
    assert by_key == {(f.src_ip, f.dst_ip, str(f.src_port), str(f.dst_port), str(f.octets))
                      for f in flows}


def test_concurrent_captures_do_not_collide(tmp_path):
    start = datetime(2016, 1, 4, 10, tzinfo=UTC)
    results: dict[int, int] = {}

    def run(i: int) -> None:
        path = capture(synthetic_flows(100 + i, start, seed=i), tmp_path, f"nfcapd.20160104100{i}")
        results[i] = count_flows(path)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: 100, 1: 101, 2: 102}


def test_empty_capture_counts_zero(tmp_path):
    path = capture([], tmp_path, "nfcapd.201601041100")
    assert count_flows(path) == 0


@pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
def test_count_flows_refuses_unreadable_files(tmp_path, damage):
    bad = tmp_path / "nfcapd.201601040900"
    if damage == "random":
        bad.write_bytes(random.Random(1).randbytes(6000))
    elif damage == "truncated":
        good = capture(synthetic_flows(200, T0, seed=2), tmp_path / "good", "nfcapd.201601040900")
        data = good.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(b"")
    with pytest.raises(RuntimeError, match="nfdump"):
        count_flows(bad)
