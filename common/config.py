"""ingest_conf.json -> typed, validated configuration objects.

The configuration is declared once, here, as pydantic models: every key with its JSON name,
its type, its default, what it accepts and what it means (the README's key table is checked
against these declarations). Validation happens once, at load time, and every problem is
reported as one ConfigError line naming the file, the key and what was expected. Relative
paths resolve against the configuration file's folder.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path
from typing import Annotated, Any, Callable

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr,
                      ValidationError, model_validator)

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
PROXY_PARSERS = ("bluecoat.py", "bluecoat")


# --------------------------------------------------------------------------- converters
# What each kind of value accepts. A converter returns the value or raises _Invalid, which
# becomes "key 'x': expected <the key's expectation>, got <the value>".

class _Invalid(ValueError):
    """Raised by converters: the value does not fit."""


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


def _port_or_zero(v: Any) -> int:
    n = _int(v)
    if not 0 <= n <= 65535:
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


def _layout_fields(v: Any) -> str | tuple[str, ...]:
    """A layout's name, or ELFF field names (a list, or one string as #Fields writes them);
    what they must name is the proxy collector's check (pipelines/proxy/layouts.py)."""
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, (list, tuple)) and len(v) >= 2 and all(
            isinstance(n, str) and n and not re.search(r"\s", n) for n in v):
        return tuple(v)
    raise _Invalid


def _uri_or_path(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"(file|hdfs|viewfs)://\S*|/\S*", v.strip()):
        return v.strip().rstrip("/")
    raise _Invalid


def _thrift_uris(v: Any) -> tuple[str, ...]:
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)):
        raise _Invalid
    uris = tuple(i.strip() for i in items if isinstance(i, str) and i.strip())
    if not uris or len(uris) != len(items) or not all(
            re.fullmatch(r"thrift://[^\s:/]+:\d+", u) for u in uris):
        raise _Invalid
    return uris


def _topic_name(v: Any) -> str:
    if isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9._\-]{1,249}", v) and v not in (".", ".."):
        return v
    raise _Invalid


def _one_or_two(v: Any) -> int:
    n = _int(v)
    if n not in (1, 2):
        raise _Invalid
    return n


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str) and v:
        return (v,)
    if isinstance(v, (list, tuple)) and v and all(isinstance(i, str) and i for i in v):
        return tuple(v)
    raise _Invalid


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if v not in options:
            raise _Invalid
        return v
    return convert


def _path(v: Any) -> Path:
    return Path(_non_empty_str(v))


def Key(expected: str, doc: str, default: Any = ..., alias: str | None = None) -> Any:
    """A key's declaration beside its type (whose BeforeValidator is its converter): the words
    of its error message, its documentation, its default (none: the key is required)."""
    return Field(default, alias=alias, description=doc, json_schema_extra={"expected": expected})


def _accepts(convert: Callable[[Any], Any]) -> BeforeValidator:
    return BeforeValidator(convert)


def _any(v: Any) -> Any:
    return v


