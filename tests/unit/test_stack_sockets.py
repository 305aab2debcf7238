"""The reading of /proc/net/tcp and tcp6 that tells where the local stack listens
(services/supervise.py), on literal table rows."""
import ipaddress
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

from supervise import is_loopback, listening_sockets, socket_address  # noqa: E402

HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
          "timeout inode\n")
TCP = HEADER + (
    "   0: 0100007F:2383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "31001 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000:2383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "31002 1 0000000000000000 100 0 0 10 0\n"
    "   2: 011212C6:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "31003 1 0000000000000000 100 0 0 10 0\n"
    "   3: 0100007F:2384 0100007F:A1C2 01 00000000:00000000 00:00000000 00000000     0        0 "
    "31004 1 0000000000000000 20 4 30 10 -1\n")
TCP6 = HEADER + (
    "   0: 00000000000000000000000001000000:B807 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 32001 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0000000000000000FFFF00000100007F:B808 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 32002 1 0000000000000000 100 0 0 10 0\n"
    "   2: 00000000000000000000000000000000:2383 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 32003 1 0000000000000000 100 0 0 10 0\n")


def test_ipv4_rows_in_listen_state_only():
    assert listening_sockets(TCP) == {
        "31001": (ipaddress.ip_address("127.0.0.1"), 9091),
        "31002": (ipaddress.ip_address("0.0.0.0"), 9091),
        "31003": (ipaddress.ip_address("198.18.18.1"), 8080)}


def test_ipv6_rows():
    assert listening_sockets(TCP6) == {
        "32001": (ipaddress.ip_address("::1"), 47111),
        "32002": (ipaddress.ip_address("::ffff:127.0.0.1"), 47112),
        "32003": (ipaddress.ip_address("::"), 9091)}


def test_what_counts_as_loopback():
    assert [is_loopback(address) for address, _ in
            [*listening_sockets(TCP).values(), *listening_sockets(TCP6).values()]] == \
        [True, False, False, True, True, False]
    assert socket_address("0100017F:0050") == (ipaddress.ip_address("127.1.0.1"), 80)
