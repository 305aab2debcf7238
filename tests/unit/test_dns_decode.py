"""tshark -> dns table rows, tshark's command line, and what tshark's and editcap's messages
mean: pure functions on literal tshark 4.0 output and stderr."""
from __future__ import annotations

import io
from collections import Counter
import struct
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from common.errors import ConfigError, DecodeError
from common.schemas import DNS
from pipelines.dns import capture_writer as cw
from pipelines.dns.decode import (
    PROBE_PACKET, Outcome, check_fields, classify, decoder_message, dns_batches, editcap_argv,
    parse_options, piece_index, piece_time, probe_capture, tshark_argv, tshark_cut_short,
    tshark_unreadable)

# The seed's dns process_opt (SPEC.md), as the configuration holds it.
SEED_OPT = ("-E separator=, -E header=y -E occurrence=f -T fields -e frame.time "
            "-e frame.time_epoch -e frame.len -e ip.src -e ip.dst -e dns.resp.name "
            "-e dns.resp.type -e dns.resp.class -e dns.flags.rcode -e dns.a "
            "'dns.flags.response == 1'")
OUTPUT_OPTIONS = ["-T", "fields", "-E", "header=y", "-E", "separator=/t", "-E", "quote=n",
                  "-E", "occurrence=f"]
EXTRA = ["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "dns.count.answers", "-e", "dns.qry.name",
         "-e", "dns.qry.type", "-e", "dns.qry.class"]

# tshark 4.0.17, `tshark_argv(capture, SEED_OPT)` with TZ=UTC, on six responses: two A
# answers + EDNS; NXDOMAIN with an SOA in the authority section; SERVFAIL; AAAA over TCP over
# IPv6; a name holding a comma, a double quote and a tab; a CNAME then an A.
SEED_OUTPUT = b"".join(line + b"\n" for line in [
    b"frame.time\tframe.time_epoch\tframe.len\tip.src\tip.dst\tdns.resp.name\tdns.resp.type\t"
    b"dns.resp.class\tdns.flags.rcode\tdns.a\tipv6.src\tipv6.dst\tdns.count.answers\t"
    b"dns.qry.name\tdns.qry.type\tdns.qry.class",
    b"Jan  4, 2016 12:58:00.050000000 UTC\t1451912280.050000000\t148\t192.168.1.53\t10.0.0.1\t"
    b"www.example.com\t1\t0x0001\t0\t93.184.216.34\t\t\t2\twww.example.com\t1\t0x0001",
    b"Jan  4, 2016 12:59:59.999999000 UTC\t1451912399.999999000\t169\t192.168.1.53\t10.0.0.2\t"
    b"example.com\t6\t0x0001\t3\t\t\t\t0\tnx.example.com\t1\t0x0001",
    b"Jan  4, 2016 13:00:00.000000000 UTC\t1451912400.000000000\t78\t8.8.8.8\t10.0.0.3\t\t\t\t2"
    b"\t\t\t\t0\tbroken.example.org\t15\t0x0001",
    b"Jul  4, 2016 13:00:01.000001000 UTC\t1467637201.000001000\t150\t\t\tv6.example.net\t28\t"
    b"0x0001\t0\t\t2001:db8::53\t2001:db8:1::a\t1\tv6.example.net\t28\t0x0001",
    b'Jul  4, 2016 13:00:02.500000000 UTC\t1467637202.500000000\t114\t8.8.8.8\t10.0.0.5\t'
    b'a,b"c\\td.example.com\t1\t0x0001\t0\t192.0.2.7\t\t\t1\ta,b"c\\td.example.com\t1\t0x0001',
    b"Jul  4, 2016 13:00:03.000000000 UTC\t1467637203.000000000\t148\t8.8.8.8\t10.0.0.6\t"
    b"alias.example.com\t5\t0x0001\t0\t198.51.100.9\t\t\t2\talias.example.com\t1\t0x0001",
])

