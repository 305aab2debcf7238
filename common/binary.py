"""Flow and DNS: pipelines whose files are binaries a decoder reads.

The collector stores each binary (or each piece of it) under
<src>/binary/YYYYMMDD/HH/<pipeline>/<stored name> and publishes its path; the worker fetches
it, decodes it into Parquet files in a private scratch folder, places them in their
partitions, registers the partitions and cleans up. A binary its decoder cannot read is
moved to <src>/quarantine/<pipeline>/ with the reason beside it.
"""
from __future__ import annotations

import logging
import os
import posixpath
import shutil
import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from common import metrics
from common.errors import DecodeError
from common.kafka_io import Message, Publisher
from common.layout import HourPartition, binary_path, binary_root, partition_dir, quarantine_dir
from common.messages import BadMessage, FileMessage, confined_partition, stored_name
from common.parquet_out import write_batches
from common.plugin import Collected, Collector, Partitions, Processed, Processor, Published
from common.schemas import TableSchema
from common.storage import Storage

log = logging.getLogger(__name__)

REGISTERED_TTL_S = 600


# ------------------------------------------------------------------ collector side

@dataclass(frozen=True)
class Piece:
    """One binary to store and publish: the collected file itself, or a piece of it."""
    path: Path                  # local file
    name: str                   # shown in logs and messages (relative to collector_path)
    stored: str                 # its name in storage
    hour: HourPartition


class BinaryFileCollector(Collector):
    """One message per binary, its hour from file_hour() (flow: the name). A collector that
    splits its files and finds their hours inside them (dns) overrides check() and pieces()."""

    def file_hour(self, item: Collected) -> HourPartition:
        """The hour a collected file belongs to; raises RejectedFile when there is none."""
        raise NotImplementedError

    def check(self, item: Collected) -> None:
        self.file_hour(item)

    def pieces(self, item: Collected) -> list[Piece]:
        return [Piece(item.path, item.relative, stored_name(item.relative), self.file_hour(item))]

    def discard(self, pieces: list[Piece], item: Collected) -> None:
        """Removes temporary pieces (not the collected file itself)."""

    def publish(self, item: Collected, partitions: Partitions, storage: Storage,
                publisher: Publisher) -> list[Published]:
        pieces = self.pieces(item)
        try:
            out = []
            for index, piece in enumerate(pieces):
                remote = binary_path(self.config.hdfs_app_path, self.source, self.pipeline.name,
                                     piece.hour, piece.stored)
                size = piece.path.stat().st_size
                started = time.monotonic()
                storage.upload(piece.path, remote)
                uploaded = time.monotonic() - started
                message = FileMessage(self.pipeline.name, piece.name, remote, size)
                partition = partitions.of(index)
                offset = publisher.send(message.encode(), partition=partition,
                                        key=piece.stored.encode())
                out.append(Published(piece.name, remote, partition, offset, size, uploaded))
            os.unlink(item.path)  # only now: every piece stored and acknowledged
        finally:
            self.discard(pieces, item)
        return out


# ------------------------------------------------------------------ worker side

@dataclass(frozen=True)
class Binary:
    """A stored binary a message names, after the checks."""
    message: FileMessage
    partition: HourPartition     # from its folder: the collector's decision
    stored: str                  # its name in storage


@dataclass
class Output:
    """One Parquet file a decoder produces from a binary: its partition, its file name (derived
    from the source, so reprocessing replaces it) and its rows, streamed."""
    partition: HourPartition
    file_name: str
    batches: Iterable[pa.RecordBatch]


