"""The dns decoder against the real tshark and editcap (4.0) on captures written by
pipelines.dns.capture_writer: every row equals the writer's independent oracle. No service
is needed."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from common.schemas import DNS
from pipelines.dns import capture_writer as cw
from pipelines.dns.decode import (
    PROBE_PACKET, Outcome, classify, decoder_message, dns_batches, editcap_argv, list_pieces,
    piece_index, piece_time, probe_capture, tshark_argv)

SEED_OPT = ("-E separator=, -E header=y -E occurrence=f -T fields -e frame.time "
            "-e frame.time_epoch -e frame.len -e ip.src -e ip.dst -e dns.resp.name "
            "-e dns.resp.type -e dns.resp.class -e dns.flags.rcode -e dns.a "
            "'dns.flags.response == 1'")
LA = "America/Los_Angeles"
REPO = Path(__file__).resolve().parents[2]
# 390 responses (30 of each kind) over four minutes across 13:00 UTC.
START = datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc)
RESPONSES, SPREAD = 390, 240.0


def env(tz: str = "UTC") -> dict[str, str]:
    return {**os.environ, "TZ": tz}


def decode(path: Path, tz: str = "UTC", process_opt: str = SEED_OPT) -> tuple[list[dict], int, str]:
    """tshark_argv | dns_batches, as the worker runs it: (rows, exit code, stderr)."""
    proc = subprocess.Popen(tshark_argv(str(path), process_opt), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env(tz))
    batches = list(dns_batches(proc.stdout, tz))
    stderr = proc.stderr.read().decode()
    code = proc.wait()
    assert all(b.schema == DNS.arrow_schema() for b in batches)
    rows = pa.Table.from_batches(batches, DNS.arrow_schema()).to_pylist() if batches else []
    return rows, code, stderr


def tshark_fields(path: Path, fields: list[str], tz: str = "UTC",
                  display_filter: str = "") -> list[list[str]]:
    """tshark's own -T fields output, split into values (no worker options involved)."""
    argv = ["tshark", "-r", str(path), "-n", "-T", "fields", "-E", "separator=/t"]
    for name in fields:
        argv += ["-e", name]
    if display_filter:
        argv.append(display_filter)
    out = subprocess.run(argv, capture_output=True, env=env(tz), check=True).stdout.decode()
    return [line.split("\t") for line in out.splitlines()]


@pytest.fixture(scope="module")
def mix() -> cw.TrafficMix:
    return cw.traffic_mix(RESPONSES, START, SPREAD)


