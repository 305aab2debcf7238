"""NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagrams for the real nfcapd: what v5 cannot
carry - 4-byte AS numbers, 64-bit counters, output packets and bytes, direction, destination
ToS, forwarding status, IPv6 - so that nfcapd writes files holding them.

Each datagram carries the templates first (template 256 for IPv4 flows, 257 for IPv6), then
one data set per address family. v9 times are milliseconds of the exporter's uptime, as in
v5; IPFIX times are absolute milliseconds (flowStartMilliseconds, flowEndMilliseconds), so a
flow may end before it starts (some exporters report such flows; nfdump then prints the
unsigned difference, 18446744073709540.000 s).
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from datetime import datetime

from pipelines.flow.netflow_generator import to_epoch_ms

VERSION, IPFIX = 9, 10
HEADER = struct.Struct("!HHIIII")          # version, count, sysUptime, unix_secs, sequence, source id
IPFIX_HEADER = struct.Struct("!HHIII")     # version, length, export time, sequence, domain
TEMPLATE_V4, TEMPLATE_V6 = 256, 257
MAX_RECORDS = 20                            # data records per datagram (stays below 1500 bytes)
BOOT_MARGIN_MS = 60_000

# (field type, length): RFC 3954 section 8
_COMMON = ((7, 2), (11, 2), (4, 1), (6, 1), (5, 1), (55, 1), (2, 8), (1, 8), (24, 8), (23, 8),
           (10, 4), (14, 4), (16, 4), (17, 4), (61, 1), (89, 1))
_TIMES = {VERSION: ((22, 4), (21, 4)), IPFIX: ((152, 8), (153, 8))}
_ADDRESSES = {TEMPLATE_V4: ((8, 4), (12, 4)), TEMPLATE_V6: ((27, 16), (28, 16))}
_COMMON_RECORD = "HHBBBBQQQQIIIIBB"
_RECORDS = {(t, v): struct.Struct("!" + a + _COMMON_RECORD + times)
            for t, a in ((TEMPLATE_V4, "4s4s"), (TEMPLATE_V6, "16s16s"))
            for v, times in ((VERSION, "II"), (IPFIX, "QQ"))}


def _fields(template_id: int, version: int) -> tuple[tuple[int, int], ...]:
    return _ADDRESSES[template_id] + _COMMON + _TIMES[version]


@dataclass(slots=True)
class V9Flow:
    """One flow as a v9 exporter reports it; `start` is timezone-aware, `duration_ms` may be
    negative (the exporter's last switched before its first switched)."""
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    proto: int
    packets: int
    octets: int
    start: datetime
    duration_ms: int = 0
    tcp_flags: int = 0
    tos: int = 0
    dst_tos: int = 0
    out_packets: int = 0
    out_octets: int = 0
    input_if: int = 0
    output_if: int = 0
    src_as: int = 0
    dst_as: int = 0
    direction: int = 0
    fwd_status: int = 0

    @property
    def template(self) -> int:
        return TEMPLATE_V6 if ":" in self.src_ip else TEMPLATE_V4


def template_flowset(version: int = VERSION) -> bytes:
    body = b""
    for template_id in (TEMPLATE_V4, TEMPLATE_V6):
        fields = _fields(template_id, version)
        body += struct.pack("!HH", template_id, len(fields))
        body += b"".join(struct.pack("!HH", kind, length) for kind, length in fields)
    return struct.pack("!HH", 0 if version == VERSION else 2, 4 + len(body)) + body


def _record(flow: V9Flow, first: int, last: int, version: int) -> bytes:
    address = ipaddress.ip_address
    return _RECORDS[flow.template, version].pack(
        address(flow.src_ip).packed, address(flow.dst_ip).packed, flow.src_port, flow.dst_port,
        flow.proto, flow.tcp_flags, flow.tos, flow.dst_tos, flow.packets, flow.octets,
        flow.out_packets, flow.out_octets, flow.input_if, flow.output_if, flow.src_as,
        flow.dst_as, flow.direction, flow.fwd_status, first, last)


def _data_flowset(template_id: int, records: list[bytes]) -> bytes:
    body = b"".join(records)
    body += b"\0" * (-(4 + len(body)) % 4)
    return struct.pack("!HH", template_id, 4 + len(body)) + body


def datagrams(flows: list[V9Flow], export_time: datetime | None = None,
              source_id: int = 1, version: int = VERSION) -> list[bytes]:
    """v9 (or, with version=IPFIX, IPFIX) datagrams carrying `flows`, at most MAX_RECORDS data
    records each, templates in every datagram. The v9 exporter booted one minute before the
    earliest start or end."""
    if not flows:
        return []
    starts = [to_epoch_ms(f.start) for f in flows]
    ends = [s + f.duration_ms for s, f in zip(starts, flows)]
    export_ms = to_epoch_ms(export_time) if export_time else max(max(ends), max(starts)) + 1000
    boot_ms = 0 if version == IPFIX else min(min(starts), min(ends)) - BOOT_MARGIN_MS
    out = []
    for base in range(0, len(flows), MAX_RECORDS):
        chunk = range(base, min(base + MAX_RECORDS, len(flows)))
        flowsets = [template_flowset(version)]
        for template_id in (TEMPLATE_V4, TEMPLATE_V6):
            records = [_record(flows[i], starts[i] - boot_ms, ends[i] - boot_ms, version)
                       for i in chunk if flows[i].template == template_id]
            if records:
                flowsets.append(_data_flowset(template_id, records))
        body = b"".join(flowsets)
        if version == IPFIX:
            header = IPFIX_HEADER.pack(IPFIX, IPFIX_HEADER.size + len(body), export_ms // 1000,
                                       base, source_id)
        else:
            header = HEADER.pack(VERSION, 2 + len(chunk), export_ms - boot_ms, export_ms // 1000,
                                 len(out), source_id)
        out.append(header + body)
    return out
