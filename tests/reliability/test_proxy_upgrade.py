"""An upgrade of a proxy pipeline: the earlier version made a topic per start, and its job
kept its place in a checkpoint per topic, which only that job can resume exactly. A start of
this version with such a topic still unread is refused, naming the command that drains it;
once drained, it starts on the pipeline's own topic. Every line lands exactly once."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from common.config import load_config
from common.kafka_admin import topic_offsets
from common.setup import setup_all
from common.status import topic_status
from common.storage import open_storage
from pipelines.proxy import bluecoat, log_writer
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import (REPO, STARTING_S, start_master, start_worker, visible_files,
                                    wait_for)
from tests.integration.test_proxy_job import folder_rows

PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)


@pytest.mark.timeout(2400)
def test_an_unread_earlier_proxy_topic_is_named_with_its_drain(tmp_path, kafka_up,
                                                                metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["kafka"]["message_size"] = 20_000
    data["spark-streaming"]["spark_batch_size"] = 2
    config = load_config(write_config(tmp_path, data))
    list(setup_all(config))
    storage = open_storage(config)
    collector = config.pipeline(PIPELINE).collector_path
    old = f"SPOT-INGEST-{PIPELINE}_{time.strftime('%H_%M_%S')}_{time.time_ns() // 1000 % 10**6:06d}"
    logs, expected = [], Counter()
    for n in range(2):
        log = tmp_path / f"access-{n}.log"
        logs.append(log_writer.write_log(log, 3000, START + timedelta(hours=3 * n), hours=2,
                                         bad={}))
        expected.update(tuple(r) for r in map(bluecoat.parse_line, log.read_bytes().split(b"\n"))
                        if isinstance(r, bluecoat.Row))

    # the earlier version: master and job on a per-start topic; the job reads the first log
    master = start_master(config.path, PIPELINE, 1, old, tmp_path / "old")
    job = start_worker(config.path, PIPELINE, 0, old, tmp_path / "old")
    try:
        (tmp_path / "access-0.log").rename(collector / "access-0.log")
        wait_for(lambda: sum(folder_rows(storage, config.hdfs_app_path, tmp_path)[0].values())
                 == logs[0].valid, STARTING_S, "the first log in the table", [master, job],
                 interval=2)
    finally:
        assert job.stop(180) == 0
    try:                 # a second log published while no job runs: left unread on that topic
        (tmp_path / "access-1.log").rename(collector / "access-1.log")
        wait_for(lambda: not visible_files(collector), 120, "the second log published", [master])
    finally:
        assert master.stop() == 0
    position = topic_status(config, old, pipeline=config.pipeline(PIPELINE), storage=storage)
    (part,) = position.partitions          # the job never committed: its checkpoint's place
    unread = position.lag
    assert part.end_offset == topic_offsets(config.kafka, old)[0].end
    assert unread == part.end_offset - part.committed > 0

    refused = subprocess.run([sys.executable, "master_collector.py", "-c", str(config.path),
                              "-t", PIPELINE, "-w", "1"], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: topic {old}, made by an earlier version, holds {unread} message(s) its proxy "
        f"job has not read: drain it first with `python worker.py -t {PIPELINE} -i 0 --topic "
        f"{old}` and stop that job once `python ingest_status.py -t {PIPELINE} --topic {old}` "
        "shows lag 0\n")

    command = re.search(r"`python (worker\.py [^`]+)`", refused.stderr).group(1).split()
    drain = start_worker(config.path, PIPELINE, 0, old, tmp_path / "drain")
    assert command == ["worker.py", "-t", PIPELINE, "-i", "0", "--topic", old]
    try:
        wait_for(lambda: topic_status(config, old, pipeline=config.pipeline(PIPELINE),
                                      storage=storage).lag == 0, STARTING_S, "the drain", [drain],
                 interval=2)
    finally:
        assert drain.stop(180) == 0

    master = start_master(config.path, PIPELINE, 1, None, tmp_path / "new")
    try:
        wait_for(lambda: f"topic {config.topic_of(PIPELINE)} (created, 1 partitions)" in
                 master.log(), 120, "the master on the pipeline's own topic", [master])
    finally:
        assert master.stop() == 0
    rows, _ = folder_rows(storage, config.hdfs_app_path, tmp_path)
    assert sum(rows.values()) == logs[0].valid + logs[1].valid == 6000
    assert rows == expected                                          # each line exactly once
