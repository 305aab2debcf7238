"""Proxy pipeline, worker side: a Spark Structured Streaming job from Kafka to the `proxy` table.

Run it with spark-submit (pipelines/proxy/submit.py builds the whole command line, with the
Kafka connector jars and the JIT flag the parse needs to run at full speed):

    spark-submit --master local[2] --driver-memory 1g --jars <spark-sql-kafka-0-10 and deps> \\
        --driver-java-options -XX:-DontCompileHugeMethods \\
        --conf spark.executor.extraJavaOptions=-XX:-DontCompileHugeMethods \\
        pipelines/proxy/job.py --bootstrap 127.0.0.1:9092 --topic SPOT-INGEST-proxy_bluecoat_x \\
        --pipeline proxy_bluecoat --dbname spot --app-path /user/spot \\
        --storage-uri hdfs://127.0.0.1:8020 --metastore thrift://127.0.0.1:9083 --batch-seconds 10

Arguments (see parse_args; `--help` prints them):
  --bootstrap HOST:PORT[,...]   Kafka bootstrap servers                                (required)
  --topic TOPIC                 topic to read, every partition                         (required)
  --pipeline NAME               pipeline name: names output files, stage/rejected folders (required)
  --dbname DB                   Hive database holding the `proxy` table                 (required)
  --app-path PATH               hdfs_app_path, absolute                                 (required)
  --storage-uri URI             filesystem of app-path: file:// (default) or hdfs://host:port
  --metastore URIS              thrift://host:port[,...]      (default thrift://127.0.0.1:9083)
  --batch-seconds N             micro-batch interval, seconds                      (default 30)
  --checkpoint URI              default <storage-uri><app-path>/proxy/stage/<pipeline>/checkpoint;
                                one checkpoint per topic: a new topic needs a new checkpoint
  --starting-offsets WHERE      earliest (default) or latest; only for a new checkpoint
  --max-offsets-per-trigger N   messages per micro-batch at most (default 50 per second of
                                batch interval: a backlog drains at full speed on 2 cores)
  --stop-timeout S              seconds a stop waits for the running batch to finish (default 120)
  --log-level LEVEL             Spark's log level                                (default WARN)
  --kafka-security-protocol P   PLAINTEXT (default), SASL_PLAINTEXT or SASL_SSL: SASL is Kerberos
                                (GSSAPI) with the ticket cache of the environment (KRB5CCNAME)
  --kafka-sasl-service-name N   the brokers' Kerberos service name               (default kafka)
  --metastore-sasl-service N    the metastore's Kerberos service name: a SASL transport (hive.sasl)
The driver's Python must import this repository (the job puts its root on sys.path) and find
pyarrow, hmsclient and thrift (PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON = the project's venv).

What it does per micro-batch (foreachBatch, all parsing in the JVM, no Python per line):
  1. Kafka message values (batches of whole lines) are split at `\\n`, trailing `\\r` removed,
     empty and `#` lines dropped; each line is checked and cut into its 27 fields with Spark
     SQL functions (regular expressions for the shape, `from_csv` with sep ' ' and quote '"'
     for the values) under the contract of bluecoat.py, which the tests hold both to.
  2. Valid rows are written as Parquet, partitioned by y/m/d/h, into
     <app>/proxy/stage/<pipeline>/batch-<id>/data; row and rejection counts, and which
     messages hold rejected lines, come from the same Spark job (observed metrics). Only
     when the batch has rejections does a second job re-read those messages, and only those,
     to write the rejected lines (JSON lines) into .../batch-<id>/rejected.
  3. The driver creates the partition folders <app>/proxy/hive/y=YYYY/m=MM/d=DD/h=HH, registers
     new partitions in the metastore (padded string values, location = the padded folder),
     deletes any file this batch id left there in an earlier, interrupted attempt, and renames
     the staged files in as `<pipeline>-<query>-b<id>-<n>.parquet`; rejected lines go to
     <app>/proxy/rejected/<pipeline>/<pipeline>-<query>-b<id>-<n>.json. `<query>` is the first 8
     hex digits of the streaming query's id, which lives in the checkpoint: a fresh
     checkpoint (batch ids restarting at 0) can never replace files of an older one.
  4. Only then does foreachBatch return and Spark commit the batch. A batch replayed after a
     crash reads the same offsets, produces the same rows and replaces its own files: rows
     are never doubled or lost, for table readers and for readers of the folders.
  One log line per batch: batch id, rows, rejected, partitions, seconds.

Stopping: SIGTERM, SIGINT or SIGHUP (to the JVM that spark-submit runs, to this Python
driver, or to both through their process group) lets the running batch finish (up to
--stop-timeout), stops the query and exits 0; a batch that had not started is abandoned
uncommitted and replayed next time. A signal during start-up, before the session exists,
ends the JVM at once (nothing was read yet). A failing query exits 1 with one line, the
last on stderr; bad arguments exit 2.
"""
from __future__ import annotations