class BinaryFileProcessor(Processor):
    source: str
    table: TableSchema

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._registered: dict[HourPartition, float] = {}
        self._registered_lock = threading.Lock()

    @abstractmethod
    def decode(self, local: Path, binary: Binary, workdir: Path) -> Iterator[Output]:
        """The outputs of one binary; raises DecodeError when the binary is unreadable."""

    # -------------------------------------------------------------- start

    def scratch_prefix(self) -> str:
        return f"{self.pipeline.name}-w{self.worker_id}-"

    def start(self) -> None:
        self.clean_scratch()

    def clean_scratch(self) -> list[Path]:
        """Removes scratch folders an earlier run of this same worker left (killed with
        SIGKILL); other workers sharing local_staging keep theirs."""
        staging = Path(self.pipeline.local_staging)
        staging.mkdir(parents=True, exist_ok=True)
        stale = [p for p in staging.iterdir() if p.name.startswith(self.scratch_prefix())]
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("%s worker-%d: removed stale scratch folder %s", self.pipeline.name,
                     self.worker_id, folder)
        return stale

    # -------------------------------------------------------------- one message

    def binary(self, message: Message) -> Binary:
        """Decodes a file message and checks it names a file under this pipeline's own
        binary folder: a worker reads nothing else."""
        msg = FileMessage.decode(message.value)
        if msg.pipeline != self.pipeline.name:
            raise BadMessage(f"message for pipeline '{msg.pipeline}', this worker runs "
                             f"'{self.pipeline.name}': {msg.path}")
        app = self.config.hdfs_app_path
        part = confined_partition(msg.path, app, self.source, self.pipeline.name)
        if not self.storage.confined(msg.path, binary_root(app, self.source)):
            raise BadMessage(f"refusing {msg.path!r}: it leads outside "
                             f"{binary_root(app, self.source)} (a link)")
        return Binary(msg, part, posixpath.basename(msg.path))

    def output_name(self, binary: Binary, suffix: str = "") -> str:
        return f"{self.pipeline.name}-{binary.stored}{suffix}.parquet"

    def process(self, message: Message) -> Processed:
        binary = self.binary(message)
        if not self.storage.exists(binary.message.path):
            raise BadMessage(f"{binary.message.path} is no longer stored (quarantined or removed)")
        workdir = Path(self.pipeline.local_staging) / f"{self.scratch_prefix()}{uuid.uuid4().hex[:12]}"
        workdir.mkdir(parents=True)
        try:
            local = workdir / "input"
            self.storage.download(binary.message.path, local)
            try:
                with metrics.DECODE_SECONDS.labels(self.pipeline.name).time():
                    written = self._decode_all(local, binary, workdir)
            except DecodeError as exc:
                return Processed(binary.message.name, 0,
                                 quarantined=self.quarantine(binary, str(exc)))
            return self._place(binary.message.name, written)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def give_up(self, message: Message, reason: str) -> Processed:
        try:
            binary = self.binary(message)
        except BadMessage:
            return Processed("(not a file message)", 0, quarantined="(nothing stored)")
        if not self.storage.exists(binary.message.path):
            return Processed(binary.message.name, 0, quarantined="(no longer stored)")
        return Processed(binary.message.name, 0, quarantined=self.quarantine(binary, reason))

    def _decode_all(self, local: Path, binary: Binary,
                    workdir: Path) -> list[tuple[Output, Path, int]]:
        """Every output is written locally before anything is placed: a binary that fails
        half way places nothing."""
        written = []
        for output in self.decode(local, binary, workdir):
            path = workdir / f"out-{len(written)}.parquet"
            rows = write_batches(output.batches, self.table.arrow_schema(), path)
            written.append((output, path, rows))
        return written

    def _place(self, name: str, written: list[tuple[Output, Path, int]]) -> Processed:
        app, placed, total = self.config.hdfs_app_path, [], 0
        for output, path, rows in written:
            folder = partition_dir(app, self.source, output.partition)
            remote = posixpath.join(folder, output.file_name)
            if rows == 0:
                self.storage.delete(remote)   # a re-run of a source that now holds no rows
                continue
            with metrics.UPLOAD_SECONDS.labels(self.pipeline.name, "worker").time():
                self.storage.upload(path, remote)
            self._register(output.partition, folder)
            placed.append(remote)
            total += rows
        return Processed(name, total, tuple(placed))

    def _register(self, partition: HourPartition, folder: str) -> None:
        """Adds the partition to the metastore (idempotent there). A partition this process
        registered in the last REGISTERED_TTL_S is not asked for again: no metastore round
        trip per file, and a partition an operator dropped comes back within minutes."""
        now = time.monotonic()
        with self._registered_lock:
            if now - self._registered.get(partition, -REGISTERED_TTL_S) < REGISTERED_TTL_S:
                return
        with metrics.REGISTER_SECONDS.labels(self.pipeline.name).time(), \
                self.catalog_factory() as catalog:
            catalog.add_partition(self.config.dbname, self.table, partition,
                                  self.storage.uri(folder))
        with self._registered_lock:
            self._registered[partition] = now

    def quarantine(self, binary: Binary, reason: str) -> str:
        """Moves the stored binary to <src>/quarantine/<pipeline>/ with a .reason file."""
        folder = quarantine_dir(self.config.hdfs_app_path, self.source, self.pipeline.name)
        target = posixpath.join(folder, binary.stored)
        self.storage.write_text(target + ".reason",
                                f"{binary.message.name} ({binary.message.path}): {reason}\n")
        self.storage.rename(binary.message.path, target)
        return target