@pytest.fixture(scope="module")
def captures(mix, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dns_captures")
    return {"pcap": cw.write_pcap(folder / "mix.pcap", mix.packets),
            "pcapng": cw.write_pcapng(folder / "mix.pcapng", mix.packets)}


# --- rows -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_every_row_equals_the_oracle(kind, mix, captures):
    rows, code, stderr = decode(captures[kind])
    assert code == 0, stderr
    assert classify(code, stderr) is Outcome.OK
    assert len(rows) == RESPONSES
    assert rows == mix.rows


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_rows_in_los_angeles(kind, mix, captures):
    rows, code, _ = decode(captures[kind], tz=LA)
    assert code == 0
    assert rows == cw.expected_rows(mix.packets, LA)
    assert rows[0]["frame_time"].endswith(" PST")


def test_the_mix_crosses_the_hour_and_holds_every_kind(mix):
    hours = {datetime.fromtimestamp(r["unix_tstamp"], timezone.utc).hour for r in mix.rows}
    assert hours == {12, 13}
    assert {r["dns_qry_rcode"] for r in mix.rows} == {0, 2, 3}
    assert {r["dns_qry_type"] for r in mix.rows} == {1, 5, 15, 28}
    # no A record: nxdomain, servfail, nodata, aaaa, ipv6_tcp, cname_only
    assert sum(r["dns_a"] == "" for r in mix.rows) == 30 * 6
    assert sum(":" in r["ip_src"] for r in mix.rows) == 30 * 2       # ipv6, ipv6_tcp


def test_reordered_and_extra_fields_give_the_same_rows(mix, captures):
    opt = ("-e dns.a -e udp.srcport -e dns.qry.name -e dns.flags.rcode -e dns.resp.class "
           "-e dns.resp.type -e dns.resp.name -e ip.dst -e ip.src -e frame.len -e _ws.col.Info "
           "-Y 'dns.flags.response == 1'")
    rows, code, _ = decode(captures["pcap"], process_opt=opt)
    assert code == 0
    assert rows == mix.rows


def test_every_dns_response_and_only_those_pass_the_filter(mix, captures):
    """The writer's packets are what tshark sees: every frame, every response, and with
    checksum validation on, every IPv4 header and UDP/TCP/ICMP checksum good (status 1)."""
    frames = tshark_fields(captures["pcap"], ["frame.number"])
    assert len(frames) == len(mix.packets)
    responses = tshark_fields(captures["pcap"], ["frame.number"],
                              display_filter="dns.flags.response == 1")
    assert len(responses) == RESPONSES
    out = subprocess.run(
        ["tshark", "-r", str(captures["pcap"]), "-n", "-o", "ip.check_checksum:TRUE",
         "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-T", "fields",
         "-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status",
         "-e", "icmp.checksum.status"],
        capture_output=True, env=env(), check=True).stdout.decode()
    statuses = [v for line in out.splitlines() for v in line.split("\t") if v]
    assert set(statuses) == {"1"}
    # an IPv4 packet has two checksums (header, transport), an IPv6 packet one (transport)
    assert len(statuses) == sum(1 if ":" in p.src else 2 for p in mix.packets)


def test_frame_time_equals_tshark_4_frame_time_without_the_comma(captures, tmp_path):
    """frame_time is built from frame.time_epoch; tshark 4.0's own frame.time (TZ set) must
    read the same once its comma is removed. Checked across a DST change in Los Angeles."""
    dst = cw.traffic_mix(60, datetime(2016, 3, 13, 9, 59, 30, tzinfo=timezone.utc), 60)
    dst_path = cw.write_pcap(tmp_path / "dst.pcap", dst.packets)
    for path in (captures["pcap"], captures["pcapng"], dst_path):
        for tz in ("UTC", LA):
            rows, code, _ = decode(path, tz=tz)
            assert code == 0
            theirs = tshark_fields(path, ["frame.time"], tz=tz,
                                   display_filter="dns.flags.response == 1")
            assert [line[0].replace(",", "", 1) for line in theirs] == \
                [r["frame_time"] for r in rows]
    la_zones = {r["frame_time"][-3:] for r in decode(dst_path, tz=LA)[0]}
    assert la_zones == {"PST", "PDT"}


def test_probe_capture_gives_its_one_row(tmp_path):
    rows, code, stderr = decode(probe_capture(tmp_path / "probe.pcap"))
    assert (code, classify(code, stderr)) == (0, Outcome.OK)
    assert rows == [cw.expected_row(PROBE_PACKET)]
    assert rows[0]["frame_time"] == "Jan  4 2016 12:58:00.050000000 UTC"


# --- damaged and foreign files ----------------------------------------------------------------

def _cut_inside_packet(chunks: list[bytes], header_chunks: int, per_packet: int,
                       packet: int) -> bytes:
    """The file's bytes up to the middle of packet number `packet` (0-based)."""
    whole = b"".join(chunks[:header_chunks + per_packet * packet])
    partial = b"".join(chunks[header_chunks + per_packet * packet:
                              header_chunks + per_packet * (packet + 1)])
    return whole + partial[:len(partial) // 2]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_truncated_capture_keeps_the_rows_before_the_cut(kind, mix, tmp_path):
    cut_at = 500                                       # packet index cut in the middle
    if kind == "pcap":                                 # file header; record header + data
        chunks, header_chunks, per_packet = list(cw.pcap_bytes(mix.packets)), 1, 2
    else:                                              # SHB, IDB; one block per packet
        chunks, header_chunks, per_packet = list(cw.pcapng_bytes(mix.packets)), 2, 1
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(_cut_inside_packet(chunks, header_chunks, per_packet, cut_at))
    rows, code, stderr = decode(path)
    before = cw.expected_rows(mix.packets[:cut_at])
    assert len(before) > 200
    assert rows == before
    assert code == 2
    assert classify(code, stderr) is Outcome.CUT_SHORT
    assert decoder_message(stderr) == (f'tshark: The file "{path}" appears to have been cut '
                                       "short in the middle of a packet.")


def test_random_bytes_named_pcap_are_unreadable(tmp_path):
    path = tmp_path / "dns_20160104.pcap"
    path.write_bytes(os.urandom(4096))
    rows, code, stderr = decode(path)
    assert (rows, code) == ([], 2)
    assert classify(code, stderr) is Outcome.UNREADABLE
    assert decoder_message(stderr) == (f'tshark: The file "{path}" isn\'t a capture file in a '
                                       "format TShark understands.")


def test_capture_cut_inside_its_header_is_unreadable(captures, tmp_path):
    path = tmp_path / "short.pcap"
    path.write_bytes(captures["pcap"].read_bytes()[:10])
    rows, code, stderr = decode(path)
    assert (rows, code) == ([], 2)
    assert classify(code, stderr) is Outcome.UNREADABLE


def test_empty_capture_gives_no_rows(tmp_path):
    path = cw.write_pcap(tmp_path / "empty.pcap", [])
    rows, code, stderr = decode(path)
    assert (rows, code, classify(code, stderr)) == ([], 0, Outcome.OK)


def test_bad_filter_and_bad_field_are_not_the_files_fault(captures):
    _, code, stderr = decode(captures["pcap"], process_opt=SEED_OPT.replace(
        "'dns.flags.response == 1'", "'dns.flags.respons == 1'"))
    assert (code, classify(code, stderr)) == (2, Outcome.FAILED)
    assert decoder_message(stderr) == ('tshark: Left side of "==" expression must be a field or '
                                       'function, not dns.flags.respons.')
    _, code, stderr = decode(captures["pcap"], process_opt=SEED_OPT + " -e dns.bogus")
    assert (code, classify(code, stderr)) == (1, Outcome.FAILED)
    assert decoder_message(stderr) == "tshark: Some fields aren't valid: dns.bogus"


# --- editcap ----------------------------------------------------------------------------------

def _expected_pieces(mix: cw.TrafficMix, pkt_num: int, tz: str) -> list[tuple[int, datetime]]:
    firsts = mix.packets[::pkt_num]
    return [(i, datetime.fromtimestamp(cw.epoch_micros(p.time) // 1_000_000, ZoneInfo(tz)))
            for i, p in enumerate(firsts)]


@pytest.mark.parametrize("kind, tz", [("pcap", "UTC"), ("pcapng", "UTC"), ("pcap", LA)])
def test_editcap_pieces_and_their_names(kind, tz, mix, captures, tmp_path):
    pkt_num = 200
    prefix = str(tmp_path / "mix_spot")
    done = subprocess.run(editcap_argv(str(captures[kind]), prefix, pkt_num),
                          capture_output=True, text=True, env=env(tz))
    assert (done.returncode, classify(done.returncode, done.stderr)) == (0, Outcome.OK)
    pieces = list_pieces(prefix)
    expected = _expected_pieces(mix, pkt_num, tz)
    assert len(pieces) == -(-len(mix.packets) // pkt_num) == len(expected)
    assert [p.name for p in pieces] == [f"mix_spot_{i:05d}_{t:%Y%m%d%H%M%S}.pcap"
                                        for i, t in expected]
    assert [piece_time(p.name, tz) for p in pieces] == [t for _, t in expected]
    assert [piece_index(p.name) for p in pieces] == list(range(len(pieces)))
    assert {p.read_bytes()[:4] for p in pieces} == {bytes.fromhex("0a0d0d0a")}   # pcapng
    rows = []
    for piece in pieces:
        piece_rows, code, _ = decode(piece, tz=tz)
        assert code == 0
        rows += piece_rows
    assert rows == cw.expected_rows(mix.packets, tz)


def test_editcap_names_follow_its_time_zone(mix, captures, tmp_path):
    utc = tmp_path / "utc"
    la = tmp_path / "la"
    utc.mkdir()
    la.mkdir()
    for folder, tz in ((utc, "UTC"), (la, LA)):
        subprocess.run(editcap_argv(str(captures["pcap"]), str(folder / "x_spot"), 100000),
                       capture_output=True, env=env(tz), check=True)
    assert [p.name for p in list_pieces(str(utc / "x_spot"))] == \
        ["x_spot_00000_20160104125800.pcap"]
    assert [p.name for p in list_pieces(str(la / "x_spot"))] == \
        ["x_spot_00000_20160104045800.pcap"]


def test_editcap_on_a_truncated_capture_exits_0_and_says_so(mix, tmp_path):
    chunks = list(cw.pcap_bytes(mix.packets))
    source = tmp_path / "cut.pcap"
    source.write_bytes(_cut_inside_packet(chunks, 1, 2, 450))
    prefix = str(tmp_path / "cut_spot")
    done = subprocess.run(editcap_argv(str(source), prefix, 200), capture_output=True, text=True,
                          env=env())
    assert done.returncode == 0
    assert done.stderr == (f'editcap: The file "{source}" appears to have been cut short in the '
                           "middle of a packet.\n")
    assert classify(done.returncode, done.stderr) is Outcome.CUT_SHORT
    pieces = list_pieces(prefix)
    assert len(pieces) == 3
    rows = [r for piece in pieces for r in decode(piece)[0]]
    assert rows == cw.expected_rows(mix.packets[:450])


def test_editcap_on_random_bytes_and_on_an_empty_capture(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(os.urandom(2048))
    done = subprocess.run(editcap_argv(str(junk), str(tmp_path / "junk_spot"), 10),
                          capture_output=True, text=True, env=env())
    assert done.returncode == 2
    assert classify(done.returncode, done.stderr) is Outcome.UNREADABLE
    assert done.stderr == (f'editcap: The file "{junk}" isn\'t a capture file in a format editcap '
                           "understands.\n")
    empty = cw.write_pcap(tmp_path / "empty.pcap", [])
    done = subprocess.run(editcap_argv(str(empty), str(tmp_path / "empty_spot"), 10),
                          capture_output=True, text=True, env=env())
    assert (done.returncode, done.stderr) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["empty.pcap", "empty_spot.pcap", "junk.pcap"]
    assert list_pieces(str(tmp_path / "empty_spot")) == []


def test_capture_writer_command_line(tmp_path):
    out = tmp_path / "demo.pcapng"
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.dns.capture_writer", "--responses", "52",
         "--start", "2016-01-04T12:59:30", "--spread-seconds", "60", "--out", str(out),
         "--pcapng"], capture_output=True, text=True, cwd=REPO, env=env())
    assert done.returncode == 0, done.stderr
    # 52 responses, 35 queries (every third response has none), 10 UDP, 7 ICMP pairs
    assert done.stdout == f"wrote 111 packets (52 DNS responses) to {out}\n"
    assert out.read_bytes()[:4] == bytes.fromhex("0a0d0d0a")
    rows, code, _ = decode(out)
    assert code == 0
    start = datetime(2016, 1, 4, 12, 59, 30, tzinfo=timezone.utc)
    assert rows == cw.traffic_mix(52, start, 60).rows
    assert (rows[0]["unix_tstamp"], rows[-1]["unix_tstamp"]) == (1451912370, 1451912430)
