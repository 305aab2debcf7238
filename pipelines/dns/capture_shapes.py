"""Captures in every shape a DNS decoder meets, for the differential test of the fast decoder
(pipelines/dns/dnsdecode) against tshark: compression pointers forwards, backwards and in
loops, names too long, odd label types and odd bytes; truncated and malformed messages;
EDNS and DNSSEC records; DNS over TCP with two messages in one segment and one message over
several segments, retransmissions and gaps; IPv4 and IPv6 fragments; non-DNS payloads on
port 53; mDNS and LLMNR; DNS between other ports (tshark's heuristic) and ICMP errors
quoting DNS; every link type (Ethernet, 802.1Q and QinQ, Linux cooked v1 and v2, raw IPv4
and IPv6, BSD loopback) in pcap and pcapng (nanosecond and binary time resolutions, time
offsets, several interfaces, simple packet blocks).

Every frame is built here, byte by byte, from the project's own capture writer; nothing is
copied from elsewhere. `shapes()` returns (name, frames) pairs; `write_shapes(folder)`
writes each as a capture and returns the paths. Frames get distinct, increasing times.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines.dns import capture_writer as cw

START_US = cw.epoch_micros(datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc))
SERVER, CLIENT = "192.168.1.53", "10.0.0.7"
SERVER6, CLIENT6 = "2001:db8::53", "2001:db8:1::7"

LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = \
    1, 0, 101, 113, 228, 229, 276


@dataclass(frozen=True)
class Frame:
    """One captured frame: its link-layer bytes, the link type, and optionally a wire length
    larger than what was captured (a snaplen cut)."""
    data: bytes
    link: int = LINK_ETHERNET
    wire_len: int | None = None


# --- DNS messages, by hand ----------------------------------------------------------------

def header(txid=0x1234, flags=0x8180, qd=1, an=0, ns=0, ar=0) -> bytes:
    return struct.pack("!HHHHHH", txid, flags, qd, an, ns, ar)


def name(text: str) -> bytes:
    return cw.encode_name(text)


def rr(owner: bytes, rtype: int, rdata: bytes, rclass: int = 1, ttl: int = 300,
       rdlength: int | None = None) -> bytes:
    length = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, length) + rdata


def question(owner: bytes, qtype: int = 1, qclass: int = 1) -> bytes:
    return owner + struct.pack("!HH", qtype, qclass)


def ptr(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def a(addr: str) -> bytes:
    return bytes(int(x) for x in addr.split("."))


def response(qname: str = "www.example.com", answers: list[bytes] = (), auth: list[bytes] = (),
             extra: list[bytes] = (), qtype: int = 1, flags: int = 0x8180) -> bytes:
    """A response with its question, the records given (already encoded) and the counts."""
    return (header(flags=flags, an=len(answers), ns=len(auth), ar=len(extra))
            + question(name(qname), qtype) + b"".join(answers) + b"".join(auth)
            + b"".join(extra))


def simple_response(qname: str = "www.example.com", addr: str = "192.0.2.1") -> bytes:
    """A response to an A query: its answer points back at the question's name (offset 12)."""
    return response(qname, [rr(ptr(12), 1, a(addr))])


# --- frames ---------------------------------------------------------------------------------

def udp_frame(payload: bytes, sport: int = 53, dport: int = 40000, src: str = SERVER,
              dst: str = CLIENT) -> Frame:
    return Frame(cw.ethernet(src, dst, cw.PROTO_UDP,
                             cw.udp_datagram(src, dst, sport, dport, payload)))


def tcp_frame(payload: bytes, seq: int, ack: int = 1, sport: int = 53, dport: int = 40001,
              src: str = SERVER, dst: str = CLIENT, flags: int = 0x18) -> Frame:
    return Frame(cw.ethernet(src, dst, cw.PROTO_TCP,
                             cw.tcp_segment(src, dst, sport, dport, payload, seq, ack, flags)))