import argparse
import logging
import posixpath
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: import the repo
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.errors import SpotIngestError  # noqa: E402
from common.layout import HourPartition  # noqa: E402
from common.schemas import PROXY  # noqa: E402
from pipelines.proxy import bluecoat  # noqa: E402

log = logging.getLogger("spot-ingest.proxy")

SOURCE = "proxy"
DEFAULT_METASTORE = "thrift://127.0.0.1:9083"
DEFAULT_BATCH_SECONDS = 30
MAX_OFFSETS_PER_SECOND = 50  # ~150k lines/s of 900 kB messages: above what 2 cores parse
DEFAULT_STOP_TIMEOUT = 120
_PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_GLOB_CHARS = set("*?[]{}\\")
_EXIT_FAILED, _EXIT_USAGE = 1, 2


# --------------------------------------------------------------------------- arguments

@dataclass(frozen=True)
class JobOptions:
    bootstrap: str
    topic: str
    pipeline: str
    dbname: str
    app_path: str
    storage_uri: str = "file://"
    metastore: tuple[str, ...] = (DEFAULT_METASTORE,)
    batch_seconds: int = DEFAULT_BATCH_SECONDS
    checkpoint: str | None = None
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None  # None: MAX_OFFSETS_PER_SECOND * batch_seconds
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    log_level: str = "WARN"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_service_name: str = "kafka"
    metastore_sasl_service: str | None = None

    @property
    def app_uri(self) -> str:
        """Fully qualified app path: what table locations and Hadoop paths are built from."""
        return self.storage_uri + self.app_path

    @property
    def max_offsets(self) -> int:
        """A processing-time trigger caps throughput at this many messages per interval."""
        return self.max_offsets_per_trigger or MAX_OFFSETS_PER_SECOND * self.batch_seconds

    @property
    def checkpoint_uri(self) -> str:
        return self.checkpoint or posixpath.join(stage_root(self.app_uri, self.pipeline),
                                                 "checkpoint")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return int(text)


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'")
    return value


def _pipeline_name(text: str) -> str:
    if not _PIPELINE_NAME.match(text):
        raise argparse.ArgumentTypeError(f"pipeline name '{text}' must be lowercase letters, "
                                         "digits, '_' or '-'")
    return text


def _app_path(text: str) -> str:
    path = text.rstrip("/") or "/"
    if not path.startswith("/") or _GLOB_CHARS & set(path):
        raise argparse.ArgumentTypeError(f"app path '{text}' must be absolute and free of "
                                         "glob characters (*?[]{{}}\\)")
    return path


def _storage_uri(text: str) -> str:
    """`file://` or `scheme://authority`, without a path (the app path comes separately)."""
    if text in ("file:", "file://", "file:///"):
        return "file://"
    if not re.fullmatch(r"[a-z][a-z0-9+.\-]*://[^/\s]+/?", text):
        raise argparse.ArgumentTypeError(f"storage URI '{text}' must be file:// or "
                                         "scheme://host:port (e.g. hdfs://namenode:8020)")
    return text.rstrip("/")


def _metastore_uris(text: str) -> tuple[str, ...]:
    uris = tuple(u.strip() for u in text.split(","))
    if not all(re.fullmatch(r"thrift://[^\s:/]+:\d+", u) for u in uris):
        raise argparse.ArgumentTypeError(f"expected thrift://host:port[,...], got '{text}'")
    return uris