class _Section(BaseModel):
    """One JSON object of the configuration: unknown keys refused; an optional key that is
    null or an empty string takes its default (the seed's own example leaves its
    spark-streaming values empty)."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        optional = {f.alias or name for name, f in cls.model_fields.items()
                    if not f.is_required()}
        return {k: v for k, v in data.items() if not (k in optional and v in (None, ""))}


class KafkaSettings(_Section):
    server: Annotated[str, _accepts(_brokers)] = Key(
        "a host name, or several as host[:port],host[:port]",
        "the bootstrap broker, or several as host[:port],host[:port]", alias="kafka_server")
    port: Annotated[int, _accepts(_port)] = Key(
        "a port number (1-65535)", "the brokers' port (for hosts given without one)",
        alias="kafka_port")
    zookeper_server: Annotated[Any, _accepts(_any)] = Key(
        "anything", "(sic) legacy: accepted and ignored (Kafka 4 has no ZooKeeper)", None)
    zookeper_port: Annotated[Any, _accepts(_any)] = Key(
        "anything", "legacy: accepted and ignored", None)
    message_size: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive integer",
        "largest message, bytes (the brokers' message.max.bytes must allow it)", 900000)
    replication_factor: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive integer", "replication of the topics the masters create", 1)
    retention_hours: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive number of hours",
        "how long a topic keeps messages (long enough for a worker outage)", 168)
    security_protocol: Annotated[str, _accepts(_choice(KAFKA_SECURITY_PROTOCOLS))] = Key(
        "one of " + ", ".join(KAFKA_SECURITY_PROTOCOLS),
        "SASL_PLAINTEXT or SASL_SSL for a kerberized cluster", "PLAINTEXT")
    sasl_kerberos_service_name: Annotated[str, _accepts(_non_empty_str)] = Key(
        "a Kerberos service name", "the brokers' service principal name", "kafka")

    def __init__(self, server: str | None = None, port: int | None = None, /, **values: Any):
        """KafkaSettings(host, port, ...) as well as by keyword."""
        if server is not None:
            values["server"] = server
        if port is not None:
            values["port"] = port
        super().__init__(**values)

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


class HdfsSettings(_Section):
    """namenode_url unset: storage is the local filesystem under hdfs_app_path."""
    namenode_url: Annotated[str | None, _accepts(_url)] = Key(
        "an http(s):// WebHDFS URL",
        "WebHDFS URL (e.g. http://namenode:9870); unset: the local filesystem under "
        "hdfs_app_path", None)
    user: Annotated[str | None, _accepts(_non_empty_str)] = Key(
        "a user name", "user for WebHDFS requests (unset: the current user)", None)
    fs_uri: Annotated[str | None, _accepts(_hdfs_uri)] = Key(
        "an hdfs:// URI", "filesystem URI written into table and partition locations (unset: "
        "hdfs://<namenode host>:8020)", None)

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


class HiveSettings(_Section):
    metastore_uris: Annotated[tuple[str, ...], _accepts(_thrift_uris)] = Key(
        "thrift://host:port (a string, comma-separated, or a list)",
        "metastore(s), a string (comma-separated) or a list", (DEFAULT_METASTORE_URI,))
    sasl: Annotated[bool, _accepts(_bool)] = Key(
        "true or false", "SASL (GSSAPI) to the metastore", False)
    kerberos_service_name: Annotated[str, _accepts(_non_empty_str)] = Key(
        "a Kerberos service name", "the metastore's service principal name", "hive")

    def __init__(self, metastore_uris: tuple[str, ...] | None = None, /, **values: Any):
        """HiveSettings(uris, ...) as well as by keyword."""
        if metastore_uris is not None:
            values["metastore_uris"] = metastore_uris
        super().__init__(**values)


class MetricsSettings(_Section):
    """Prometheus endpoints: the master on `port`, worker N on port + 1 + N, or 0: any free
    port for every process (published in ingest_status); off when unset."""
    port: Annotated[int | None, _accepts(_port_or_zero)] = Key(
        "a port number (0-65535)",
        "Prometheus endpoints: master on port, worker N on port + 1 + N (pipelines.<name>."
        "metrics_port gives a pipeline its own); 0: any free port for every process, shown by "
        "ingest_status; unset: off", None)
    host: Annotated[str, _accepts(_non_empty_str)] = Key(
        "an address to listen on", "the address the endpoints listen on", "127.0.0.1")


class SparkStreamingSettings(_Section):
    driver_memory: Annotated[str, _accepts(_memory)] = Key(
        "a JVM memory size like 1g", "the proxy job's driver memory", "1g")
    spark_exec: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive integer", "executors of the proxy job", 1)
    spark_executor_memory: Annotated[str, _accepts(_memory)] = Key(
        "a JVM memory size like 1g", "memory of each executor", "1g")
    spark_executor_cores: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive integer", "cores of each executor", 1)
    spark_batch_size: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive number of seconds", "the micro-batch interval, seconds", 30)
    spark_master: Annotated[str | None, _accepts(_spark_master)] = Key(
        "a Spark master URL (local[N], spark://host:port, yarn)",
        "the Spark master the proxy job is submitted to (unset: local[N], N = worker.py -p)",
        None)


DNS_DECODERS = ("dnsdecode", "tshark")


class PipelineConfig(_Section):
    type: Annotated[str, _accepts(_choice(PIPELINE_TYPES))] = Key(
        "one of " + ", ".join(PIPELINE_TYPES), "flow, dns or proxy")
    collector_path: Annotated[Path, _accepts(_path)] = Key(
        "a folder path",
        "folder the master watches (relative: created on demand; absolute: must exist)")
    local_staging: Annotated[Path, _accepts(_path)] = Key(
        "a folder path", "the worker's scratch folder")
    supported_files: Annotated[tuple[str, ...], _accepts(_str_list)] = Key(
        "a list of file name prefixes or suffixes",
        "accepted name prefixes or suffixes (unset: flow nfcapd.; dns .pcap, .pcapng; proxy "
        ".log, .log.gz)", ())
    process_opt: Annotated[str, _accepts(_str)] = Key(
        "a string of decoder options", "extra arguments to the decoder (nfdump, tshark)", "")
    pkt_num: Annotated[int | None, _accepts(_positive_int)] = Key(
        "a positive integer", "dns: packets per piece, editcap -c (unset: 650000)", None)
    pcap_split_staging: Annotated[Path | None, _accepts(_path)] = Key(
        "a folder path", "dns: where captures are split (unset: <local_staging>/split)", None)
    parser: Annotated[str | None, _accepts(_choice(PROXY_PARSERS))] = Key(
        "bluecoat.py, the proxy parser (layouts: #Fields directives, or fields)",
        "proxy: the log parser; bluecoat.py reads every ProxySG ELFF layout", None)
    fields: Annotated[str | tuple[str, ...] | None, _accepts(_layout_fields)] = Key(
        "a layout name (spot, main, legacy_main, bcreportermain_v1, bcreportersslv1) or a "
        "list of ELFF field names",
        "proxy: the layout of lines before any #Fields directive (unset: the well-known "
        "layout with the line's field count; 27 fields: Spot's)", None)
    decoders: Annotated[int | None, _accepts(_one_or_two)] = Key(
        "1 or 2",
        "flow: nfdump processes per file of 4 MB or more, each over a disjoint half of its "
        "records, when process_opt is empty (unset: 2 on a machine with 2 or more cores)", None)
    decoder: Annotated[str | None, _accepts(_choice(DNS_DECODERS))] = Key(
        "dnsdecode or tshark",
        "dns: the decoder, dnsdecode (the fast one, built by make setup) or tshark; a "
        "process_opt asking for fields, options or a filter dnsdecode lacks uses tshark "
        "(unset: dnsdecode)", None)
    max_attempts: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive integer",
        "failures of one file (other than the machine's) before it is set aside", 5)
    settle_seconds: Annotated[float, _accepts(_non_negative_number)] = Key(
        "a number of seconds >= 0", "quiet time before a file written in place is taken", 2.0)
    rescan_seconds: Annotated[float, _accepts(_positive_number)] = Key(
        "a positive number of seconds", "full rescans of collector_path", 30.0)
    checkpoint_path: Annotated[str | None, _accepts(_uri_or_path)] = Key(
        "a folder URI (file:///..., hdfs://host:port/...)",
        "proxy: the job's checkpoints, one folder per topic (unset: "
        "<hdfs_app_path>/proxy/stage/<name>/checkpoints)", None)
    metrics_port: Annotated[int | None, _accepts(_port_or_zero)] = Key(
        "a port number (0-65535)",
        "this pipeline's Prometheus endpoints, as metrics.port but for it alone (several "
        "pipelines on one host each need their own, or 0) (unset: metrics.port)", None)
    topic: Annotated[str | None, _accepts(_topic_name)] = Key(
        "a Kafka topic name (letters, digits, '.', '_', '-')",
        "the pipeline's topic, created once and reused by every start (unset: "
        "SPOT-INGEST-<dbname>-<name>); master_collector.py -id and worker.py --topic override "
        "it", None)
    _name: str = PrivateAttr("")
    _create: bool = PrivateAttr(False)

    @property
    def name(self) -> str:
        return self._name

    @property
    def create_collector_path(self) -> bool:
        """Given relative in the file: created on demand (an absolute one must exist)."""
        return self._create

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_type(cls, data: Any) -> Any:
        """Defaults that depend on the pipeline's type."""
        if not isinstance(data, dict) or data.get("type") not in PIPELINE_TYPES:
            return data
        kind, data = data["type"], dict(data)
        for key, default in (("supported_files", DEFAULT_SUPPORTED_FILES[kind]),
                             ("pkt_num", 650000 if kind == "dns" else None),
                             ("parser", "bluecoat.py" if kind == "proxy" else None)):
            if data.get(key) in (None, "") and default is not None:
                data[key] = default
        return data


