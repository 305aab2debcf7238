"""The two faces every pipeline (pipelines/<type>/) shows to the shared mechanics:

- a Collector (pipelines/<type>/collector.py): which files it takes and how one file is
  handed over (stored and published);
- a Processor (pipelines/<type>/worker.py): how one message becomes table rows.

common/master.py and common/worker.py drive them and know nothing else of the pipeline.
"""
from __future__ import annotations

import importlib
import json
import os
import posixpath
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from common.config import IngestConfig, PipelineConfig
from common.errors import DecodeError, SpotIngestError
from common.kafka_io import Message, Publisher
from common.layout import HourPartition, binary_dir, partition_dir, source_root
from common.parquet_out import write_batches
from common.schemas import TableSchema
from common.storage import Storage
from common.watcher import matches_supported


class RejectedFile(SpotIngestError):
    """A collected file that can never be handed over (e.g. no timestamp in its name)."""


class BadMessage(SpotIngestError):
    """A Kafka message this pipeline cannot act on; it is logged and skipped."""


@dataclass(frozen=True)
class Published:
    """What a collector reports after handing one file over."""
    remote_path: str
    partition: int
    offset: int
    size: int


@dataclass(frozen=True)
class FileMessage:
    """The message for one stored binary file: where it is and what it was called."""
    pipeline: str
    name: str
    path: str
    size: int

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> "FileMessage":
        try:
            data = json.loads(raw)
            return cls(pipeline=str(data["pipeline"]), name=str(data["name"]),
                       path=str(data["path"]), size=int(data["size"]))
        except (ValueError, KeyError, TypeError) as exc:
            preview = raw[:80].decode("utf-8", "replace")
            raise BadMessage(f"not a file message ({type(exc).__name__}): {preview!r}") from None


@dataclass(frozen=True)
class Processed:
    """What a processor reports after one message."""
    name: str
    rows: int
    outputs: tuple[str, ...] = ()
    quarantined: str | None = None


class Collector(ABC):
    source: str  # flow, dns, proxy: the storage folder and the table

    def __init__(self, config: IngestConfig, pipeline: PipelineConfig):
        self.config, self.pipeline = config, pipeline

    def accepts(self, name: str) -> bool:
        """Whether a file name is one to collect (supported_files; in-progress names excluded)."""
        return matches_supported(name, self.pipeline.supported_files)

    @abstractmethod
    def check(self, path: Path) -> None:
        """Raises RejectedFile when the file can never be handed over."""

    @abstractmethod
    def publish(self, path: Path, partition: int, storage: Storage,
                publisher: Publisher) -> Published:
        """Stores and publishes one file; removes it locally only once both are confirmed."""


class BinaryFileCollector(Collector):
    """Flow and DNS: the binary is stored under <src>/binary/YYYYMMDD/HH/<pipeline>/ and its
    path is published; a worker fetches it from there."""

    @abstractmethod
    def file_time(self, name: str) -> datetime:
        """Time stamp carried by the file name; raises RejectedFile when there is none."""

    def check(self, path: Path) -> None:
        self.file_time(path.name)

    def remote_path(self, name: str) -> str:
        folder = binary_dir(self.config.hdfs_app_path, self.source, self.file_time(name))
        return posixpath.join(folder, self.pipeline.name, name)

    def publish(self, path: Path, partition: int, storage: Storage,
                publisher: Publisher) -> Published:
        remote = self.remote_path(path.name)
        size = path.stat().st_size
        storage.upload(path, remote)
        message = FileMessage(self.pipeline.name, path.name, remote, size)
        offset = publisher.send(message.encode(), partition=partition, key=path.name.encode())
        os.unlink(path)  # only now: stored and acknowledged
        return Published(remote, partition, offset, size)


