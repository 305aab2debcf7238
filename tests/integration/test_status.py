"""ingest_status.py against a running pipeline with a known lag, and with services down."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from common.kafka_admin import ensure_topic
from common.kafka_io import PartitionConsumer
from common.setup import setup_all
from common.status import rejected_lines
from common.storage import LocalStorage

from .conftest import base_config_data, unique, write_config
from .procs import REPO, start_worker, wait_for
from .test_flow_pipeline import PIPELINE, flow_files, publish_binaries  # noqa: F401 (fixture)


def status(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "ingest_status.py", "-c", str(config_path), "-t",
                           PIPELINE, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_status_reports_lag_activity_waiting_files_and_rows(local_config, flow_files, tmp_path):
    list(setup_all(local_config))
    topic = unique(f"SPOT-INGEST-{PIPELINE}")
    ensure_topic(local_config.kafka, topic, 2)
    names = ["nfcapd.201601040900", "nfcapd.201601040905", "nfcapd.201601041000"]
    publish_binaries(local_config, topic, [(flow_files[n], n) for n in names])        # p0
    publish_binaries(local_config, topic, [(flow_files["nfcapd.201601041005"], "nfcapd.201601041005")],
                     partition=1)
    publish_binaries(local_config, topic, [(flow_files["nfcapd.201601041005"], "nfcapd.201601041006")],
                     partition=1)
    worker = start_worker(local_config.path, PIPELINE, 0, topic, tmp_path)   # p1 has none
    collector = local_config.pipeline(PIPELINE).collector_path
    shutil.copyfile(flow_files["nfcapd.201601040900"], collector / "nfcapd.201601041100")
    (collector / "notes.txt").write_text("not collected")
    try:
        wait_for(lambda: worker.log().count(" rows in ") == 3, 60, "partition 0 loaded", [worker])
        proc = status(local_config.path, "--topic", topic, "--json")
    finally:
        assert worker.stop() == 0
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (t,) = doc["topics"]
    assert t["topic"] == topic and t["lag"] == 2
    p0, p1 = t["partitions"]
    assert (p0["partition"], p0["end_offset"], p0["committed"], p0["lag"], p0["active"]) == \
        (0, 3, 3, 0, True)
    assert p0["worker"].startswith("worker 0 on ") and 0 <= p0["last_seen_seconds"] < 45
    assert (p1["partition"], p1["end_offset"], p1["committed"], p1["lag"], p1["active"]) == \
        (1, 2, None, 2, False)
    assert (doc["collector"]["waiting"], doc["quarantine"]) == (1, [])
    (table,) = doc["tables"]
    assert table["table"] == "flow" and table["partitions"] == 2
    rows = {"/".join(p["values"]): (p["files"], p["rows"]) for p in table["newest"]}
    assert rows == {"2016/1/4/10": (1, 200), "2016/1/4/9": (2, 550)}
    # the same on a terminal
    proc = status(local_config.path, "--topic", topic)
    assert proc.returncode == 0 and f"topic {topic} (lag 2)" in proc.stdout
    assert "1 file(s) waiting" in proc.stdout


def test_status_names_the_service_that_does_not_answer(tmp_path, kafka_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["kafka"]["kafka_port"] = 1
    proc = status(write_config(tmp_path, data))
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2, "", "error: Kafka does not answer at 127.0.0.1:1\n")
    data["kafka"]["kafka_port"] = 9092
    data["hive"] = {"metastore_uris": "thrift://127.0.0.1:1"}
    config_path = write_config(tmp_path, data)
    topic = unique("SPOT-INGEST-flow")
    from common.config import load_config
    ensure_topic(load_config(config_path).kafka, topic, 1)
    proc = status(config_path, "--topic", topic)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: the Hive Metastore does not answer (cannot reach the "
                                  "Hive Metastore (thrift://127.0.0.1:1: ")
    assert proc.stderr.count("\n") == 1


def test_status_bad_arguments_exit_1(tmp_path):
    proc = status(REPO / "ingest_conf.json", "--watch", "0")
    assert (proc.returncode, proc.stderr) == (
        1, "ingest_status.py: error: argument --watch: expected a positive integer, got 0\n")


def legacy_name(pipeline: str, hh: int) -> str:
    return f"SPOT-INGEST-{pipeline}_{hh:02d}_00_00_{uuid.uuid4().int % 10**6:06d}"


def test_status_shows_the_pipelines_topic_then_unread_earlier_ones_oldest_first(
        local_config, flow_files, tmp_path):
    """The earlier version's topics are matched exactly (not by prefix) and ordered by when
    their first message was written (their names carry a time of day only); only this
    installation's, and only while they hold unread messages."""
    list(setup_all(local_config))
    own = local_config.topic_of(PIPELINE)
    ensure_topic(local_config.kafka, own, 1)
    older, newer = legacy_name(PIPELINE, 23), legacy_name(PIPELINE, 1)   # names sort the other way
    read_up, foreign = legacy_name(PIPELINE, 12), legacy_name(PIPELINE, 13)
    prefix_only = f"SPOT-INGEST-{PIPELINE}_{unique('x')}"
    for topic in (older, newer, read_up, foreign, prefix_only):
        ensure_topic(local_config.kafka, topic, 1)
        if topic == foreign:
            other = local_config.model_copy(update={"hdfs_app_path": str(tmp_path / "other")})
            publish_binaries(other, topic, [(flow_files["nfcapd.201601040900"],
                                             "nfcapd.201601040900")])
        else:
            publish_binaries(local_config, topic, [(flow_files["nfcapd.201601040900"],
                                                    "nfcapd.201601040900")])
        time.sleep(0.01)                  # distinct first-message times
    consumer = PartitionConsumer(local_config.kafka, read_up, 0)
    consumer.commit(0)
    consumer.close()
    doc = json.loads(status(local_config.path, "--json").stdout)
    assert [t["topic"] for t in doc["topics"]] == [own, older, newer]
    assert [t["lag"] for t in doc["topics"]] == [0, 1, 1]
    assert doc["tables"][0]["newest_of"] == "treceived"
    assert doc["collector"]["master"] is None