# The same capture with the fields reordered, one extra field (udp.srcport) and -Y:
# process_opt REORDERED_OPT.
REORDERED_OPT = ("-Y 'dns.flags.response == 1' -e dns.a -e dns.qry.name -e udp.srcport "
                 "-e dns.flags.rcode -e dns.resp.class -e dns.resp.type -e dns.resp.name "
                 "-e ip.dst -e ip.src -e frame.len")
REORDERED_OUTPUT = b"".join(line + b"\n" for line in [
    b"dns.a\tdns.qry.name\tudp.srcport\tdns.flags.rcode\tdns.resp.class\tdns.resp.type\t"
    b"dns.resp.name\tip.dst\tip.src\tframe.len\tframe.time_epoch\tipv6.src\tipv6.dst\t"
    b"dns.count.answers\tdns.qry.type\tdns.qry.class",
    b"93.184.216.34\twww.example.com\t53\t0\t0x0001\t1\twww.example.com\t10.0.0.1\t"
    b"192.168.1.53\t148\t1451912280.050000000\t\t\t2\t1\t0x0001",
    b"\tnx.example.com\t53\t3\t0x0001\t6\texample.com\t10.0.0.2\t192.168.1.53\t169\t"
    b"1451912399.999999000\t\t\t0\t1\t0x0001",
    b"\tbroken.example.org\t53\t2\t\t\t\t10.0.0.3\t8.8.8.8\t78\t1451912400.000000000\t\t\t0\t15"
    b"\t0x0001",
    b"\tv6.example.net\t\t0\t0x0001\t28\tv6.example.net\t\t\t150\t1467637201.000001000\t"
    b"2001:db8::53\t2001:db8:1::a\t1\t28\t0x0001",
    b'192.0.2.7\ta,b"c\\td.example.com\t53\t0\t0x0001\t1\ta,b"c\\td.example.com\t10.0.0.5\t'
    b'8.8.8.8\t114\t1467637202.500000000\t\t\t1\t1\t0x0001',
    b"198.51.100.9\talias.example.com\t53\t0\t0x0001\t5\talias.example.com\t10.0.0.6\t8.8.8.8\t"
    b"148\t1467637203.000000000\t\t\t2\t1\t0x0001",
])


def row(frame_time, unix_tstamp, frame_len, ip_dst, ip_src, name, qclass, qtype, rcode, a):
    return {"frame_time": frame_time, "unix_tstamp": unix_tstamp, "frame_len": frame_len,
            "ip_dst": ip_dst, "ip_src": ip_src, "dns_qry_name": name, "dns_qry_class": qclass,
            "dns_qry_type": qtype, "dns_qry_rcode": rcode, "dns_a": a}


EXPECTED_UTC = [
    row("Jan  4 2016 12:58:00.050000000 UTC", 1451912280, 148, "10.0.0.1", "192.168.1.53",
        "www.example.com", "0x0001", 1, 0, "93.184.216.34"),
    row("Jan  4 2016 12:59:59.999999000 UTC", 1451912399, 169, "10.0.0.2", "192.168.1.53",
        "nx.example.com", "0x0001", 1, 3, ""),
    row("Jan  4 2016 13:00:00.000000000 UTC", 1451912400, 78, "10.0.0.3", "8.8.8.8",
        "broken.example.org", "0x0001", 15, 2, ""),
    row("Jul  4 2016 13:00:01.000001000 UTC", 1467637201, 150, "2001:db8:1::a", "2001:db8::53",
        "v6.example.net", "0x0001", 28, 0, ""),
    row("Jul  4 2016 13:00:02.500000000 UTC", 1467637202, 114, "10.0.0.5", "8.8.8.8",
        'a,b"c\\td.example.com', "0x0001", 1, 0, "192.0.2.7"),
    row("Jul  4 2016 13:00:03.000000000 UTC", 1467637203, 148, "10.0.0.6", "8.8.8.8",
        "alias.example.com", "0x0001", 5, 0, "198.51.100.9"),
]


