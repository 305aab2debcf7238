"""ingest_conf.json -> typed, validated configuration objects.

Every key is declared once here with its type and default. Validation happens once, at
load time, and every problem is reported as one ConfigError line naming the file, the key
and what was expected. Relative paths resolve against the configuration file's folder.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from common.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "ingest_conf.json"
CONFIG_ENV = "SPOT_INGEST_CONF"

PIPELINE_TYPES = ("flow", "dns", "proxy")
DEFAULT_SUPPORTED_FILES = {"flow": ("nfcapd.",), "dns": (".pcap", ".pcapng"),
                           "proxy": (".log", ".log.gz")}
DEFAULT_METASTORE_URI = "thrift://127.0.0.1:9083"
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
_PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


@dataclass(frozen=True)
class KafkaSettings:
    server: str
    port: int
    message_size: int = 900000
    replication_factor: int = 1
    retention_hours: int = 168      # long enough for a worker outage: a week
    security_protocol: str = "PLAINTEXT"    # SASL_*: Kerberos (GSSAPI) with this process's ticket
    sasl_kerberos_service_name: str = "kafka"

    @property
    def min_insync_replicas(self) -> int:
        """With acks=all, a message is safe on this many replicas before it counts as sent."""
        return min(2, self.replication_factor)

    @property
    def bootstrap(self) -> str:
        """host:port[,host:port...]: kafka_server may list several brokers (a cluster), each
        with its own port or kafka_port."""
        return ",".join(h if ":" in h else f"{h}:{self.port}"
                        for h in (part.strip() for part in self.server.split(",")))


@dataclass(frozen=True)
class HdfsSettings:
    """namenode_url unset: storage is the local filesystem under hdfs_app_path."""

    namenode_url: str | None = None
    user: str | None = None
    fs_uri: str | None = None  # hdfs://host:8020, for table locations; derived when unset

    @property
    def enabled(self) -> bool:
        return self.namenode_url is not None

    @property
    def filesystem_uri(self) -> str:
        """The hdfs:// URI table locations are written with (RPC port 8020 by default)."""
        if self.fs_uri:
            return self.fs_uri
        host = re.sub(r"^https?://", "", self.namenode_url or "").split("/")[0].split(":")[0]
        return f"hdfs://{host}:8020"


