"""Real DNS capture files for tests and demos, built in pure Python (no packet library).

Packets are plain values (`DnsPacket`, `UdpDatagram`, `IcmpEcho`); `frame()` turns one into
the bytes of an Ethernet frame (IPv4 or IPv6, UDP or TCP, lengths and checksums filled in),
and `write_pcap` / `write_pcapng` write a list of them as a classic libpcap file
(microsecond timestamps, link type Ethernet) or a pcapng file (one section, one Ethernet
interface, enhanced packet blocks).

`expected_row` is the oracle of the dns table: the row a DNS response must become, computed
from the packet value alone (never from tshark), so decoding tests compare tshark's reading
of the file against an independent answer. `traffic_mix` makes a capture's worth of packets
with a known distribution of responses, plus queries and non-DNS traffic, and their rows.

DNS over TCP is one segment (PSH|ACK, no handshake) holding the 2-byte length prefix and the
message. tshark 4.0 dissects such a segment as DNS on its own; after the query's segment it
does so only when the sequence numbers agree (the response acknowledges the query), else it
calls the response a spurious retransmission and leaves its payload undissected, so
`traffic_mix` numbers them like a real connection.

    python -m pipelines.dns.capture_writer --responses 1000 \\
        --start 2016-01-04T12:58:00+00:00 --spread-seconds 240 --out /tmp/dns.pcap
"""
from __future__ import annotations

import argparse
import ipaddress
import random
import struct
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, NamedTuple, Protocol, Sequence, Union
from zoneinfo import ZoneInfo

Timestamp = Union[datetime, float]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "OPT": 41, "ANY": 255}
CLASS_IN = 1

LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6 = 1, 6, 17, 58
DNS_PORT = 53
_SRC_MAC = bytes.fromhex("020000000001")
_DST_MAC = bytes.fromhex("020000000002")
_TCP_PSH_ACK = 0x18


# --- time -------------------------------------------------------------------------------------

