"""Which decoder reads a dns pipeline's pieces (pipelines/dns/fast.py), on literal options."""
from __future__ import annotations

import pytest

from pipelines.dns.fast import (SEED_PROCESS_OPT, Choice, DNSDECODE, choose, columns_argv,
                                dnsdecode_argv, lacks)

REORDERED = ("-Y 'dns.flags.response == 1' -e dns.a -e dns.qry.name -e dns.flags.rcode "
             "-e dns.resp.class -e dns.resp.type -e dns.resp.name -e ip.dst -e ip.src "
             "-e frame.len")


def test_no_process_opt_is_dnsdecode_and_tshark_gets_the_seed_options():
    assert choose(None, "") == Choice("dnsdecode", SEED_PROCESS_OPT)
    assert choose("dnsdecode", "  ") == Choice("dnsdecode", SEED_PROCESS_OPT)
    assert choose("tshark", "") == Choice("tshark", SEED_PROCESS_OPT)


@pytest.mark.parametrize("opt", [SEED_PROCESS_OPT, REORDERED,
                                 SEED_PROCESS_OPT.replace("'dns.flags.response == 1'",
                                                          "dns.flags.response eq 1"),
                                 "--display-filter='dns.flags.response == 1' -e dns.a -n"])
def test_what_dnsdecode_implements_stays_with_dnsdecode(opt):
    assert lacks(opt) == ""
    assert choose(None, opt) == Choice("dnsdecode", opt)


@pytest.mark.parametrize("opt, reason", [
    (SEED_PROCESS_OPT + " -e udp.srcport -e dns.id",
     "process_opt asks for fields udp.srcport, dns.id, which only tshark implements"),
    (SEED_PROCESS_OPT.replace("'dns.flags.response == 1'", "'dns.flags.response == 1 && udp'"),
     "process_opt asks for the display filter 'dns.flags.response == 1 && udp', which only "
     "tshark implements"),
    ("-o dns.use_for_addr_resolution:TRUE " + SEED_PROCESS_OPT,
     "process_opt asks for options -o dns.use_for_addr_resolution:TRUE, which only tshark "
     "implements"),
    ("-d udp.port==5300,dns " + SEED_PROCESS_OPT,
     "process_opt asks for options -d udp.port==5300,dns, which only tshark implements"),
    ("-e dns.a -e frame.len", "process_opt asks for the display filter (none), which only "
                              "tshark implements"),
])
def test_what_only_tshark_implements_goes_to_tshark_with_the_reason(opt, reason):
    assert choose(None, opt) == Choice("tshark", opt, reason)
    assert choose("tshark", opt) == Choice("tshark", opt)


def test_dnsdecode_argv_is_a_list_with_the_path_alone():
    assert dnsdecode_argv("/s/-x $(y).pcap") == [str(DNSDECODE), "/s/-x $(y).pcap"]
    assert DNSDECODE.parts[-2:] == ("build", "dnsdecode")


def test_the_worker_s_argv_asks_for_columns_with_the_path_last():
    assert columns_argv("/s/-x $(y).pcap") == [str(DNSDECODE), "columns", "/s/-x $(y).pcap"]
