"""Kafka administration: topics (created durable, grown, described), the offsets of a
topic's partitions and what their consumer group committed, and whether brokers answer.
The clients that send and read messages are in common/kafka_io.py."""
from __future__ import annotations

import time
from dataclasses import dataclass

from common.config import KafkaSettings
from common.errors import KafkaError
from common.kafka_io import (_BOOTSTRAP_TIMEOUT_MS, _REQUEST_TIMEOUT_MS, _unreachable,
                             check_topic_name, security_options)

_RETRIABLE_FOR_S = 60.0     # how long a retriable broker answer (no coordinator yet) is retried


def _admin(kafka: KafkaSettings):
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError as ClientError

    try:
        return KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id="spot-ingest-admin",
                                request_timeout_ms=_REQUEST_TIMEOUT_MS,
                                bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS,
                                **security_options(kafka))
    except ClientError as exc:
        raise _unreachable(kafka, exc) from None


def ping(kafka: KafkaSettings, timeout_ms: int = 5000) -> None:
    """KafkaError unless a broker answers within the timeout."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError as ClientError

    try:
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id="spot-ingest-ping",
                                 request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms,
                                 **security_options(kafka))
    except ClientError:
        raise KafkaError(f"Kafka does not answer at {kafka.bootstrap}") from None
    admin.close()


def broker_count(kafka: KafkaSettings, timeout_ms: int = 5000) -> int:
    """Brokers the cluster lists as registered (0 when none answers)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError as ClientError

    try:
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id="spot-ingest-ping",
                                 request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms,
                                 connections_max_idle_ms=10_000, **security_options(kafka))
    except ClientError:
        return 0
    try:
        return len(admin.describe_cluster().get("brokers") or [])
    except ClientError:
        return 0
    finally:
        admin.close()


def topic_partitions(kafka: KafkaSettings, topic: str) -> int | None:
    """Number of partitions of topic, None when it does not exist."""
    admin = _admin(kafka)
    try:
        return _partition_count(admin, topic)
    finally:
        admin.close()


def _partition_count(admin, topic: str) -> int | None:
    from kafka.errors import KafkaError as ClientError

    try:
        described = admin.describe_topics([topic])
    except ClientError as exc:
        if type(exc).__name__ == "UnknownTopicOrPartitionError":
            return None
        raise KafkaError(f"cannot describe topic '{topic}': {exc}") from None
    for entry in described:
        if _topic_of(entry) == topic and entry.get("error_code", 0) == 0:
            return len(entry.get("partitions") or [])
    return None


def _topic_of(entry: dict) -> str | None:
    return entry.get("name", entry.get("topic"))


def topic_configs(kafka: KafkaSettings) -> dict[str, str]:
    """Durability of every topic a master creates: with acks=all a message counts as sent
    only once min.insync.replicas replicas hold it (not the leader alone), and it stays long
    enough for a stopped worker to come back and read it."""
    return {"min.insync.replicas": str(kafka.min_insync_replicas),
            "retention.ms": str(kafka.retention_hours * 3600 * 1000)}


@dataclass(frozen=True)
class TopicShape:
    """What ensure_topic found and left: the partitions before (None: the topic was new) and
    now."""
    before: int | None
    partitions: int

    @property
    def created(self) -> bool:
        return self.before is None

    @property
    def grown(self) -> bool:
        return self.before is not None and self.partitions > self.before


