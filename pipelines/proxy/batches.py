"""One micro-batch of the proxy job, from Kafka rows to placed files (the foreachBatch
function): stage, move into place, register, and only then let Spark commit the batch.

  1. The batch's lines are parsed (parse.py) and the records written as Parquet, partitioned
     by y/m/d/h, into <app>/proxy/stage/<pipeline>/batch-<id>/data; the counts of lines,
     rejections and cells left NULL, and which messages hold rejected lines, come from the
     same Spark job (observed metrics). Only when the batch has rejections does a second job
     re-read those messages, and only those, to write the rejected lines (JSON lines) into
     .../batch-<id>/rejected.
  2. The driver creates the partition folders <app>/proxy/hive/y=YYYY/m=MM/d=DD/h=HH, registers
     new partitions in the metastore (padded string values, location = the padded folder),
     deletes any file this batch id left there in an earlier, interrupted attempt, and renames
     the staged files in as `<pipeline>-<query>-b<id>-<n>.parquet`; rejected lines go to
     <app>/proxy/rejected/<pipeline>/<pipeline>-<query>-b<id>-<n>.json. `<query>` is the first 8
     hex digits of the streaming query's id, which lives in the checkpoint: a fresh
     checkpoint (batch ids restarting at 0) can never replace files of an older one.
  3. Only then does the function return and Spark commit the batch. A batch replayed after a
     crash reads the same offsets, produces the same rows and replaces its own files: rows
     are never doubled or lost, for table readers and for readers of the folders.
  One log line per batch: batch id, rows, rejected, partitions, seconds, then the cells left
  NULL by column when there are any.
"""
from __future__ import annotations

import logging
import posixpath
import threading
import time
from dataclasses import dataclass, field

from common.errors import SpotIngestError
from common.layout import HourPartition
from common.schemas import PROXY
from pipelines.proxy import bluecoat, parse
from pipelines.proxy.options import SOURCE, JobOptions, stage_root

log = logging.getLogger("spot-ingest.proxy")


def hive_root(app_uri: str) -> str:
    return posixpath.join(app_uri, SOURCE, "hive")


def rejected_root(app_uri: str, pipeline: str) -> str:
    return posixpath.join(app_uri, SOURCE, "rejected", pipeline)


def batch_prefix(pipeline: str, query_id: str, batch_id: int) -> str:
    """File name prefix of one batch's outputs; the trailing '-' keeps b1 apart from b10."""
    return f"{pipeline}-{query_id.replace('-', '')[:8]}-b{batch_id}-"


def partition_of(staged_path: str) -> HourPartition:
    """The partition of a staged file from its y=/m=/d=/h= folders (as Spark wrote them)."""
    values = dict(seg.split("=", 1) for seg in staged_path.split("/") if seg[:2] in
                  ("y=", "m=", "d=", "h="))
    return HourPartition(int(values["y"]), int(values["m"]), int(values["d"]), int(values["h"]))



class HadoopFiles:
    """The few Hadoop FileSystem calls the driver needs, for file:// and hdfs:// alike.

    On file:// the raw local filesystem is used, so moves do not drag `.crc` side files
    into the folders downstream models read."""

    def __init__(self, spark, uri: str):
        jvm = spark._jvm
        self._jvm = jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        fs = self._Path(uri).getFileSystem(spark._jsc.hadoopConfiguration())
        if fs.getScheme() == "file":
            fs = fs.getRawFileSystem()
        self.fs = fs

    def glob(self, pattern: str) -> list[str]:
        statuses = self.fs.globStatus(self._Path(pattern))
        return sorted(s.getPath().toString() for s in statuses or [])

    def mkdirs(self, path: str) -> None:
        if not self.fs.mkdirs(self._Path(path)):
            raise SpotIngestError(f"mkdirs {path}: refused by the filesystem")

    def delete(self, path: str, recursive: bool = False) -> None:
        self.fs.delete(self._Path(path), recursive)

    def read_text(self, path: str) -> str | None:
        """A small file's text (UTF-8); None when it does not exist."""
        target = self._Path(path)
        if not self.fs.exists(target):
            return None
        stream = self.fs.open(target)
        try:
            return self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def rename(self, src: str, dst: str) -> None:
        if not self.fs.rename(self._Path(src), self._Path(dst)):
            raise SpotIngestError(f"rename {src} -> {dst}: refused by the filesystem")



