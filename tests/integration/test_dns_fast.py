"""The differential test of the fast DNS decoder (build/dnsdecode) against tshark 4.0: over
every capture the test suite makes (the capture writer's traffic mixes, the probe, cut,
damaged and empty captures, editcap's pieces) and the captures of pipelines/dns/
capture_shapes.py (compression pointers, loops and forward pointers, truncated and malformed
messages, EDNS, DNSSEC, TCP with two messages in a segment and one message over several,
IP fragments, non-DNS payloads on port 53, mDNS, LLMNR, every link type, pcap and pcapng
in each time resolution), dnsdecode writes a row for exactly the frames tshark does and
every field equals tshark's, byte for byte; so do the dns table's rows made from them. The
differences by design (README, DNS) are proven at the end. No service is needed."""
from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from common.errors import DecodeError
from common.schemas import DNS
from pipelines.dns import capture_shapes as cs
from pipelines.dns import capture_writer as cw
from pipelines.dns import fast
from pipelines.dns.columns import column_batches
from pipelines.dns.decode import (NEEDED_FIELDS, Outcome, classify, dns_batches, editcap_argv,
                                  list_pieces, probe_capture, tshark_argv)

REPO = Path(__file__).resolve().parents[2]
START = datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc)


def env(tz: str = "UTC") -> dict[str, str]:
    return {**os.environ, "TZ": tz}


def run(argv: list[str], tz: str = "UTC") -> tuple[bytes, int, str]:
    done = subprocess.run(argv, capture_output=True, env=env(tz))
    return done.stdout, done.returncode, done.stderr.decode("utf-8", "replace")


def tshark_fields(path: Path) -> tuple[list[bytes], int, str]:
    """tshark as the worker runs it with the seed's options, without frame.time (which the
    worker never reads): the header and one line per row, in dnsdecode's column order."""
    out, code, stderr = run(tshark_argv(str(path), fast.SEED_PROCESS_OPT))
    lines = out.splitlines()
    if not lines:
        return [], code, stderr
    names = lines[0].split(b"\t")
    order = [names.index(n.encode()) for n in ORDER]
    return [b"\t".join(line.split(b"\t")[i] for i in order) for line in lines], code, stderr


def fast_fields(path: Path) -> tuple[list[bytes], int, str]:
    out, code, stderr = run(fast.dnsdecode_argv(str(path)))
    return out.splitlines(), code, stderr


ORDER = ["frame.time_epoch", "frame.len", "ip.src", "ip.dst", "dns.resp.name", "dns.resp.type",
         "dns.resp.class", "dns.flags.rcode", "dns.a", "ipv6.src", "ipv6.dst",
         "dns.count.answers", "dns.qry.name", "dns.qry.type", "dns.qry.class"]


def table(lines: list[bytes], tz: str = "UTC") -> list[dict]:
    data = b"".join(line + b"\n" for line in lines)
    batches = list(dns_batches(io.BytesIO(data), tz))
    return pa.Table.from_batches(batches, DNS.arrow_schema()).to_pylist() if batches else []