@dataclass(frozen=True)
class HiveSettings:
    metastore_uris: tuple[str, ...] = (DEFAULT_METASTORE_URI,)
    sasl: bool = False                  # a SASL/GSSAPI transport (a Kerberized metastore)
    kerberos_service_name: str = "hive"


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus endpoints: the master on `port`, worker N on port + 1 + N; off when unset."""
    port: int | None = None
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class SparkStreamingSettings:
    driver_memory: str = "1g"
    spark_exec: int = 1
    spark_executor_memory: str = "1g"
    spark_executor_cores: int = 1
    spark_batch_size: int = 30
    spark_master: str | None = None     # local[N] (N = worker.py -p) when unset


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    type: str
    collector_path: Path
    local_staging: Path
    supported_files: tuple[str, ...]
    process_opt: str = ""
    pkt_num: int | None = None
    pcap_split_staging: Path | None = None
    parser: str | None = None
    create_collector_path: bool = False   # relative in the file: created on demand
    checkpoint_path: str | None = None    # proxy: the job's checkpoint (default under stage/)
    max_attempts: int = 5           # failures of one message before its file is set aside
    settle_seconds: float = 2.0     # quiet time before a file written in place is taken
    rescan_seconds: float = 30.0    # full rescans of collector_path (events can be lost)


@dataclass(frozen=True)
class IngestConfig:
    path: Path
    dbname: str
    hdfs_app_path: str
    collector_processes: int
    ingestion_interval: float
    kafka: KafkaSettings
    hdfs: HdfsSettings
    hive: HiveSettings
    spark_streaming: SparkStreamingSettings
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)
    log_config: Path | None = None      # YAML logging configuration (logging.yaml when unset)
    metrics: MetricsSettings = MetricsSettings()

    def collector_folder(self, name: str) -> Path:
        """The pipeline's collector_path, ready for a master: created when the file gives it
        relative, required to exist when it gives it absolute."""
        pipeline = self.pipeline(name)
        folder = pipeline.collector_path
        if pipeline.create_collector_path:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise ConfigError(f"{self.path}: key 'pipelines.{name}.collector_path': folder "
                              f"'{folder}' does not exist")
        return folder

    def pipeline(self, name: str) -> PipelineConfig:
        try:
            return self.pipelines[name]
        except KeyError:
            configured = ", ".join(sorted(self.pipelines)) or "none"
            raise ConfigError(
                f"{self.path}: no pipeline '{name}' in 'pipelines' (configured: {configured})"
            ) from None


# --------------------------------------------------------------------------- reading

def resolve_config_path(arg: str | None) -> Path:
    """-c/--config wins, then $SPOT_INGEST_CONF, then ingest_conf.json beside the scripts."""
    if arg:
        return Path(arg)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG


def load_config(path: str | os.PathLike) -> IngestConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read configuration: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return parse_config(data, path)


def parse_config(data: Any, path: Path) -> IngestConfig:
    """Validates an already-decoded JSON document; path names the file in messages and
    anchors relative paths."""
    base = path.resolve().parent
    root = _Section(data, "", path)
    root.allow("dbname", "hdfs_app_path", "collector_processes", "ingestion_interval",
               "spark-streaming", "kafka", "hdfs", "hive", "pipelines", "log_config",
               "metrics")

    kafka = root.section("kafka", required=True)
    kafka.allow("kafka_server", "kafka_port", "zookeper_server", "zookeper_port",
                "message_size", "replication_factor", "retention_hours", "security_protocol",
                "sasl_kerberos_service_name")
    kafka_settings = KafkaSettings(
        server=kafka.get("kafka_server", _brokers,
                         "a host name, or several as host[:port],host[:port]"),
        port=kafka.get("kafka_port", _port, "a port number (1-65535)"),
        message_size=kafka.get("message_size", _positive_int, "a positive integer", 900000),
        replication_factor=kafka.get("replication_factor", _positive_int, "a positive integer", 1),
        retention_hours=kafka.get("retention_hours", _positive_int, "a positive number of hours",
                                  KafkaSettings.retention_hours),
        security_protocol=kafka.get("security_protocol", _choice(KAFKA_SECURITY_PROTOCOLS),
                                    "one of " + ", ".join(KAFKA_SECURITY_PROTOCOLS),
                                    KafkaSettings.security_protocol),
        sasl_kerberos_service_name=kafka.get("sasl_kerberos_service_name", _non_empty_str,
                                             "a Kerberos service name",
                                             KafkaSettings.sasl_kerberos_service_name),
    )

    hdfs = root.section("hdfs", required=False)
    hdfs.allow("namenode_url", "user", "fs_uri")
    hdfs_settings = HdfsSettings(
        namenode_url=hdfs.get("namenode_url", _url, "an http(s):// WebHDFS URL", None),
        user=hdfs.get("user", _non_empty_str, "a user name", None),
        fs_uri=hdfs.get("fs_uri", _hdfs_uri, "an hdfs:// URI", None),
    )

    hive = root.section("hive", required=False)
    hive.allow("metastore_uris", "sasl", "kerberos_service_name")
    hive_settings = HiveSettings(
        metastore_uris=hive.get("metastore_uris", _thrift_uris,
                                "thrift://host:port (a string, comma-separated, or a list)",
                                (DEFAULT_METASTORE_URI,)),
        sasl=hive.get("sasl", _bool, "true or false", HiveSettings.sasl),
        kerberos_service_name=hive.get("kerberos_service_name", _non_empty_str,
                                       "a Kerberos service name",
                                       HiveSettings.kerberos_service_name),
    )

    spark = root.section("spark-streaming", required=False)
    spark.allow("driver_memory", "spark_exec", "spark_executor_memory",
                "spark_executor_cores", "spark_batch_size", "spark_master")
    defaults = SparkStreamingSettings()
    spark_settings = SparkStreamingSettings(
        driver_memory=spark.get("driver_memory", _memory, "a JVM memory size like 1g",
                                defaults.driver_memory),
        spark_exec=spark.get("spark_exec", _positive_int, "a positive integer",
                             defaults.spark_exec),
        spark_executor_memory=spark.get("spark_executor_memory", _memory,
                                        "a JVM memory size like 1g",
                                        defaults.spark_executor_memory),
        spark_executor_cores=spark.get("spark_executor_cores", _positive_int,
                                       "a positive integer", defaults.spark_executor_cores),
        spark_batch_size=spark.get("spark_batch_size", _positive_int,
                                   "a positive number of seconds", defaults.spark_batch_size),
        spark_master=spark.get("spark_master", _spark_master,
                               "a Spark master URL (local[N], spark://host:port, yarn)", None),
    )

    metrics = root.section("metrics", required=False)
    metrics.allow("port", "host")
    metrics_settings = MetricsSettings(
        port=metrics.get("port", _port, "a port number (1-65535)", None),
        host=metrics.get("host", _non_empty_str, "an address to listen on", "127.0.0.1"),
    )

    hdfs_app_path = root.get("hdfs_app_path", _non_empty_str, "a path")
    if hdfs_settings.enabled:
        if not hdfs_app_path.startswith("/"):
            raise root.error("hdfs_app_path", "an absolute HDFS path when hdfs.namenode_url is set",
                             hdfs_app_path)
        hdfs_app_path = normalise_hdfs_path(hdfs_app_path)
    else:
        hdfs_app_path = str(_resolve(base, hdfs_app_path))

    pipelines_section = root.section("pipelines", required=True)
    pipelines = {name: _parse_pipeline(pipelines_section, name, base)
                 for name in pipelines_section.keys()}

    return IngestConfig(
        path=path,
        dbname=root.get("dbname", _identifier, "a Hive database name (letters, digits, _)"),
        hdfs_app_path=hdfs_app_path,
        collector_processes=root.get("collector_processes", _positive_int, "a positive integer"),
        ingestion_interval=root.get("ingestion_interval", _positive_number,
                                    "a positive number of seconds", 1),
        kafka=kafka_settings,
        hdfs=hdfs_settings,
        hive=hive_settings,
        spark_streaming=spark_settings,
        pipelines=pipelines,
        log_config=_resolve(base, root.get("log_config", _non_empty_str, "a file path", None))
        if root.raw("log_config") else None,
        metrics=metrics_settings,
    )


def _parse_pipeline(pipelines: "_Section", name: str, base: Path) -> PipelineConfig:
    if not _PIPELINE_NAME.match(name):
        raise ConfigError(f"{pipelines.file}: pipeline name '{name}' must be lowercase "
                          "without spaces (e.g. flow_internals)")
    p = pipelines.section(name, required=True)
    p.allow("type", "collector_path", "local_staging", "supported_files", "process_opt",
            "pkt_num", "pcap_split_staging", "parser", "max_attempts", "settle_seconds",
            "rescan_seconds", "checkpoint_path")
    kind = p.get("type", _choice(PIPELINE_TYPES), "one of " + ", ".join(PIPELINE_TYPES))
    collector_path = _resolve(base, p.get("collector_path", _non_empty_str, "a folder path"))
    split_staging = p.get("pcap_split_staging", _non_empty_str, "a folder path", None)
    return PipelineConfig(
        name=name,
        type=kind,
        collector_path=collector_path,
        create_collector_path=not Path(os.path.expanduser(p.raw("collector_path"))).is_absolute(),
        local_staging=_resolve(base, p.get("local_staging", _non_empty_str, "a folder path")),
        supported_files=p.get("supported_files", _str_list, "a list of file name prefixes or suffixes",
                              DEFAULT_SUPPORTED_FILES[kind]),
        process_opt=p.get("process_opt", _str, "a string of decoder options", ""),
        pkt_num=p.get("pkt_num", _positive_int, "a positive integer",
                      650000 if kind == "dns" else None),
        pcap_split_staging=_resolve(base, split_staging) if split_staging else None,
        parser=p.get("parser", _non_empty_str, "a parser name", "bluecoat.py" if kind == "proxy" else None),
        checkpoint_path=p.get("checkpoint_path", _uri_or_path,
                              "a folder URI (file:///..., hdfs://host:port/...)", None),
        max_attempts=p.get("max_attempts", _positive_int, "a positive integer",
                           PipelineConfig.max_attempts),
        settle_seconds=p.get("settle_seconds", _non_negative_number,
                             "a number of seconds >= 0", PipelineConfig.settle_seconds),
        rescan_seconds=p.get("rescan_seconds", _positive_number, "a positive number of seconds",
                             PipelineConfig.rescan_seconds),
    )


def normalise_hdfs_path(path: str) -> str:
    """/user//spot/ -> /user/spot: one spelling of every path, so the paths a master
    publishes and the ones its workers expect always compare equal."""
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return normal


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p).resolve()


class _Invalid(Exception):
    """Raised by converters: the value does not fit."""


class _Section:
    """One JSON object of the configuration, with the dotted key prefix used in messages."""

    _MISSING = object()

    def __init__(self, data: Any, prefix: str, file: Path):
        if not isinstance(data, dict):
            where = f"key '{prefix}'" if prefix else "the top level"
            raise ConfigError(f"{file}: {where}: expected a JSON object, got {_describe(data)}")
        self.data, self.prefix, self.file = data, prefix, file

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def keys(self) -> list[str]:
        return list(self.data)

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def error(self, name: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.file}: key '{self.key(name)}': expected {expected}, "
                           f"got {_describe(value)}")

    def allow(self, *names: str) -> None:
        unknown = [k for k in self.data if k not in names]
        if unknown:
            raise ConfigError(f"{self.file}: unknown key '{self.key(unknown[0])}' "
                              f"(known here: {', '.join(names)})")

    def section(self, name: str, required: bool) -> "_Section":
        if name not in self.data:
            if required:
                raise ConfigError(f"{self.file}: missing required key '{self.key(name)}'")
            return _Section({}, self.key(name), self.file)
        return _Section(self.data[name], self.key(name), self.file)

    def get(self, name: str, convert: Callable[[Any], Any], expected: str,
            default: Any = _MISSING) -> Any:
        """An optional key that is absent, null or an empty string takes its default (the
        seed's own example leaves its spark-streaming values empty)."""
        if name not in self.data or (default is not self._MISSING and
                                     self.data[name] in (None, "")):
            if default is self._MISSING:
                raise ConfigError(f"{self.file}: missing required key '{self.key(name)}'")
            return default
        value = self.data[name]
        try:
            return convert(value)
        except _Invalid:
            raise self.error(name, expected, value) from None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)