def ensure_topic(kafka: KafkaSettings, topic: str, partitions: int) -> TopicShape:
    """Creates topic with `partitions` partitions and topic_configs(), or grows an existing
    topic with fewer to that many (Kafka adds partitions, never removes any: messages already
    in a partition stay there). A topic with more stays as it is."""
    from kafka.admin import NewPartitions, NewTopic
    from kafka.errors import KafkaError as ClientError, TopicAlreadyExistsError

    check_topic_name(topic)
    admin = _admin(kafka)
    try:
        existing = _partition_count(admin, topic)
        if existing is None:
            try:
                admin.create_topics([NewTopic(topic, partitions, kafka.replication_factor,
                                              topic_configs=topic_configs(kafka))],
                                    timeout_ms=_REQUEST_TIMEOUT_MS)
                _wait_for_leaders(admin, topic, partitions)
                return TopicShape(None, partitions)
            except TopicAlreadyExistsError:
                existing = _partition_count(admin, topic)  # created concurrently
            except ClientError as exc:
                raise KafkaError(f"cannot create topic '{topic}' with {partitions} partitions "
                                 f"(replication factor {kafka.replication_factor}): {exc}") from None
        if existing is None:
            raise KafkaError(f"topic '{topic}' was created concurrently but cannot be described")
        if existing < partitions:
            try:
                admin.create_partitions({topic: NewPartitions(partitions)},
                                        timeout_ms=_REQUEST_TIMEOUT_MS)
            except ClientError as exc:
                if type(exc).__name__ != "InvalidPartitionsError":   # grown concurrently
                    raise KafkaError(f"cannot grow topic '{topic}' from {existing} to "
                                     f"{partitions} partitions: {exc}") from None
            _wait_for_leaders(admin, topic, partitions)
        return TopicShape(existing, max(existing, partitions))
    finally:
        admin.close()


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition of a topic as its group (group = topic) sees it."""
    partition: int
    end: int
    committed: int | None       # the next offset to read, as committed; None: never
    metadata: str = ""          # what the last commit said (common.worker.commit_metadata)

    @property
    def unread(self) -> int:
        return max(0, self.end - (self.committed or 0))


def topic_offsets(kafka: KafkaSettings, topic: str,
                  group: str | None = None) -> list[PartitionOffsets] | None:
    """Every partition's end offset and the offset committed for it by the consumer group
    (default: the topic's own, which the workers use); None when the topic does not exist."""
    if group is not None and group != topic:
        return _offsets(kafka, [topic], {topic: group}).get(topic)
    return topics_offsets(kafka, [topic]).get(topic)


def topics_offsets(kafka: KafkaSettings, topics: list[str]) -> dict[str, list[PartitionOffsets]]:
    """topic_offsets of many topics (each read by its own group) in three requests, not
    three per topic: an installation upgraded from per-start topics may have hundreds."""
    return _offsets(kafka, topics, {t: t for t in topics})


def _offsets(kafka: KafkaSettings, topics: list[str],
             groups: dict[str, str]) -> dict[str, list[PartitionOffsets]]:
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec
    from kafka.errors import KafkaError as ClientError

    if not topics:
        return {}
    admin = _admin(kafka)
    try:
        try:
            described = admin.describe_topics(list(topics))
        except ClientError as exc:
            if type(exc).__name__ != "UnknownTopicOrPartitionError":
                raise KafkaError(f"cannot describe topics {', '.join(topics)}: {exc}") from None
            described = [e for t in topics for e in _describe_one(admin, t)]
        counts = {_topic_of(e): len(e.get("partitions") or []) for e in described
                  if e.get("error_code", 0) == 0 and _topic_of(e) in groups}
        tps = {t: [TopicPartition(t, p) for p in range(n)] for t, n in counts.items()}
        specs: dict[str, list] = {}
        for t, parts in tps.items():
            specs.setdefault(groups[t], []).extend(parts)
        deadline = time.monotonic() + _RETRIABLE_FOR_S
        while True:
            try:
                ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST
                                                     for parts in tps.values() for tp in parts})
                committed = admin.list_group_offsets(specs) if specs else {}
                break
            except ClientError as exc:
                # a fresh cluster elects its group coordinator (and creates __consumer_offsets)
                # on the first request that needs one: "not available" for a few seconds
                if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                    raise KafkaError(f"cannot read the offsets of topics {', '.join(tps)}: "
                                     f"{exc}") from None
                time.sleep(0.5)
    finally:
        admin.close()
    out = {}
    for t, parts in tps.items():
        mine = committed.get(groups[t], {})
        out[t] = []
        for tp in parts:
            end = ends[tp]
            end = end.offset if hasattr(end, "offset") else int(end)
            done = mine.get(tp)
            offset = done.offset if done is not None and done.offset >= 0 else None
            out[t].append(PartitionOffsets(tp.partition, end, offset,
                                           (done.metadata or "") if done is not None else ""))
    return out


def _describe_one(admin, topic: str) -> list[dict]:
    from kafka.errors import KafkaError as ClientError

    try:
        return admin.describe_topics([topic])
    except ClientError:
        return []


def list_topics(kafka: KafkaSettings) -> list[str]:
    from kafka.errors import KafkaError as ClientError

    admin = _admin(kafka)
    try:
        return sorted(admin.list_topics())
    except ClientError as exc:
        raise KafkaError(f"cannot list the topics on {kafka.bootstrap}: {exc}") from None
    finally:
        admin.close()


def _wait_for_leaders(admin, topic: str, partitions: int, attempts: int = 50) -> None:
    import time

    for _ in range(attempts):
        described = admin.describe_topics([topic])
        parts = [p for e in described if _topic_of(e) == topic for p in e.get("partitions") or []]
        if len(parts) >= partitions and all(p.get("leader_id", -1) >= 0 for p in parts):
            return
        time.sleep(0.1)
    raise KafkaError(f"topic '{topic}' was created but its partitions have no leader yet")