class IngestConfig(_Section):
    dbname: Annotated[str, _accepts(_identifier)] = Key(
        "a Hive database name (letters, digits, _)",
        "Hive database holding the tables flow, dns, proxy")
    hdfs_app_path: Annotated[str, _accepts(_non_empty_str)] = Key(
        "a path", "root of the application's storage (e.g. /user/spot)")
    collector_processes: Annotated[int, _accepts(_positive_int)] = Key(
        "a positive integer", "size of the master's pool of publishing processes")
    ingestion_interval: Annotated[float, _accepts(_positive_number)] = Key(
        "a positive number of seconds", "seconds between the master's polls", 1)
    spark_streaming: SparkStreamingSettings = Field(SparkStreamingSettings(),
                                                    alias="spark-streaming")
    kafka: KafkaSettings
    hdfs: HdfsSettings = HdfsSettings()
    hive: HiveSettings = HiveSettings()
    pipelines: dict[str, PipelineConfig]
    log_config: Annotated[Path | None, _accepts(_path)] = Key(
        "a file path", "the YAML logging configuration (unset: logging.yaml beside the scripts)",
        None)
    metrics: MetricsSettings = MetricsSettings()
    _path: Path = PrivateAttr(DEFAULT_CONFIG)

    @property
    def path(self) -> Path:
        """The file the configuration was read from."""
        return self._path

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

    def topic_of(self, name: str) -> str:
        """The topic a pipeline's master and workers share for the life of the installation:
        pipelines.<name>.topic, else SPOT-INGEST-<dbname>-<name> (the database names the
        installation, so two installations sharing one Kafka never share a topic)."""
        return self.pipeline(name).topic or f"SPOT-INGEST-{self.dbname}-{name}"

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
    if isinstance(data, dict) and isinstance(data.get("pipelines"), dict):
        for name in data["pipelines"]:
            if not _PIPELINE_NAME.match(name):
                raise ConfigError(f"{path}: pipeline name '{name}' must be lowercase without "
                                  "spaces (e.g. flow_internals)")
    try:
        config = IngestConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, path) from None
    base = path.resolve().parent
    app = config.hdfs_app_path
    if config.hdfs.enabled:
        if not app.startswith("/"):
            raise ConfigError(f"{path}: key 'hdfs_app_path': expected an absolute HDFS path "
                              f"when hdfs.namenode_url is set, got {_describe(app)}")
        app = normalise_hdfs_path(app)
    else:
        app = str(_resolve(base, app))
    pipelines = {}
    for name, p in config.pipelines.items():
        resolved = p.model_copy(update={
            "collector_path": _resolve(base, str(p.collector_path)),
            "local_staging": _resolve(base, str(p.local_staging)),
            "pcap_split_staging": _resolve(base, str(p.pcap_split_staging))
            if p.pcap_split_staging else None})
        resolved._name = name
        resolved._create = not p.collector_path.expanduser().is_absolute()
        pipelines[name] = resolved
    config = config.model_copy(update={
        "hdfs_app_path": app, "pipelines": pipelines,
        "log_config": _resolve(base, str(config.log_config)) if config.log_config else None})
    config._path = path
    return config