def rows(data: bytes, tz: str = "UTC", block_size: int = 1 << 20) -> list[dict]:
    batches = list(dns_batches(io.BytesIO(data), tz, block_size=block_size))
    assert all(b.schema == DNS.arrow_schema() for b in batches)
    return pa.Table.from_batches(batches, DNS.arrow_schema()).to_pylist() if batches else []


def decode_error(data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        rows(data)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- argv -------------------------------------------------------------------------------------

def test_argv_for_the_seed_options():
    assert tshark_argv("/stage/dns_spot_00000_20160104125800.pcap", SEED_OPT) == [
        "tshark", "-r", "/stage/dns_spot_00000_20160104125800.pcap", "-n", *OUTPUT_OPTIONS,
        "-e", "frame.time", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "ip.src",
        "-e", "ip.dst", "-e", "dns.resp.name", "-e", "dns.resp.type", "-e", "dns.resp.class",
        "-e", "dns.flags.rcode", "-e", "dns.a", *EXTRA, "dns.flags.response == 1"]


def test_argv_keeps_the_users_field_order_and_extra_fields():
    assert tshark_argv("/s/x.pcap", REORDERED_OPT) == [
        "tshark", "-r", "/s/x.pcap", "-n", "-Y", "dns.flags.response == 1", *OUTPUT_OPTIONS,
        "-e", "dns.a", "-e", "dns.qry.name", "-e", "udp.srcport", "-e", "dns.flags.rcode",
        "-e", "dns.resp.class", "-e", "dns.resp.type", "-e", "dns.resp.name", "-e", "ip.dst",
        "-e", "ip.src", "-e", "frame.len", "-e", "frame.time_epoch", "-e", "ipv6.src",
        "-e", "ipv6.dst", "-e", "dns.count.answers", "-e", "dns.qry.type", "-e", "dns.qry.class"]


def test_argv_adds_no_field_twice():
    opt = SEED_OPT.replace("-e dns.a", "-e dns.a -e ipv6.src -e dns.count.answers -e dns.a")
    argv = tshark_argv("x.pcap", opt)
    fields = [argv[i + 1] for i, token in enumerate(argv) if token == "-e"]
    assert fields == ["frame.time", "frame.time_epoch", "frame.len", "ip.src", "ip.dst",
                      "dns.resp.name", "dns.resp.type", "dns.resp.class", "dns.flags.rcode",
                      "dns.a", "ipv6.src", "dns.count.answers", "ipv6.dst", "dns.qry.name",
                      "dns.qry.type", "dns.qry.class"]


def test_quoted_filter_stays_one_argument_and_ends_the_list():
    quoted = """'dns.flags.response == 1 && !(dns.qry.name contains "a b; rm -rf /")'"""
    opt = SEED_OPT.replace("'dns.flags.response == 1'", quoted)
    argv = tshark_argv("x.pcap", opt)
    assert argv[-1] == 'dns.flags.response == 1 && !(dns.qry.name contains "a b; rm -rf /")'
    assert argv[-2] == "dns.qry.class"


def test_the_workers_output_options_replace_the_users():
    opt = ("-T json -Eseparator=, -E quote=d -E bom=y -N mnd -nr other.pcap -2 "
           "-o tcp.analyze_sequence_numbers:FALSE --disable-protocol llmnr "
           "--enable-protocol=dns -d udp.port==5353,dns " + SEED_OPT)
    argv = tshark_argv("mine.pcap", opt)
    assert argv[:16] == [
        "tshark", "-r", "mine.pcap", "-n", "-2", "-o", "tcp.analyze_sequence_numbers:FALSE",
        "--disable-protocol", "llmnr", "--enable-protocol=dns", "-d", "udp.port==5353,dns",
        "-T", "fields", "-E", "header=y"]
    for owned in ("json", "separator=,", "quote=d", "bom=y", "mnd", "other.pcap", "-N"):
        assert owned not in argv


def test_parse_options_reads_getopt_clusters_and_attached_values():
    parsed = parse_options("-2n -ednsa -e dns.a -Y 'dns.qry.name == \"a b\"' --log-level=critical "
                           "dns.flags.response == 1")
    assert parsed.fields == ("dnsa", "dns.a")
    assert parsed.options == ("-2", "-Y", 'dns.qry.name == "a b"', "--log-level=critical")
    assert parsed.filter == ("dns.flags.response", "==", "1")


@pytest.mark.parametrize("opt, message", [
    (SEED_OPT + " -c 100", "process_opt option -c is not allowed: it changes what tshark writes "
                           "or reads, and the worker owns tshark's output"),
    (SEED_OPT + " -V", "process_opt option -V is not allowed: it changes what tshark writes or "
                       "reads, and the worker owns tshark's output"),
    (SEED_OPT + " -o", "process_opt option -o lacks its value"),
    (SEED_OPT + " --disable-protocol", "process_opt option --disable-protocol lacks its value"),
    ("-e 'frame.len", "process_opt \"-e 'frame.len\" cannot be split into arguments: "
                      "No closing quotation"),
])
def test_bad_process_opt_is_a_config_error(opt, message):
    with pytest.raises(ConfigError) as info:
        tshark_argv("x.pcap", opt)
    assert str(info.value) == message


# --- check_fields -----------------------------------------------------------------------------

def test_check_fields_accepts_the_seed_and_reordered_options():
    assert check_fields(SEED_OPT) is None
    assert check_fields(REORDERED_OPT) is None


def test_check_fields_names_one_missing_field():
    with pytest.raises(ConfigError) as info:
        check_fields(SEED_OPT.replace(" -e dns.a", ""))
    assert str(info.value) == ("process_opt lacks -e dns.a: the dns table's dns_a column comes "
                               "from it")


def test_check_fields_names_every_missing_field():
    with pytest.raises(ConfigError) as info:
        tshark_argv("x.pcap", SEED_OPT.replace(" -e ip.src", "").replace(" -e dns.resp.type", ""))
    assert str(info.value) == ("process_opt lacks -e ip.src, -e dns.resp.type: the dns table's "
                               "ip_src, dns_qry_type columns come from them")


def test_check_fields_on_empty_options():
    with pytest.raises(ConfigError) as info:
        check_fields("")
    assert str(info.value) == (
        "process_opt lacks -e frame.len, -e ip.src, -e ip.dst, -e dns.resp.name, "
        "-e dns.resp.type, -e dns.resp.class, -e dns.flags.rcode, -e dns.a: the dns table's "
        "frame_len, ip_src, ip_dst, dns_qry_name, dns_qry_type, dns_qry_class, dns_qry_rcode, "
        "dns_a columns come from them")


# --- dns_batches ------------------------------------------------------------------------------

def test_rows_from_real_tshark_output():
    assert rows(SEED_OUTPUT) == EXPECTED_UTC


def test_columns_are_found_by_name_not_position():
    assert rows(REORDERED_OUTPUT) == EXPECTED_UTC


def test_frame_time_in_another_time_zone():
    la = rows(SEED_OUTPUT, tz="America/Los_Angeles")
    assert [r["frame_time"] for r in la] == [
        "Jan  4 2016 04:58:00.050000000 PST",
        "Jan  4 2016 04:59:59.999999000 PST",
        "Jan  4 2016 05:00:00.000000000 PST",
        "Jul  4 2016 06:00:01.000001000 PDT",
        "Jul  4 2016 06:00:02.500000000 PDT",
        "Jul  4 2016 06:00:03.000000000 PDT",
    ]
    assert [r["unix_tstamp"] for r in la] == [r["unix_tstamp"] for r in EXPECTED_UTC]
    kolkata = rows(SEED_OUTPUT, tz="Asia/Kolkata")
    assert kolkata[0]["frame_time"] == "Jan  4 2016 18:28:00.050000000 IST"


def test_responses_without_answers_take_the_question():
    """tshark's first dns.resp.name of the NXDOMAIN is its SOA's zone (type 6): not used."""
    nxdomain, servfail = rows(SEED_OUTPUT)[1:3]
    assert (nxdomain["dns_qry_name"], nxdomain["dns_qry_type"], nxdomain["dns_qry_class"]) == \
        ("nx.example.com", 1, "0x0001")
    assert (servfail["dns_qry_name"], servfail["dns_qry_type"], servfail["dns_qry_class"]) == \
        ("broken.example.org", 15, "0x0001")


def test_a_name_with_a_comma_a_quote_and_a_tab_comes_through_whole():
    odd = rows(SEED_OUTPUT)[4]
    assert odd["dns_qry_name"] == 'a,b"c\\td.example.com'
    assert (odd["dns_qry_type"], odd["dns_a"], odd["frame_len"]) == (1, "192.0.2.7", 114)


def test_ipv6_transport_fills_ip_src_and_ip_dst():
    v6 = rows(SEED_OUTPUT)[3]
    assert (v6["ip_src"], v6["ip_dst"]) == ("2001:db8::53", "2001:db8:1::a")


def test_small_blocks_stream_as_several_batches_with_the_same_rows():
    batches = list(dns_batches(io.BytesIO(SEED_OUTPUT), "UTC", block_size=300))
    assert len(batches) > 1
    assert pa.Table.from_batches(batches).to_pylist() == EXPECTED_UTC


def test_no_output_and_header_only_give_no_batches():
    header = SEED_OUTPUT.split(b"\n")[0]
    assert rows(b"") == []
    assert rows(header + b"\n") == []
    assert rows(header) == []          # cut inside the header: the process's exit code tells


def test_epoch_with_fewer_fraction_digits():
    """Independent of how many digits a tshark version prints."""
    line = SEED_OUTPUT.split(b"\n")[1]
    short = line.replace(b"\t1451912280.050000000\t", b"\t1451912280.05\t")
    bare = line.replace(b"\t1451912280.050000000\t", b"\t1451912280\t")
    header = SEED_OUTPUT.split(b"\n")[0] + b"\n"
    assert rows(header + short + b"\n")[0]["frame_time"] == "Jan  4 2016 12:58:00.050000000 UTC"
    assert rows(header + bare + b"\n")[0]["frame_time"] == "Jan  4 2016 12:58:00.000000000 UTC"


def test_wrong_column_count_is_a_one_line_decode_error():
    bad = SEED_OUTPUT + b"Jan  4, 2016\t1451912280.0\t60\n"
    assert decode_error(bad) == ("unreadable tshark output: CSV parse error: Expected 16 columns, "
                                 "got 3: Jan 4, 2016 1451912280.0 60")


def nulled_rows(data: bytes) -> tuple[list[dict], Counter]:
    nulled: Counter = Counter()
    batches = list(dns_batches(io.BytesIO(data), "UTC", nulled=nulled))
    return pa.Table.from_batches(batches, DNS.arrow_schema()).to_pylist(), nulled


def test_a_non_number_in_a_number_column_is_null_and_the_row_stays():
    bad = SEED_OUTPUT.replace(b"\twww.example.com\t1\t0x0001\t0\t",
                              b"\twww.example.com\tA\t0x0001\t0\t")
    got, nulled = nulled_rows(bad)
    assert got == [dict(EXPECTED_UTC[0], dns_qry_type=None)] + EXPECTED_UTC[1:]
    assert nulled == Counter({"dns_qry_type": 1})


def test_values_too_wide_for_int_are_null_each_counted_by_column():
    bad = SEED_OUTPUT.replace(b"\t148\t192.168.1.53\t", b"\t99999999999\t192.168.1.53\t")
    bad = bad.replace(b"example.com\t6\t0x0001\t3\t", b"example.com\t6\t0x0001\t2147483648\t")
    bad = bad.replace(b"\t15\t0x0001\n", b"\t-2147483649\t0x0001\n")
    got, nulled = nulled_rows(bad)
    assert got == [dict(EXPECTED_UTC[0], frame_len=None), dict(EXPECTED_UTC[1], dns_qry_rcode=None),
                   dict(EXPECTED_UTC[2], dns_qry_type=None)] + EXPECTED_UTC[3:]
    assert nulled == Counter({"frame_len": 1, "dns_qry_rcode": 1, "dns_qry_type": 1})
    assert nulled_rows(SEED_OUTPUT) == (EXPECTED_UTC, Counter())


def test_integers_keep_what_fits_and_count_what_does_not():
    from pipelines.dns.decode import integers

    text = pa.array(["1", "", None, "-2147483648", "2147483647", "2147483648", "0x10", " 7",
                     "9" * 30, "-0"])
    out, lost = integers(text, pa.int32())
    assert out.to_pylist() == [1, None, None, -2147483648, 2147483647, None, None, None, None, 0]
    assert lost == 4


def test_bad_epoch_is_a_one_line_decode_error():
    bad = SEED_OUTPUT.replace(b"\t1451912400.000000000\t", b"\tyesterday\t")
    assert decode_error(bad) == "unexpected frame.time_epoch in tshark output: 'yesterday'"


def test_header_without_a_needed_field_is_a_decode_error():
    bad = SEED_OUTPUT.replace(b"\tdns.count.answers\t", b"\tdns.count.queries\t", 1)
    assert decode_error(bad) == (
        "tshark output lacks the fields dns.count.answers: header 'frame.time frame.time_epoch "
        "frame.len ip.src ip.dst dns.resp.name dns.resp.type dns.resp.class dns.flags.rcode "
        "dns.a ipv6.src ipv6.dst dns.count.queries dns.qry.name dns.qry.type dns.qry.class'")


def test_unknown_time_zone_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        rows(SEED_OUTPUT, tz="Mars/Olympus_Mons")
    assert str(info.value) == ("time zone 'Mars/Olympus_Mons' is unknown (an IANA name such as "
                               "UTC or America/Los_Angeles)")


# --- tshark's and editcap's messages (tshark 4.0.17, run as root) -----------------------------

ROOT = 'Running as user "root" and group "root". This could be dangerous.\n'
STDERR = {
    "cut": ROOT + 'tshark: The file "cut.pcap" appears to have been cut short in the middle of '
                  'a packet.\n',
    "header_cut": ROOT + 'tshark: The file "shorthdr.pcap" appears to have been cut short in the '
                         'middle of a packet or other data.\n',
    "random": ROOT + 'tshark: The file "rand.pcap" isn\'t a capture file in a format TShark '
                     'understands.\n',
    "damaged": ROOT + 'tshark: The file "corrupt.pcap" appears to be damaged or corrupt.\n'
                      '(pcap: File has 2147483647-byte packet, bigger than maximum of 262144)\n',
    "filter": ROOT + 'tshark: Left side of "==" expression must be a field or function, not '
                     'dns.flags.respons.\n    dns.flags.respons == 1\n    ^~~~~~~~~~~~~~~~~\n',
    "field": ROOT + "tshark: Some fields aren't valid:\n\tdns.bogus\n",
    "option": ROOT + "tshark: unrecognized option: bogus-option\n\nUsage: tshark [options] ...\n",
    "missing": ROOT + 'tshark: The file "nonexist.pcap" doesn\'t exist.\n',
    "folder": ROOT + 'tshark: "/tmp/dnsx" is a directory (folder), not a file.\n',
    "editcap_cut": 'editcap: The file "cut.pcap" appears to have been cut short in the middle '
                   'of a packet.\n',
    "editcap_damaged": 'editcap: The file "corrupt.pcap" appears to be damaged or corrupt.\n'
                       '(pcap: File has 2147483647-byte packet, bigger than maximum of 262144)\n',
    "editcap_random": 'editcap: The file "rand.pcap" isn\'t a capture file in a format editcap '
                      'understands.\n',
    # A file name is data: holding a message's words does not make it that message.
    "tricky_name": ROOT + 'tshark: The file "appears to have been cut short in the middle of a '
                          'packet..pcap" doesn\'t exist.\n',
}


@pytest.mark.parametrize("case, code, outcome", [
    ("cut", 2, Outcome.CUT_SHORT),
    ("header_cut", 2, Outcome.UNREADABLE),
    ("random", 2, Outcome.UNREADABLE),
    ("damaged", 2, Outcome.UNREADABLE),
    ("filter", 2, Outcome.FAILED),
    ("field", 1, Outcome.FAILED),
    ("option", 1, Outcome.FAILED),
    ("missing", 2, Outcome.FAILED),
    ("folder", 2, Outcome.FAILED),
    ("editcap_cut", 0, Outcome.CUT_SHORT),
    ("editcap_damaged", 0, Outcome.UNREADABLE),
    ("editcap_random", 2, Outcome.UNREADABLE),
    ("tricky_name", 2, Outcome.FAILED),
])
def test_classify(case, code, outcome):
    assert classify(code, STDERR[case]) is outcome


def test_classify_success_and_signals():
    assert classify(0, ROOT) is Outcome.OK
    assert classify(0, "") is Outcome.OK
    assert classify(-9, STDERR["cut"]) is Outcome.FAILED


def test_cut_short_and_unreadable_predicates():
    assert tshark_cut_short(STDERR["cut"]) and not tshark_unreadable(STDERR["cut"])
    assert tshark_unreadable(STDERR["header_cut"]) and not tshark_cut_short(STDERR["header_cut"])
    assert tshark_unreadable(STDERR["random"]) and not tshark_cut_short(STDERR["random"])


@pytest.mark.parametrize("case, message", [
    ("damaged", 'tshark: The file "corrupt.pcap" appears to be damaged or corrupt. (pcap: File '
                'has 2147483647-byte packet, bigger than maximum of 262144)'),
    ("field", "tshark: Some fields aren't valid: dns.bogus"),
    ("option", "tshark: unrecognized option: bogus-option"),
    ("filter", 'tshark: Left side of "==" expression must be a field or function, not '
               'dns.flags.respons.'),
    ("random", 'tshark: The file "rand.pcap" isn\'t a capture file in a format TShark '
               'understands.'),
])
def test_decoder_message_is_one_line(case, message):
    assert decoder_message(STDERR[case]) == message
    assert decoder_message(ROOT) == "no message"


# --- editcap pieces ---------------------------------------------------------------------------

def test_editcap_argv():
    assert editcap_argv("/stage/dns.pcap", "/split/dns_spot", 650000) == [
        "editcap", "-c", "650000", "/stage/dns.pcap", "/split/dns_spot.pcap"]
    with pytest.raises(ConfigError) as info:
        editcap_argv("a.pcap", "b", 0)
    assert str(info.value) == "pkt_num must be a positive number of packets, not 0"


def test_piece_time_and_index():
    name = "/split/dns_spot_00012_20160104125800.pcap"
    assert piece_time(name) == datetime(2016, 1, 4, 12, 58, 0, tzinfo=timezone.utc)
    assert piece_time(name).utcoffset().total_seconds() == 0
    assert piece_index(name) == 12
    la = piece_time("out_spot_00000_20160104045800.pcap", "America/Los_Angeles")
    assert la == datetime(2016, 1, 4, 12, 58, 0, tzinfo=timezone.utc)
    assert (la.year, la.month, la.day, la.hour) == (2016, 1, 4, 4)
    assert piece_index("nfcapd_2016_01_spot_100000_20160104125800.pcapng") == 100000
    assert piece_time("x_00001_20161231235959") == datetime(2016, 12, 31, 23, 59, 59,
                                                            tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize("name", ["dns_spot.pcap", "dns_spot_00000_2016010412.pcap",
                                  "dns_spot_0000_20160104125800.pcap"])
def test_names_without_a_stamp_are_refused(name):
    with pytest.raises(ValueError):
        piece_time(name)


# --- the capture writer (pure parts) ----------------------------------------------------------

def test_internet_checksum_rfc1071_example():
    assert cw.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_ipv4_udp_frame_layout():
    packet = cw.DnsPacket(time=0.0, src="192.168.1.53", dst="10.0.0.1", qname="a.b",
                          answers=(cw.Answer("a.b", "A", "1.2.3.4"),), client_port=40000)
    frame = packet.frame()
    message = packet.message()
    assert len(frame) == 14 + 20 + 8 + len(message)
    assert frame[12:14] == b"\x08\x00"
    assert struct.unpack("!H", frame[16:18])[0] == 20 + 8 + len(message)      # IP total length
    assert cw.internet_checksum(frame[14:34]) == 0                            # header checksum
    assert struct.unpack("!HHH", frame[34:40]) == (53, 40000, 8 + len(message))
    assert message[:12] == struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)


def test_tshark_name_text():
    assert cw.tshark_name_text('a,b"c\td.example.com.') == 'a,b"c\\td.example.com'
    assert cw.tshark_name_text("x\x01\x7f\xffy\\z") == "x\\001\\177\ufffdy\\z"


def test_frame_time_text():
    micros = 1463735425_970987
    assert cw.frame_time_text(micros, "America/Los_Angeles") == "May 20 2016 02:10:25.970987000 PDT"
    assert cw.frame_time_text(1451912280_050000) == "Jan  4 2016 12:58:00.050000000 UTC"


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        cw.epoch_micros(datetime(2016, 1, 4))


def test_traffic_mix_distribution_and_times():
    start = datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc)
    mix = cw.traffic_mix(26, start, 240)
    kinds = len(cw.KINDS)
    assert kinds == 13
    assert len(mix.rows) == 26
    queries = [p for p in mix.packets if isinstance(p, cw.DnsPacket) and not p.response]
    assert len(queries) == 26 - 26 // 3                     # every third response has none
    assert sum(isinstance(p, cw.UdpDatagram) for p in mix.packets) == 5
    assert sum(isinstance(p, cw.IcmpEcho) for p in mix.packets) == 2 * 3
    assert len(mix.packets) == 26 + 18 + 5 + 6
    assert mix.packets[0].time == start
    assert cw.epoch_micros(mix.packets[-1].time) == cw.epoch_micros(start) + 240_000_000
    micros = [cw.epoch_micros(p.time) for p in mix.packets]
    assert micros == sorted(micros)
    responses = mix.responses
    assert sum(r.rcode == 3 for r in responses) == 2
    assert sum(r.transport == "tcp" for r in responses) == 4
    assert sum(":" in r.src for r in responses) == 4
    assert [r["dns_qry_rcode"] for r in mix.rows[:5]] == [0, 0, 3, 2, 0]
    assert mix.rows[7]["dns_qry_name"] == "a,b7.example0.com"


