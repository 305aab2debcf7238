"""Kafka clients: a producer whose sends are confirmed (acks=all; idempotent, optionally one
transaction per message) before the caller goes on, and a consumer bound to exactly one
partition that commits by hand and resumes from its committed offset (group = topic).
Topics and offsets through the Admin API are in common/kafka_admin.py."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from common.config import KafkaSettings
from common.errors import ConfigError, KafkaError

log = logging.getLogger(__name__)

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._\-]{1,249}$")
SEND_TIMEOUT_S = 60          # the longest a caller waits for one send (and its commit)
DELIVERY_TIMEOUT_MS = 45000  # the producer's own limit, below SEND_TIMEOUT_S: a send the
                             # caller stopped waiting for is never delivered later
COMMIT_TIMEOUT_MS = 10000    # then the caller retries: a stop request is heard in between
_REQUEST_TIMEOUT_MS = 30000
_BOOTSTRAP_TIMEOUT_MS = 15000


def check_topic_name(name: str) -> str:
    if not _TOPIC_NAME.match(name) or name in (".", ".."):
        raise ConfigError(f"invalid topic name '{name}': use 1-249 characters among "
                          "letters, digits, '.', '_' and '-'")
    return name


def security_options(kafka: KafkaSettings) -> dict[str, str]:
    """kafka.security_protocol as client settings, for every producer, consumer and admin
    client: none for PLAINTEXT (clients exactly as before), SASL with Kerberos (GSSAPI, the
    ticket of this process's credential cache, see common.kerberos) otherwise."""
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    return {"security_protocol": kafka.security_protocol, "sasl_mechanism": "GSSAPI",
            "sasl_kerberos_service_name": kafka.sasl_kerberos_service_name}


def _unreachable(kafka: KafkaSettings, exc: Exception) -> KafkaError:
    detail = str(exc) or type(exc).__name__
    return KafkaError(f"cannot reach Kafka at {kafka.bootstrap}: {detail}")


class Publisher:
    """Sends messages to chosen partitions; send() returns only once the broker has
    acknowledged the message on all in-sync replicas (acks=all). It connects on its first
    send, and again after a failed one: a broker that is away fails that send (the caller
    keeps its file and retries), never the process.

    A send is never left behind: the producer is idempotent (its own retries never write a
    second copy) and gives up (DELIVERY_TIMEOUT_MS) before the caller stops waiting
    (SEND_TIMEOUT_S); a failed send closes the producer, so nothing of it is sent later.

    With a transactional_id every message is its own transaction, committed before send()
    returns. Connecting (init_transactions) fences every earlier producer of the same id,
    alive or dead: its open transaction is aborted (read_committed readers never see it) or,
    if its commit had begun, completed. After connect() a message either is committed on
    the topic or will never be: what a caller retrying a send it never heard back about must
    know (common/lines.py)."""

    def __init__(self, kafka: KafkaSettings, topic: str, transactional_id: str | None = None):
        self.kafka, self.topic, self.transactional_id = kafka, topic, transactional_id
        self._producer = None

    def connect(self):
        """The producer, made (and for a transactional id, fenced in) on first use."""
        from kafka import KafkaProducer
        from kafka.errors import KafkaError as ClientError

        if self._producer is None:
            try:
                producer = KafkaProducer(
                    bootstrap_servers=self.kafka.bootstrap, client_id="spot-ingest-publisher",
                    acks="all", enable_idempotence=True, linger_ms=0,
                    delivery_timeout_ms=DELIVERY_TIMEOUT_MS, max_block_ms=DELIVERY_TIMEOUT_MS,
                    bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS,
                    max_request_size=self.kafka.message_size + 4096,
                    request_timeout_ms=_REQUEST_TIMEOUT_MS,
                    transactional_id=self.transactional_id,
                    **security_options(self.kafka),
                )
            except ClientError as exc:
                raise _unreachable(self.kafka, exc) from None
            if self.transactional_id:
                try:
                    producer.init_transactions()
                except ClientError as exc:
                    producer.close(timeout=0)
                    raise KafkaError(f"cannot start transactions on {self.topic} "
                                     f"({self.transactional_id}): {type(exc).__name__}: "
                                     f"{exc}") from None
            self._producer = producer
        return self._producer

    def send(self, value: bytes, partition: int, key: bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> int:
        """Blocks until acknowledged (and committed); returns the message's offset."""
        from kafka.errors import KafkaError as ClientError

        producer = self.connect()
        try:
            if self.transactional_id:
                producer.begin_transaction()
            future = producer.send(self.topic, value=value, key=key, partition=partition,
                                   headers=headers or None)
            offset = future.get(timeout=SEND_TIMEOUT_S).offset
            if self.transactional_id:
                _commit(producer, SEND_TIMEOUT_S)
            return offset
        except ClientError as exc:
            self._discard()
            raise KafkaError(f"send to {self.topic}[{partition}] not acknowledged: "
                             f"{type(exc).__name__}: {exc}") from None

    def _discard(self) -> None:
        """After a failed send: nothing of this producer may reach the topic any more."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=0)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None


def _commit(producer, timeout_s: float) -> None:
    """commit_transaction() with a time limit (kafka-python's waits for ever): the same
    steps, then a bounded wait for the coordinator's answer."""
    from kafka.errors import KafkaTimeoutError

    result = producer._transaction_manager.begin_commit()
    producer._sender.wakeup()
    if not result.wait(timeout_ms=timeout_s * 1000):
        raise KafkaTimeoutError(f"commit not confirmed within {timeout_s:.0f} s")


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class PartitionConsumer:
    """Reads exactly one partition of topic, by manual assignment; group = topic; starts from
    the committed offset (the earliest one when nothing was committed); commits by hand."""

    def __init__(self, kafka: KafkaSettings, topic: str, partition: int,
                 wait_for_topic_s: float | None = 0, stopping=None):
        """wait_for_topic_s: how long to wait for the topic and this partition to exist
        (None: until `stopping`, a threading.Event, is set); then KafkaError."""
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError as ClientError

        self.topic, self.partition = topic, partition
        self._tp = TopicPartition(topic, partition)
        self._outage = False
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=kafka.bootstrap, client_id=f"spot-ingest-worker-{partition}",
                group_id=topic, enable_auto_commit=False, auto_offset_reset="earliest",
                max_partition_fetch_bytes=max(kafka.message_size + 4096, 1048576),
                fetch_max_bytes=max(kafka.message_size + 4096, 52428800),
                request_timeout_ms=_REQUEST_TIMEOUT_MS + 5000,
                bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS,
                **security_options(kafka),
            )
        except ClientError as exc:
            raise _unreachable(kafka, exc) from None
        available = self._wait_for_partition(topic, partition, wait_for_topic_s, stopping)
        if not available:
            self._consumer.close()
            waited = f" (waited {wait_for_topic_s:.0f} s)" if wait_for_topic_s else ""
            raise KafkaError(f"topic '{topic}' does not exist on {kafka.bootstrap}{waited}")
        if partition not in available:
            self._consumer.close()
            raise KafkaError(f"topic '{topic}' has no partition {partition} "
                             f"(partitions 0-{max(available)})")
        self._consumer.assign([self._tp])

    def _wait_for_partition(self, topic: str, partition: int, seconds: float | None,
                            stopping) -> set[int] | None:
        """A worker may start before its master has created the topic, or grown it to this
        worker's partition (a start with more workers): it waits, saying so every 30 s."""
        import time

        from kafka.errors import KafkaError as ClientError

        deadline = None if seconds is None else time.monotonic() + seconds
        said = None
        while True:
            try:
                available = self._consumer.partitions_for_topic(topic)
            except ClientError as exc:   # a broker of the cluster down: ask another
                if not getattr(exc, "retriable", False):
                    raise KafkaError(f"topic '{topic}': {exc}") from None
                available = None
            if (available and partition in available) or \
                    (deadline is not None and time.monotonic() >= deadline) or \
                    (stopping is not None and stopping.is_set()):
                return available
            if said is None or time.monotonic() - said >= 30:
                said = time.monotonic()
                log.info("waiting for topic %s to %s partition %d (its master creates it: "
                         "master_collector.py -w %d or more)", topic,
                         "have a" if available else "be created with", partition,
                         partition + 1)
            if stopping is not None:
                stopping.wait(1)
            else:
                time.sleep(1)
            try:
                self._consumer.topics()  # refreshes metadata
            except ClientError as exc:
                if not getattr(exc, "retriable", False):
                    raise KafkaError(f"topic '{topic}': {exc}") from None

    def poll(self, timeout_ms: int = 1000, max_records: int | None = None) -> list[Message]:
        """The next messages; none while the broker answers with a retriable error (a broker
        of the cluster killed: the client's connection to it is refused until the partition
        has a new leader), which is logged once per outage, not raised."""
        import time

        from kafka.errors import KafkaError as ClientError

        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except ClientError as exc:
            if not getattr(exc, "retriable", False):
                raise KafkaError(f"reading {self.topic}[{self.partition}]: {exc}") from None
            if not self._outage:
                log.warning("reading %s[%d]: %s; polling again", self.topic, self.partition,
                            exc)
            self._outage = True
            time.sleep(timeout_ms / 1000)
            return []
        if self._outage:
            log.info("reading %s[%d] again", self.topic, self.partition)
        self._outage = False
        return [Message(r.partition, r.offset, r.key, r.value)
                for r in batches.get(self._tp, [])]

    def seek(self, offset: int) -> None:
        self._consumer.seek(self._tp, offset)

    def commit(self, offset: int, metadata: str = "") -> None:
        """Records that every message up to and including `offset` is done; `metadata` says
        who did it and when (ingest_status reads it)."""
        from kafka.errors import KafkaError as ClientError
        from kafka.structs import OffsetAndMetadata

        try:
            self._consumer.commit({self._tp: OffsetAndMetadata(offset + 1, metadata, -1)},
                                  timeout_ms=COMMIT_TIMEOUT_MS)
        except ClientError as exc:
            raise KafkaError(f"commit of {self.topic}[{self.partition}]@{offset} failed: "
                             f"{exc}") from None

    def highwater(self) -> int | None:
        """The partition's end offset as of the last fetch (None before the first)."""
        return self._consumer.highwater(self._tp)

    def position(self, timeout_ms: int = 5000, wait_s: float = 120) -> int:
        """The offset of the next message this consumer will read. It comes from the group's
        committed offset: a cluster that has just started may have no group coordinator yet
        (the client then answers None), so this asks again for up to wait_s seconds."""
        import time

        from kafka.errors import KafkaError as ClientError

        deadline = time.monotonic() + wait_s
        said = False
        while True:
            try:
                position = self._consumer.position(self._tp, timeout_ms=timeout_ms)
            except ClientError as exc:
                if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                    raise KafkaError(f"position of {self.topic}[{self.partition}]: "
                                     f"{exc}") from None
                position = None
            if position is not None:
                return position
            if time.monotonic() > deadline:
                raise KafkaError(f"position of {self.topic}[{self.partition}]: no answer from "
                                 f"the group coordinator of {self.topic} in {wait_s:.0f} s")
            if not said:
                log.info("%s[%d]: waiting for the group coordinator (a cluster just started "
                         "elects one)", self.topic, self.partition)
                said = True

    def committed(self) -> int | None:
        return self._consumer.committed(self._tp)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class PartitionTail:
    """Looks at the end of a topic's partitions without a group and without committing:
    where each ends, and whether a message with a given key arrived after an offset (what a
    restarted master asks about a send it never heard back from). read_committed: only
    committed transactions count (the end is the last stable offset)."""

    def __init__(self, kafka: KafkaSettings, topic: str, read_committed: bool = False):
        self.kafka, self.topic = kafka, topic
        self.isolation = "read_committed" if read_committed else "read_uncommitted"
        self._consumer = None

    def _connect(self):
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError as ClientError

        if self._consumer is None:
            try:
                self._consumer = KafkaConsumer(
                    bootstrap_servers=self.kafka.bootstrap, client_id="spot-ingest-tail",
                    group_id=None, enable_auto_commit=False, isolation_level=self.isolation,
                    max_partition_fetch_bytes=max(self.kafka.message_size + 4096, 1048576),
                    request_timeout_ms=_REQUEST_TIMEOUT_MS + 5000,
                    bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS,
                    **security_options(self.kafka))
            except ClientError as exc:
                raise _unreachable(self.kafka, exc) from None
        return self._consumer

    def end_offset(self, partition: int) -> int:
        from kafka import TopicPartition
        from kafka.errors import KafkaError as ClientError

        tp = TopicPartition(self.topic, partition)
        try:
            return self._connect().end_offsets([tp])[tp]
        except ClientError as exc:
            raise KafkaError(f"cannot read the end of {self.topic}[{partition}]: {exc}") from None

    def has_key(self, partition: int, from_offset: int, key: bytes) -> bool:
        """Whether a message with `key` is in the partition at or after from_offset."""
        from kafka import TopicPartition
        from kafka.errors import KafkaError as ClientError

        import time

        tp = TopicPartition(self.topic, partition)
        end = self.end_offset(partition)
        consumer = self._connect()
        deadline = time.monotonic() + _REQUEST_TIMEOUT_MS / 1000
        try:
            consumer.assign([tp])
            consumer.seek(tp, from_offset)
            position = from_offset
            while position < end:
                if time.monotonic() > deadline:
                    raise KafkaError(f"cannot read {self.topic}[{partition}] from offset "
                                     f"{position} to {end}")
                for record in consumer.poll(timeout_ms=1000).get(tp, []):
                    if record.key == key:
                        return True
                # past records, aborted ones and transaction markers alike
                position = consumer.position(tp)
        except ClientError as exc:
            raise KafkaError(f"cannot read {self.topic}[{partition}]: {exc}") from None
        return False

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
