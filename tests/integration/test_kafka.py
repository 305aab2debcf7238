"""Topics through the Admin API, acknowledged sends, one-partition consumers that resume."""
from __future__ import annotations

import pytest

from common.config import KafkaSettings
from common.errors import KafkaError
from common.kafka_admin import TopicShape, ensure_topic, topic_offsets, topic_partitions
from common.kafka_io import PartitionConsumer, Publisher

from .conftest import unique

KAFKA = KafkaSettings("127.0.0.1", 9092)


def drain(consumer: PartitionConsumer, expected: int, rounds: int = 30):
    got = []
    for _ in range(rounds):
        got += consumer.poll(timeout_ms=500)
        if len(got) >= expected:
            break
    return got


def test_topic_created_with_n_partitions_reused_and_grown(kafka_up):
    topic = unique("SPOT-INGEST-test")
    assert topic_partitions(KAFKA, topic) is None
    assert ensure_topic(KAFKA, topic, 3) == TopicShape(None, 3)          # created
    assert topic_partitions(KAFKA, topic) == 3
    assert ensure_topic(KAFKA, topic, 3) == TopicShape(3, 3)             # same count: reused
    assert ensure_topic(KAFKA, topic, 2) == TopicShape(3, 3)             # fewer: as it is
    assert topic_partitions(KAFKA, topic) == 3
    shape = ensure_topic(KAFKA, topic, 5)                                # more: grown
    assert (shape, shape.grown, shape.created) == (TopicShape(3, 5), True, False)
    assert topic_partitions(KAFKA, topic) == 5
    offsets = topic_offsets(KAFKA, topic)
    assert [(p.partition, p.end, p.committed, p.unread) for p in offsets] == \
        [(n, 0, None, 0) for n in range(5)]


def test_unreachable_broker_is_one_clear_error():
    with pytest.raises(KafkaError) as info:
        ensure_topic(KafkaSettings("127.0.0.1", 1), "SPOT-INGEST-x", 1)
    assert str(info.value) == ("cannot reach Kafka at 127.0.0.1:1: KafkaTimeoutError: "
                               "Unable to bootstrap from 127.0.0.1:1")


def test_consumer_sees_only_its_partition_and_resumes_from_commit(kafka_up):
    topic = unique("SPOT-INGEST-test")
    ensure_topic(KAFKA, topic, 3)
    publisher = Publisher(KAFKA, topic)
    try:
        for partition in range(3):
            for n in range(4):
                offset = publisher.send(f"p{partition}-m{n}".encode(), partition=partition)
                assert offset == n        # acknowledged before send() returned
    finally:
        publisher.close()

    consumer = PartitionConsumer(KAFKA, topic, 1)
    try:
        first = drain(consumer, 4)
        assert [m.value for m in first] == [b"p1-m0", b"p1-m1", b"p1-m2", b"p1-m3"]
        assert {m.partition for m in first} == {1}
        consumer.commit(first[1].offset)              # m0 and m1 are done
        assert consumer.committed() == 2
    finally:
        consumer.close()

    restarted = PartitionConsumer(KAFKA, topic, 1)
    try:
        again = drain(restarted, 2)
        assert [m.value for m in again] == [b"p1-m2", b"p1-m3"]
    finally:
        restarted.close()


def test_consumer_on_missing_partition_fails_clearly(kafka_up):
    topic = unique("SPOT-INGEST-test")
    ensure_topic(KAFKA, topic, 2)
    with pytest.raises(KafkaError) as info:
        PartitionConsumer(KAFKA, topic, 5)
    assert str(info.value) == f"topic '{topic}' has no partition 5 (partitions 0-1)"


def topic_config(topic: str) -> dict[str, tuple[str, str]]:
    """The settings the topic itself sets (not broker defaults): value and source."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=KAFKA.bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return {k: (v["value"], v["config_source"]) for k, v in described["topic"][topic].items()}


def test_topics_are_created_durable(kafka_up):
    """min.insync.replicas = min(2, replication) and the configured retention, set on the
    topic itself (not left to broker defaults)."""
    kafka = KAFKA.model_copy(update={"retention_hours": 36})
    topic = unique("SPOT-INGEST-test")
    ensure_topic(kafka, topic, 2)
    assert topic_config(topic) == {
        "min.insync.replicas": ("1", "DYNAMIC_TOPIC_CONFIG"),
        "retention.ms": (str(36 * 3600 * 1000), "DYNAMIC_TOPIC_CONFIG")}