class Processor(ABC):
    def __init__(self, config: IngestConfig, pipeline: PipelineConfig, worker_id: int,
                 storage: Storage, catalog_factory):
        self.config, self.pipeline, self.worker_id = config, pipeline, worker_id
        self.storage, self.catalog_factory = storage, catalog_factory

    @abstractmethod
    def process(self, message: Message) -> Processed:
        """Turns one message into rows in place; raises on a transient failure (retried)."""

    def binary_message(self, message: Message, source: str) -> FileMessage:
        """Decodes a file message and checks it names a file under this pipeline's binary
        folder: a worker reads nothing else."""
        msg = FileMessage.decode(message.value)
        root = posixpath.join(source_root(self.config.hdfs_app_path, source), "binary") + "/"
        normal = posixpath.normpath(msg.path)
        if not normal.startswith(root) or normal != msg.path or "/" in msg.name or \
                posixpath.basename(normal) != msg.name:
            raise BadMessage(f"refusing path outside {root}: {msg.path!r}")
        if msg.pipeline != self.pipeline.name:
            raise BadMessage(f"message for pipeline '{msg.pipeline}', this worker runs "
                             f"'{self.pipeline.name}': {msg.path}")
        return msg


@dataclass
class Output:
    """One Parquet file a decoder produces from a binary: its partition, its file name (derived
    from the source, so reprocessing replaces it) and its rows, streamed."""
    partition: HourPartition
    file_name: str
    batches: Iterable[pa.RecordBatch]


class BinaryFileProcessor(Processor):
    """Flow and DNS: fetch the stored binary, decode it into Parquet files in a private
    staging folder, place them in their partitions, register the partitions, clean up.
    A binary its decoder cannot read is moved to <src>/quarantine/<pipeline>/ with the reason."""

    source: str
    table: TableSchema

    @abstractmethod
    def decode(self, local: Path, name: str, workdir: Path) -> Iterator[Output]:
        """The outputs of one binary; raises DecodeError when the binary is unreadable."""

    def quarantine_dir(self) -> str:
        return posixpath.join(source_root(self.config.hdfs_app_path, self.source), "quarantine",
                              self.pipeline.name)

    def process(self, message: Message) -> Processed:
        msg = self.binary_message(message, self.source)
        if not self.storage.exists(msg.path):
            raise BadMessage(f"{msg.path} is no longer stored (quarantined or removed)")
        workdir = Path(self.pipeline.local_staging) / \
            f"{self.pipeline.name}-w{self.worker_id}-{uuid.uuid4().hex[:12]}"
        workdir.mkdir(parents=True)
        try:
            local = workdir / "input" / msg.name
            self.storage.download(msg.path, local)
            try:
                written = self._decode_all(local, msg.name, workdir)
            except DecodeError as exc:
                return Processed(msg.name, 0, quarantined=self._quarantine(msg, exc, workdir))
            return self._place(msg.name, written)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _decode_all(self, local: Path, name: str, workdir: Path) -> list[tuple[Output, Path, int]]:
        """Every output is written locally before anything is placed: a binary that fails
        half way places nothing."""
        written = []
        for output in self.decode(local, name, workdir):
            path = workdir / output.file_name
            rows = write_batches(output.batches, self.table.arrow_schema(), path)
            written.append((output, path, rows))
        return written

    def _place(self, name: str, written: list[tuple[Output, Path, int]]) -> Processed:
        app, placed, total = self.config.hdfs_app_path, [], 0
        registered = set()
        with self.catalog_factory() as catalog:
            for output, path, rows in written:
                folder = partition_dir(app, self.source, output.partition)
                remote = posixpath.join(folder, output.file_name)
                if rows == 0:
                    self.storage.delete(remote)   # a re-run of a source that now holds no rows
                    continue
                self.storage.upload(path, remote)
                if output.partition not in registered:
                    catalog.add_partition(self.config.dbname, self.table, output.partition,
                                          self.storage.uri(folder))
                    registered.add(output.partition)
                placed.append(remote)
                total += rows
        return Processed(name, total, tuple(placed))

    def _quarantine(self, msg: FileMessage, exc: DecodeError, workdir: Path) -> str:
        folder = self.quarantine_dir()
        target = posixpath.join(folder, msg.name)
        reason = workdir / "reason.txt"
        reason.write_text(f"{msg.path}: {exc}\n")
        self.storage.upload(reason, target + ".reason")
        self.storage.rename(msg.path, target)
        return target


def load(kind: str, face: str):
    """pipelines/<kind>/<face>.py's entry class: Collector (face 'collector') or Processor
    (face 'worker')."""
    module = importlib.import_module(f"pipelines.{kind}.{face}")
    return getattr(module, "COLLECTOR" if face == "collector" else "PROCESSOR")