def epoch_micros(t: Timestamp) -> int:
    """A packet time as whole microseconds since the epoch (the resolution of both formats).
    A naive datetime is refused: a capture's clock is an instant, not a wall-clock reading."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(f"packet time {t.isoformat()} has no time zone")
        return (t - _EPOCH) // _MICRO
    return round(t * 1_000_000)


# --- packets ----------------------------------------------------------------------------------

class Answer(NamedTuple):
    """One answer record: rtype is A, AAAA or CNAME; value an address or a target name."""
    name: str
    rtype: str
    value: str
    ttl: int = 300


class Packet(Protocol):
    time: Timestamp

    def frame(self) -> bytes: ...


@dataclass(frozen=True)
class DnsPacket:
    """A DNS query (response=False: src is the client) or response (src is the server, port 53).

    soa_zone adds one SOA record to the authority section (what a server sends with NXDOMAIN or
    an empty NOERROR); edns adds an OPT record to the additional section. Both are there
    because tshark reports their owner names in dns.resp.name too."""
    time: Timestamp
    src: str
    dst: str
    qname: str
    qtype: str = "A"
    response: bool = True
    rcode: int = 0
    answers: tuple[Answer, ...] = ()
    transport: str = "udp"
    txid: int = 0x1234
    client_port: int = 40000
    soa_zone: str | None = None
    edns: bool = False
    tcp_seq: int = 1000
    tcp_ack: int = 5000

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be udp or tcp, not {self.transport!r}")
        if self.qtype not in TYPES:
            raise ValueError(f"unknown query type {self.qtype!r}")
        for answer in self.answers:
            if answer.rtype not in ("A", "AAAA", "CNAME"):
                raise ValueError(f"answer type must be A, AAAA or CNAME, not {answer.rtype!r}")

    @property
    def ports(self) -> tuple[int, int]:
        return (DNS_PORT, self.client_port) if self.response else (self.client_port, DNS_PORT)

    def message(self) -> bytes:
        return dns_message(self)

    def frame(self) -> bytes:
        sport, dport = self.ports
        body = self.message()
        if self.transport == "tcp":
            segment = tcp_segment(self.src, self.dst, sport, dport,
                                  struct.pack("!H", len(body)) + body,
                                  seq=self.tcp_seq, ack=self.tcp_ack)
            return ethernet(self.src, self.dst, PROTO_TCP, segment)
        return ethernet(self.src, self.dst, PROTO_UDP, udp_datagram(self.src, self.dst,
                                                                    sport, dport, body))


@dataclass(frozen=True)
class UdpDatagram:
    """Any UDP datagram (non-DNS traffic in a capture, e.g. port 9999 with random bytes)."""
    time: Timestamp
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes

    def frame(self) -> bytes:
        return ethernet(self.src, self.dst, PROTO_UDP,
                        udp_datagram(self.src, self.dst, self.sport, self.dport, self.payload))


@dataclass(frozen=True)
class IcmpEcho:
    """ICMP (IPv4) or ICMPv6 (IPv6) echo request, or reply when reply=True."""
    time: Timestamp
    src: str
    dst: str
    ident: int = 1
    seq: int = 1
    reply: bool = False
    payload: bytes = b"spot-ingest-ping"

    def frame(self) -> bytes:
        v6 = _ip(self.src).version == 6
        kind = (129 if self.reply else 128) if v6 else (0 if self.reply else 8)
        message = struct.pack("!BBHHH", kind, 0, 0, self.ident, self.seq) + self.payload
        pseudo = _pseudo_header(self.src, self.dst, PROTO_ICMPV6, len(message)) if v6 else b""
        message = _with_checksum(message, 2, pseudo)
        return ethernet(self.src, self.dst, PROTO_ICMPV6 if v6 else PROTO_ICMP, message)


# --- framing ----------------------------------------------------------------------------------

def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address)


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    s, d = _ip(src), _ip(dst)
    if s.version != d.version:
        raise ValueError(f"{src} and {dst} are not of the same IP version")
    if s.version == 4:
        return s.packed + d.packed + struct.pack("!BBH", 0, proto, length)
    return s.packed + d.packed + struct.pack("!I3xB", length, proto)


def _with_checksum(header_and_data: bytes, offset: int, pseudo: bytes) -> bytes:
    """Fills the 16-bit checksum at offset (which must hold zero)."""
    value = internet_checksum(pseudo + header_and_data)
    return header_and_data[:offset] + struct.pack("!H", value) + header_and_data[offset + 2:]


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    value = internet_checksum(_pseudo_header(src, dst, PROTO_UDP, length) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", value) + datagram[8:]


def tcp_segment(src: str, dst: str, sport: int, dport: int, payload: bytes,
                seq: int = 1000, ack: int = 5000, flags: int = _TCP_PSH_ACK) -> bytes:
    header = struct.pack("!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         (5 << 12) | flags, 64240, 0, 0)
    segment = header + payload
    return _with_checksum(segment, 16, _pseudo_header(src, dst, PROTO_TCP, len(segment)))


def ip_packet(src: str, dst: str, proto: int, payload: bytes) -> tuple[int, bytes]:
    """(ethertype, packet): IPv4 (DF, TTL 64, header checksum) or IPv6 (hop limit 64)."""
    s, d = _ip(src), _ip(dst)
    if s.version != d.version:
        raise ValueError(f"{src} and {dst} are not of the same IP version")
    if s.version == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto,
                             0, s.packed, d.packed)
        return ETH_IPV4, _with_checksum(header, 10, b"") + payload
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, s.packed, d.packed)
    return ETH_IPV6, header + payload


def ethernet(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    ethertype, packet = ip_packet(src, dst, proto, payload)
    return _DST_MAC + _SRC_MAC + struct.pack("!H", ethertype) + packet


# --- DNS messages -----------------------------------------------------------------------------

def encode_name(name: str) -> bytes:
    """Uncompressed wire form; every character of a label is kept as one byte (latin-1), so
    any byte a DNS label may hold (a comma, a quote, a tab, 0xff) can be written."""
    out = bytearray()
    for label in [part for part in name.rstrip(".").split(".") if part]:
        raw = label.encode("latin-1")
        if len(raw) > 63:
            raise ValueError(f"label {label!r} is longer than 63 bytes")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\0")


def _record(name: str, rtype: int, rclass: int, ttl: int, rdata: bytes) -> bytes:
    return encode_name(name) + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def _answer_record(answer: Answer) -> bytes:
    if answer.rtype == "A":
        rdata = ipaddress.IPv4Address(answer.value).packed
    elif answer.rtype == "AAAA":
        rdata = ipaddress.IPv6Address(answer.value).packed
    else:
        rdata = encode_name(answer.value)
    return _record(answer.name, TYPES[answer.rtype], CLASS_IN, answer.ttl, rdata)


def _soa_record(zone: str) -> bytes:
    rdata = (encode_name(f"ns1.{zone}") + encode_name(f"hostmaster.{zone}")
             + struct.pack("!IIIII", 2016010401, 7200, 900, 1209600, 300))
    return _record(zone, TYPES["SOA"], CLASS_IN, 900, rdata)


def _opt_record() -> bytes:
    return _record("", TYPES["OPT"], 4096, 0, b"")   # class = UDP payload size


def dns_message(packet: DnsPacket) -> bytes:
    flags = 0x0100                                  # RD
    if packet.response:
        flags |= 0x8000 | 0x0080 | (packet.rcode & 0xF)   # QR, RA, rcode
    header = struct.pack("!HHHHHH", packet.txid, flags, 1, len(packet.answers),
                         1 if packet.soa_zone else 0, 1 if packet.edns else 0)
    body = encode_name(packet.qname) + struct.pack("!HH", TYPES[packet.qtype], CLASS_IN)
    body += b"".join(_answer_record(a) for a in packet.answers)
    if packet.soa_zone:
        body += _soa_record(packet.soa_zone)
    if packet.edns:
        body += _opt_record()
    return header + body


# --- capture files ----------------------------------------------------------------------------

def pcap_bytes(packets: Iterable[Packet]) -> Iterable[bytes]:
    """Classic libpcap, little-endian, microsecond timestamps, Ethernet."""
    yield struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    for packet in packets:
        data, micros = packet.frame(), epoch_micros(packet.time)
        yield struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(data), len(data))
        yield data


def _pcapng_block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def pcapng_bytes(packets: Iterable[Packet]) -> Iterable[bytes]:
    """pcapng: section header, one Ethernet interface (default resolution: microseconds),
    one enhanced packet block per packet."""
    yield _pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    yield _pcapng_block(0x00000001, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN))
    for packet in packets:
        data, micros = packet.frame(), epoch_micros(packet.time)
        yield _pcapng_block(0x00000006, struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF,
                                                    len(data), len(data)) + data)


def write_capture(path: str | Path, packets: Iterable[Packet], pcapng: bool = False) -> Path:
    path = Path(path)
    chunks = pcapng_bytes(packets) if pcapng else pcap_bytes(packets)
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


def write_pcap(path: str | Path, packets: Iterable[Packet]) -> Path:
    return write_capture(path, packets, pcapng=False)


def write_pcapng(path: str | Path, packets: Iterable[Packet]) -> Path:
    return write_capture(path, packets, pcapng=True)


# --- the oracle -------------------------------------------------------------------------------

def frame_time_text(micros: int, tz: str = "UTC") -> str:
    """`Jan  4 2016 12:58:00.050000000 UTC`: tshark 4.0's frame.time without the comma, written
    out by hand (per row, slow) so that it can check the decoder's vectorised version."""
    local = datetime.fromtimestamp(micros // 1_000_000, ZoneInfo(tz))
    return (f"{_MONTHS[local.month - 1]} {local.day:2d} {local.year} "
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}."
            f"{micros % 1_000_000:06d}000 {local.tzname()}")