def assert_same(path: Path) -> int:
    """Every line and the ending's meaning equal; returns the rows compared."""
    theirs, t_code, t_err = tshark_fields(path)
    ours, f_code, f_err = fast_fields(path)
    assert classify(f_code, f_err) is classify(t_code, t_err), (path.name, t_err, f_err)
    for i, (a, b) in enumerate(zip(theirs, ours)):
        assert a == b, f"{path.name} line {i}: tshark {a!r} dnsdecode {b!r}"
    assert len(ours) == len(theirs), path.name
    return max(len(ours) - 1, 0)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> list[Path]:
    return cs.write_shapes(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def suite_captures(tmp_path_factory) -> list[Path]:
    """The captures the rest of the test suite makes, in each of their forms."""
    folder = tmp_path_factory.mktemp("suite")
    mix = cw.traffic_mix(390, START, 240.0)
    popular = cw.traffic_mix(2000, START, 600.0, seed=11, popular=50)
    paths = [cw.write_pcap(folder / "mix.pcap", mix.packets),
             cw.write_pcapng(folder / "mix.pcapng", mix.packets),
             cw.write_pcap(folder / "popular.pcap", popular.packets),
             probe_capture(folder / "probe.pcap"),
             cw.write_pcap(folder / "empty.pcap", [])]
    chunks = list(cw.pcap_bytes(mix.packets))
    cut = b"".join(chunks[:1 + 2 * 500]) + chunks[1 + 2 * 500][:8]
    (folder / "cut.pcap").write_bytes(cut)
    ng = list(cw.pcapng_bytes(mix.packets))
    (folder / "cut.pcapng").write_bytes(b"".join(ng[:2 + 300]) + ng[2 + 300][:20])
    (folder / "header-cut.pcap").write_bytes(cut[:10])
    (folder / "random.pcap").write_bytes(random.Random(5).randbytes(4096))
    (folder / "text.pcap").write_bytes(b"this is not a capture\n" * 10)
    (folder / "zero.pcap").write_bytes(b"")
    corrupt = bytearray(b"".join(chunks[:41]))                  # record 20 claims 2 GB
    struct.pack_into("<I", corrupt, len(b"".join(chunks[:39])) + 8, 0x7FFFFFFF)
    (folder / "corrupt.pcap").write_bytes(bytes(corrupt))
    subprocess.run(editcap_argv(str(paths[0]), str(folder / "mix_spot"), 100), env=env(),
                   check=True, capture_output=True)
    paths += [folder / n for n in ("cut.pcap", "cut.pcapng", "header-cut.pcap", "random.pcap",
                                   "text.pcap", "zero.pcap", "corrupt.pcap")]
    paths += list_pieces(str(folder / "mix_spot"))
    return paths


def test_dnsdecode_is_built():
    assert fast.built(), f"{fast.DNSDECODE} is missing: make setup builds it"


def test_every_shape_gives_tshark_s_rows(shapes):
    rows = {path.name: assert_same(path) for path in shapes}
    assert len(rows) == 27
    assert sum(rows.values()) == 3678
    assert (rows["fuzz.pcap"], rows["truncated.pcap"], rows["tcp.pcap"], rows["icmp.pcap"],
            rows["links-2pow.pcapng"]) == (1500, 171, 16, 3, 17)


def test_every_capture_of_the_suite_gives_tshark_s_rows(suite_captures):
    rows = dict(zip((p.name for p in suite_captures), map(assert_same, suite_captures)))
    assert list(rows.values())[:12] == [390, 390, 2000, 1, 0, 232, 140, 0, 0, 0, 0, 9]
    assert sum(list(rows.values())[12:]) == 390                 # editcap's nine pieces


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles"])
def test_table_rows_are_the_same(shapes, suite_captures, tz):
    """The dns table's rows made from either output (frame_time in the worker's zone)."""
    for path in [*shapes[:8], *suite_captures[:3]]:
        theirs, ours = tshark_fields(path)[0], fast_fields(path)[0]
        assert table(ours, tz) == table(theirs, tz), path.name


def rows_or_error(batches) -> list[dict] | str:
    """The table's rows from an iterable of batches, or the DecodeError it raises."""
    try:
        done = list(batches)
    except DecodeError as exc:
        return f"DecodeError: {exc}"
    return pa.Table.from_batches(done, DNS.arrow_schema()).to_pylist() if done else []


def assert_columns_are_the_text_s(path: Path, tz: str = "UTC") -> list[dict] | str:
    """`dnsdecode columns` (what the worker runs) read by column_batches gives the rows, or
    the error, that dnsdecode's text read by dns_batches gives, and ends the same way."""
    text, t_code, t_err = run(fast.dnsdecode_argv(str(path)), tz)
    binary, code, err = run(fast.columns_argv(str(path)), tz)
    assert (code, err) == (t_code, t_err), path.name
    ours = rows_or_error(column_batches(io.BytesIO(binary), tz))
    assert ours == rows_or_error(dns_batches(io.BytesIO(text), tz)), path.name
    return ours


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles"])
def test_the_worker_s_columns_are_the_rows_of_the_text(shapes, suite_captures, tz):
    """Over every shape and every capture of the suite; the text's rows are tshark's (the
    tests above), so the columns' rows are tshark's too. Every capture but simple.pcapng (whose
    simple packet blocks have no time, so its 27 rows fail the piece in both) gives rows:
    the shapes' 3,678 and the suite's 3,552."""
    results = [assert_columns_are_the_text_s(path, tz) for path in [*shapes, *suite_captures]]
    rows = [len(r) for r in results if isinstance(r, list)]
    errors = sorted({r.split(":")[1].strip() for r in results if isinstance(r, str)})
    assert (len(rows), sum(rows)) == (len(shapes) + len(suite_captures) - 1, 7230 - 27)
    assert errors == ["unexpected frame.time_epoch in tshark output"]


def test_the_shapes_hold_what_they_say(shapes):
    """A few exact values, so that the shapes cannot quietly stop covering their cases."""
    by_name = {p.name: fast_fields(p)[0] for p in shapes}
    names = [line.split(b"\t")[4] for line in by_name["names.pcap"][1:]]
    assert b"<Name contains a pointer that loops>" in names
    assert b"<Name too long>" in names and b"<Root>" in names
    assert b"\\001\\a\\033\\177\\000\\\\t\".\\u200B" in names
    tcp = [line.split(b"\t") for line in by_name["tcp.pcap"][1:]]
    assert [f[4] for f in tcp[:3]] == [b"t1.example.com"] * 3
    frags = [line.split(b"\t") for line in by_name["fragments.pcap"][1:]]
    assert [f[8] for f in frags] == [b"192.0.2.90"] * 4
    ports = [line.split(b"\t")[4] for line in by_name["ports.pcap"][1:]]
    assert b"printer.local" in ports and b"host" in ports
    links = by_name["links.pcapng"][1:]
    assert len(links) == 17


def test_ports_table_is_the_installed_tshark_s():
    """ports.go lists the ports the installed tshark gives to a dissector of its own."""
    gen = REPO / "pipelines" / "dns" / "dnsdecode" / "gen_ports.py"
    done = subprocess.run([sys.executable, str(gen)], capture_output=True, text=True, check=True)
    assert done.stdout == (gen.parent / "ports.go").read_text()


# --- differences by design --------------------------------------------------------------------

def test_a_damaged_record_of_a_type_read_by_length_keeps_the_a_after_it(tmp_path):
    """tshark reads a HIP record field by field and throws where its own lengths run past
    the record, losing the A record after it; dnsdecode skips a HIP record by its length and
    keeps that A. The other fields are the same."""
    hip = struct.pack("!BBH", 200, 2, 900) + b"\x01" * 4         # lengths beyond its 8 bytes
    msg = cs.response("hip.example.com", [cs.rr(cs.ptr(12), 55, hip),
                                          cs.rr(cs.ptr(12), 1, cs.a("192.0.2.200"))])
    path = tmp_path / "hip.pcap"
    path.write_bytes(cs.pcap_file([cs.udp_frame(msg)]))
    theirs, ours = tshark_fields(path)[0][1].split(b"\t"), fast_fields(path)[0][1].split(b"\t")
    assert theirs[8] == b"" and ours[8] == b"192.0.2.200"
    assert theirs[:8] + theirs[9:] == ours[:8] + ours[9:]


def test_every_octet_width_and_time_fraction_prints_as_tshark_s(tmp_path):
    """Addresses whose octets have one, two and three digits (in ip.src, ip.dst and dns.a)
    and time stamps whose fraction has leading zeros, nine digits, or is past a second (a
    damaged stamp: both print its digits whole), in pcap with micro- and nanoseconds."""
    octets = [0, 7, 9, 10, 42, 99, 100, 199, 200, 255]
    frames = [cs.udp_frame(cs.simple_response(f"h{i}.example.com", f"{o}.{255 - o}.{o}.1"),
                           src=f"{o}.{o}.{255 - o}.{o}", dst=f"10.{o}.0.{255 - o}")
              for i, o in enumerate(octets)]
    compared = 0
    for nano, fractions in ((False, [0, 7, 999_999, 1_500_000]),
                            (True, [0, 7, 999_999_999, 1_000_000_000])):
        header = struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0,
                             cw.SNAPLEN, frames[0].link)
        records = [struct.pack("<IIII", 1451912280 + i, fractions[i % 4], len(f.data),
                               len(f.data)) + f.data for i, f in enumerate(frames)]
        path = tmp_path / f"widths-{'ns' if nano else 'us'}.pcap"
        path.write_bytes(header + b"".join(records))
        compared += assert_same(path)
        assert fast_fields(path)[0][4].split(b"\t")[:3] == (
            [b"1451912283.1500000000", b"90", b"10.10.245.10"] if not nano else
            [b"1451912283.1000000000", b"90", b"10.10.245.10"])
        assert_columns_are_the_text_s(path)
    assert compared == 2 * len(octets)


