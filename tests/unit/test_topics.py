"""A pipeline's topic over the life of an installation: its name, how a worker count fits
the partitions a topic already has, the earlier version's topics, a proxy checkpoint's
position, and the collector folder's lock."""
from __future__ import annotations

import json
import os
import socket

import pytest

from common.config import parse_config
from common.errors import ConfigError
from common.folder_lock import FolderLock, describe_holder, read_holder
from common.kafka_admin import PartitionOffsets
from common.storage import LocalStorage
from common.topics import fit_workers, legacy_topics, processed_offsets


def config(tmp_path, **pipeline):
    return parse_config({"dbname": "spot", "hdfs_app_path": "app", "collector_processes": 1,
                         "kafka": {"kafka_server": "k", "kafka_port": 9092},
                         "pipelines": {"flow_a": {"type": "flow", "collector_path": "c",
                                                  "local_staging": "s", **pipeline}}},
                        tmp_path / "conf.json")


def test_the_topic_is_derived_from_database_and_pipeline_or_configured(tmp_path):
    assert config(tmp_path).topic_of("flow_a") == "SPOT-INGEST-spot-flow_a"
    assert config(tmp_path, topic="mine.flows").topic_of("flow_a") == "mine.flows"
    with pytest.raises(ConfigError) as info:
        config(tmp_path, topic="no spaces")
    assert str(info.value) == (f"{tmp_path / 'conf.json'}: key 'pipelines.flow_a.topic': "
                               "expected a Kafka topic name (letters, digits, '.', '_', '-'), "
                               'got "no spaces"')


def test_earlier_version_topics_are_matched_exactly():
    names = ["SPOT-INGEST-flow_10_11_12_123456",           # flow's, made by the old master
             "SPOT-INGEST-flow_internals_10_11_12_123456",  # another pipeline's: not flow's
             "SPOT-INGEST-flow_x",                          # not the old shape
             "SPOT-INGEST-flow_10_11_12_1234567",
             "SPOT-INGEST-spot-flow", "SPOT-INGEST-flow_09_00_00_000001"]
    assert legacy_topics(names, "flow") == ["SPOT-INGEST-flow_09_00_00_000001",
                                            "SPOT-INGEST-flow_10_11_12_123456"]
    assert legacy_topics(names, "flow_internals") == ["SPOT-INGEST-flow_internals_10_11_12_123456"]
    assert legacy_topics(["SPOT-INGEST-a.b_00_00_00_000000"], "a_b") == []   # '.' is no wildcard


def offsets(*pairs):
    return [PartitionOffsets(n, end, committed) for n, (committed, end) in enumerate(pairs)]


def test_workers_fit_the_partitions_or_the_start_is_refused():
    # as many or more workers: the first W partitions (the topic was grown to W)
    assert fit_workers("flow", "T", offsets((5, 5), (3, 3)), 2) == 2
    # fewer workers, the extra partitions all read: publish over the first W only
    assert fit_workers("flow", "T", offsets((5, 5), (3, 3), (7, 7)), 2) == 2
    assert fit_workers("dns", "T", offsets((5, 9), (None, 0), (None, 0)), 1) == 1
    # fewer workers, unread messages beyond them: refused, naming what to do
    with pytest.raises(ConfigError) as info:
        fit_workers("flow", "T", offsets((5, 9), (3, 3), (None, 4), (1, 3)), 2)
    assert str(info.value) == (
        "topic T has 4 partitions and partitions 2-3 still hold(s) 6 unread message(s) that 2 "
        "worker(s) would never read: start with -w 4 until they are read (ingest_status.py "
        "shows the lag), then with -w 2")
    with pytest.raises(ConfigError, match="partition 1 still hold"):
        fit_workers("dns", "T", offsets((0, 0), (0, 1)), 1)
    # proxy: one job reads every partition, so the master publishes over all of them
    assert fit_workers("proxy", "T", offsets((None, 9), (None, 9), (None, 9)), 1) == 3


def test_a_proxy_checkpoint_position_is_its_last_committed_batch(tmp_path):
    cp = tmp_path / "cp"
    storage = LocalStorage()
    assert processed_offsets(storage, f"file://{cp}", "T") is None       # no checkpoint
    (cp / "offsets").mkdir(parents=True)
    (cp / "commits").mkdir()
    assert processed_offsets(storage, str(cp), "T") == {}                # nothing committed
    for batch, ends in ((0, {"0": 2, "1": 1}), (1, {"0": 5, "1": 4}), (2, {"0": 9, "1": 8})):
        (cp / "offsets" / str(batch)).write_text(
            "v1\n" + json.dumps({"batchWatermarkMs": 0, "conf": {}}) + "\n" +
            json.dumps({"T": ends}))
    for batch in (0, 1):                                     # batch 2 started, not committed
        (cp / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    (cp / "commits" / ".1.crc").write_text("x")
    assert processed_offsets(storage, f"file://{cp}", "T") == {0: 5, 1: 4}
    assert processed_offsets(storage, str(cp), "other") == {}


def test_one_master_per_folder_lock_names_its_holder(tmp_path):
    first = FolderLock(tmp_path, "proxy_a")
    first.acquire(topic="T")
    first.update(metrics="127.0.0.1:9400")
    second = FolderLock(tmp_path, "proxy_b")
    with pytest.raises(ConfigError) as info:
        second.probe()
    message = str(info.value)
    assert message.startswith(f"collector folder {tmp_path} is already watched by the master "
                              f"of pipeline proxy_a (pid {os.getpid()} on {socket.gethostname()}"
                              ", since ")
    assert message.endswith("): one master per collector folder")
    holder = read_holder(tmp_path)
    assert (holder["pipeline"], holder["topic"], holder["metrics"]) == \
        ("proxy_a", "T", "127.0.0.1:9400")
    first.release()
    second.acquire()                            # released: the next master takes it
    second.release()
    assert read_holder(tmp_path)["pipeline"] == "proxy_b"     # pid alive (this process)


def test_a_dead_holder_is_not_reported():
    assert describe_holder("not json") == "another master"
    assert describe_holder(json.dumps({"pipeline": "p", "pid": 1, "host": "h",
                                       "since": 0})).startswith("the master of pipeline p "
                                                                "(pid 1 on h, since ")


def test_read_holder_ignores_a_holder_that_no_longer_runs(tmp_path):
    (tmp_path / ".spot-master.lock").write_text(json.dumps(
        {"pipeline": "p", "pid": 2 ** 22 + 7, "host": socket.gethostname(), "since": 1.0}))
    assert read_holder(tmp_path) is None