_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
              "\t": "\\t", "\v": "\\v"}


def tshark_name_text(name: str) -> str:
    """A DNS name as tshark 4.0 prints it: printable ASCII as is (a backslash too), \\t, \\n
    and the other C escapes, \\ooo (octal) for the remaining control bytes and DEL, and
    U+FFFD for a byte above 0x7f. No trailing dot."""
    out = []
    for char in name.rstrip("."):
        code = ord(char)
        if char in _C_ESCAPES:
            out.append(_C_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\{code:03o}")
        elif code > 0x7F:
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def expected_row(packet: DnsPacket, tz: str = "UTC") -> dict:
    """The dns table row of one response (SPEC.md mapping; empty strings where tshark prints
    nothing, as the original table held them)."""
    if not packet.response:
        raise ValueError("only responses become rows")
    micros = epoch_micros(packet.time)
    first = packet.answers[0] if packet.answers else None
    a_values = [a.value for a in packet.answers if a.rtype == "A"]
    return {
        "frame_time": frame_time_text(micros, tz),
        "unix_tstamp": micros // 1_000_000,
        "frame_len": len(packet.frame()),
        "ip_dst": str(_ip(packet.dst)),
        "ip_src": str(_ip(packet.src)),
        "dns_qry_name": tshark_name_text(first.name if first else packet.qname),
        "dns_qry_class": f"0x{CLASS_IN:04x}",
        "dns_qry_type": TYPES[first.rtype if first else packet.qtype],
        "dns_qry_rcode": packet.rcode,
        "dns_a": a_values[0] if a_values else "",
    }


def expected_rows(packets: Iterable[Packet], tz: str = "UTC") -> list[dict]:
    return [expected_row(p, tz) for p in packets if isinstance(p, DnsPacket) and p.response]


# --- a traffic mix ----------------------------------------------------------------------------

KINDS = ("a_multi", "a_single", "nxdomain", "servfail", "nodata", "aaaa", "cname_chain",
         "comma", "tcp", "ipv6", "ipv6_tcp", "cname_only", "odd_bytes")
"""Response kinds; response i is KINDS[i % len(KINDS)], so the distribution is exact."""

_SERVERS_V4 = ("192.168.1.53", "8.8.8.8", "10.0.0.2")
_SERVER_V6 = "2001:db8::53"


def _response(kind: str, i: int, rng: random.Random, label: int | None = None) -> DnsPacket:
    """Response number i of the given kind (time filled in later); its names are made from
    `label` (i unless given: a popular name recurs)."""
    label = i if label is None else label
    zone = f"example{label % 7}.com"
    name = f"host{label}.{zone}"
    v4_client = f"10.{1 + i % 200}.{(i // 200) % 250}.{1 + i % 250}"
    v6_client = f"2001:db8:1::{(i % 0xFFFF) + 1:x}"
    server = _SERVERS_V4[i % len(_SERVERS_V4)]

    def a() -> str:
        return ".".join(str(rng.randint(low, high))
                        for low, high in ((1, 223), (0, 255), (0, 255), (1, 254)))

    common = dict(time=0.0, txid=rng.randrange(0x10000), client_port=rng.randint(1024, 65535),
                  tcp_seq=rng.randrange(1 << 32), tcp_ack=rng.randrange(1 << 32))
    if kind == "a_multi":
        return DnsPacket(src=server, dst=v4_client, qname=name, edns=True,
                         answers=tuple(Answer(name, "A", a()) for _ in range(3)), **common)
    if kind == "a_single":
        return DnsPacket(src=server, dst=v4_client, qname=name, answers=(Answer(name, "A", a()),),
                         **common)
    if kind == "nxdomain":
        return DnsPacket(src=server, dst=v4_client, qname=f"nx{label}.{zone}", rcode=3,
                         soa_zone=zone, edns=True, **common)
    if kind == "servfail":
        return DnsPacket(src=server, dst=v4_client, qname=f"broken{i}.{zone}", qtype="MX",
                         rcode=2, **common)
    if kind == "nodata":
        return DnsPacket(src=server, dst=v4_client, qname=name, qtype="AAAA", soa_zone=zone,
                         **common)
    if kind == "aaaa":
        return DnsPacket(src=server, dst=v4_client, qname=name, qtype="AAAA",
                         answers=(Answer(name, "AAAA", f"2001:db8:{i % 0xFFFF:x}::1"),
                                  Answer(name, "AAAA", f"2001:db8:{i % 0xFFFF:x}::2")), **common)
    if kind == "cname_chain":
        first, second = f"alias{i}.cdn.net", f"edge{i}.cdn.net"
        return DnsPacket(src=server, dst=v4_client, qname=name, edns=True, answers=(
            Answer(name, "CNAME", first), Answer(first, "CNAME", second),
            Answer(second, "A", a()), Answer(second, "A", a())), **common)
    if kind == "comma":
        odd = f"a,b{i}.{zone}"
        return DnsPacket(src=server, dst=v4_client, qname=odd, answers=(Answer(odd, "A", a()),),
                         **common)
    if kind == "tcp":
        return DnsPacket(src=server, dst=v4_client, qname=name, transport="tcp",
                         answers=tuple(Answer(name, "A", a()) for _ in range(5)), **common)
    if kind == "ipv6":
        return DnsPacket(src=_SERVER_V6, dst=v6_client, qname=name,
                         answers=(Answer(name, "A", a()),), **common)
    if kind == "ipv6_tcp":
        return DnsPacket(src=_SERVER_V6, dst=v6_client, qname=name, qtype="AAAA", transport="tcp",
                         answers=(Answer(name, "AAAA", f"2001:db8:ffff::{i % 0xFFFF:x}"),),
                         **common)
    if kind == "cname_only":
        return DnsPacket(src=server, dst=v4_client, qname=name,
                         answers=(Answer(name, "CNAME", f"gone{i}.elsewhere.org"),), **common)
    if kind == "odd_bytes":    # a quote, a tab and a backslash: bytes a csv reader trips on
        odd = f'say"hi\\back\tslash{i}.{zone}'
        return DnsPacket(src=server, dst=v4_client, qname=odd, answers=(Answer(odd, "A", a()),),
                         **common)
    raise ValueError(f"unknown response kind {kind!r}")


def _query_for(response: DnsPacket) -> DnsPacket:
    """The query a response answers. Over TCP the two segments' sequence numbers agree (the
    response acknowledges the query), else tshark flags the response as a retransmission and
    does not dissect its DNS."""
    query = DnsPacket(time=0.0, src=response.dst, dst=response.src, qname=response.qname,
                      qtype=response.qtype, response=False, transport=response.transport,
                      txid=response.txid, client_port=response.client_port, edns=response.edns)
    sent = 2 + len(query.message())
    return replace(query, tcp_seq=(response.tcp_ack - sent) % (1 << 32), tcp_ack=response.tcp_seq)


def _with_time(packet, micros: int):
    """The same packet value at another time (packets are frozen dataclasses); kept as an aware
    datetime, exact to the microsecond where a float would round."""
    return replace(packet, time=_EPOCH + micros * _MICRO)


@dataclass(frozen=True)
class TrafficMix:
    packets: list[Packet] = field(repr=False)   # every packet, in time order
    rows: list[dict] = field(repr=False)        # the expected dns rows (UTC), one per response

    @property
    def responses(self) -> list[DnsPacket]:
        return [p for p in self.packets if isinstance(p, DnsPacket) and p.response]


def traffic_mix(responses: int, start: datetime, spread_seconds: float,
                seed: int = 4, popular: int = 0) -> TrafficMix:
    """`responses` DNS responses of the KINDS in turn, most preceded by their query (every third
    has none, as on a one-way span port), with UDP noise to port 9999 after every fifth and an
    ICMP echo request and reply after every seventh. Packet times are spread evenly over
    [start, start + spread_seconds], in microseconds, in order. With `popular` > 0 the names
    repeat as on a real network: drawn from `popular` names, a few of them very often."""
    rng = random.Random(seed)
    events: list = []
    for i in range(responses):
        label = min(int(rng.paretovariate(1.3)), popular) - 1 if popular else None
        response = _response(KINDS[i % len(KINDS)], i, rng, label)
        if i % 3 != 2:
            events.append(_query_for(response))
        events.append(response)
        if i % 5 == 4:
            events.append(UdpDatagram(time=0.0, src="10.9.9.9", dst="10.9.9.10", sport=40999,
                                      dport=9999, payload=rng.randbytes(rng.randint(1, 200))))
        if i % 7 == 6:
            events.append(IcmpEcho(time=0.0, src="10.7.7.7", dst="10.7.7.8", seq=i % 65536))
            events.append(IcmpEcho(time=0.0, src="10.7.7.8", dst="10.7.7.7", seq=i % 65536,
                                   reply=True))
    start_us, spread_us = epoch_micros(start), round(spread_seconds * 1_000_000)
    last = max(len(events) - 1, 1)
    packets = [_with_time(p, start_us + spread_us * j // last) for j, p in enumerate(events)]
    return TrafficMix(packets, expected_rows(packets))


# --- command line -----------------------------------------------------------------------------

def _parse_start(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a DNS traffic mix as a capture file.")
    parser.add_argument("--responses", type=int, required=True)
    parser.add_argument("--start", type=_parse_start, required=True,
                        help="ISO 8601 time of the first packet (UTC when no offset is given)")
    parser.add_argument("--spread-seconds", type=float, default=60.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pcapng", action="store_true")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    if args.responses < 1 or args.spread_seconds < 0:
        parser.error("--responses must be at least 1 and --spread-seconds not negative")
    mix = traffic_mix(args.responses, args.start, args.spread_seconds, args.seed)
    write_capture(args.out, mix.packets, pcapng=args.pcapng)
    print(f"wrote {len(mix.packets)} packets ({len(mix.rows)} DNS responses) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
