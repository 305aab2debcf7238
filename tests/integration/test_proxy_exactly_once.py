"""The proxy master sends every line exactly once even when a send is retried (issue 15):
against a real replicated Kafka whose followers hang (a send appended on the leader that
stays unacknowledged, invisible, then lands), and against the shared broker with a send
left open by a master that died before its commit."""
from __future__ import annotations

import collections
import json
import os
import signal
from datetime import datetime, timezone
from pathlib import Path

from common.config import KafkaSettings, load_config
from common.lines import Progress
from pipelines.proxy.log_writer import write_log

from .conftest import base_config_data, unique, write_config
from .kafka_cluster import KafkaCluster
from .procs import start_master, wait_for

PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)


class HangingFollowers(KafkaCluster):
    """Three KRaft nodes that never drop a silent replica: a follower stopped with SIGSTOP
    stays in sync and registered, so the leader holds every acks=all send it appended
    (unacknowledged, above the high watermark: no consumer sees it) until the follower comes
    back. What a follower in a long GC pause or a VM paused by its host does."""

    def _properties(self, node: int) -> Path:
        path = super()._properties(node)
        with open(path, "a") as out:
            out.write("replica.lag.time.max.ms=900000\nbroker.session.timeout.ms=900000\n"
                      "transaction.state.log.num.partitions=4\n")
        return path

    def pause(self, *nodes: int) -> None:
        for node in nodes:
            os.killpg(self.procs[node].pid, signal.SIGSTOP)

    def resume(self, *nodes: int) -> None:
        for node in nodes:
            os.killpg(self.procs[node].pid, signal.SIGCONT)


def committed_lines(bootstrap: str, topic: str, partitions: int = 1) -> collections.Counter:
    """Every line of the topic as a read_committed reader (the proxy job) sees it."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             isolation_level="read_committed", enable_auto_commit=False,
                             request_timeout_ms=30000)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        got: collections.Counter = collections.Counter()
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=2000).values():
                for record in records:
                    got.update(record.value.splitlines(keepends=True))
        return got
    finally:
        consumer.close()


def test_a_send_retried_while_the_followers_hang_lands_once(tmp_path):
    """The followers of the topic's only partition hang while a log is sent: the send is
    appended on the leader and never acknowledged, the master gives up on it and retries
    the file (twice), then the followers come back. Every line is on the topic once for a
    read_committed reader. (Before: the first copy, which the master had given up on, and
    the retry's copy both landed: every line of the log twice.)"""
    cluster = HangingFollowers(tmp_path / "kafka", base_port=19392).start()
    paused = False
    try:
        bootstrap = f"127.0.0.1:{cluster.broker_port(1)}"
        data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
        data["kafka"].update(kafka_server=bootstrap, replication_factor=3)
        data["collector_processes"] = 1       # one pool process: one producer for both logs
        config = load_config(write_config(tmp_path, data))
        collector = config.pipeline(PIPELINE).collector_path
        topic = unique("SPOT-INGEST-proxy")
        create_topic_led_by_node_1(config.kafka, topic)
        logs = {}
        for seed, name in enumerate(("first.log", "second.log", "third.log")):
            write_log(tmp_path / name, 200, START, hours=1, seed=seed)
            logs[name] = (tmp_path / name).read_bytes()
        master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
        try:
            wait_for(lambda: "(reused, 1 partitions)" in master.log(), 60, "the topic", [master])
            os.replace(tmp_path / "first.log", collector / "first.log")
            wait_for(lambda: not (collector / "first.log").exists(), 120, "the first log",
                     [master])
            cluster.pause(2, 3)
            paused = True
            os.replace(tmp_path / "second.log", collector / "second.log")
            wait_for(lambda: "second.log not handed over (attempt 2)" in master.log(), 600,
                     "two failed attempts at the second log", [master], interval=1)
            cluster.resume(2, 3)
            paused = False
            wait_for(lambda: not (collector / "second.log").exists(), 600,
                     "the second log once the followers are back", [master], interval=1)
            # a third log through the same partition: once it is acknowledged, no earlier
            # send of this master can still be in flight
            os.replace(tmp_path / "third.log", collector / "third.log")
            wait_for(lambda: not (collector / "third.log").exists(), 300, "the third log",
                     [master], interval=1)
        finally:
            assert master.stop() == 0
        expected: collections.Counter = collections.Counter()
        for content in logs.values():
            expected.update(content.splitlines(keepends=True))
        got = committed_lines(bootstrap, topic)
        assert sum(got.values()) == sum(expected.values()) == 3 * 204
        assert got == expected
    finally:
        if paused:
            cluster.resume(2, 3)
        cluster.stop()


def create_topic_led_by_node_1(kafka: KafkaSettings, topic: str) -> None:
    """One partition on nodes 1, 2 and 3 with node 1 its leader, min.insync.replicas 2."""
    from kafka.admin import NewTopic

    from common.kafka_admin import _admin

    admin = _admin(kafka)
    try:
        admin.create_topics([NewTopic(topic, replica_assignments={0: [1, 2, 3]},
                                      topic_configs={"min.insync.replicas": "2"})],
                            timeout_ms=30000)
        wait_for(lambda: all(p.get("leader_id") == 1 for e in admin.describe_topics([topic])
                             for p in e.get("partitions") or []) and
                 bool(admin.describe_topics([topic])[0].get("partitions")), 60,
                 "node 1 to lead the topic")
    finally:
        admin.close()


def test_a_send_left_open_by_a_dead_master_is_aborted_by_the_next(tmp_path, kafka_up):
    """A master killed between a send and its commit leaves the message in an open
    transaction (on the topic, not committed) and its progress pending. The next master
    fences that transaction (aborted: read_committed readers never see it), finds the
    message not committed, and sends it again: one committed copy."""
    from kafka import KafkaProducer

    from common.kafka_admin import ensure_topic
    from common.kafka_io import PartitionTail
    from common.lines import transactional_id

    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    config = load_config(write_config(tmp_path, data))
    collector = config.pipeline(PIPELINE).collector_path
    topic = unique("SPOT-INGEST-proxy")
    log = collector / "access.log"
    write_log(log, 300, START, hours=1)
    content = log.read_bytes()
    key = b"access.log@0"
    ensure_topic(config.kafka, topic, 1)
    tail = PartitionTail(config.kafka, topic)
    end = tail.end_offset(0)
    tail.close()
    progress = Progress(Progress.identity_of(log), pending={
        "partition": 0, "end_offset": end, "key": key.decode(), "end": len(content)})
    (collector / ".progress").mkdir()
    (collector / ".progress" / "access.log.json").write_text(json.dumps(progress.__dict__))
    dead = KafkaProducer(bootstrap_servers=config.kafka.bootstrap, acks="all",
                         transactional_id=transactional_id(topic, "access.log"))
    dead.init_transactions()
    dead.begin_transaction()
    dead.send(topic, value=content, key=key, partition=0).get(30)   # on the topic, open
    dead.close(timeout=0)

    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    try:
        wait_for(lambda: not log.exists(), 120, "the log", [master])
    finally:
        assert master.stop() == 0
    assert "resuming at byte 0 (the message sent before the stop was not acknowledged" \
        in master.log()
    assert committed_lines(config.kafka.bootstrap, topic) == \
        collections.Counter(content.splitlines(keepends=True))
