"""Faults of the machine are not faults of the file: they are found at start (one line,
exit 1) or retried, and never cost a file its place in the table."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from common.config import load_config
from common.kafka_admin import ensure_topic
from common.messages import FileMessage
from common.setup import setup_all
from common.storage import open_storage
from common.worker import Worker
from pipelines.flow.worker import FlowProcessor
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import (command_line, start_master, start_worker, visible_files,
                                     wait_for)
from tests.integration.test_flow_pipeline import publish_binaries as publish

from .harness import PIPELINE, REPO, assert_exactly_once, committed, numbered_capture


def config_with(tmp_path: Path, **pipeline_keys):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_rel"), tmp_path)
    data["pipelines"][PIPELINE].update(pipeline_keys)
    return load_config(write_config(tmp_path, data))


def run_worker_cli(config, topic: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "worker.py", "-c", str(config.path), "-t", PIPELINE,
                           "-i", "0", "--topic", topic], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "TZ": "UTC", **env})


@pytest.mark.parametrize("case, keys, env, message", [
    ("no nfdump", {}, {"PATH": "/nonexistent"},
     "error: nfdump is not installed or not on PATH (run make setup)\n"),
    ("bad filter", {"process_opt": "proto tcpx"}, {},
     "error: nfdump cannot run with process_opt 'proto tcpx': nfdump failed (exit code 254): "
     "Line 1: Unknown protocol at 'tcpx'\n"),
    ("bad option", {"process_opt": "--bogus"}, {},
     "error: nfdump refuses process_opt '--bogus' (it printed its usage)\n"),
    ("owned option", {"process_opt": "-o json"}, {},
     "error: process_opt '-o json' sets -o: the worker sets -r -R -M -w -o -q itself (use "
     "process_opt for filters)\n"),
    ("unsplittable", {"process_opt": "'proto tcp"}, {},
     "error: process_opt \"'proto tcp\" cannot be split into arguments: No closing quotation\n"),
    ("bad TZ", {}, {"TZ": "Mars/Phobos"},
     "error: TZ='Mars/Phobos' is not a time zone known to this machine (use a name such as "
     "UTC or Europe/Paris)\n"),
])
def test_environment_faults_stop_the_worker_at_start_and_cost_no_file(
        case, keys, env, message, tmp_path, kafka_up, metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_rel"), tmp_path)
    good = load_config(write_config(tmp_path, data))
    data["pipelines"][PIPELINE].update(keys)
    broken = load_config(write_config(tmp_path, data))
    list(setup_all(good))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(good.kafka, topic, 1)
    binary, ids = numbered_capture(tmp_path, "nfcapd.201601040900", 500, 1_000)
    publish(good, topic, [(binary, "nfcapd.201601040900")])

    proc = run_worker_cli(broken, topic, env)
    assert (proc.returncode, proc.stderr) == (1, message)    # one line, no traceback
    assert committed(good, topic, 0) is None                 # nothing consumed
    storage = open_storage(good)
    assert not storage.exists(f"{good.hdfs_app_path}/flow/quarantine/{PIPELINE}")

    healthy = Worker(good, good.pipeline(PIPELINE), 0, topic)
    assert healthy.run(idle_exit_seconds=3) == 0
    assert (healthy.processed, healthy.rows, healthy.quarantined) == (1, 500, 0)
    assert_exactly_once(good, ids, tmp_path)


class FailingProcessor(FlowProcessor):
    """A processor whose decoding of one file fails with an error nobody classified."""

    failing = "nfcapd.201601040905"

    def decode(self, local, binary, workdir):
        if binary.message.name == self.failing:
            raise RuntimeError("unexpected state in the decoder")
        return super().decode(local, binary, workdir)


def test_a_message_that_keeps_failing_is_set_aside_after_max_attempts(
        tmp_path, kafka_up, metastore_up, caplog):
    """An error of no known kind is retried max_attempts times, then the file is quarantined
    with the reason, its offset committed, and the next file lands: the partition moves on."""
    config = config_with(tmp_path, max_attempts=3)
    list(setup_all(config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    bad, _ = numbered_capture(tmp_path, "nfcapd.201601040905", 100, 5_000)
    good, ids = numbered_capture(tmp_path, "nfcapd.201601040910", 300, 6_000)
    publish(config, topic, [(bad, bad.name), (good, good.name)])
    worker = Worker(config, config.pipeline(PIPELINE), 0, topic)
    worker.processor = FailingProcessor(config, config.pipeline(PIPELINE), 0,
                                        worker.processor.storage, worker.processor.catalog_factory)
    stopper = threading.Timer(90, worker.stop)          # old code retried without end
    stopper.start()
    started = time.monotonic()
    try:
        assert worker.run(idle_exit_seconds=3) == 0
    finally:
        stopper.cancel()
    assert time.monotonic() - started < 60
    assert (worker.processed, worker.rows, worker.quarantined) == (2, 300, 1)
    assert committed(config, topic, 0) == 2
    text = caplog.text
    assert "offset 0 failed (attempt 1 of 3), not committed, retry in 2 s: RuntimeError: " \
           "unexpected state in the decoder" in text
    assert "offset 0 failed (attempt 2 of 3)" in text
    assert "offset 0 failed 3 times, giving up on it: RuntimeError: unexpected state" in text
    quarantine = Path(config.hdfs_app_path, "flow", "quarantine", PIPELINE)
    assert sorted(p.name for p in quarantine.iterdir()) == ["nfcapd.201601040905",
                                                            "nfcapd.201601040905.reason"]
    assert (quarantine / "nfcapd.201601040905.reason").read_text() == (
        f"nfcapd.201601040905 ({config.hdfs_app_path}/flow/binary/20160104/09/{PIPELINE}/"
        "nfcapd.201601040905): failed 3 times: RuntimeError: unexpected state in the decoder\n")
    assert_exactly_once(config, ids, tmp_path)


def test_a_decoder_killed_under_the_worker_is_retried_not_quarantined(
        tmp_path, kafka_up, metastore_up):
    """Someone kills nfdump (the OOM killer, an operator): the file is not at fault."""
    config = config_with(tmp_path)
    list(setup_all(config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    binary, ids = numbered_capture(tmp_path, "nfcapd.201601040900", 400_000, 10_000_000)
    publish(config, topic, [(binary, binary.name)])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    try:
        nfdump = wait_for_decoder(worker.popen.pid)
        nfdump.kill()                                     # SIGKILL, mid-decode
        wait_for(lambda: committed(config, topic, 0) == 1, 120, "the file to be committed",
                 [worker])
    finally:
        assert worker.stop() == 0
    log = worker.log()
    assert re.search(r"offset 0 not done, not the file's fault \(nfdump was killed by SIGKILL\); "
                     r"not committed, retry in 2 s", log), log
    assert "quarantined" not in log.replace("0 quarantined", "")
    assert_exactly_once(config, ids, tmp_path)


def wait_for_decoder(pid: int, name: str = "nfdump", timeout: float = 60) -> psutil.Process:
    from .harness import decoders_of, wait_until

    return wait_until(lambda: (decoders_of(pid, name) or [None])[0], timeout,
                      f"{name} to run under the worker", interval=0.01)


def test_stale_scratch_folders_of_this_worker_are_cleaned_at_start(tmp_path, kafka_up,
                                                                   metastore_up):
    config = config_with(tmp_path)
    staging = Path(config.pipeline(PIPELINE).local_staging)
    mine = staging / f"{PIPELINE}-w0-0123456789ab"
    others = staging / f"{PIPELINE}-w1-0123456789ab"
    for folder in (mine, others):
        (folder / "input").mkdir(parents=True)
        (folder / "input" / "binary").write_bytes(b"x" * 1000)
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    worker = Worker(config, config.pipeline(PIPELINE), 0, topic)
    assert worker.run(idle_exit_seconds=1) == 0
    assert not mine.exists() and others.exists()


def test_a_dead_pool_process_is_replaced_and_every_file_published(tmp_path, kafka_up,
                                                                   metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_rel"), tmp_path)
    data["collector_processes"] = 2
    config = load_config(write_config(tmp_path, data))
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    binary, _ = numbered_capture(tmp_path, "nfcapd.201601040900", 2000, 1)
    names = [f"nfcapd.2016010409{m:02d}{s:02d}" for m in range(10) for s in range(60)]
    for name in names:
        os.link(binary, collector / name)
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    try:
        wait_for(lambda: "published nfcapd." in master.log(), 60, "a first publish", [master],
                 interval=0.02)
        pool = [p for p in psutil.Process(master.popen.pid).children()
                if "resource_tracker" not in " ".join(command_line(p))]
        assert len(pool) == 2, pool
        pool[0].send_signal(signal.SIGKILL)
        wait_for(lambda: not visible_files(collector), 120, "every file published", [master])
    finally:
        assert master.stop() == 0
    log = master.log()
    assert re.search(r"a collector process died; starting a new pool \(restart 1\), retrying "
                     r"[1-9]\d* file\(s\) it held", log), log
    assert "Traceback" not in log
    # every file is on the topic (a file published just before its process died may be
    # there twice: workers replace their own output)
    assert {m.name for m in topic_messages(config, topic, 2)} == set(names)


def topic_messages(config, topic: str, partitions: int) -> list[FileMessage]:
    from common.kafka_io import PartitionConsumer

    out = []
    for partition in range(partitions):
        consumer = PartitionConsumer(config.kafka, topic, partition)
        try:
            while batch := consumer.poll(timeout_ms=2000):
                out += [FileMessage.decode(m.value) for m in batch]
        finally:
            consumer.close()
    return out


def test_a_file_that_cannot_be_set_aside_does_not_stop_the_master(tmp_path, kafka_up,
                                                                   metastore_up):
    config = config_with(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    (collector / ".quarantine").write_text("a file where the quarantine folder should be")
    (collector / "nfcapd.latest").write_bytes(b"x")
    good, _ = numbered_capture(collector, "nfcapd.201601040900", 10, 1)
    master = start_master(config.path, PIPELINE, 1, unique("SPOT-INGEST-flow"), tmp_path)
    try:
        wait_for(lambda: not good.exists(), 60, "the good file to be published", [master])
        wait_for(lambda: "cannot be set aside either" in master.log(), 30, "the error line",
                 [master])
        assert master.alive()
    finally:
        assert master.stop() == 0
    assert "nfcapd.latest cannot be collected (file name 'nfcapd.latest' carries no time " \
           "stamp: expected nfcapd.YYYYMMDDhhmm or nfcapd.YYYYMMDDhhmmss) and cannot be set " \
           "aside either: FileExistsError: [Errno 17] File exists:" in master.log()
    assert (collector / "nfcapd.latest").exists()
    assert "Traceback" not in master.log()


def test_a_plugin_that_cannot_load_is_one_line(tmp_path):
    from common.errors import ConfigError
    from common.plugin import load

    with pytest.raises(ConfigError) as info:
        load("netflow9", "collector")
    assert str(info.value) == ("pipeline type 'netflow9' has no collector (pipelines.netflow9."
                               "collector is not installed)")
