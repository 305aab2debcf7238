"""What an operator asks of a running pipeline: is it keeping up, what failed, where is my
data. Everything here reads (Kafka offsets, folders, Parquet footers, the metastore) and
changes nothing."""
from __future__ import annotations

import json
import os
import posixpath
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.catalog import Catalog
from common.config import IngestConfig, PipelineConfig
from common.errors import KafkaError, SpotIngestError
from common.folder_lock import read_holder
from common.layout import checkpoint_dir, quarantine_dir
from common.storage import Storage
from common.table_status import TableStatus, table_status

ACTIVE_WITHIN_S = 45          # a worker (or the proxy job) re-commits at least every 15 s


class ServiceDown(SpotIngestError):
    """A service the status needs does not answer (exit code 2)."""


def _kafka_down(config: IngestConfig, exc: KafkaError) -> ServiceDown:
    if str(exc).startswith("cannot reach Kafka"):
        return ServiceDown(f"Kafka does not answer at {config.kafka.bootstrap}")
    return ServiceDown(f"Kafka at {config.kafka.bootstrap} did not answer: {exc}")


@dataclass
class PartitionStatus:
    partition: int
    end_offset: int
    committed: int | None
    lag: int
    active: bool
    last_seen_seconds: float | None = None
    worker: str | None = None
    metrics: str | None = None          # host:port of the worker's Prometheus endpoint


@dataclass
class TopicStatus:
    topic: str
    partitions: list[PartitionStatus]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


@dataclass
class SetAside:
    name: str
    reason: str


@dataclass
class FolderStatus:
    path: str
    waiting: int
    oldest_age_seconds: float | None
    set_aside: list[SetAside] = field(default_factory=list)
    master: dict | None = None          # what the folder's lock says of the master holding it
    here: bool = True                   # False: no such folder on this host (the collector
                                        # host is another one)


@dataclass
class PipelineStatus:
    pipeline: str
    type: str
    topics: list[TopicStatus]
    collector: FolderStatus | None
    quarantine: list[SetAside]
    tables: list[TableStatus]
    rejected_lines: int | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        for topic, data in zip(self.topics, out["topics"]):
            data["lag"] = topic.lag
        return out


# ------------------------------------------------------------------ Kafka

def pipeline_topics(config: IngestConfig, pipeline: PipelineConfig,
                    storage: Storage) -> list[str]:
    """The pipeline's topic (when it exists), then the topics an earlier version made for it
    (SPOT-INGEST-<pipeline>_HH_MM_SS_micro, matched exactly) for this installation that still
    hold unread messages, oldest first by the time of their first message."""
    from common.kafka_admin import list_topics
    from common.topics import legacy_unread

    try:
        names = list_topics(config.kafka)
        own = config.topic_of(pipeline.name)
        old = sorted(legacy_unread(config, pipeline, storage),
                     key=lambda t: _first_message_time(config, t))
    except KafkaError as exc:
        raise _kafka_down(config, exc) from None
    return ([own] if own in names else []) + old


def _first_message_time(config: IngestConfig, topic: str) -> float:
    """When a topic's oldest kept message was written (0 when it holds none): its names give
    only a time of day, this orders topics of different days."""
    from kafka import KafkaConsumer, TopicPartition

    from common.kafka_io import security_options

    consumer = KafkaConsumer(bootstrap_servers=config.kafka.bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=5000,
                             **security_options(config.kafka))
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        stamps = [r.timestamp for batch in consumer.poll(timeout_ms=5000).values()
                  for r in batch[:1]]
        return min(stamps) / 1000 if stamps else 0.0
    finally:
        consumer.close()


def topic_status(config: IngestConfig, topic: str, now: float | None = None,
                 pipeline: PipelineConfig | None = None,
                 storage: Storage | None = None) -> TopicStatus:
    """Per partition: end offset, the offset its worker committed (group = topic), the lag,
    and whether a worker committed (or re-committed) recently. A proxy topic whose job never
    committed to the group (an earlier version's job) is read at its checkpoint's position."""
    from common.kafka_admin import topic_offsets

    now = time.time() if now is None else now
    try:
        offsets = topic_offsets(config.kafka, topic)
    except KafkaError as exc:
        raise _kafka_down(config, exc) from None
    if offsets is None:
        raise ServiceDown(f"topic '{topic}' does not exist on {config.kafka.bootstrap}")
    fallback = _checkpoint_position(config, pipeline, storage, topic) \
        if pipeline is not None and pipeline.type == "proxy" and storage is not None and \
        all(p.committed is None for p in offsets) else {}
    out = []
    for p in offsets:
        done = p.committed if p.committed is not None else fallback.get(p.partition)
        seen, worker, address = _who(p.metadata, now)
        out.append(PartitionStatus(p.partition, p.end, done, max(0, p.end - (done or 0)),
                                   seen is not None and seen <= ACTIVE_WITHIN_S, seen, worker,
                                   address))
    return TopicStatus(topic, out)


