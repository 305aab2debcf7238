"""Inputs made by the project's own generators, cached under var/bench/inputs/ keyed by size
so that reruns start at once: nfcapd files written by a real nfcapd
(pipelines/flow/netflow_generator.py) and DNS captures written packet by packet
(pipelines/dns/capture_writer.py). An entry counts only once its info.json is written, after
the file itself is complete."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.support import WORK, say

INPUTS = WORK / "inputs"
FLOW_NAME = "nfcapd.201601040900"
FLOW_START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)
DNS_START = datetime(2016, 1, 4, 12, 0, tzinfo=timezone.utc)


def _cached(folder: Path) -> dict | None:
    info = folder / "info.json"
    return json.loads(info.read_text()) if info.exists() else None


def _done(folder: Path, info: dict) -> dict:
    (folder / "info.json").write_text(json.dumps(info, indent=2))
    return info


def flow_file(flows: int) -> Path:
    """One nfcapd file of `flows` flows (nfcapd's own counter checked by the generator)."""
    from pipelines.flow.netflow_generator import capture, synthetic_flows

    folder = INPUTS / f"flows-{flows}"
    path = folder / FLOW_NAME
    if _cached(folder) is None or not path.exists():
        say(f"  making {FLOW_NAME} with {flows:,} flows (real nfcapd; cached for reruns)")
        capture(synthetic_flows(flows, FLOW_START, seed=7, spread_seconds=3000), folder,
                FLOW_NAME)
        _done(folder, {"flows": flows, "bytes": path.stat().st_size})
    return path


def flow_files(count: int, flows: int) -> list[Path]:
    """`count` nfcapd files of `flows` flows each, five minutes apart from 2016-01-05 00:00
    (so they fall into several hours), each from its own seed."""
    from pipelines.flow.netflow_generator import capture, synthetic_flows

    folder = INPUTS / f"files-{count}x{flows}"
    start = datetime(2016, 1, 5, tzinfo=timezone.utc)
    names = [f"nfcapd.{start + timedelta(minutes=5 * i):%Y%m%d%H%M}" for i in range(count)]
    paths = [folder / name for name in names]
    if _cached(folder) is None or not all(p.exists() for p in paths):
        say(f"  making {count} nfcapd files of {flows:,} flows (real nfcapd; cached for reruns)")
        for i, name in enumerate(names):
            capture(synthetic_flows(flows, start + timedelta(minutes=5 * i), seed=100 + i,
                                    spread_seconds=300), folder, name)
        _done(folder, {"files": count, "flows_per_file": flows})
    return paths


def small_flow_file() -> Path:
    """A small real nfcapd file (10 flows) for the master's files/s."""
    from pipelines.flow.netflow_generator import capture, synthetic_flows

    folder = INPUTS / "small"
    path = folder / "nfcapd.201601060000"
    if _cached(folder) is None or not path.exists():
        capture(synthetic_flows(10, datetime(2016, 1, 6, tzinfo=timezone.utc), seed=3,
                                spread_seconds=60), folder, path.name)
        _done(folder, {"flows": 10, "bytes": path.stat().st_size})
    return path


@dataclass(frozen=True)
class Capture:
    path: Path
    packets: int
    responses: int          # rows the dns table gets from it
    first_packet: datetime  # UTC

    @property
    def name(self) -> str:
        return self.path.name

    def pieces(self, pkt_num: int) -> int:
        return math.ceil(self.packets / pkt_num)


def dns_capture(responses: int) -> Capture:
    """A pcap of `responses` DNS responses (the capture writer's traffic mix: A, AAAA, CNAME
    chains, NXDOMAIN, SERVFAIL, TCP, IPv6, odd names, with queries, UDP noise and ICMP between
    them), spread over 30 minutes from 12:00 UTC, so every piece falls into one hour."""
    from pipelines.dns import capture_writer as cw

    folder = INPUTS / f"dns-{responses}"
    path = folder / f"dns-{responses}.pcap"
    info = _cached(folder)
    if info is None or not path.exists():
        say(f"  making a capture of {responses:,} DNS responses (capture writer; cached for "
            "reruns)")
        folder.mkdir(parents=True, exist_ok=True)
        mix = cw.traffic_mix(responses, DNS_START, 1800.0, seed=11)
        tmp = folder / f".{path.name}.tmp"
        cw.write_pcap(tmp, mix.packets)
        tmp.replace(path)
        info = _done(folder, {"packets": len(mix.packets), "responses": len(mix.rows),
                              "first_packet": mix.packets[0].time.isoformat()})
    return Capture(path, info["packets"], info["responses"],
                   datetime.fromisoformat(info["first_packet"]).astimezone(timezone.utc))