def test_status_of_a_topic_alone(local_config):
    own = local_config.topic_of(PIPELINE)
    ensure_topic(local_config.kafka, own, 2)
    proc = subprocess.run([sys.executable, "ingest_status.py", "-c", str(local_config.path),
                           "--topic", own, "--json"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["pipeline"], [t["topic"] for t in doc["topics"]]) == (PIPELINE, [own])
    stranger = unique("someone-elses")
    ensure_topic(local_config.kafka, stranger, 1)
    proc = subprocess.run([sys.executable, "ingest_status.py", "-c", str(local_config.path),
                           "--topic", stranger, "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    doc = json.loads(proc.stdout)
    assert (proc.returncode, doc["pipeline"], doc["collector"], doc["tables"]) == \
        (0, "-", None, [])
    assert [(p["partition"], p["lag"]) for p in doc["topics"][0]["partitions"]] == [(0, 0)]
    proc = subprocess.run([sys.executable, "ingest_status.py", "-c", str(local_config.path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (
        1, "ingest_status.py: error: one of -t/--type PIPELINE or --topic TOPIC is required\n")


class CountingStorage(LocalStorage):
    def __init__(self):
        self.reads = 0

    def read_range(self, path, offset, length):
        self.reads += 1
        return super().read_range(path, offset, length)


def test_rejected_lines_are_read_once_per_file(local_config):
    folder = Path(local_config.hdfs_app_path, "proxy", "rejected", "proxy_bluecoat")
    folder.mkdir(parents=True)
    (folder / "proxy_bluecoat-q-b0-0.json").write_text('{"a":1}\n{"a":2}\n')
    storage, pipeline = CountingStorage(), local_config.pipeline("proxy_bluecoat")
    assert rejected_lines(storage, local_config, pipeline) == 2
    (folder / "proxy_bluecoat-q-b1-0.json").write_text('{"a":3}\n')
    for _ in range(3):                          # a --watch refreshing three times
        assert rejected_lines(storage, local_config, pipeline) == 3
    assert storage.reads == 2                   # each file once