def _topic(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._\-]{1,249}", text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"invalid topic name '{text}'")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="job.py", description="Proxy pipeline: Kafka -> proxy table "
                                "(Spark Structured Streaming). Run through spark-submit.")
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers HOST:PORT[,...]")
    p.add_argument("--topic", required=True, type=_topic, help="topic to read (all partitions)")
    p.add_argument("--pipeline", required=True, type=_pipeline_name, help="pipeline name")
    p.add_argument("--dbname", required=True, help="Hive database holding the proxy table")
    p.add_argument("--app-path", required=True, type=_app_path, help="hdfs_app_path (absolute)")
    p.add_argument("--storage-uri", type=_storage_uri, default="file://",
                   help="file:// (default) or hdfs://host:port")
    p.add_argument("--metastore", type=_metastore_uris, default=(DEFAULT_METASTORE,),
                   help=f"thrift://host:port[,...] (default {DEFAULT_METASTORE})")
    p.add_argument("--batch-seconds", type=_positive_int, default=DEFAULT_BATCH_SECONDS,
                   help=f"micro-batch interval (default {DEFAULT_BATCH_SECONDS})")
    p.add_argument("--checkpoint", help="checkpoint URI (default "
                   "<storage-uri><app-path>/proxy/stage/<pipeline>/checkpoint)")
    p.add_argument("--starting-offsets", choices=("earliest", "latest"), default="earliest",
                   help="where a new checkpoint starts reading (default earliest)")
    p.add_argument("--max-offsets-per-trigger", type=_positive_int, default=None,
                   help="messages per micro-batch at most (default "
                   f"{MAX_OFFSETS_PER_SECOND} x batch seconds)")
    p.add_argument("--stop-timeout", type=_positive_number, default=DEFAULT_STOP_TIMEOUT,
                   help="seconds a stop waits for the running batch (default "
                   f"{DEFAULT_STOP_TIMEOUT})")
    p.add_argument("--log-level", default="WARN", choices=("ERROR", "WARN", "INFO", "DEBUG"),
                   help="Spark's log level (default WARN)")
    p.add_argument("--kafka-security-protocol", default="PLAINTEXT",
                   choices=("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"),
                   help="SASL: Kerberos (GSSAPI) with the ticket cache (default PLAINTEXT)")
    p.add_argument("--kafka-sasl-service-name", default="kafka",
                   help="the brokers' Kerberos service name (default kafka)")
    p.add_argument("--metastore-sasl-service", default=None,
                   help="the metastore's Kerberos service name (a SASL transport)")
    return p


def parse_args(argv: list[str]) -> JobOptions:
    ns = build_parser().parse_args(argv)
    return JobOptions(**{k: v for k, v in vars(ns).items()})


def to_argv(opts: JobOptions) -> list[str]:
    """The command-line arguments that parse_args turns back into opts (for launchers)."""
    argv = ["--bootstrap", opts.bootstrap, "--topic", opts.topic, "--pipeline", opts.pipeline,
            "--dbname", opts.dbname, "--app-path", opts.app_path,
            "--storage-uri", opts.storage_uri, "--metastore", ",".join(opts.metastore),
            "--batch-seconds", str(opts.batch_seconds),
            "--starting-offsets", opts.starting_offsets,
            "--stop-timeout", str(opts.stop_timeout), "--log-level", opts.log_level]
    if opts.max_offsets_per_trigger:
        argv += ["--max-offsets-per-trigger", str(opts.max_offsets_per_trigger)]
    if opts.checkpoint:
        argv += ["--checkpoint", opts.checkpoint]
    if opts.kafka_security_protocol != "PLAINTEXT":
        argv += ["--kafka-security-protocol", opts.kafka_security_protocol,
                 "--kafka-sasl-service-name", opts.kafka_sasl_service_name]
    if opts.metastore_sasl_service:
        argv += ["--metastore-sasl-service", opts.metastore_sasl_service]
    return argv


# --------------------------------------------------------------------------- layout

def hive_root(app_uri: str) -> str:
    return posixpath.join(app_uri, SOURCE, "hive")


def stage_root(app_uri: str, pipeline: str) -> str:
    return posixpath.join(app_uri, SOURCE, "stage", pipeline)


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


# --------------------------------------------------------------------------- parsing (JVM)
# Java regular expressions implementing bluecoat.split_fields. Atomic groups and possessive
# quantifiers make each line one linear pass; `\z` because Java's `$` accepts a final `\r`.

