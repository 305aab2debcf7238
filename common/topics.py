"""A pipeline's topic over the life of an installation.

One durable topic per pipeline configuration (IngestConfig.topic_of): the first start
creates it, every later start reuses it, so the workers resume from the offsets their
partitions committed and nothing published before a stop is left behind.

How a start with W workers fits the topic it finds (fit_workers):
- fewer partitions than W: the topic grows to W (Kafka adds partitions; none is removed);
- more partitions than W: flow and dns, whose workers each read one partition, refuse while
  a partition beyond the first W still holds unread messages (no worker would read them),
  and otherwise publish over the first W; proxy publishes over all of them (its one job reads
  every partition).

The earlier version made a new topic on every start (SPOT-INGEST-<pipeline>_HH_MM_SS_micro)
and left its unread messages behind. They are not forgotten:
- flow and dns: each unread message names a stored binary; it is published again to the
  durable topic, then the old topic's group commits its end (drain_legacy). A binary loaded
  twice replaces its own rows, so a drain repeated after a crash doubles nothing. Messages of
  another installation (their binaries are not under this one's hdfs_app_path) are left.
- proxy: the job kept its place in a checkpoint per topic, which only that job can resume
  exactly; a start is refused, naming the command that drains the old topic
  (refuse_unread_legacy_proxy).
"""
from __future__ import annotations

import json
import logging
import posixpath
import re
from dataclasses import dataclass, replace

from common.config import IngestConfig, PipelineConfig
from common.errors import ConfigError
from common.kafka_admin import (PartitionOffsets, TopicShape, ensure_topic, list_topics,
                                topic_offsets, topics_offsets)
from common.layout import checkpoint_dir
from common.messages import BadMessage, FileMessage, confined_partition
from common.storage import Storage

log = logging.getLogger(__name__)


def legacy_pattern(pipeline: str) -> re.Pattern:
    """The names the earlier version gave a pipeline's topics, one per start."""
    return re.compile(rf"SPOT-INGEST-{re.escape(pipeline)}_\d{{2}}_\d{{2}}_\d{{2}}_\d{{6}}")


def legacy_topics(names: list[str], pipeline: str) -> list[str]:
    pattern = legacy_pattern(pipeline)
    return sorted(n for n in names if pattern.fullmatch(n))


# ------------------------------------------------------------------ workers and partitions

@dataclass(frozen=True)
class TopicPlan:
    topic: str
    shape: TopicShape
    publish_over: int          # the partitions the master publishes to, round robin

    def describe(self) -> str:
        how = "created" if self.shape.created else \
            f"grown from {self.shape.before}" if self.shape.grown else "reused"
        return f"topic {self.topic} ({how}, {self.shape.partitions} partitions)"


def fit_workers(kind: str, topic: str, offsets: list[PartitionOffsets], workers: int) -> int:
    """The partitions to publish over when `workers` workers serve a topic whose partitions
    are `offsets` (already grown to at least `workers`); ConfigError when some unread
    messages would never be read."""
    if kind == "proxy" or len(offsets) <= workers:
        return len(offsets) if kind == "proxy" else workers
    beyond = [p for p in offsets[workers:] if p.unread]
    if beyond:
        unread = sum(p.unread for p in beyond)
        first, last = beyond[0].partition, beyond[-1].partition
        where = f"partition {first}" if first == last else f"partitions {first}-{last}"
        raise ConfigError(
            f"topic {topic} has {len(offsets)} partitions and {where} still hold(s) {unread} "
            f"unread message(s) that {workers} worker(s) would never read: start with -w "
            f"{len(offsets)} until they are read (ingest_status.py shows the lag), then with "
            f"-w {workers}")
    return workers


def prepare_topic(config: IngestConfig, pipeline: PipelineConfig, topic: str,
                  workers: int) -> TopicPlan:
    """Creates or grows the topic, then fits the workers to it (see fit_workers)."""
    shape = ensure_topic(config.kafka, topic, workers)
    offsets = topic_offsets(config.kafka, topic) or []
    return TopicPlan(topic, shape, fit_workers(pipeline.type, topic, offsets, workers))


# ------------------------------------------------------------------ the earlier version's topics

@dataclass
class Drained:
    topic: str
    republished: int = 0       # messages published again to the durable topic
    gone: int = 0              # binaries no longer stored (quarantined, removed): nothing to do
    foreign: int = 0           # messages of another installation: left where they are

    @property
    def committed(self) -> bool:
        return self.foreign == 0


def drain_legacy(config: IngestConfig, pipeline: PipelineConfig, into: str, partitions: int,
                 storage: Storage) -> list[Drained]:
    """Publishes the unread messages of the pipeline's earlier-version topics again to `into`
    (flow, dns), then commits their end in the old topic's group. Returns what was done."""
    from common.kafka_io import PartitionConsumer, Publisher

    out = []
    for old, offsets in legacy_unread(config, pipeline, storage).items():
        report, publisher = Drained(old), Publisher(config.kafka, into)
        try:
            for part in (p for p in offsets if p.unread):
                consumer = PartitionConsumer(config.kafka, old, part.partition)
                try:
                    _drain_partition(consumer, part, config, pipeline, storage, publisher,
                                     part.partition % partitions, report)
                finally:
                    consumer.close()
        finally:
            publisher.close()
        if report.foreign:
            log.warning("%s: topic %s (made by an earlier version) holds %d message(s) of "
                        "another installation (not under %s): left as they are",
                        pipeline.name, old, report.foreign, config.hdfs_app_path)
        log.info("%s: topic %s (made by an earlier version): %d unread message(s) published "
                 "again to %s, %d whose binary is no longer stored%s", pipeline.name, old,
                 report.republished, into, report.gone,
                 "" if report.committed else ", not committed (foreign messages)")
        out.append(report)
    return out