# --------------------------------------------------------------------------- converters

def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise _Invalid
    return v


def _non_empty_str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Invalid
    return v.strip()


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise _Invalid


def _int(v: Any) -> int:
    """Integers, or strings holding one (the seed writes "650000" and "9092")."""
    if isinstance(v, bool):
        raise _Invalid
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"\s*-?\d+\s*", v):
        return int(v)
    raise _Invalid


def _positive_int(v: Any) -> int:
    n = _int(v)
    if n <= 0:
        raise _Invalid
    return n


def _positive_number(v: Any) -> float:
    if isinstance(v, bool):
        raise _Invalid
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise _Invalid from None
    if not isinstance(v, (int, float)) or v <= 0:
        raise _Invalid
    return v


def _non_negative_number(v: Any) -> float:
    if v == 0 and not isinstance(v, bool):
        return 0.0
    return _positive_number(v)


def _port(v: Any) -> int:
    n = _int(v)
    if not 1 <= n <= 65535:
        raise _Invalid
    return n


def _memory(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"\d+[kKmMgGtT]?", v.strip()):
        return v.strip()
    raise _Invalid


def _identifier(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
        return v.lower()
    raise _Invalid


def _url(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"https?://[^\s/]+(/.*)?", v.strip()):
        return v.strip().rstrip("/")
    raise _Invalid


def _hdfs_uri(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"(hdfs|viewfs)://[^\s/]+", v.strip().rstrip("/")):
        return v.strip().rstrip("/")
    raise _Invalid


def _brokers(v: Any) -> str:
    if isinstance(v, str) and all(re.fullmatch(r"[A-Za-z0-9_.\-]+(:\d{1,5})?", part.strip())
                                  for part in v.split(",")):
        return v.strip()
    raise _Invalid


def _spark_master(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"local(\[(\d+|\*)\])?|(spark|mesos|k8s)://\S+|yarn",
                                           v.strip()):
        return v.strip()
    raise _Invalid


def _uri_or_path(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"(file|hdfs|viewfs)://\S*|/\S*", v.strip()):
        return v.strip().rstrip("/")
    raise _Invalid


def _thrift_uris(v: Any) -> tuple[str, ...]:
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, list) and not isinstance(items, tuple):
        raise _Invalid
    uris = tuple(i.strip() for i in items if isinstance(i, str) and i.strip())
    if not uris or len(uris) != len(items) or not all(
            re.fullmatch(r"thrift://[^\s:/]+:\d+", u) for u in uris):
        raise _Invalid
    return uris


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str) and v:
        return (v,)
    if isinstance(v, list) and v and all(isinstance(i, str) and i for i in v):
        return tuple(v)
    raise _Invalid


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if v not in options:
            raise _Invalid
        return v
    return convert
