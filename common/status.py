"""What an operator asks of a running pipeline: is it keeping up, what failed, where is my
data. Everything here reads (Kafka offsets, folders, Parquet footers, the metastore) and
changes nothing."""
from __future__ import annotations

import json
import os
import posixpath
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.catalog import Catalog
from common.config import IngestConfig, PipelineConfig
from common.errors import KafkaError, SpotIngestError
from common.layout import quarantine_dir, table_root
from common.schemas import TABLES
from common.storage import Storage

ACTIVE_WITHIN_S = 45          # a worker commits or re-commits at least every 15 s
NEWEST_PARTITIONS = 3


class ServiceDown(SpotIngestError):
    """A service the status needs does not answer (exit code 2)."""


@dataclass
class PartitionStatus:
    partition: int
    end_offset: int
    committed: int | None
    lag: int
    active: bool
    last_seen_seconds: float | None = None
    worker: str | None = None


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


@dataclass
class PartitionRows:
    values: list[str]
    location: str
    files: int
    rows: int
    newest: str | None


@dataclass
class TableStatus:
    table: str
    partitions: int
    newest: list[PartitionRows]


@dataclass
class PipelineStatus:
    pipeline: str
    type: str
    topics: list[TopicStatus]
    collector: FolderStatus
    quarantine: list[SetAside]
    tables: list[TableStatus]
    rejected_lines: int | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        for topic, data in zip(self.topics, out["topics"]):
            data["lag"] = topic.lag
        return out


# ------------------------------------------------------------------ Kafka

def pipeline_topics(config: IngestConfig, pipeline: str) -> list[str]:
    """Topics named after the pipeline (SPOT-INGEST-<pipeline>_...), newest name last."""
    admin = _admin(config)
    try:
        names = admin.list_topics()
    finally:
        admin.close()
    return sorted(t for t in names if t.startswith(f"SPOT-INGEST-{pipeline}_"))


def _admin(config: IngestConfig):
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError as ClientError

    from common.kafka_io import security_options

    try:
        return KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap,
                                client_id="spot-ingest-status", request_timeout_ms=10000,
                                bootstrap_timeout_ms=5000, **security_options(config.kafka))
    except ClientError:
        raise ServiceDown(f"Kafka does not answer at {config.kafka.bootstrap}") from None


def topic_status(config: IngestConfig, topic: str, now: float | None = None) -> TopicStatus:
    """Per partition: end offset, the offset its worker committed (group = topic), the lag,
    and whether a worker committed (or re-committed while idle) recently."""
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec
    from kafka.errors import KafkaError as ClientError

    now = time.time() if now is None else now
    admin = _admin(config)
    try:
        described = admin.describe_topics([topic])
        parts = sorted(p.get("partition_index", p.get("partition")) for e in described if e.get("topic", e.get("name")) == topic
                       and e.get("error_code", 0) == 0 for p in e.get("partitions") or [])
        if not parts:
            raise KafkaError(f"topic '{topic}' does not exist on {config.kafka.bootstrap}")
        tps = [TopicPartition(topic, p) for p in parts]
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        committed = admin.list_group_offsets({topic: tps}).get(topic, {})
    except ClientError as exc:
        raise ServiceDown(f"Kafka at {config.kafka.bootstrap} did not answer: {exc}") from None
    finally:
        admin.close()
    out = []
    for tp in tps:
        end = _offset_of(ends[tp])
        mine = committed.get(tp)
        done = mine.offset if mine is not None and mine.offset >= 0 else None
        seen, worker = _who(mine.metadata if mine is not None else "", now)
        out.append(PartitionStatus(tp.partition, end, done, end - (done or 0),
                                   seen is not None and seen <= ACTIVE_WITHIN_S, seen, worker))
    return TopicStatus(topic, out)


def _offset_of(result) -> int:
    return result.offset if hasattr(result, "offset") else int(result)


def _who(metadata: str, now: float) -> tuple[float | None, str | None]:
    """(seconds since the last commit, "worker N on host pid P") from commit metadata."""
    try:
        data = json.loads(metadata)
        return max(0.0, now - float(data["at"])), \
            f"worker {data['worker']} on {data['host']} (pid {data['pid']})"
    except (ValueError, KeyError, TypeError):
        return None, None