_FIELD = r'(?>"[^"]*+"|[^" ][^ ]*+|)'
SHAPE_27 = rf"^{_FIELD}(?: {_FIELD}){{{bluecoat.FIELD_COUNT - 1}}}\z"
WELL_FORMED = rf"^{_FIELD}(?: {_FIELD})*+\z"
UNCLOSED = rf'^(?:{_FIELD} )*+"[^"]*+\z'
QUOTED_FIELD = r'(?<![^ ])"[^"]*+"'  # a field-opening quote is at the start or after a space
DATE_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
TIME_SHAPE = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\z"
INTEGER_SHAPE = r"^-?[0-9]+\z"

FIELDS_SCHEMA = ", ".join(f"c{i} STRING" for i in range(bluecoat.FIELD_COUNT))
# sep ' ' and quote '"'; escape '"' because Blue Coat has no escape inside quotes (the
# default '\' would swallow the closing quote of a value ending in a backslash).
CSV_OPTIONS = {"sep": " ", "quote": '"', "escape": '"', "mode": "PERMISSIVE"}


def _f():
    from pyspark.sql import functions as F
    return F


def _true(cond):
    """NULL counts as false, so a missing field fails a check instead of skipping it."""
    return _f().coalesce(cond, _f().lit(False))


def _per_context(build):
    """Builds a function's Column expressions once per SparkContext: they are plain
    expression trees, and rebuilding several hundred of them through py4j for every
    micro-batch cost a third of a second per batch."""
    cache: dict = {}

    def cached(df):
        sc = df.sparkSession.sparkContext
        key = (id(sc), sc.applicationId)
        if key not in cache:
            cache.clear()
            cache[key] = build()
        return cache[key]
    return cached


@_per_context
def _split_columns():
    F = _f()
    text = F.col("value").cast("string")
    as_latin1 = F.transform(F.split(F.decode("value", "ISO-8859-1"), "\n", -1),
                            lambda piece: F.encode(piece, "ISO-8859-1").cast("string"))
    lines = F.when(F.is_valid_utf8(text), F.split(text, "\n", -1)).otherwise(as_latin1)
    raw = F.col("raw")  # trim only the lines that need it: trimming every line costs
    line = F.when(raw.endswith("\r"), F.expr(r"trim(TRAILING '\r' FROM raw)")).otherwise(raw)
    keep = (F.col("line") != "") & ~F.col("line").startswith("#")
    return F.posexplode(lines).alias("line_no", "raw"), line.alias("line"), keep


def split_messages(kafka_df):
    """Kafka rows -> one row per data line: topic, partition, offset, line_no, line.

    `split` goes through Java strings, which would turn invalid UTF-8 into U+FFFD and hide it;
    so a message that is not valid UTF-8 is split as ISO-8859-1 (one char per byte) and each
    line encoded back, keeping its exact bytes for the per-line check."""
    exploded, line, keep = _split_columns(kafka_df)
    return (kafka_df.select("topic", "partition", "offset", exploded)
            .select("topic", "partition", "offset", "line_no", line).where(keep))


