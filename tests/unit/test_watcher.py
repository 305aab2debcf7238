"""The watcher hands out complete files once, on a controlled clock."""
from __future__ import annotations

import os
from pathlib import Path

from common.layout import HourPartition
from common.plugin import Collected
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
    item = Collected(tmp_path / "c" / "r1" / "nfcapd.201601040900", "r1/nfcapd.201601040900")
    (piece,) = collector.pieces(item)
    assert (piece.path, piece.name, piece.hour) == \
        (item.path, "r1/nfcapd.201601040900", HourPartition(2016, 1, 4, 9))
    assert piece.stored.startswith("r1_nfcapd.201601040900-")


def wait_ready(watcher: FileWatcher, seconds: float = 5.0) -> list[Path]:
    """Polls ready() until the real observer's events came in (real inotify, real time)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = watcher.ready()
        if found:
            return found
        time.sleep(0.05)
    return []


def test_a_file_renamed_in_is_complete_at_once(tmp_path):
    watcher, clock = make(tmp_path)
    watcher.start()
    try:
        scratch = tmp_path / ".scratch"
        scratch.mkdir()
        (scratch / "x").write_bytes(b"x" * 100)
        os.replace(scratch / "x", tmp_path / "nfcapd.201601040900")
        assert wait_ready(watcher) == [tmp_path / "nfcapd.201601040900"]   # clock never moved
    finally:
        watcher.stop()


def test_a_file_whose_event_never_came_is_found_by_the_rescan(tmp_path):
    watcher, clock = make(tmp_path)
    watcher.rescan_seconds = 60
    watcher.start()
    try:
        watcher._observer.unschedule_all()          # events lost, as after a queue overflow
        lost = tmp_path / "sub" / "nfcapd.201601040900"
        lost.parent.mkdir()
        lost.write_bytes(b"x")
        assert wait_ready(watcher, 1.0) == []
        clock.now += 59
        assert watcher.ready() == []                # no rescan yet
        clock.now += 1
        assert watcher.ready() == []                # rescanned: a candidate, settling
        clock.now += 2
        assert watcher.ready() == [lost]
    finally:
        watcher.stop()


def test_a_dead_observer_is_restarted(tmp_path):
    watcher, clock = make(tmp_path)
    watcher.start()
    try:
        watcher._observer.stop()
        watcher._observer.join(5)
        assert not watcher.observer_alive()
        assert watcher.ready() == [] and watcher.restarts == 1
        assert watcher.observer_alive()
        scratch = tmp_path / ".scratch"
        scratch.mkdir()
        (scratch / "x").write_bytes(b"x")
        os.replace(scratch / "x", tmp_path / "nfcapd.201601040905")
        assert wait_ready(watcher) == [tmp_path / "nfcapd.201601040905"]
    finally:
        watcher.stop()


def test_a_quiet_file_still_open_for_writing_is_not_taken(tmp_path):
    """tcpdump writes a capture in place and pauses between packets: however long the pause,
    the file is not complete while a process holds it open for writing."""
    watcher, clock = make(tmp_path)
    capture = tmp_path / "nfcapd.201601040900"
    writer = open(capture, "wb")
    try:
        writer.write(b"x" * 100)
        writer.flush()
        watcher.scan()
        assert watcher.ready() == []
        clock.now += 60                   # far past the settle period
        assert watcher.ready() == []
    finally:
        writer.close()
    clock.now += 1
    assert watcher.ready() == [capture]


def test_the_master_takes_a_file_after_a_quiet_spell_at_once_and_a_burst_in_turns():
    from common.master import MIN_TURN_S, turn_wait

    assert MIN_TURN_S == 0.05
    assert turn_wait(30.0) == 0.0            # idle for a while: the event's file is taken now
    assert turn_wait(MIN_TURN_S) == 0.0
    assert turn_wait(0.0) == MIN_TURN_S      # woken again at once: the rest of a turn first
    assert round(turn_wait(0.03), 9) == 0.02