# ------------------------------------------------------------------ folders

def folder_status(folder: Path, accepts, now: float | None = None) -> FolderStatus:
    """Files waiting in a collector folder (what its master would take) and what it set
    aside in .quarantine/ with the reasons."""
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
    return FolderStatus(str(folder), waiting, oldest, aside)


def quarantined(storage: Storage, config: IngestConfig, pipeline: PipelineConfig) -> list[SetAside]:
    folder = quarantine_dir(config.hdfs_app_path, pipeline.type, pipeline.name)
    out = []
    for path in storage.files_under(folder):
        if path.endswith(".reason"):
            text = storage.read_range(path, 0, 4096).decode("utf-8", "replace").strip()
            out.append(SetAside(posixpath.basename(path)[:-len(".reason")], text))
    return out


def rejected_lines(storage: Storage, config: IngestConfig, pipeline: PipelineConfig) -> int:
    """Proxy lines the job could not parse (JSON lines under <app>/proxy/rejected/<name>/)."""
    folder = posixpath.join(config.hdfs_app_path, "proxy", "rejected", pipeline.name)
    total = 0
    for path in storage.files_under(folder):
        if posixpath.basename(path).startswith((".", "_")):
            continue
        size = storage.size(path)
        total += storage.read_range(path, 0, size).count(b"\n") if size else 0
    return total


# ------------------------------------------------------------------ tables

def parquet_footer(storage: Storage, path: str):
    """A Parquet file's metadata from its footer alone (two small reads, not the file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tail = storage.read_range(path, -8, 8)
    if len(tail) != 8 or tail[4:] != b"PAR1":
        raise ValueError(f"{path} is not a Parquet file")
    length = struct.unpack("<I", tail[:4])[0]
    footer = storage.read_range(path, -(length + 8), length + 8)
    return pq.read_metadata(pa.BufferReader(b"PAR1" + footer))


NEWEST_COLUMNS = {"flow": ("unix_tstamp",), "dns": ("unix_tstamp",),
                  "proxy": ("p_date", "p_time")}


def _newest(metadata, table: str) -> str | None:
    """The newest row's time from the column statistics (no data read)."""
    columns = NEWEST_COLUMNS[table]
    best = None
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        values = []
        for i in range(group.num_columns):
            column = group.column(i)
            if column.path_in_schema in columns and column.statistics is not None and \
                    column.statistics.has_min_max:
                values.append(column.statistics.max)
        if len(values) == len(columns):
            value = values[0] if len(values) == 1 else " ".join(map(str, values))
            best = value if best is None or value > best else best
    if best is None:
        return None
    if isinstance(best, int):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(best))
    return str(best)


def table_status(config: IngestConfig, storage: Storage, catalog: Catalog,
                 table: str) -> TableStatus:
    """The newest partitions of a table with their row counts, from Parquet footers."""
    schema = TABLES[table]
    partitions = catalog.list_partitions(config.dbname, table)
    newest = []
    root = table_root(config.hdfs_app_path, table)
    for values, location in partitions[-NEWEST_PARTITIONS:][::-1]:
        folder = posixpath.join(root, "/".join(
            f"{c.name}={v.zfill(4 if c.name == 'y' else 2)}"
            for c, v in zip(schema.partition_columns, values)))
        rows = files = 0
        newest_time = None
        for path in storage.files_under(folder):
            name = posixpath.basename(path)
            if not name.endswith(".parquet") or name.startswith((".", "_")):
                continue
            metadata = parquet_footer(storage, path)
            rows += metadata.num_rows
            files += 1
            seen = _newest(metadata, table)
            newest_time = seen if newest_time is None or (seen and seen > newest_time) else newest_time
        newest.append(PartitionRows(list(values), location, files, rows, newest_time))
    return TableStatus(table, len(partitions), newest)


def pipeline_status(config: IngestConfig, pipeline: PipelineConfig, storage: Storage,
                    topics: list[str]) -> PipelineStatus:
    """All of it for one pipeline; ServiceDown names the service that does not answer."""
    from common.errors import CatalogError, StorageError
    from common.plugin import load

    accepts = load(pipeline.type, "collector")(config, pipeline).accepts
    topic_states = [topic_status(config, t) for t in topics]
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
