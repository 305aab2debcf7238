"""The proxy job's command line: JobOptions, parsed from and written back to the arguments
job.py takes (see job.py's docstring for their meaning). Arguments are checked here, once:
a bad one exits 2 with argparse's one line."""
from __future__ import annotations

import argparse
import posixpath
import re
from dataclasses import dataclass

SOURCE = "proxy"
DEFAULT_METASTORE = "thrift://127.0.0.1:9083"
DEFAULT_BATCH_SECONDS = 30
MAX_OFFSETS_PER_SECOND = 50  # ~150k lines/s of 900 kB messages: above what 2 cores parse
DEFAULT_STOP_TIMEOUT = 120
_PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_GLOB_CHARS = set("*?[]{}\\")


def stage_root(app_uri: str, pipeline: str) -> str:
    return posixpath.join(app_uri, SOURCE, "stage", pipeline)


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
    worker_id: int = 0
    metrics_port: int | None = None             # None: no metrics; 0: a free port
    metrics_host: str = "127.0.0.1"

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


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'")
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
    p.add_argument("--worker-id", type=_non_negative_int, default=0,
                   help="worker.py's -i: who commits the job's position (default 0)")
    p.add_argument("--metrics-port", type=_non_negative_int, default=None,
                   help="serve Prometheus metrics on this port (0: a free one; default off)")
    p.add_argument("--metrics-host", default="127.0.0.1",
                   help="the address the metrics listen on (default 127.0.0.1)")
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
    if opts.worker_id:
        argv += ["--worker-id", str(opts.worker_id)]
    if opts.metrics_port is not None:
        argv += ["--metrics-port", str(opts.metrics_port), "--metrics-host", opts.metrics_host]
    return argv