def test_a_link_type_dnsdecode_does_not_read_goes_to_tshark(tmp_path):
    """An 802.11 capture (link type 105): dnsdecode prints no row, exits 3 and says why; the
    worker then decodes the file with tshark (tests/integration/test_dns_pipeline.py)."""
    path = tmp_path / "wifi.pcap"
    frame = cs.Frame(b"\x08\x02" + b"\x00" * 30, link=105)
    path.write_bytes(cs.pcap_file([frame]))
    out, code, stderr = run(fast.dnsdecode_argv(str(path)))
    assert (out.splitlines()[1:], code) == ([], fast.EXIT_UNSUPPORTED)
    assert stderr == (f'dnsdecode: The file "{path}" holds link type 105, which dnsdecode does '
                      "not read.\n")


def test_dnsdecode_messages_classify_as_tshark_s(suite_captures):
    by_name = {p.name: p for p in suite_captures}
    for name, outcome in (("cut.pcap", Outcome.CUT_SHORT), ("random.pcap", Outcome.UNREADABLE),
                          ("header-cut.pcap", Outcome.UNREADABLE),
                          ("corrupt.pcap", Outcome.UNREADABLE), ("empty.pcap", Outcome.OK)):
        _, code, stderr = fast_fields(by_name[name])
        assert classify(code, stderr) is outcome, name
    out, code, stderr = run(fast.dnsdecode_argv("/nonexistent/x.pcap"))
    assert (code, stderr) == (2, 'dnsdecode: The file "/nonexistent/x.pcap" doesn\'t exist.\n')
    assert classify(code, stderr) is Outcome.FAILED


