"""The watcher hands out complete files once, on a controlled clock."""
from __future__ import annotations

import os
from pathlib import Path

from common.watcher import FileWatcher, is_hidden, matches_supported
from pipelines.flow.collector import FlowCollector, is_in_progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def accept_flow(name: str) -> bool:
    return matches_supported(name, ["nfcapd."]) and not is_in_progress(name)


def make(tmp_path: Path, settle: float = 2.0):
    clock = Clock()
    return FileWatcher(tmp_path, accept_flow, settle, clock), clock


def test_supported_names_prefix_or_suffix():
    assert matches_supported("nfcapd.201601040900", ["nfcapd."])
    assert matches_supported("dns_1.pcap", [".pcap"])
    assert not matches_supported("notes.txt", ["nfcapd.", ".pcap"])


def test_hidden_paths(tmp_path):
    assert is_hidden(tmp_path / ".quarantine" / "nfcapd.1", tmp_path)
    assert is_hidden(tmp_path / "a" / ".nfcapd.1.tmp", tmp_path)
    assert not is_hidden(tmp_path / "2016-01-04" / "nfcapd.1", tmp_path)


def test_stable_file_is_handed_out_once_after_settling(tmp_path):
    watcher, clock = make(tmp_path)
    f = tmp_path / "nfcapd.201601040900"
    f.write_bytes(b"x" * 10)
    watcher.scan()
    assert watcher.ready() == []          # first look records size
    clock.now += 1
    assert watcher.ready() == []          # stable for 1 s only
    clock.now += 1.5
    assert watcher.ready() == [f]
    clock.now += 10
    assert watcher.ready() == []          # handed out once, not again by itself
    watcher.scan()                        # noticed anew (an event): a candidate again,
    assert watcher.ready() == []          # settling from scratch; the master skips files in flight
    clock.now += 3
    assert watcher.ready() == [f]


def test_growing_file_waits(tmp_path):
    watcher, clock = make(tmp_path)
    f = tmp_path / "nfcapd.201601040905"
    f.write_bytes(b"x")
    watcher.scan()
    for size in range(2, 6):
        clock.now += 1.5
        with open(f, "ab") as out:
            out.write(b"x")
        os.utime(f, ns=(size * 10**9, size * 10**9))
        assert watcher.ready() == []
    clock.now += 2.5
    assert watcher.ready() == [f]


def test_in_progress_hidden_and_unsupported_names_are_ignored(tmp_path):
    watcher, clock = make(tmp_path)
    (tmp_path / "nfcapd.current.4242").write_bytes(b"x")
    (tmp_path / ".quarantine").mkdir()
    (tmp_path / ".quarantine" / "nfcapd.201601040900").write_bytes(b"x")
    (tmp_path / "readme.txt").write_bytes(b"x")
    sub = tmp_path / "2016-01-04"
    sub.mkdir()
    (sub / "nfcapd.201601041000").write_bytes(b"x")
    watcher.scan()
    watcher.ready()
    clock.now += 3
    assert watcher.ready() == [sub / "nfcapd.201601041000"]


def test_removed_file_is_forgotten_and_retry_waits(tmp_path):
    watcher, clock = make(tmp_path)
    a, b = tmp_path / "nfcapd.201601040900", tmp_path / "nfcapd.201601040905"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    watcher.scan()
    watcher.ready()
    a.unlink()
    clock.now += 3
    assert watcher.ready() == [b]
    watcher.retry(b, delay=30)
    clock.now += 3
    assert watcher.ready() == []
    clock.now += 30
    assert watcher.ready() == [b]
    assert watcher.pending() == 0


def test_flow_collector_accepts(tmp_path):
    from common.config import parse_config
    import json
    conf = {"dbname": "spot", "hdfs_app_path": "s", "collector_processes": 1,
            "kafka": {"kafka_server": "h", "kafka_port": 9092},
            "pipelines": {"f": {"type": "flow", "collector_path": "c", "local_staging": "t"}}}
    config = parse_config(json.loads(json.dumps(conf)), tmp_path / "c.json")
    collector = FlowCollector(config, config.pipeline("f"))
    assert collector.accepts("nfcapd.201601040900")
    assert not collector.accepts("nfcapd.current.77")
    assert not collector.accepts("dns.pcap")
    assert collector.remote_path("nfcapd.201601040900") == \
        f"{tmp_path}/s/flow/binary/20160104/09/f/nfcapd.201601040900"