def _drain_partition(consumer, part: PartitionOffsets, config: IngestConfig,
                     pipeline: PipelineConfig, storage: Storage, publisher, target: int,
                     report: Drained) -> None:
    while consumer.position() < part.end:
        for message in consumer.poll(timeout_ms=1000):
            if message.offset >= part.end:
                break
            if not _ours(message.value, config, pipeline):
                report.foreign += 1
            elif not storage.exists(FileMessage.decode(message.value).path):
                report.gone += 1
            else:
                publisher.send(message.value, partition=target, key=message.key)
                report.republished += 1
    if not report.foreign:
        consumer.commit(part.end - 1, json.dumps({"drained_into": pipeline.name}))


def _ours(raw: bytes | None, config: IngestConfig, pipeline: PipelineConfig) -> bool:
    """A file message of this pipeline naming a binary under this installation's storage."""
    try:
        message = FileMessage.decode(raw)
        if message.pipeline != pipeline.name:
            return False
        confined_partition(message.path, config.hdfs_app_path, pipeline.type, pipeline.name)
        return True
    except BadMessage:
        return False


def legacy_unread(config: IngestConfig, pipeline: PipelineConfig,
                  storage: Storage) -> dict[str, list[PartitionOffsets]]:
    """The pipeline's earlier-version topics of this installation that still hold unread
    messages, with their partitions (for proxy, read at the job's checkpoint: that job never
    committed to the group). On a Kafka shared by several installations, the others' are
    not this one's: a flow or dns topic is this one's when its last message names a binary
    under this hdfs_app_path; a proxy topic when this installation's storage holds a
    checkpoint of it. All offsets come in three requests, however many such topics."""
    names = legacy_topics(list_topics(config.kafka), pipeline.name)
    out = {}
    for old, parts in topics_offsets(config.kafka, names).items():
        if pipeline.type == "proxy":
            checkpoint = checkpoint_dir(config.hdfs_app_path, pipeline.name,
                                        pipeline.checkpoint_path, old)
            done = processed_offsets(storage, checkpoint, old)
            if done is None:
                continue
            parts = [p if p.committed is not None else
                     replace(p, committed=done.get(p.partition, 0)) for p in parts]
        if not any(p.unread for p in parts):
            continue
        if pipeline.type != "proxy" and not _last_message_ours(config, pipeline, old, parts):
            continue
        out[old] = parts
    return out


def _last_message_ours(config: IngestConfig, pipeline: PipelineConfig, topic: str,
                       parts: list[PartitionOffsets]) -> bool:
    from common.kafka_io import PartitionConsumer

    for part in parts:
        if part.end == 0:
            continue
        consumer = PartitionConsumer(config.kafka, topic, part.partition)
        try:
            consumer.seek(part.end - 1)
            for _ in range(10):
                got = consumer.poll(timeout_ms=1000, max_records=1)
                if got:
                    return _ours(got[0].value, config, pipeline)
        finally:
            consumer.close()
    return False


def processed_offsets(storage: Storage, checkpoint: str, topic: str) -> dict[int, int] | None:
    """The offsets of `topic` that a proxy job's checkpoint has committed (the end of its
    last committed batch), by partition; None when there is no checkpoint there."""
    path = _storage_path(checkpoint)
    commits = _batch_ids(storage, posixpath.join(path, "commits"))
    if not commits:
        return None if not storage.exists(path) else {}
    batch = max(commits)
    text = storage.read_range(posixpath.join(path, "offsets", str(batch)), 0, 1 << 20)
    lines = [ln for ln in text.decode("utf-8", "replace").splitlines() if ln.strip()]
    for line in lines[2:]:                      # "v1", the batch's metadata, then the sources
        try:
            sources = json.loads(line)
        except ValueError:
            continue
        if isinstance(sources, dict) and topic in sources:
            return {int(p): int(o) for p, o in sources[topic].items()}
    return {}


def _batch_ids(storage: Storage, folder: str) -> list[int]:
    if not storage.exists(folder):
        return []
    return [int(n) for n in storage.list(folder) if n.isdigit()]


def _storage_path(uri: str) -> str:
    """A checkpoint URI as a path of the configured storage (file:///x, hdfs://nn:8020/x)."""
    match = re.match(r"^[a-z][a-z0-9+.\-]*://[^/]*(/.*)$", uri)
    return match.group(1) if match else uri


def refuse_unread_legacy_proxy(config: IngestConfig, pipeline: PipelineConfig,
                               storage: Storage) -> None:
    left = [(t, sum(p.unread for p in parts))
            for t, parts in legacy_unread(config, pipeline, storage).items()]
    if left:
        old, unread = left[0]
        more = f" (and {len(left) - 1} more such topic(s))" if len(left) > 1 else ""
        raise ConfigError(
            f"topic {old}, made by an earlier version, holds {unread} message(s) its proxy "
            f"job has not read{more}: drain it first with `python worker.py -t "
            f"{pipeline.name} -i 0 --topic {old}` and stop that job once `python "
            f"ingest_status.py -t {pipeline.name} --topic {old}` shows lag 0")