def with_length(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


def ipv4_fragments(payload: bytes, src: str, dst: str, proto: int, ident: int,
                   sizes: list[int]) -> list[bytes]:
    """IPv4 packets carrying `payload` in fragments of the given sizes (multiples of 8 but
    the last), in order."""
    out, offset = [], 0
    s, d = cw._ip(src).packed, cw._ip(dst).packed
    for i, size in enumerate(sizes):
        part = payload[offset:offset + size]
        more = 0x2000 if i < len(sizes) - 1 else 0
        header4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident,
                              more | (offset // 8), 64, proto, 0, s, d)
        out.append(cw._with_checksum(header4, 10, b"") + part)
        offset += size
    return out


def ipv6_fragments(payload: bytes, src: str, dst: str, proto: int, ident: int,
                   sizes: list[int]) -> list[bytes]:
    out, offset = [], 0
    s, d = cw._ip(src).packed, cw._ip(dst).packed
    for i, size in enumerate(sizes):
        part = payload[offset:offset + size]
        more = 1 if i < len(sizes) - 1 else 0
        frag = struct.pack("!BBHI", proto, 0, offset | more, ident)
        out.append(struct.pack("!IHBB16s16s", 6 << 28, 8 + len(part), 44, 64, s, d) + frag + part)
        offset += size
    return out


def eth(ip_packet: bytes, ethertype: int = cw.ETH_IPV4, tags: tuple[int, ...] = ()) -> bytes:
    tagged = b""
    for i, vlan in enumerate(tags):
        tpid = 0x88A8 if i == 0 and len(tags) > 1 else 0x8100
        tagged += struct.pack("!HH", tpid, vlan)
    if tags:
        inner = tagged[2:] + struct.pack("!H", ethertype)
        first = tagged[:2]
        return cw._DST_MAC + cw._SRC_MAC + first + inner + ip_packet
    return cw._DST_MAC + cw._SRC_MAC + struct.pack("!H", ethertype) + ip_packet


def udp_ip(payload: bytes, sport=53, dport=40000, src=SERVER, dst=CLIENT) -> tuple[int, bytes]:
    return cw.ip_packet(src, dst, cw.PROTO_UDP, cw.udp_datagram(src, dst, sport, dport, payload))


# --- the shapes -------------------------------------------------------------------------------

def names_shapes() -> list[Frame]:
    """Compression pointers and every odd name."""
    q = question(name("www.example.com"))
    hdr = header(an=1)
    frames = [
        simple_response(),                                              # backward pointer
        hdr + q + rr(ptr(12 + len(q) + 12 + 4), 1, a("192.0.2.2"), rdlength=4)
        + name("fwd.example.com"),                                      # forward pointer
        hdr + q + rr(ptr(12 + len(q)), 1, a("192.0.2.3")),               # pointer to itself
        hdr + q + rr(ptr(12 + len(q) + 2 + 10 + 4), 1, a("192.0.2.4")),  # two bytes past: tshark's trivial loop
        hdr + q + rr(b"\x03abc" + ptr(12 + len(q)), 1, a("192.0.2.5")),  # label then a loop
        hdr + q + rr(ptr(0x3FFF), 1, a("192.0.2.6")),                    # pointer past the end
        hdr + q + rr(ptr(12 + len(q) + 12 + 4), 1, a("192.0.2.7")) + b"\x00",   # pointer to root
        header(an=1) + question(b"\x00") + rr(b"\x00", 1, a("192.0.2.8")),     # root names
        header(an=1) + question(name(".".join(["a" * 63] * 4))) + rr(ptr(12), 1, a("192.0.2.9")),
        header(an=1) + question(name(".".join(["b" * 50] * 5))) + rr(ptr(12), 1, a("192.0.2.10")),
        header(an=1) + question(name("x" * 62 + "." + ".".join(["c" * 63] * 3))) + rr(ptr(12), 1, a("192.0.2.11")),
        header(an=1) + question(b"\x03abc\x80def\x00") + rr(ptr(12), 1, a("192.0.2.12")),
        header(an=1) + question(b"\x03abc\x42\x00") + rr(ptr(12), 1, a("192.0.2.13")),
        header(an=1) + question(b"\x42\x00") + rr(ptr(12), 1, a("192.0.2.14")),
        header(an=1) + question(b"\x03abc\x41\x10\xab\xcd\x00") + rr(ptr(12), 1, a("192.0.2.15")),
        header(an=1) + question(b"\x41\x08\xab\x00") + rr(ptr(12), 1, a("192.0.2.16")),
        header(an=1) + question(b"\x41\x00\xff\x03abc\x00") + rr(ptr(12), 1, a("192.0.2.17")),
        header(an=1) + question(b"\x01\x00\x00") + rr(ptr(12), 1, a("192.0.2.18")),
        header(an=1) + question(b"\x05h\xc3\xa9l\x6f\x07\xe2\x82\xac\xf0\x9f\x98\x80\x00") + rr(ptr(12), 1, a("192.0.2.19")),
        header(an=1) + question(b"\x06\xff\xfe\x80\xc3\x28\xed\x04\xa0\xb0\xf8\x88\x80\x80\x80\x00") + rr(ptr(12), 1, a("192.0.2.20")),
        header(an=1) + question(b"\x08\x01\x07\x1b\x7f\x00\x5c\x09\x22\x03\xe2\x80\x8b\x00") + rr(ptr(12), 1, a("192.0.2.21")),
        header(an=1) + question(b"\x04\xc0\x80\xe0\x80\x00") + rr(ptr(12), 1, a("192.0.2.22")),
        header(an=1) + question(b"\x03\xef\xbf\xbe\x03\xf4\x90\x80\x00") + rr(ptr(12), 1, a("192.0.2.23")),
        # a chain of 300 pointers, each to the one before: more than tshark follows
        header(an=1) + question(name("z.example")) + b"".join(ptr(12 + i * 2) for i in range(300)),
    ]
    chain = header(an=1) + question(name("z.example"))
    base = len(chain)                    # 260 pointers, each to the next, the last to 12
    links = b"".join(ptr(base + (i + 1) * 2) for i in range(259)) + ptr(12)
    frames.append(chain + links + struct.pack("!HHIH", 1, 1, 1, 4) + a("192.0.2.25"))
    return [udp_frame(m) for m in frames]


def records_shapes() -> list[Frame]:
    """EDNS, DNSSEC, CNAME chains, SRV, OPT first, A records in odd places."""
    own = ptr(12)
    rrsig = struct.pack("!HBBIIIH", 1, 8, 2, 300, 1500000000, 1400000000, 12345) + name("example.com") + b"\x11" * 64
    nsec = name("zzz.example.com") + b"\x00\x06\x40\x00\x00\x00\x00\x03"
    dnskey = struct.pack("!HBB", 257, 3, 8) + b"\x22" * 64
    ds = struct.pack("!HBB", 12345, 8, 2) + b"\x33" * 32
    nsec3 = struct.pack("!BBHB", 1, 0, 10, 4) + b"\xaa" * 4 + b"\x14" + b"\xbb" * 20 + b"\x00\x01\x40"
    opt = b"\x00" + struct.pack("!HHIH", 41, 4096, 0x8000, 0)
    opt_ecs = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 11) + struct.pack("!HHHBB", 8, 7, 1, 24, 0) + b"\xc0\x00\x02"
    srv = struct.pack("!HHH", 10, 5, 5060) + name("sip.example.com")
    soa = name("ns1.example.com") + name("host.example.com") + struct.pack("!IIIII", 1, 2, 3, 4, 5)
    msgs = [
        response("www.example.com", [rr(own, 1, a("192.0.2.30"))], extra=[opt]),
        response("www.example.com", [rr(own, 46, rrsig), rr(own, 1, a("192.0.2.31"))], extra=[opt]),
        response("www.example.com", [rr(own, 1, a("192.0.2.32")), rr(own, 46, rrsig)],
                 auth=[rr(name("example.com"), 47, nsec)], extra=[opt_ecs]),
        response("example.com", [rr(own, 48, dnskey), rr(own, 48, dnskey), rr(own, 46, rrsig)], qtype=48),
        response("example.com", [rr(own, 43, ds)], qtype=43),
        response("nx.example.com", [], auth=[rr(name("example.com"), 6, soa), rr(name("abc.example.com"), 50, nsec3)], flags=0x8183),
        response("_sip._udp.example.com", [rr(own, 33, srv), rr(own, 33, srv)], qtype=33),
        response("_sip._udp.example.com", [rr(own, 33, srv)], extra=[rr(name("sip.example.com"), 1, a("192.0.2.33"))], qtype=33),
        response("www.example.com", [], extra=[opt, rr(name("glue.example.com"), 1, a("192.0.2.34"))], flags=0x8180),
        response("www.example.com", [opt, rr(own, 1, a("192.0.2.35"))]),
        response("www.example.com", [rr(own, 5, name("cdn.example.net")), rr(name("cdn.example.net"), 1, a("192.0.2.36"))]),
        response("www.example.com", [rr(own, 5, ptr(0x3FF0)), rr(own, 1, a("192.0.2.37"))]),
        response("www.example.com", [rr(own, 15, b"\x00\x0a" + b"\x80"), rr(own, 1, a("192.0.2.38"))]),
        response("www.example.com", [rr(own, 16, b"\x05hello\x40x"), rr(own, 1, a("192.0.2.39"))]),
        response("www.example.com", [rr(own, 1, a("192.0.2.40")[:2], rdlength=2), rr(own, 1, a("192.0.2.41"))]),
        response("www.example.com", [rr(own, 1, b"", rdlength=0), rr(own, 1, a("192.0.2.42"))]),
        response("www.example.com", [rr(own, 1, a("192.0.2.43"), rclass=3), rr(own, 28, b"\x20\x01" + b"\x00" * 14)]),
        response("www.example.com", [rr(own, 28, b"\x20\x01\x0d\xb8", rdlength=4), rr(own, 1, a("192.0.2.44"))]),
        response("www.example.com", [rr(own, 6, soa), rr(own, 2, name("ns.example.com")), rr(own, 12, ptr(12)), rr(own, 1, a("192.0.2.45"))]),
        response("www.example.com", [rr(own, 65535, b"\x01\x02"), rr(own, 250, b"\x00"), rr(own, 1, a("192.0.2.46"))]),
        # UPDATE response (opcode 5): tshark counts prerequisites, not answers
        header(flags=0xA800, qd=1, an=1) + question(name("example.com"), 6) + rr(ptr(12), 1, a("192.0.2.47")),
        # NOTIFY response, a status response
        header(flags=0xA000, qd=1, an=0) + question(name("example.com"), 6),
        header(flags=0x9000, qd=0, an=1) + rr(name("x.example.com"), 1, a("192.0.2.48")),
        # DSO (opcode 6) with every count zero
        header(flags=0xB000, qd=0) + struct.pack("!HHI", 1, 4, 1000),
        # questions of other classes and types; two questions
        header(an=1, qd=2) + question(name("a.example.com"), 255, 255) + question(name("b.example.com"), 16, 3) + rr(ptr(12), 1, a("192.0.2.49")),
        header(an=0, qd=0),
        header(an=3, qd=1) + question(name("short.example.com")),
    ]
    return [udp_frame(m) for m in msgs]


def truncation_shapes() -> list[Frame]:
    """One response with answers in every section cut at every byte, and counts that
    promise more than the message holds."""
    full = response("trunc.example.com", [rr(ptr(12), 5, name("alias.example.net")),
                                          rr(name("alias.example.net"), 1, a("192.0.2.60"))],
                    auth=[rr(name("example.net"), 2, name("ns.example.net"))],
                    extra=[rr(name("ns.example.net"), 1, a("192.0.2.61"))])
    frames = [udp_frame(full[:n]) for n in range(0, len(full) + 1)]
    frames.append(udp_frame(full + b"\x00\x01\x02extra"))
    wrong = bytearray(full)
    wrong[7] = 9                                                        # ANCOUNT 9
    frames.append(udp_frame(bytes(wrong)))
    # the UDP length says less than the datagram holds, and more
    frame = bytearray(udp_frame(full).data)
    struct.pack_into("!H", frame, 14 + 20 + 4, 8 + 20)
    frames.append(Frame(bytes(frame)))
    frame = bytearray(udp_frame(full).data)
    struct.pack_into("!H", frame, 14 + 20 + 4, 8 + len(full) + 40)
    frames.append(Frame(bytes(frame)))
    frame = bytearray(udp_frame(full).data)
    struct.pack_into("!H", frame, 14 + 20 + 4, 7)
    frames.append(Frame(bytes(frame)))
    # captured short of the wire length (a snaplen of 60 bytes)
    whole = udp_frame(full).data
    frames.append(Frame(whole[:60], wire_len=len(whole)))
    frames.append(Frame(whole, wire_len=4_000_000_000))              # a wire length past 2^31
    return frames


def fuzz_shapes(count: int = 1500, seed: int = 18) -> list[Frame]:
    """Responses with bytes flipped, inserted and removed at random (fixed seed)."""
    rng = random.Random(seed)
    bases = [simple_response(), response("f.example.com", [rr(ptr(12), 5, name("g.example.org")),
                                                          rr(name("g.example.org"), 1, a("192.0.2.70")),
                                                          rr(ptr(12), 1, a("192.0.2.71"))],
                                         auth=[rr(name("example.org"), 6, name("ns.example.org") + ptr(12) + b"\x00" * 20)],
                                         extra=[b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)])]
    frames = []
    for i in range(count):
        msg = bytearray(bases[i % len(bases)])
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            at = rng.randrange(len(msg))
            if kind < 0.6:
                msg[at] = rng.randrange(256)
            elif kind < 0.8:
                msg[at:at] = bytes([rng.choice([0xC0, 0x00, 0x3F, 0x40, 0x80, rng.randrange(256)])])
            elif len(msg) > 13:
                del msg[at]
        msg[2] |= 0x80                                                  # stay a response
        frames.append(udp_frame(bytes(msg)))
    return frames


