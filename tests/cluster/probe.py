"""The test's eyes inside the cluster: a Python process on one host (the operator's) that runs
read-only checks for the test process, which has no address on the cluster's network.

    probe = Probe.start(network["operator"], log)
    probe.call("kafka_brokers", "kafka-1:9092,kafka-2:9092")     # runs on the operator host

Requests and answers are pickled frames over the process's stdin and stdout (its prints and
logs go to its log file). A check that raises comes back as an AssertionError carrying the
probe's traceback. Checks use the project's own clients (common/), with the configuration file
the operator host holds.
"""
from __future__ import annotations

import collections
import json
import os
import pickle
import select
import subprocess
import sys
import tempfile
import traceback
import urllib.error
import urllib.request
from pathlib import Path

_HEADER = 8


def _send(stream, value) -> None:
    data = pickle.dumps(value)
    stream.write(len(data).to_bytes(_HEADER, "big") + data)
    stream.flush()


def _receive(stream):
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        raise EOFError("the probe process has ended")
    size = int.from_bytes(header, "big")
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the probe process ended mid-answer")
        data += chunk
    return pickle.loads(data)


class Probe:
    def __init__(self, popen: subprocess.Popen, log: Path):
        self.popen, self.log = popen, log

    @classmethod
    def start(cls, host, log: Path) -> "Probe":
        from .network import REPO

        log.parent.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(host.argv([sys.executable, "-m", "tests.cluster.probe"]),
                                 cwd=REPO, env=host.env({"PYTHONPATH": str(REPO)}),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=open(log, "ab"), start_new_session=True)
        probe = cls(popen, log)
        assert probe.call("hostname") == host.name
        return probe

    def call(self, name: str, *args, timeout: float = 180, **kwargs):
        _send(self.popen.stdin, (name, args, kwargs))
        ready, _, _ = select.select([self.popen.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"the probe did not answer {name} in {timeout} s")
        ok, value = _receive(self.popen.stdout)
        if not ok:
            raise AssertionError(f"probe {name}{args!r} failed on the operator host:\n{value}")
        return value

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.stdin.close()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


# ------------------------------------------------------------------ checks (run on the host)

def hostname() -> str:
    import socket

    return socket.gethostname()


def connect(host: str, port: int, timeout: float = 3) -> str:
    """"ok", or why a TCP connection from this host fails ("refused", "timeout", ...)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "ok"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__


def http_json(url: str, timeout: float = 10):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def kafka_brokers(bootstrap: str) -> int:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                 bootstrap_timeout_ms=5000)
    except Exception:  # noqa: BLE001 - not up yet
        return 0
    try:
        return len(admin.describe_cluster().get("brokers") or [])
    finally:
        admin.close()


def kafka_in_sync(bootstrap: str, topic: str) -> tuple[int, int]:
    """(smallest, largest) number of in-sync replicas over the topic's partitions. A request
    may first go to a dead broker: up to ten attempts."""
    import time

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    for attempt in range(10):
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                     bootstrap_timeout_ms=5000)
            try:
                (entry,) = admin.describe_topics([topic])
                break
            finally:
                admin.close()
        except KafkaError:
            if attempt == 9:
                raise
            time.sleep(1)
    sizes = [len(p.get("isr_nodes") or p.get("isr") or []) for p in entry["partitions"]]
    return min(sizes), max(sizes)


def kafka_topic_setting(bootstrap: str, topic: str, key: str) -> str:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return described["topic"][topic][key]["value"]


def metastore_ready(uri: str) -> bool:
    from common.catalog import Catalog
    from common.errors import CatalogError

    try:
        with Catalog((uri,), timeout_s=5) as catalog:
            return catalog.database_exists("default")
    except CatalogError:
        return False


def _config(path: str):
    from common.config import load_config

    return load_config(Path(path))


def committed(config_path: str, topic: str) -> bool:
    """Every message of the topic committed by its worker (and there were some). False while
    Kafka cannot tell yet (its group coordinator is still being elected)."""
    from common.status import ServiceDown, topic_status

    try:
        status = topic_status(_config(config_path), topic)
    except ServiceDown:
        return False
    return sum(p.end_offset for p in status.partitions) > 0 and status.lag == 0


def _parquet_files(config, table: str):
    """(storage, the table's Parquet files: not hidden, not staged)."""
    from common.layout import table_root
    from common.storage import open_storage

    storage = open_storage(config)
    return storage, [p for p in storage.files_under(table_root(config.hdfs_app_path, table))
                     if p.endswith(".parquet") and "/." not in p]


def table_rows(config_path: str, table: str) -> collections.Counter:
    """Every row of every Parquet file under <app>/<table>/hive (what Spot's models read),
    with the partition folder it is in; each file's schema checked against the table's."""
    import pyarrow.parquet as pq

    from common.schemas import TABLES

    config = _config(config_path)
    storage, paths = _parquet_files(config, table)
    schema = TABLES[table].arrow_schema()
    rows: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "read.parquet"
        for path in paths:
            storage.download(path, local)
            data = pq.read_table(local)
            assert data.schema.equals(schema, check_metadata=False), path
            folder = path.rsplit("/", 1)[0].split("/hive/", 1)[1]
            rows.update((folder, *r.values()) for r in data.to_pylist())
    return rows


def table_column(config_path: str, table: str, column: str) -> list:
    import pyarrow.parquet as pq

    config = _config(config_path)
    storage, paths = _parquet_files(config, table)
    values: list = []
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "read.parquet"
        for path in paths:
            storage.download(path, local)
            values += pq.read_table(local, columns=[column]).column(column).to_pylist()
    return values


def catalog_partitions(config_path: str, table: str) -> list[tuple[list[str], str]]:
    from common.catalog import Catalog

    config = _config(config_path)
    with Catalog(config.hive.metastore_uris) as catalog:
        return catalog.list_partitions(config.dbname, table)


def table_location(config_path: str, table: str) -> str:
    from common.catalog import Catalog

    config = _config(config_path)
    with Catalog(config.hive.metastore_uris) as catalog:
        return catalog.get_table(config.dbname, table).sd.location


def files_under(config_path: str, folder: str) -> list[str]:
    from common.storage import open_storage

    return sorted(open_storage(_config(config_path)).files_under(folder))


# ------------------------------------------------------------------ the probe process

def serve() -> None:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                      # prints and logs of the checks go to the log file
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    checks = sys.modules[__name__]
    while True:
        try:
            name, args, kwargs = _receive(requests)
        except EOFError:
            return
        try:
            if name.startswith("_") or name in ("serve", "Probe"):
                raise NameError(f"no check {name}")
            answer = (True, getattr(checks, name)(*args, **kwargs))
        except BaseException:  # noqa: BLE001 - every failure goes back to the test
            answer = (False, traceback.format_exc())
        _send(answers, answer)


if __name__ == "__main__":
    serve()