def test_probe_capture(tmp_path):
    path = probe_capture(tmp_path / "probe.pcap")
    data = path.read_bytes()
    frame = PROBE_PACKET.frame()
    assert data[:4] == struct.pack("<I", 0xA1B2C3D4)
    assert len(data) == 24 + 16 + len(frame)
    assert data[40:] == frame
    assert struct.unpack("<II", data[24:32]) == (1451912280, 50000)


def test_cells_nulled_are_one_log_line_per_file_and_counted_by_column(caplog):
    from prometheus_client import REGISTRY

    from pipelines.dns.worker import report_nulled

    def sample(column: str) -> float:
        return REGISTRY.get_sample_value("spot_cells_nulled_total",
                                         {"pipeline": "dns_t", "column": column}) or 0.0

    before = sample("frame_len"), sample("dns_qry_type")
    with caplog.at_level("WARNING"):
        report_nulled("dns_t", 1, "x.pcap [piece 0]", Counter({"frame_len": 2, "dns_qry_type": 1}))
        report_nulled("dns_t", 1, "y.pcap [piece 0]", Counter())
    assert [r.getMessage() for r in caplog.records] == [
        "dns_t worker-1: x.pcap [piece 0]: 3 value(s) did not fit their column and are NULL in "
        "those cells, the rows kept (dns_qry_type 1, frame_len 2)"]
    assert (sample("frame_len"), sample("dns_qry_type")) == (before[0] + 2, before[1] + 1)