def _checkpoint_position(config: IngestConfig, pipeline: PipelineConfig, storage: Storage,
                         topic: str) -> dict[int, int]:
    from common.topics import processed_offsets

    checkpoint = checkpoint_dir(config.hdfs_app_path, pipeline.name, pipeline.checkpoint_path,
                                topic)
    return processed_offsets(storage, checkpoint, topic) or {}


def _who(metadata: str, now: float) -> tuple[float | None, str | None, str | None]:
    """(seconds since the last commit, "worker N on host (pid P)", its metrics address)
    from commit metadata (common.worker.commit_metadata)."""
    try:
        data = json.loads(metadata)
        return max(0.0, now - float(data["at"])), \
            f"worker {data['worker']} on {data['host']} (pid {data['pid']})", data.get("metrics")
    except (ValueError, KeyError, TypeError):
        return None, None, None


# ------------------------------------------------------------------ folders

def folder_status(folder: Path, accepts, now: float | None = None) -> FolderStatus:
    """Files waiting in a collector folder (what its master would take), what it set aside
    in .quarantine/ with the reasons, and the master holding it."""
    now = time.time() if now is None else now
    waiting, oldest = 0, None
    if folder.is_dir():
        for path, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith(".") or not accepts(name):
                    continue
                try:
                    age = now - os.stat(os.path.join(path, name)).st_mtime
                except OSError:
                    continue
                waiting += 1
                oldest = age if oldest is None else max(oldest, age)
    aside = []
    quarantine = folder / ".quarantine"
    if quarantine.is_dir():
        for reason in sorted(quarantine.glob("*.reason")):
            aside.append(SetAside(reason.name[:-len(".reason")],
                                  reason.read_text(errors="replace").strip()))
    return FolderStatus(str(folder), waiting, oldest, aside, read_holder(folder),
                        folder.is_dir())


def quarantined(storage: Storage, config: IngestConfig, pipeline: PipelineConfig) -> list[SetAside]:
    folder = quarantine_dir(config.hdfs_app_path, pipeline.type, pipeline.name)
    out = []
    for path in storage.files_under(folder):
        if path.endswith(".reason"):
            text = storage.read_range(path, 0, 4096).decode("utf-8", "replace").strip()
            out.append(SetAside(posixpath.basename(path)[:-len(".reason")], text))
    return out


_counted: dict[tuple[str, int], int] = {}     # (path, size) -> lines: each file read once


def rejected_lines(storage: Storage, config: IngestConfig, pipeline: PipelineConfig) -> int:
    """Proxy lines the job could not parse (JSON lines under <app>/proxy/rejected/<name>/).
    The job writes each file once (a replayed batch replaces its own, size and all), so a
    file already counted is not read again: a --watch refresh reads only the new ones."""
    folder = posixpath.join(config.hdfs_app_path, "proxy", "rejected", pipeline.name)
    total = 0
    for path in storage.files_under(folder):
        if posixpath.basename(path).startswith((".", "_")):
            continue
        size = storage.size(path)
        if (path, size) not in _counted:
            _counted[(path, size)] = storage.read_range(path, 0, size).count(b"\n") if size else 0
        total += _counted[(path, size)]
    return total


# ------------------------------------------------------------------ all of it

def pipeline_status(config: IngestConfig, pipeline: PipelineConfig, storage: Storage,
                    topics: list[str]) -> PipelineStatus:
    """All of it for one pipeline; ServiceDown names the service that does not answer."""
    from common.errors import CatalogError, StorageError
    from common.plugin import load

    accepts = load(pipeline.type, "collector")(config, pipeline).accepts
    topic_states = [topic_status(config, t, pipeline=pipeline, storage=storage) for t in topics]
    try:
        with Catalog(config.hive.metastore_uris, timeout_s=10) as catalog:
            tables = [table_status(config, storage, catalog, pipeline.type)]
    except CatalogError as exc:
        raise ServiceDown(f"the Hive Metastore does not answer ({exc})") from None
    except StorageError as exc:
        raise ServiceDown(f"the storage does not answer ({exc})") from None
    try:
        aside = quarantined(storage, config, pipeline)
        rejected = rejected_lines(storage, config, pipeline) if pipeline.type == "proxy" else None
    except StorageError as exc:
        raise ServiceDown(f"the storage does not answer ({exc})") from None
    return PipelineStatus(pipeline.name, pipeline.type, topic_states,
                          folder_status(pipeline.collector_path, accepts), aside, tables,
                          rejected)


def topic_only_status(config: IngestConfig, topic: str) -> PipelineStatus:
    """`ingest_status.py --topic T` for a topic no configured pipeline owns: its partitions."""
    return PipelineStatus("-", "-", [topic_status(config, topic)], None, [], [])


def pipeline_of_topic(config: IngestConfig, topic: str) -> PipelineConfig | None:
    """The configured pipeline a topic belongs to: its own topic, or one an earlier version
    made for it."""
    from common.topics import legacy_pattern

    for name, pipeline in config.pipelines.items():
        if config.topic_of(name) == topic or legacy_pattern(name).fullmatch(topic):
            return pipeline
    return None