def normalise_hdfs_path(path: str) -> str:
    """/user//spot/ -> /user/spot: one spelling of every path, so the paths a master
    publishes and the ones its workers expect always compare equal."""
    return posixpath.normpath("/" + path.lstrip("/"))


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p).resolve()


# --------------------------------------------------------------------------- errors

def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)


def _model_at(loc: tuple) -> type[BaseModel]:
    """The section a location points into: IngestConfig, a nested section, or a pipeline."""
    model: type[BaseModel] = IngestConfig
    parts = list(loc)
    while parts:
        key = parts.pop(0)
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        annotation = fields[key].annotation
        if getattr(annotation, "__origin__", None) is dict:
            parts.pop(0)                      # the pipeline's name
            model = PipelineConfig
        else:
            model = annotation
    return model


def _known(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _one_line(exc: ValidationError, path: Path) -> ConfigError:
    """The first problem pydantic found, as one line naming the file, the key and what was
    expected."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in err["loc"])
    dotted, kind = ".".join(loc), err["type"]
    if kind == "extra_forbidden":
        known = ", ".join(_known(_model_at(loc[:-1])))
        return ConfigError(f"{path}: unknown key '{dotted}' (known here: {known})")
    if kind == "missing":
        return ConfigError(f"{path}: missing required key '{dotted}'")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        where = f"key '{dotted}'" if loc else "the top level"
        return ConfigError(f"{path}: {where}: expected a JSON object, got "
                           f"{_describe(err['input'])}")
    model = _model_at(loc[:-1])
    field = {f.alias or n: f for n, f in model.model_fields.items()}[loc[-1]]
    expected = (field.json_schema_extra or {}).get("expected", "a valid value")
    return ConfigError(f"{path}: key '{dotted}': expected {expected}, got "
                       f"{_describe(err['input'])}")


# --------------------------------------------------------------------------- documentation

def key_table() -> list[tuple[str, str, str]]:
    """(key, default, meaning) of every optional key, from the declarations: the README's
    table of optional keys is this table."""
    rows = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            key = f"{prefix}{f.alias or name}"
            if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
                walk(f.annotation, key + ".")
            elif getattr(f.annotation, "__origin__", None) is dict:
                walk(PipelineConfig, key + ".<name>.")
            elif not f.is_required() and not (f.description or "").startswith(("(sic)",
                                                                                "legacy")):
                rows.append((key, _render(f.default), f.description or ""))

    walk(IngestConfig, "")
    return rows


def _render(value: Any) -> str:
    if value == "":
        return '""'
    if value is None or value == ():
        return "unset"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def key_table_markdown() -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | {d} | {m} |" for k, d, m in key_table()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(key_table_markdown(), end="")
