"""Gives back what the workers set aside: a quarantined binary (flow, dns) is put back where
it was stored and published again to its pipeline's topic, so a file quarantined for a
reason a later version removes (a 4-byte ASN, say) loads without hand work.

A quarantined binary is <src>/quarantine/<pipeline>/<stored> with <stored>.reason beside it,
which reads `<collected name> (<stored path>): <reason>` (the worker's words, this version's
and the earlier ones'). For each one chosen:
1. the binary is renamed back to its stored path (a republish interrupted after this step
   finds it there, and goes on);
2. its file message is published to the topic (acks=all), round robin over the partitions;
3. only then is the .reason removed.
A binary loaded twice replaces its own rows (its output names derive from its stored name),
so a republish repeated, or of a file that had loaded before, doubles nothing.
"""
from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from common.config import IngestConfig, PipelineConfig
from common.errors import ConfigError
from common.layout import HourPartition, binary_root, quarantine_dir
from common.messages import FileMessage
from common.storage import Storage


@dataclass(frozen=True)
class Quarantined:
    name: str              # as collected (relative to collector_path)
    stored_path: str       # where it was stored, and goes back to
    reason: str
    hour: HourPartition
    quarantined_at: str    # <quarantine>/<stored>
    reason_file: str

    @property
    def stored(self) -> str:
        return posixpath.basename(self.stored_path)


def parse_reason(text: str, app_path: str, pipeline: PipelineConfig,
                 stored: str) -> tuple[str, str, HourPartition, str] | None:
    """(name, stored path, hour, reason) from a .reason file's text; None when it is not
    one a worker wrote for this stored name."""
    root = binary_root(app_path, pipeline.type)
    match = re.search(rf" \(({re.escape(root)}/(\d{{8}})/(\d{{2}})/{re.escape(pipeline.name)}/"
                      rf"{re.escape(stored)})\): ", text)
    if not match:
        return None
    day, hour = match.group(2), match.group(3)
    when = HourPartition(int(day[:4]), int(day[4:6]), int(day[6:]), int(hour))
    return text[:match.start()], match.group(1), when, text[match.end():].strip()


def quarantined(config: IngestConfig, pipeline: PipelineConfig,
                storage: Storage) -> Iterator[Quarantined]:
    folder = quarantine_dir(config.hdfs_app_path, pipeline.type, pipeline.name)
    for reason_file in storage.files_under(folder):
        if not reason_file.endswith(".reason"):
            continue
        stored = posixpath.basename(reason_file)[:-len(".reason")]
        text = storage.read_range(reason_file, 0, 1 << 16).decode("utf-8", "surrogateescape")
        parsed = parse_reason(text, config.hdfs_app_path, pipeline, stored)
        if parsed is not None:
            name, path, hour, reason = parsed
            yield Quarantined(name, path, reason, hour, posixpath.join(folder, stored),
                              reason_file)


def parse_hour(text: str) -> HourPartition:
    """YYYY-MM-DDTHH (or a date: its first hour)."""
    for shape in ("%Y-%m-%dT%H", "%Y-%m-%d"):
        try:
            return HourPartition.of(datetime.strptime(text, shape))
        except ValueError:
            continue
    raise ConfigError(f"expected an hour as YYYY-MM-DDTHH (or a day YYYY-MM-DD), got {text!r}")


@dataclass(frozen=True)
class Choice:
    """Which quarantined binaries: all of them, or those matching every criterion given."""
    names: tuple[str, ...] = ()                 # glob patterns on the name or stored name
    since: HourPartition | None = None
    until: HourPartition | None = None

    def __call__(self, item: Quarantined) -> bool:
        if self.names and not any(fnmatch.fnmatchcase(item.name, p) or
                                  fnmatch.fnmatchcase(item.stored, p) for p in self.names):
            return False
        if self.since is not None and item.hour < self.since:
            return False
        return self.until is None or item.hour <= self.until


@dataclass
class Outcome:
    item: Quarantined
    partition: int | None = None
    offset: int | None = None
    missing: bool = False          # neither in quarantine nor where it was stored


def republish(config: IngestConfig, pipeline: PipelineConfig, storage: Storage, topic: str,
              choose: Choice, dry_run: bool = False) -> list[Outcome]:
    from common.kafka_admin import topic_partitions
    from common.kafka_io import Publisher

    if pipeline.type == "proxy":
        raise ConfigError(f"{pipeline.name}: a proxy pipeline keeps no binaries; the lines "
                          "its master set aside are in <collector_path>/.quarantine/")
    chosen = [q for q in quarantined(config, pipeline, storage) if choose(q)]
    partitions = topic_partitions(config.kafka, topic)
    if partitions is None:
        raise ConfigError(f"topic {topic} does not exist (start the pipeline's master once: "
                          "it creates it)")
    out = [Outcome(q, n % partitions) for n, q in enumerate(chosen)]
    if dry_run:
        for o in out:
            o.missing = not (storage.exists(o.item.quarantined_at) or
                             storage.exists(o.item.stored_path))
        return out
    publisher = Publisher(config.kafka, topic)
    try:
        for o in out:
            q = o.item
            if storage.exists(q.quarantined_at):
                storage.rename(q.quarantined_at, q.stored_path)
            elif not storage.exists(q.stored_path):
                o.missing = True
                continue
            message = FileMessage(pipeline.name, q.name, q.stored_path,
                                  storage.size(q.stored_path))
            o.offset = publisher.send(message.encode(), partition=o.partition,
                                      key=q.stored.encode())
            storage.delete(q.reason_file)
    finally:
        publisher.close()
    return out