@_per_context
def _parse_columns():
    F = _f()
    line = F.col("line")
    checks = [F.is_valid_utf8(line).alias("utf8"),
              F.coalesce(line.rlike(SHAPE_27), F.lit(False)).alias("shape_ok")]
    fields = F.when(F.col("utf8") & F.col("shape_ok"),
                    F.from_csv(line, FIELDS_SCHEMA, CSV_OPTIONS)).alias("f")

    def raw(position: int):
        return F.coalesce(F.col("f").getField(f"c{position}"), F.lit(""))

    def text(position: int):
        # written without coalesce so that Spark keeps the column nullable, as the table's
        # Parquet schema declares it (a valid line never yields NULL here)
        value = F.col("f").getField(f"c{position}")
        return F.when(value.isNull() | (value == bluecoat.EMPTY), F.lit("")).otherwise(value)

    def is_empty(position: int):
        return raw(position).isin("", bluecoat.EMPTY)

    def integer(position: int):
        return F.when(is_empty(position), F.lit(None).cast("int")) \
            .otherwise(raw(position).try_cast("int"))

    date, tod = raw(0), raw(1)
    reason = F.when(~F.col("utf8"), F.lit(bluecoat.INVALID_UTF8)) \
        .when(~F.col("shape_ok"), _shape_reason(line))
    reason = reason.when(~_true(date.rlike(DATE_SHAPE) &
                                F.try_to_date(date, "yyyy-MM-dd").isNotNull()),
                         F.lit(bluecoat.BAD_DATE))
    reason = reason.when(~_true(tod.rlike(TIME_SHAPE)), F.lit(bluecoat.BAD_TIME))
    for column in bluecoat.INT_COLUMNS:
        position = bluecoat.COLUMN_FIELDS[column]
        well_formed = is_empty(position) | _true(raw(position).rlike(INTEGER_SHAPE))
        reason = reason.when(~well_formed, F.lit(bluecoat.non_integer(column)))
        reason = reason.when(integer(position).isNull() & ~is_empty(position),
                             F.lit(bluecoat.out_of_int_range(column)))

    values = {}
    for column, position in bluecoat.COLUMN_FIELDS.items():
        values[column] = integer(position) if column in bluecoat.INT_COLUMNS else text(position)
    values["fulluri"] = F.concat(values["host"], values["uripath"], values["uriquery"])
    table = [values[c.name].cast(c.hive_type.lower()).alias(c.name) for c in PROXY.columns]
    parts = [F.substring(date, 1, 4).alias("y"), F.substring(date, 6, 2).alias("m"),
             F.substring(date, 9, 2).alias("d"), F.substring(tod, 1, 2).alias("h")]
    outputs = ["topic", "partition", "offset", "line_no", "line", reason.alias("reason"),
               *table, *parts]
    return checks, fields, outputs


def parse_lines(lines_df):
    """Lines -> the same rows plus `reason` (NULL for a valid line), the 28 table columns and
    y/m/d/h. Mirrors bluecoat.parse_line, check for check and in the same order; from_csv
    runs once per line, in its own projection, only on lines of 27 well-formed fields."""
    checks, fields, outputs = _parse_columns(lines_df)
    return lines_df.select("*", *checks).select("*", fields).select(*outputs)


def _shape_reason(line):
    """Why a valid-UTF-8 line is not 27 well-formed fields."""
    F = _f()
    count = F.size(F.split(F.regexp_replace(line, QUOTED_FIELD, ""), " ", -1))
    return F.when(line.rlike(UNCLOSED), F.lit(bluecoat.UNCLOSED_QUOTE)) \
        .when(~line.rlike(WELL_FORMED), F.lit(bluecoat.TEXT_AFTER_QUOTE)) \
        .otherwise(F.format_string(bluecoat.WRONG_FIELD_COUNT, count))


def observed(parsed_df, observation):
    """Counts lines and rejections as the rows go by, and notes which messages hold the
    rejected lines (no extra Spark job for any of it). It also stands between the parse and
    the filter on `reason` that follows: pushed below this node, that filter would inline
    from_csv once for every field it reads (six times the CPU, measured). Both outputs
    therefore filter only above an observation."""
    F = _f()
    rejected = F.col("reason").isNotNull()
    return parsed_df.observe(
        observation, F.count(F.lit(1)).alias("lines"), F.count(F.col("reason")).alias("rejected"),
        F.collect_set(F.when(rejected, F.struct("partition", "offset"))).alias("messages"))


def messages_at(kafka_df, where: list) -> object:
    """Only the messages at these (partition, offset) pairs: the rejected lines' second pass
    parses the few messages that hold them, not the whole batch again."""
    F = _f()
    key = F.concat_ws(":", F.col("partition").cast("string"), F.col("offset").cast("string"))
    return kafka_df.where(key.isin([f"{m['partition']}:{m['offset']}" for m in where]))


def table_rows(parsed_df, observation):
    """Valid rows: exactly the table's columns, then y/m/d/h for the partition folders."""
    F = _f()
    return observed(parsed_df, observation).where(F.col("reason").isNull()) \
        .select(*PROXY.column_names, *bluecoat.PARTITION_COLUMNS)


