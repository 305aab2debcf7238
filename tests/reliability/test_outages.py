"""Services stopped under a running pipeline, and a full disk: the master and the workers
wait, keep every file, and resume by themselves; every row arrives exactly once.

Each test checks that the pipeline really tried while the service was away (a file stored
but kept in the collector folder, a worker's logged failure), or it would prove nothing.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from common.config import load_config
from common.kafka_admin import ensure_topic
from common.setup import setup_all
from common.storage import open_storage
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import start_master, start_worker, visible_files, wait_for

from .harness import PIPELINE, assert_exactly_once, committed, service_down, stack
from .test_environment import publish
from .test_kills import fresh_config, make_files


def drop(files: list[Path], collector: Path) -> None:
    """As nfcapd does: complete files appear by rename."""
    for path in files:
        os.replace(path, collector / path.name)


def loaded(config, names: list[str]) -> bool:
    folder = Path(config.hdfs_app_path, "flow", "hive", "y=2016", "m=01", "d=04", "h=09")
    return folder.exists() and {f"{PIPELINE}-{n}.parquet" for n in names} <= set(os.listdir(folder))


def test_kafka_stopped_for_30_seconds(tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    before, ids_before = make_files(tmp_path / "a", 4, 2000, first_id=1)
    during, ids_during = make_files(tmp_path / "b", 4, 2000, first_id=100_000, skip=4)
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "created, 2 partitions" in master.log(), 60, "the topic", [master])
    workers = [start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)]
    procs = [master, *workers]
    binary = Path(config.hdfs_app_path, "flow", "binary", "20160104", "09", PIPELINE)
    try:
        drop(before, collector)
        wait_for(lambda: loaded(config, [p.name for p in before]), 90, "the first files", procs)
        with service_down("kafka"):
            stopped = time.monotonic()
            drop(during, collector)
            # the master stores files, cannot publish them, and keeps them
            wait_for(lambda: any((binary / p.name).exists() for p in during), 60,
                     "a file to be stored while Kafka is down", procs)
            time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
            assert all((collector / p.name).exists() for p in during)
            assert not loaded(config, [p.name for p in during])
        back = time.monotonic()
        wait_for(lambda: loaded(config, [p.name for p in during]), 180,
                 "the files dropped during the outage", procs)
        print(f"Kafka down {back - stopped:.0f} s; loaded {time.monotonic() - back:.1f} s "
              "after it was back")
        wait_for(lambda: not visible_files(collector), 60, "the collector to empty", procs)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0]
    assert_exactly_once(config, ids_before | ids_during, tmp_path)


def test_metastore_stopped_and_started(tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    files, ids = make_files(tmp_path / "a", 4, 2000)
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "created, 1 partitions" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    procs = [master, worker]
    try:
        with service_down("metastore"):
            drop(files, collector)
            wait_for(lambda: re.search(r"offset 0 not done, not the file's fault \(cannot reach "
                                       r"the Hive Metastore", worker.log()), 90,
                     "the worker to fail on the metastore", procs)
            assert committed(config, topic, 0) in (None, 0)   # (a heartbeat re-commits 0)
        back = time.monotonic()
        wait_for(lambda: committed(config, topic, 0) == 4, 180, "every file committed", procs)
        print(f"loaded {time.monotonic() - back:.1f} s after the metastore was back")
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0]
    assert "quarantined at" not in worker.log()
    assert_exactly_once(config, ids, tmp_path)


def test_hdfs_stopped_and_started_when_it_is_the_storage(hdfs_config, tmp_path):
    config = hdfs_config
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    first, ids_first = make_files(tmp_path / "a", 2, 2000, first_id=1)
    during, ids_during = make_files(tmp_path / "b", 3, 2000, first_id=100_000, skip=2)
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "created, 1 partitions" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    procs = [master, worker]
    try:
        drop(first, collector)
        wait_for(lambda: committed(config, topic, 0) == 2, 90, "the first files", procs)
        with service_down("hdfs"):
            drop(during, collector)
            wait_for(lambda: "cannot reach WebHDFS" in master.log(), 60,
                     "the master to fail on HDFS", procs)
            assert all((collector / p.name).exists() for p in during)
        back = time.monotonic()
        wait_for(lambda: committed(config, topic, 0) == 5, 240, "every file committed", procs)
        print(f"loaded {time.monotonic() - back:.1f} s after HDFS was back")
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0]
    assert re.search(r"nfcapd\.\d+ not handed over \(attempt 1\), kept in place, retry in 2 s: "
                     r"mkdirs .*: cannot reach WebHDFS at http://127.0.0.1:9870", master.log())
    assert_exactly_once(config, ids_first | ids_during, tmp_path)
    assert open_storage(config).files_under(
        f"{config.hdfs_app_path}/flow/quarantine") == []


def test_local_staging_on_a_full_filesystem(tmp_path, kafka_up, metastore_up):
    """local_staging on a 1 MB tmpfs: the 3 MB binary cannot be fetched. One clear error,
    nothing committed, nothing quarantined; once the filesystem grows, the work resumes."""
    staging = tmp_path / "small-disk"
    staging.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(staging)], check=True)
    try:
        data = base_config_data(str(tmp_path / "spot"), unique("spot_rel"), tmp_path)
        data["pipelines"][PIPELINE]["local_staging"] = str(staging)
        config = load_config(write_config(tmp_path, data))
        list(setup_all(config))
        files, ids = make_files(tmp_path / "a", 2, 30_000)
        topic = unique("SPOT-INGEST-flow")
        ensure_topic(config.kafka, topic, 1)
        publish(config, topic, [(p, p.name) for p in files])
        worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
        try:
            wait_for(lambda: worker.log().count("No space left on device") >= 2, 60,
                     "two failed attempts", [worker])
            assert committed(config, topic, 0) in (None, 0)   # (a heartbeat re-commits 0)
            subprocess.run(["mount", "-o", "remount,size=64m", str(staging)], check=True)
            wait_for(lambda: committed(config, topic, 0) == 2, 120, "the files", [worker])
        finally:
            assert worker.stop() == 0
        log = worker.log()
        assert re.search(r"offset 0 not done, not the file's fault \(download .*: No space left "
                         r"on device\); not committed, retry in 2 s", log), log
        assert "quarantined at" not in log
        assert_exactly_once(config, ids, tmp_path)
    finally:
        subprocess.run(["umount", "-l", str(staging)], check=False)


def test_stack_services_can_be_stopped_and_started_alone():
    """What the outage tests rely on: stack.py stops and starts one service, by name."""
    stack("status", "kafka")
    with service_down("metastore"):
        proc = subprocess.run([sys.executable, "services/stack.py", "status", "metastore"],
                              cwd=Path(__file__).resolve().parents[2], capture_output=True)
        assert proc.returncode == 3
    stack("status", "metastore")