def test_header_names_are_the_fields_the_worker_reads(tmp_path):
    """The header of a capture without packets, as tshark's; a file that is no capture gets
    none (tshark prints none either)."""
    out, code, _ = run(fast.dnsdecode_argv(str(cw.write_pcap(tmp_path / "empty.pcap", []))))
    assert code == 0
    assert sorted(out.decode().rstrip("\n").split("\t")) == sorted(NEEDED_FIELDS)
    out, code, _ = run(fast.dnsdecode_argv(str(REPO / "ingest_conf.json")))
    assert (out, code) == (b"", 2)


# --- dnsdecode split against editcap -c -------------------------------------------------------

def _split(tool: str, capture: Path, folder: Path, pkt_num: int, tz: str) -> tuple[list, str]:
    folder.mkdir()
    prefix = str(folder / "c_spot")
    if tool == "editcap":
        out, code, stderr = run(editcap_argv(str(capture), prefix, pkt_num), tz)
    else:
        out, code, stderr = run([str(fast.DNSDECODE), "split", str(pkt_num), str(capture),
                                 prefix], tz)
        assert out.decode().splitlines() == [str(p) for p in list_pieces(prefix)]
    return list_pieces(prefix), classify(code, stderr)


@pytest.mark.parametrize("kind, tz", [("pcap", "UTC"), ("pcapng", "America/Los_Angeles"),
                                      ("cut", "UTC"), ("empty", "UTC"), ("links", "UTC")])
def test_split_cuts_as_editcap_does(kind, tz, shapes, tmp_path):
    """Same piece names (first packet's time in TZ), same packets in each piece, same
    ending; dnsdecode prints each piece once it is complete."""
    mix = cw.traffic_mix(390, START, 240.0)
    capture = tmp_path / f"c.{kind}"
    if kind == "pcap":
        cw.write_pcap(capture, mix.packets)
    elif kind in ("pcapng", "links"):
        capture = next(p for p in shapes if p.name == "links.pcapng") if kind == "links" \
            else cw.write_pcapng(capture, mix.packets)
    elif kind == "cut":
        chunks = list(cw.pcap_bytes(mix.packets))
        capture.write_bytes(b"".join(chunks[:1 + 2 * 450]) + chunks[1 + 2 * 450][:6])
    else:
        cw.write_pcap(capture, [])
    theirs, their_end = _split("editcap", capture, tmp_path / "editcap", 100, tz)
    ours, our_end = _split("dnsdecode", capture, tmp_path / "dnsdecode", 100, tz)
    assert [p.name for p in ours] == [p.name for p in theirs]
    assert our_end is their_end
    for a, b in zip(theirs, ours):
        assert fast_fields(a)[0] == fast_fields(b)[0]
    assert len(ours) == {"pcap": 9, "pcapng": 9, "cut": 5, "empty": 0, "links": 1}[kind]


def test_split_refuses_what_is_no_capture(suite_captures, tmp_path):
    random_bytes = next(p for p in suite_captures if p.name == "random.pcap")
    _, end = _split("dnsdecode", random_bytes, tmp_path / "r", 100, "UTC")
    assert end is Outcome.UNREADABLE


def test_dns_inside_an_ip_tunnel_is_tshark_s_alone(tmp_path):
    """IP in IP (protocol 4): tshark reads the inner datagram's DNS (with the outer
    addresses as ip.src and ip.dst, their first occurrence); dnsdecode follows no tunnel."""
    _, inner = cs.udp_ip(cs.simple_response("tunnel.example.com", "192.0.2.210"))
    _, outer = cw.ip_packet("203.0.113.1", "203.0.113.2", 4, inner)
    path = tmp_path / "ipip.pcap"
    path.write_bytes(cs.pcap_file([cs.Frame(cs.eth(outer))]))
    theirs, ours = tshark_fields(path)[0], fast_fields(path)[0]
    assert len(theirs) == 2 and theirs[1].split(b"\t")[2:5] == [
        b"203.0.113.1", b"203.0.113.2", b"tunnel.example.com"]
    assert ours == theirs[:1]