def rejected_rows(parsed_df, batch_id: int, observation):
    """What an operator needs to find and fix a rejected line; line_hex holds the exact
    bytes when the line is not UTF-8 (line then shows U+FFFD in their place)."""
    F = _f()
    line = F.col("line")
    return observed(parsed_df, observation).where(F.col("reason").isNotNull()).select(
        F.lit(batch_id).alias("batch_id"), "topic", "partition", "offset", "line_no", "reason",
        F.make_valid_utf8(line).alias("line"),
        F.when(~F.is_valid_utf8(line), F.hex(line.cast("binary"))).alias("line_hex"))


# --------------------------------------------------------------------------- files (JVM)

class HadoopFiles:
    """The few Hadoop FileSystem calls the driver needs, for file:// and hdfs:// alike.

    On file:// the raw local filesystem is used, so moves do not drag `.crc` side files
    into the folders downstream models read."""

    def __init__(self, spark, uri: str):
        jvm = spark._jvm
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

    def rename(self, src: str, dst: str) -> None:
        if not self.fs.rename(self._Path(src), self._Path(dst)):
            raise SpotIngestError(f"rename {src} -> {dst}: refused by the filesystem")


# --------------------------------------------------------------------------- one batch

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
        log.info("%s batch %d: %d rows, %d rejected, %d partitions, %.2f s", self.opts.pipeline,
                 result.batch_id, result.rows, result.rejected, result.partitions,
                 result.seconds)

    def write_batch(self, batch_df, batch_id: int) -> BatchResult:
        from pyspark.sql import Observation

        begin = time.monotonic()
        self.started.wait()
        stage = posixpath.join(stage_root(self.opts.app_uri, self.opts.pipeline),
                               f"batch-{batch_id}")
        self.files.delete(stage, recursive=True)  # an interrupted attempt's leftovers

        parsed = parse_lines(split_messages(batch_df))
        counts = Observation(f"proxy_rows_{batch_id}")
        table_rows(parsed, counts).write.mode("overwrite") \
            .partitionBy(*bluecoat.PARTITION_COLUMNS).parquet(stage + "/data")
        metrics = counts.get
        rejected = int(metrics.get("rejected", 0))
        if rejected:  # a second pass, over the messages that hold rejected lines only
            again = Observation(f"proxy_rejected_{batch_id}")
            holding = parse_lines(split_messages(messages_at(batch_df, metrics["messages"])))
            rejected_rows(holding, batch_id, again).repartition(1).write.mode("overwrite") \
                .option("compression", "none").json(stage + "/rejected")
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
                           len(placed), len(staged), time.monotonic() - begin)

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


# --------------------------------------------------------------------------- the query

def build_session(opts: JobOptions):
    """One modest session: no UI, few shuffle partitions (the only shuffle gathers rejected
    lines), no _SUCCESS markers in the stage."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(f"spot-ingest proxy {opts.pipeline}")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.parquet.compression.codec", "snappy")
             .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
             # Kafka's DataSource V2 stream fails the query right after replaying an
             # uncommitted batch on restart (NPE in its progress metrics, SPARK-55271, Spark
             # 4.1): the V1 source reads the same offsets and checkpoint without that hole.
             .config("spark.sql.streaming.disabledV2MicroBatchReaders",
                     "org.apache.spark.sql.kafka010.KafkaSourceProvider")
             .getOrCreate())
    spark.sparkContext.setLogLevel(opts.log_level)
    return spark


def kafka_security(opts: JobOptions) -> dict[str, str]:
    """The Kafka source's options for SASL: Kerberos from the ticket cache the worker keeps
    fresh (KRB5CCNAME, common.kerberos); none for PLAINTEXT."""
    if opts.kafka_security_protocol == "PLAINTEXT":
        return {}
    return {"kafka.security.protocol": opts.kafka_security_protocol,
            "kafka.sasl.mechanism": "GSSAPI",
            "kafka.sasl.kerberos.service.name": opts.kafka_sasl_service_name,
            "kafka.sasl.jaas.config":
                "com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;"}


def start_query(spark, opts: JobOptions, writer: BatchWriter):
    """Every partition of the topic, at most max_offsets messages a batch, data loss fatal."""
    source = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", opts.bootstrap)
              .option("subscribe", opts.topic)
              .option("startingOffsets", opts.starting_offsets)
              .option("maxOffsetsPerTrigger", str(opts.max_offsets))
              .option("failOnDataLoss", "true")
              .options(**kafka_security(opts))
              .load())
    return (source.writeStream.queryName(f"proxy-{opts.pipeline}")
            .foreachBatch(writer)
            .option("checkpointLocation", opts.checkpoint_uri)
            .trigger(processingTime=f"{opts.batch_seconds} seconds")
            .start())


class _JvmSignalHandler:
    """sun.misc.SignalHandler implemented in Python (py4j): spark-submit's JVM is the process
    a launcher signals; without this it would shut Spark down under the running batch."""

    def __init__(self, stop: threading.Event):
        self.stop = stop

    def handle(self, sig) -> None:
        log.info("received SIG%s: stopping after the running batch", sig.getName())
        self.stop.set()

    class Java:
        implements = ["sun.misc.SignalHandler"]


def catch_python_signals(stop: threading.Event) -> None:
    """TERM, INT and HUP reaching this Python driver (a launcher signalling the whole process
    group, Ctrl-C in a terminal) ask for a stop; installed first thing, before Spark starts."""
    def on_signal(signum, _frame):
        log.info("received %s: stopping after the running batch", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)


def catch_jvm_signals(spark, stop: threading.Event) -> object:
    """The same three signals reaching spark-submit's JVM; returns the handler, which must
    stay referenced. Until this runs (JVM and session start-up) the JVM's own handler exits."""
    from pyspark.java_gateway import ensure_callback_server_started

    ensure_callback_server_started(spark.sparkContext._gateway)
    handler = _JvmSignalHandler(stop)
    jvm = spark._jvm
    for name in ("TERM", "INT", "HUP"):
        jvm.sun.misc.Signal.handle(jvm.sun.misc.Signal(name), handler)
    return handler


