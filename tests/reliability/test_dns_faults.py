"""The fault suite for the DNS pipeline: the same guarantees with editcap and tshark."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from common.kafka_admin import ensure_topic
from common.setup import setup_all
from pipelines.dns import capture_writer as cw
from tests.integration.conftest import unique
from tests.integration.procs import start_master, start_worker, visible_files, wait_for
from tests.integration.test_dns_pipeline import (PIPELINE, all_committed, key, table_rows,
                                                 with_pkt_num)

from .harness import REPO, committed, decoders_of, wait_until
from .test_hostile import markers_anywhere

START = datetime(2016, 1, 4, 12, 0, tzinfo=timezone.utc)


def test_ctrl_c_during_a_tshark_decode_finishes_the_piece(local_config, tmp_path):
    config = with_pkt_num(local_config, 1_000_000, decoder="tshark")
    list(setup_all(config))
    traffic = cw.traffic_mix(120_000, START, 600.0, seed=11)
    capture = cw.write_pcap(tmp_path / "big.pcap", traffic.packets)
    topic = unique("SPOT-INGEST-dns")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    try:
        os.replace(capture, config.pipeline(PIPELINE).collector_path / capture.name)
        tshark = wait_until(lambda: (decoders_of(worker.popen.pid, "tshark") or [None])[0], 90,
                            "tshark decoding the piece", interval=0.01)
        worker.signal_group(signal.SIGINT)
        assert worker.wait(timeout=120) == 0
        assert not tshark.is_running() or tshark.status() == "zombie"
        assert committed(config, topic, 0) == 1
    finally:
        master.stop()
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    assert len(rows) == 120_000
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, traffic.rows))
    assert "quarantined at" not in worker.log()


def test_dns_workers_killed_at_random_moments(local_config, tmp_path):
    """Eight SIGKILLs of two dns workers while they decode pieces, each restarted: every
    response arrives once."""
    config = with_pkt_num(local_config, 4000, decoder="tshark")
    list(setup_all(config))
    traffic = cw.traffic_mix(30_000, START, 3600.0, seed=12)
    capture = cw.write_pcap(tmp_path / "k.pcap", traffic.packets)
    topic = unique("SPOT-INGEST-dns")
    ensure_topic(config.kafka, topic, 2)
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    os.replace(capture, config.pipeline(PIPELINE).collector_path / capture.name)
    wait_for(lambda: not (config.pipeline(PIPELINE).collector_path / "k.pcap").exists(), 120,
             "every piece published", [master])
    killed_decoding = 0
    workers = {}
    try:
        for _ in range(4):
            workers = {i: start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)}
            for i, worker in workers.items():
                wait_until(lambda: decoders_of(worker.popen.pid, "tshark"), 60,
                           f"worker {i} to decode", interval=0.005)
                time.sleep(0.05 * i)
                killed_decoding += bool(decoders_of(worker.popen.pid, "tshark"))
                worker.kill()
        workers = {i: start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)}
        wait_for(lambda: all_committed(config, topic, [master]), 240, "every piece loaded",
                 list(workers.values()))
    finally:
        codes = [w.stop() for w in workers.values()] + [master.stop()]
    assert codes == [0, 0, 0]
    assert killed_decoding >= 6
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, traffic.rows))


def test_hostile_capture_names(local_config, tmp_path):
    config = with_pkt_num(local_config, 50)
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    names = ["$(touch PWNED7) `touch PWNED8`.pcap", "-n; touch PWNED9.pcap",
             "dir $(touch PWNED10)/caf\u00e9\nnew.pcapng", "-r/x.pcap"]
    expected: list[dict] = []
    for n, relative in enumerate(names):
        traffic = cw.traffic_mix(40, START.replace(minute=n * 10), 60.0, seed=20 + n)
        expected += traffic.rows
        target = collector / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        cw.write_capture(tmp_path / "tmp.cap", traffic.packets, pcapng=relative.endswith("ng"))
        os.replace(tmp_path / "tmp.cap", target)
    topic = unique("SPOT-INGEST-dns")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    try:
        wait_for(lambda: not visible_files(collector) and
                 all_committed(config, topic, [master, worker]), 120, "every capture", [master, worker])
    finally:
        assert [master.stop(), worker.stop()] == [0, 0]
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, expected))
    assert markers_anywhere([tmp_path, REPO, Path.cwd()]) == []


def test_the_split_folder_of_a_killed_pool_process_is_removed(local_config, tmp_path):
    """Issue 15: a pool process killed with SIGKILL while it hands a capture over leaves its
    split folder (named after its pid) with pieces of the capture in it. The retry of the
    capture removes it; the folder of a process still running stays."""
    config = with_pkt_num(local_config, 100)
    list(setup_all(config))
    staging = Path(config.pipeline(PIPELINE).pcap_split_staging)
    staging.mkdir(parents=True, exist_ok=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    kept = staging / f".other.pcap-{alive.pid}"
    kept.mkdir()
    (kept / "other_spot_00000_20160104120000.pcap").write_bytes(b"a piece being published")
    traffic = cw.traffic_mix(20_000, START, 600.0, seed=13)
    capture = cw.write_pcap(tmp_path / "s.pcap", traffic.packets)
    topic = unique("SPOT-INGEST-dns")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", [master])
    worker = None
    try:
        os.replace(capture, config.pipeline(PIPELINE).collector_path / capture.name)
        folder = wait_until(lambda: next((p for p in staging.iterdir()
                                          if p.name.startswith(".s.pcap-")), None), 60,
                            "the capture's split folder", interval=0.002)
        os.kill(int(folder.name.rsplit("-", 1)[1]), signal.SIGKILL)
        worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
        wait_for(lambda: not (config.pipeline(PIPELINE).collector_path / "s.pcap").exists()
                 and all_committed(config, topic, [master, worker]), 240, "every piece loaded",
                 [master, worker])
        assert not folder.exists()
        assert [p.name for p in staging.iterdir()] == [kept.name]
    finally:
        alive.kill()
        alive.wait()
        codes = [master.stop()] + ([worker.stop()] if worker else [])
    assert codes == [0, 0]
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, traffic.rows))