class StopRequested(Exception):
    """Raised in a batch that starts after a stop was asked: it is left uncommitted."""


@dataclass
class BatchResult:
    batch_id: int
    rows: int
    rejected: int
    partitions: int
    files: int
    seconds: float
    nulled: dict = field(default_factory=dict)       # column -> cells left NULL

    def log_line(self, pipeline: str) -> str:
        line = (f"{pipeline} batch {self.batch_id}: {self.rows} rows, {self.rejected} "
                f"rejected, {self.partitions} partitions, {self.seconds:.2f} s")
        if self.nulled:
            line += f", {sum(self.nulled.values())} cells nulled (" + ", ".join(
                f"{c} {n}" for c, n in sorted(self.nulled.items())) + ")"
        return line


def count(opts: JobOptions, result: BatchResult) -> None:
    """A placed batch in the process's Prometheus counters (served with --metrics-port)."""
    from common import metrics

    worker = str(opts.worker_id)
    metrics.ROWS_WRITTEN.labels(opts.pipeline, worker).inc(result.rows)
    for column, n in result.nulled.items():
        metrics.CELLS_NULLED.labels(opts.pipeline, column).inc(n)


@dataclass
class BatchWriter:
    """The foreachBatch function: stage, move into place, register, then let Spark commit."""

    spark: object
    opts: JobOptions
    files: HadoopFiles
    stop: threading.Event
    lock: threading.Lock = field(default_factory=threading.Lock)
    query_id: str | None = None
    started: threading.Event = field(default_factory=threading.Event)
    registered: set = field(default_factory=set)
    batches: int = 0
    error: str | None = None
    totals: dict = field(default_factory=lambda: {"rows": 0, "rejected": 0, "nulled": {}})

    def __call__(self, batch_df, batch_id: int) -> None:
        with self.lock:
            if self.stop.is_set():
                quiet_refused_batch(self.spark)
                raise StopRequested(f"stop requested before batch {batch_id}")
            try:
                result = self.write_batch(batch_df, batch_id)
            except StopRequested:
                raise
            except SpotIngestError as exc:
                self.error = str(exc)
                raise
            except Exception as exc:
                self.error = f"batch {batch_id}: {first_line(exc)}"
                raise
            self.batches += 1
            self.totals["rows"] += result.rows
            self.totals["rejected"] += result.rejected
            for column, n in result.nulled.items():
                self.totals["nulled"][column] = self.totals["nulled"].get(column, 0) + n
            count(self.opts, result)
        log.info("%s", result.log_line(self.opts.pipeline))

    def write_batch(self, batch_df, batch_id: int) -> BatchResult:
        from pyspark.sql import Observation

        begin = time.monotonic()
        self.started.wait()
        stage = posixpath.join(stage_root(self.opts.app_uri, self.opts.pipeline),
                               f"batch-{batch_id}")
        self.files.delete(stage, recursive=True)  # an interrupted attempt's leftovers

        parsed = parse.parse_lines(parse.split_messages(batch_df))
        counts = Observation(f"proxy_rows_{batch_id}")
        parse.table_rows(parsed, counts).write.mode("overwrite") \
            .partitionBy(*bluecoat.PARTITION_COLUMNS).parquet(stage + "/data")
        metrics = counts.get
        rejected = int(metrics.get("rejected", 0))
        if rejected:  # a second pass, over the messages that hold rejected lines only
            again = Observation(f"proxy_rejected_{batch_id}")
            holding = parse.parse_lines(parse.split_messages(
                parse.messages_at(batch_df, metrics["messages"])))
            parse.rejected_rows(holding, batch_id, again).repartition(1).write \
                .mode("overwrite").option("compression", "none").json(stage + "/rejected")
            if again.get.get("rejected") != rejected:
                raise SpotIngestError(f"batch {batch_id}: {rejected} rejected lines in the "
                                      f"first pass, {again.get.get('rejected')} in the second")

        prefix = batch_prefix(self.opts.pipeline, self.query_id, batch_id)
        staged = self.files.glob(stage + "/data/y=*/m=*/d=*/h=*/part-*")
        placed = self.place_rows(staged, prefix, first=self.batches == 0)
        if rejected:
            self.place_rejected(self.files.glob(stage + "/rejected/part-*"), prefix)
        self.files.delete(stage, recursive=True)
        return BatchResult(batch_id, int(metrics.get("lines", 0)) - rejected, rejected,
                           len(placed), len(staged), time.monotonic() - begin,
                           parse.nulled_counts(metrics))

    def place_rows(self, staged: list[str], prefix: str, first: bool) -> set[HourPartition]:
        """Folders, metastore, then the files; a replayed batch replaces its own files."""
        by_partition: dict[HourPartition, list[str]] = {}
        for path in staged:
            by_partition.setdefault(partition_of(path), []).append(path)
        root = hive_root(self.opts.app_uri)
        for part in sorted(by_partition):
            self.files.mkdirs(posixpath.join(root, part.folder()))
        self.register(sorted(by_partition))
        # Earlier attempts of this batch: anywhere on the first batch of a run (the only
        # one that can be a replay), else in the partitions it touches.
        if first:
            stale = self.files.glob(posixpath.join(root, "y=*/m=*/d=*/h=*", prefix + "*"))
        else:
            stale = [p for part in sorted(by_partition)
                     for p in self.files.glob(posixpath.join(root, part.folder(), prefix + "*"))]
        for path in stale:
            self.files.delete(path)
        for part, paths in sorted(by_partition.items()):
            folder = posixpath.join(root, part.folder())
            for n, src in enumerate(sorted(paths)):
                self.files.rename(src, posixpath.join(folder, f"{prefix}{n}.parquet"))
        return set(by_partition)

    def place_rejected(self, staged: list[str], prefix: str) -> None:
        folder = rejected_root(self.opts.app_uri, self.opts.pipeline)
        self.files.mkdirs(folder)
        for path in self.files.glob(posixpath.join(folder, prefix + "*")):
            self.files.delete(path)
        for n, src in enumerate(staged):
            self.files.rename(src, posixpath.join(folder, f"{prefix}{n}.json"))

    def register(self, parts: list[HourPartition]) -> None:
        """Idempotent in the metastore; remembered here so a partition costs one call per run."""
        from common.catalog import Catalog

        new = [p for p in parts if p not in self.registered]
        if not new:
            return
        root = hive_root(self.opts.app_uri)
        with Catalog(self.opts.metastore,
                     sasl_service=self.opts.metastore_sasl_service) as catalog:
            for part in new:
                catalog.add_partition(self.opts.dbname, PROXY, part,
                                      posixpath.join(root, part.folder()))
                self.registered.add(part)


def quiet_refused_batch(spark) -> None:
    """A batch refused because of a stop is expected: keep py4j and Spark from logging it
    as an error with two stack traces."""
    logging.getLogger("py4j.clientserver").setLevel(logging.CRITICAL)
    jvm = spark._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.execution.streaming", jvm.org.apache.logging.log4j.Level.OFF)


def first_line(exc: BaseException) -> str:
    """A one-line summary of an exception, including those Spark and py4j wrap around ours:
    our own error's message, else the JVM's root cause, else the first line."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for marker in ("SpotIngestError: ", "CatalogError: ", "StorageError: "):
        for line in lines:
            if marker in line:
                return line.split(marker, 1)[1]
    causes = [ln[len("Caused by: "):] for ln in lines if ln.startswith("Caused by: ")]
    if causes:
        return causes[-1]
    failures = [ln for ln in lines if "Exception: " in ln or "Error: " in ln]
    if failures:
        return failures[0].lstrip(": ")
    return lines[0] if lines else type(exc).__name__