def tcp_shapes() -> list[Frame]:
    """DNS over TCP: a connection's segments in the shapes TCP delivers them."""
    one = with_length(simple_response("t1.example.com", "192.0.2.80"))
    two = with_length(simple_response("t2.example.com", "192.0.2.81"))
    three = with_length(simple_response("t3.example.com", "192.0.2.82"))
    query = with_length(header(flags=0x0100, an=0) + question(name("t0.example.com")))
    frames = []
    seq = 1000

    def seg(payload: bytes, at: int, port: int, **kw) -> Frame:
        return tcp_frame(payload, at, dport=port, **kw)

    port = 41000
    frames.append(seg(one + two, seq, port))                            # two in one segment
    port += 1
    frames += [seg(one[:9], seq, port), seg(one[9:], seq + 9, port)]    # one over two
    port += 1
    frames += [seg(one[:1], seq, port), seg(one[1:], seq + 1, port)]    # length split
    port += 1
    frames += [seg(one[:5], seq, port), seg(one[5:12], seq + 5, port),
               seg(one[12:] + two[:3], seq + len(one[:12]), port),
               seg(two[3:] + three, seq + len(one) + 3, port)]          # across three
    port += 1
    frames += [seg(one, seq, port), seg(one, seq, port)]                # retransmitted
    port += 1
    frames += [seg(one[:10], seq, port), seg(one[20:], seq + 20, port),
               seg(two, seq + len(one), port)]                          # a gap, then more
    port += 1
    frames += [seg(one + two[:4], seq, port), seg(two[10:] + three, seq + len(one) + 10, port)]
    port += 1
    frames += [seg(query, 5000, 53, sport=port, src=CLIENT, dst=SERVER, ack=7000),
               seg(one, 7000, port, ack=5000 + len(query))]              # query then answer
    port += 1
    frames += [seg(query, 5000, 53, sport=port, src=CLIENT, dst=SERVER, ack=9000),
               seg(one, 8000, port, ack=5000 + len(query))]              # already acknowledged
    port += 1
    frames += [seg(b"", seq - 1, port, flags=0x02), seg(one, seq, port)]  # after a SYN
    port += 1
    frames += [seg(one, seq, port), seg(b"\x00", seq + len(one) - 1, port, flags=0x10),
               seg(two, seq + len(one), port)]                          # keep-alive between
    port += 1
    frames.append(seg(with_length(b"") + one, seq, port))              # a zero-length PDU first
    port += 1
    frames.append(seg(one, seq, 5353))                                  # TCP 5353 is DNS
    frames.append(seg(one, seq, 22, sport=53))                          # the lower port is SSH's
    frames.append(seg(one, seq, 40999, sport=5300))                     # no DNS port
    frames.append(seg(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", seq, 42000))  # not DNS on port 53
    v6 = Frame(cw.ethernet(SERVER6, CLIENT6, cw.PROTO_TCP,
                           cw.tcp_segment(SERVER6, CLIENT6, 53, 42001, one + two, seq, 1)))
    frames.append(v6)
    return frames


def fragment_shapes() -> list[Frame]:
    big = response("frag.example.com", [rr(ptr(12), 16, b"\xff" + b"t" * 255) for _ in range(5)]
                   + [rr(ptr(12), 1, a("192.0.2.90"))])
    udp = cw.udp_datagram(SERVER, CLIENT, 53, 40000, big)
    parts = ipv4_fragments(udp, SERVER, CLIENT, cw.PROTO_UDP, 0x4242, [512, 512, 512])
    parts_b = ipv4_fragments(udp, SERVER, CLIENT, cw.PROTO_UDP, 0x4343, [800, 1000])
    parts_c = ipv4_fragments(udp, "203.0.113.5", "198.51.100.9", cw.PROTO_UDP, 0x4444, [512, 1200])
    udp6 = cw.udp_datagram(SERVER6, CLIENT6, 53, 40000, big)
    parts6 = ipv6_fragments(udp6, SERVER6, CLIENT6, cw.PROTO_UDP, 0x01020304, [640, 1000])
    frames = [Frame(eth(p)) for p in parts]                              # in order
    frames += [Frame(eth(p)) for p in reversed(parts_b)]               # last first
    frames += [Frame(eth(parts_c[0])), Frame(eth(parts_c[0])), Frame(eth(parts_c[1]))]
    frames += [Frame(eth(p, cw.ETH_IPV6)) for p in parts6]
    frames.append(Frame(eth(parts[0])))                                 # a lone first fragment
    frames.append(Frame(eth(parts[1])))                                 # a lone middle one
    return frames


def ports_shapes() -> list[Frame]:
    r = simple_response("port.example.com", "192.0.2.100")
    mdns = response("printer.local", [rr(ptr(12), 1, a("192.0.2.101"), rclass=0x8001)],
                    flags=0x8400) [:4] + struct.pack("!HHHH", 0, 1, 0, 0) + \
        rr(name("printer.local"), 1, a("192.0.2.101"), rclass=0x8001)
    mdns_q = header(flags=0x8400, qd=1, an=1) + question(name("cam.local"), 1, 0x8001) + rr(ptr(12), 1, a("192.0.2.102"), rclass=0x8001)
    llmnr = header(flags=0x8000, qd=1, an=1) + question(name("host")) + rr(ptr(12), 1, a("192.0.2.103"))
    return [
        udp_frame(r, 53, 40000), udp_frame(r, 40000, 53), udp_frame(r, 53, 53),
        udp_frame(r, 5353, 5353, dst="224.0.0.251"), udp_frame(mdns, 5353, 5353, dst="224.0.0.251"),
        udp_frame(mdns_q, 5353, 51000), udp_frame(r, 53, 5353),
        udp_frame(llmnr, 5355, 51001), udp_frame(r, 5355, 51002),
        udp_frame(r, 53, 7), udp_frame(r, 123, 53), udp_frame(r, 53, 137),
        udp_frame(r, 5300, 40001), udp_frame(r, 40002, 8053),           # heuristic
        udp_frame(r, 123, 40003),                                        # NTP's port
        udp_frame(header(flags=0x8180, an=200) + r[12:], 5300, 40004),  # heuristic refuses
        udp_frame(r, 0, 53), udp_frame(r, 53, 0),
        udp_frame(b"", 53, 40000), udp_frame(b"\x12", 53, 40000), udp_frame(b"\x12\x34\x81", 53, 40000),
        udp_frame(b"\x12\x34\x81\x80", 53, 40000), udp_frame(b"\x12\x34\x81\x80\x00", 53, 40000),
        udp_frame(b"\x12\x34\x81\x80\x00\x01\x00", 53, 40000),
        udp_frame(bytes(range(256)) * 2, 53, 40000), udp_frame(b"\xff" * 64, 40000, 53),
        udp_frame(b"GET / HTTP/1.0\r\n\r\n" * 3, 53, 40000),
    ]


def icmp_shapes() -> list[Frame]:
    r = simple_response("icmp.example.com", "192.0.2.110")
    inner = cw.ip_packet(SERVER, CLIENT, cw.PROTO_UDP, cw.udp_datagram(SERVER, CLIENT, 53, 40000, r))[1]
    unreach = struct.pack("!BBHI", 3, 3, 0, 0) + inner
    inner6 = cw.ip_packet(SERVER6, CLIENT6, cw.PROTO_UDP, cw.udp_datagram(SERVER6, CLIENT6, 53, 40000, r))[1]
    unreach6 = struct.pack("!BBHI", 1, 4, 0, 0) + inner6
    return [Frame(cw.ethernet(CLIENT, SERVER, cw.PROTO_ICMP, cw._with_checksum(unreach, 2, b""))),
            Frame(cw.ethernet(CLIENT, SERVER, cw.PROTO_ICMP,
                              cw._with_checksum(struct.pack("!BBHI", 3, 3, 0, 0) + inner[:28 + 20], 2, b""))),
            Frame(cw.ethernet(CLIENT6, SERVER6, cw.PROTO_ICMPV6, unreach6))]


def link_shapes() -> list[Frame]:
    r = simple_response("link.example.com", "192.0.2.120")
    _, ip4 = udp_ip(r)
    _, ip6 = udp_ip(r, src=SERVER6, dst=CLIENT6)
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", 0x0800) + ip4
    sll6 = struct.pack("!HHH8sH", 4, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", 0x86DD) + ip6
    sll_vlan = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x8100) + struct.pack("!HH", 7, 0x0800) + ip4
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, b"\x02" * 8) + ip4
    sll2_6 = struct.pack("!HHIHBB8s", 0x86DD, 0, 3, 1, 4, 6, b"\x02" * 8) + ip6
    return [
        Frame(eth(ip4)), Frame(eth(ip4, tags=(10,))), Frame(eth(ip4, tags=(100, 200))),
        Frame(eth(ip6, cw.ETH_IPV6, tags=(30,))), Frame(eth(ip4) + b"\x00" * 30),
        Frame(sll, LINK_SLL), Frame(sll6, LINK_SLL), Frame(sll_vlan, LINK_SLL),
        Frame(sll2, LINK_SLL2), Frame(sll2_6, LINK_SLL2),
        Frame(ip4, LINK_RAW), Frame(ip6, LINK_RAW), Frame(ip4, LINK_IPV4), Frame(ip6, LINK_IPV6),
        Frame(struct.pack("<I", 2) + ip4, LINK_NULL), Frame(struct.pack("<I", 30) + ip6, LINK_NULL),
        Frame(ip6, LINK_IPV4),                                          # an IPv6 packet where IPv4 was said
    ]


LINK_IEEE802_11 = 105


def wifi_frame(ip_packet: bytes) -> Frame:
    """An 802.11 data frame (from the distribution system) carrying an IPv4 packet behind
    LLC/SNAP: a link type tshark reads and dnsdecode does not."""
    header80211 = (b"\x08\x02\x00\x00" + b"\x02" * 6 + b"\x04" * 6 + b"\x06" * 6 + b"\x00\x00"
                   + bytes.fromhex("aaaa03000000") + struct.pack("!H", cw.ETH_IPV4))
    return Frame(header80211 + ip_packet, LINK_IEEE802_11)


def shapes() -> list[tuple[str, list[Frame]]]:
    return [("names", names_shapes()), ("records", records_shapes()),
            ("truncated", truncation_shapes()), ("fuzz", fuzz_shapes()), ("tcp", tcp_shapes()),
            ("fragments", fragment_shapes()), ("ports", ports_shapes()), ("icmp", icmp_shapes()),
            ("links", link_shapes())]


# --- files ------------------------------------------------------------------------------------

def _times(count: int, step_us: int = 1013) -> list[int]:
    return [START_US + i * step_us for i in range(count)]


def pcap_file(frames: list[Frame], nano: bool = False) -> bytes:
    """Classic libpcap; every frame must have the same link type."""
    links = {f.link for f in frames} or {LINK_ETHERNET}
    if len(links) != 1:
        raise ValueError("a pcap file has one link type")
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, cw.SNAPLEN, links.pop())]
    for frame, micros in zip(frames, _times(len(frames))):
        frac = (micros % 1_000_000) * (1000 if nano else 1) + (7 if nano else 0)
        wire = frame.wire_len or len(frame.data)
        out.append(struct.pack("<IIII", micros // 1_000_000, frac, len(frame.data), wire))
        out.append(frame.data)
    return b"".join(out)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_file(frames: list[Frame], tsresol: int | None = None, tsoffset: int = 0,
                simple: bool = False, big_endian: bool = False) -> bytes:
    """pcapng with one interface per link type; times in the resolution tsresol gives
    (a power of 10, or of 2 when its top bit is set)."""
    e = ">" if big_endian else "<"

    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack(f"{e}II", kind, 12 + len(body)) + body + struct.pack(f"{e}I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack(f"{e}IHHq", 0x1A2B3C4D, 1, 0, -1))]
    links: list[int] = []
    for frame in frames:
        if frame.link not in links:
            links.append(frame.link)
    units = 1_000_000
    if tsresol is not None:
        units = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
    for link in links:
        opts = b""
        if tsresol is not None:
            opts += _option(9, bytes([tsresol]))
        if tsoffset:
            opts += _option(14, struct.pack(f"{e}q", tsoffset))
        if opts:
            opts += _option(0, b"")
        out.append(block(1, struct.pack(f"{e}HHI", link, 0, cw.SNAPLEN) + opts))
    for frame, micros in zip(frames, _times(len(frames))):
        wire = frame.wire_len or len(frame.data)
        if simple:
            out.append(block(3, struct.pack(f"{e}I", wire) + frame.data))
            continue
        ts = (micros - tsoffset * 1_000_000) * units // 1_000_000
        out.append(block(6, struct.pack(f"{e}IIIII", links.index(frame.link), ts >> 32,
                                        ts & 0xFFFFFFFF, len(frame.data), wire) + frame.data))
    return b"".join(out)


def write_shapes(folder: Path) -> list[Path]:
    """Every shape as a pcap (Ethernet shapes) and a pcapng; the link shapes in pcapng with
    several interfaces, and in each time resolution and block kind."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, frames in shapes():
        if all(f.link == LINK_ETHERNET for f in frames):
            paths.append(folder / f"{label}.pcap")
            paths[-1].write_bytes(pcap_file(frames))
        paths.append(folder / f"{label}.pcapng")
        paths[-1].write_bytes(pcapng_file(frames))
    links = link_shapes()
    variants = {"links-ns.pcapng": pcapng_file(links, tsresol=9),
                "links-2pow.pcapng": pcapng_file(links, tsresol=0x80 | 20),
                "links-ms-offset.pcapng": pcapng_file(links, tsresol=3, tsoffset=3600),
                "links-be.pcapng": pcapng_file(links, big_endian=True),
                "simple.pcapng": pcapng_file(records_shapes(), simple=True),
                "ns.pcap": pcap_file(records_shapes(), nano=True)}
    for file_name, data in variants.items():
        paths.append(folder / file_name)
        paths[-1].write_bytes(data)
    for link in (LINK_SLL, LINK_SLL2, LINK_RAW, LINK_NULL):
        paths.append(folder / f"link-{link}.pcap")
        paths[-1].write_bytes(pcap_file([f for f in links if f.link == link]))
    return paths
