"""Integration fixtures: the real local stack (Kafka, Hive Metastore, HDFS), started once by
`make test` (services/stack.py). A service that does not answer fails the tests that need
it; nothing here skips."""
from __future__ import annotations

import copy
import json
import os
import socket
import uuid
from pathlib import Path

import pytest

from common.config import IngestConfig, load_config

KAFKA = ("127.0.0.1", 9092)
METASTORE = ("127.0.0.1", 9083)
WEBHDFS_URL = "http://127.0.0.1:9870"
REPO = Path(__file__).resolve().parents[2]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if not _answers(host, port):
        pytest.fail(f"{name} does not answer on {host}:{port}: start the stack with "
                    "`make services` (make test does it)", pytrace=False)


@pytest.fixture(scope="session")
def kafka_up() -> None:
    require("Kafka", *KAFKA)


@pytest.fixture(scope="session")
def metastore_up() -> None:
    require("Hive Metastore", *METASTORE)


@pytest.fixture(scope="session")
def hdfs_up() -> None:
    require("HDFS NameNode (WebHDFS)", "127.0.0.1", 9870)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def base_config_data(app_path: str, dbname: str, collector_root: Path) -> dict:
    """A configuration like the shipped one, with its own database and storage root."""
    data = json.loads((REPO / "ingest_conf.json").read_text())
    data = copy.deepcopy(data)
    data["dbname"] = dbname
    data["hdfs_app_path"] = app_path
    for name, pipeline in data["pipelines"].items():
        pipeline["collector_path"] = str(collector_root / "collector" / name)
        pipeline["local_staging"] = str(collector_root / "staging" / name)
        (collector_root / "collector" / name).mkdir(parents=True, exist_ok=True)
        if "pcap_split_staging" in pipeline:
            pipeline["pcap_split_staging"] = str(collector_root / "staging" / name / "split")
    return data


def write_config(folder: Path, data: dict) -> Path:
    path = folder / f"conf_{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture
def local_config(tmp_path, kafka_up, metastore_up) -> IngestConfig:
    """Local-filesystem storage under tmp_path, a database of its own."""
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    return load_config(write_config(tmp_path, data))


@pytest.fixture
def hdfs_config(tmp_path, kafka_up, metastore_up, hdfs_up) -> IngestConfig:
    """WebHDFS storage under a fresh HDFS folder, a database of its own."""
    data = base_config_data("/" + unique("spot_it"), unique("spot_it"), tmp_path)
    data["hdfs"] = {"namenode_url": WEBHDFS_URL, "user": "spot"}
    return load_config(write_config(tmp_path, data))


@pytest.fixture(scope="session")
def spark(metastore_up):
    """One local Spark session for the whole test run, reading the real metastore."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = REPO / "var" / "test-spark-warehouse"
    session = (SparkSession.builder.master("local[2]").appName("spot-ingest-tests")
               .config("spark.driver.memory", "1g")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.hadoop.hive.metastore.uris", "thrift://%s:%d" % METASTORE)
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
               .enableHiveSupport().getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