class JobFailed(SpotIngestError):
    """The query ended with an error; str() is the one line to print."""


def run(opts: JobOptions, stop: threading.Event) -> None:
    """Runs until stopped (returns) or failed (raises JobFailed). Spark is stopped before
    returning, so the caller's last word really is the last line on stderr."""
    spark = build_session(opts)
    try:
        handler = catch_jvm_signals(spark, stop)  # noqa: F841 (kept alive until exit)
        writer = BatchWriter(spark, opts, HadoopFiles(spark, opts.app_uri), stop)
        if stop.is_set():
            return
        query = start_query(spark, opts, writer)
        writer.query_id = query.id
        writer.started.set()
        log.info("%s started: topic %s, query %s, checkpoint %s, batches every %d s",
                 opts.pipeline, opts.topic, query.id, opts.checkpoint_uri, opts.batch_seconds)
        failure = wait(query, stop)
        if stop.is_set():
            stop_gracefully(query, writer, opts.stop_timeout)
            if writer.error:
                log.warning("%s: the batch in flight failed while stopping (it stays "
                            "uncommitted): %s", opts.pipeline, writer.error)
            log.info("%s stopped after %d batches", opts.pipeline, writer.batches)
            return
        raise JobFailed(f"query failed: {writer.error or failure}")
    finally:
        spark.stop()


def wait(query, stop: threading.Event) -> str | None:
    """Until a stop is asked (None) or the query ends (its error, one line)."""
    from pyspark.errors import StreamingQueryException

    while not stop.is_set():
        try:
            if query.awaitTermination(1):
                return "the query stopped"
        except StreamingQueryException as exc:
            return first_line(exc)
    return None


def stop_gracefully(query, writer: BatchWriter, timeout: float) -> None:
    """Lets the running batch finish: its moves (the writer's lock), then Spark's commit of it
    (the trigger ends), then stops the query. A batch that starts meanwhile raises
    StopRequested and stays uncommitted; past the timeout the batch in flight is abandoned
    uncommitted, which a replay at the next start repairs."""
    deadline = time.monotonic() + timeout
    if writer.lock.acquire(timeout=timeout):
        writer.lock.release()
        while query.isActive and query.status.get("isTriggerActive") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        log.warning("the running batch did not finish within %.0f s: abandoning it", timeout)
    query.stop()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    catch_python_signals(stop)
    try:
        run(opts, stop)
        return 0
    except SpotIngestError as exc:
        message = str(exc)
    except Exception as exc:  # Spark/py4j errors: one line, not a JVM stack trace
        message = first_line(exc)
    print(f"error: proxy job {opts.pipeline}: {message}", file=sys.stderr, flush=True)
    return _EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
