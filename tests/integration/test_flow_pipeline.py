"""Flow pipeline end to end with real nfcapd files, Kafka, metastore, storage and nfdump:
master_collector.py and worker.py run as real processes."""
from __future__ import annotations

import calendar
import csv
import os
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.catalog import Catalog
from common.config import IngestConfig, load_config
from common.kafka_admin import ensure_topic
from common.kafka_io import PartitionConsumer, Publisher
from common.layout import HourPartition, partition_dir
from common.messages import FileMessage, stored_name
from common.schemas import FLOW
from common.setup import setup_all
from common.storage import open_storage
from common.worker import Worker
from pipelines.flow.netflow_generator import capture, count_flows, synthetic_flows

from .conftest import unique
from .procs import REPO, start_master, start_worker, visible_files, wait_for

PIPELINE = "flow_internals"
FILES = [  # name, flows, seed: two files in hour 09, two in hour 10
    ("nfcapd.201601040900", 300, 1),
    ("nfcapd.201601040905", 250, 2),
    ("nfcapd.201601041000", 200, 3),
    ("nfcapd.201601041005", 150, 4),
]
SPARK_TYPES = {"STRING": "string", "BIGINT": "bigint", "INT": "int", "FLOAT": "float"}


@pytest.fixture(scope="module")
def flow_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nfcapd")
    files = {}
    for name, flows, seed in FILES:
        start = datetime.strptime(name[7:], "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
        files[name] = capture(synthetic_flows(flows, start, seed=seed, spread_seconds=300),
                              folder, name)
        assert count_flows(files[name]) == flows
    return files


def nfdump_rows(path: Path) -> list[dict]:
    """nfdump's own csv of a file, keyed by its own header names (the test's oracle)."""
    env = {**os.environ, "TZ": "UTC"}
    header = subprocess.run(["nfdump", "-r", str(path), "-o", "csv", "-c", "1"], env=env,
                            capture_output=True, text=True, check=True).stdout.splitlines()[0]
    body = subprocess.run(["nfdump", "-r", str(path), "-q", "-o", "csv"], env=env,
                          capture_output=True, text=True, check=True).stdout
    return list(csv.DictReader(body.splitlines(), fieldnames=header.split(",")))


def expected_row(n: dict) -> dict:
    received = n["tr"][:19]
    t = datetime.strptime(received, "%Y-%m-%d %H:%M:%S")
    return {
        "treceived": received, "unix_tstamp": calendar.timegm(t.timetuple()),
        "tryear": t.year, "trmonth": t.month, "trday": t.day, "trhour": t.hour,
        "trminute": t.minute, "trsec": t.second, "tdur": float(n["td"]),
        "sip": n["sa"], "dip": n["da"], "sport": int(n["sp"]), "dport": int(n["dp"]),
        "proto": n["pr"], "flag": n["flg"], "fwd": int(n["fwd"]), "stos": int(n["stos"]),
        "ipkt": int(n["ipkt"]), "ibyt": int(n["ibyt"]), "opkt": int(n["opkt"]),
        "obyt": int(n["obyt"]), "input": int(n["in"]), "output": int(n["out"]),
        "sas": int(n["sas"]), "das": int(n["das"]), "dtos": int(n["dtos"]),
        "dir": int(n["dir"]), "rip": n["ra"]}


def output_path(config: IngestConfig, name: str) -> str:
    """Output of a file collected as `name` (a path relative to collector_path)."""
    part = HourPartition(2016, 1, 4, int(name.rsplit("/", 1)[-1][15:17]))
    return f"{partition_dir(config.hdfs_app_path, 'flow', part)}/{PIPELINE}-{stored_name(name)}"


def drop(src: Path, folder: Path, name: str | None = None) -> Path:
    target = folder / (name or src.name)
    shutil.copyfile(src, target)
    return target


def read_placed(config: IngestConfig, name: str, tmp_path: Path) -> list[dict]:
    storage = open_storage(config)
    local = tmp_path / f"{stored_name(name)}.parquet"
    storage.download(output_path(config, name) + ".parquet", local)
    table = pq.read_table(local)
    assert table.schema.equals(FLOW.arrow_schema(), check_metadata=False)
    return table.to_pylist()


@pytest.mark.parametrize("backend", ["local", "hdfs"])
def test_flow_end_to_end(backend, request, flow_files, spark, tmp_path):
    config: IngestConfig = request.getfixturevalue(f"{backend}_config")
    list(setup_all(config))
    storage = open_storage(config)
    collector = config.pipeline(PIPELINE).collector_path
    topic = unique("SPOT-INGEST-flow")
    names = [name for name, _, _ in FILES]
    # as collected: one in a dated sub-folder (nfcapd -S)
    relative = {n: ("2016-01-04/" + n if n == names[1] else n) for n in names}

    drop(flow_files[names[0]], collector)                             # there before the master
    in_progress = drop(flow_files[names[3]], collector, "nfcapd.current.4242")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    workers = [start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)]
    procs = [master, *workers]
    try:
        wait_for(lambda: f"topic {topic} (created, 2 partitions)" in master.log(), 60,
                 "the master's topic line", procs)
        (collector / "2016-01-04").mkdir()                            # nfcapd -S dated folders
        drop(flow_files[names[1]], collector / "2016-01-04")
        drop(flow_files[names[2]], collector)

        def placed(subset):
            return all(storage.exists(output_path(config, relative[n]) + ".parquet")
                       for n in subset)

        wait_for(lambda: placed(names[:3]), 120, "the first three files in the table", procs)
        assert in_progress.exists()                                   # left alone
        assert not storage.exists(output_path(config, names[3]) + ".parquet")
        in_progress.rename(collector / names[3])                      # nfcapd closes the file
        wait_for(lambda: placed(names), 120, "the renamed file in the table", procs)
        wait_for(lambda: not visible_files(collector), 30,
                 "the collector folder to empty", procs)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0], [p.log()[-2000:] for p in procs]

    # every row of every file, exactly as nfdump prints it
    for name in names:
        expected = [expected_row(n) for n in nfdump_rows(flow_files[name])]
        got = read_placed(config, relative[name], tmp_path)
        assert len(got) == len(expected), name
        for g, e in zip(got, expected):
            g["tdur"] = round(g["tdur"], 3)
            assert g == e

    # rows per partition and per file through Spark SQL, with the table's types
    db = config.dbname
    spark.catalog.refreshTable(f"{db}.flow")
    table = spark.table(f"{db}.flow")
    assert [(f.name, f.dataType.simpleString()) for f in table.schema.fields] == \
        [(c.name, SPARK_TYPES[c.hive_type]) for c in FLOW.columns + FLOW.partition_columns]
    per_partition = {tuple(r[:4]): r[4] for r in spark.sql(
        f"SELECT y, m, d, h, count(*) FROM {db}.flow GROUP BY y, m, d, h").collect()}
    assert per_partition == {(2016, 1, 4, 9): 300 + 250, (2016, 1, 4, 10): 200 + 150}
    per_file = {re.sub(r".*/", "", r[0]): r[1] for r in spark.sql(
        f"SELECT input_file_name(), count(*) FROM {db}.flow GROUP BY 1").collect()}
    assert per_file == {f"{PIPELINE}-{stored_name(relative[name])}.parquet":
                        count_flows(flow_files[name]) for name in names}
    sample = nfdump_rows(flow_files[names[2]])[17]
    (row,) = spark.sql(f"SELECT * FROM {db}.flow WHERE h = 10 AND sip = '{sample['sa']}' AND "
                       f"sport = {sample['sp']} AND dport = {sample['dp']}").collect()
    row = row.asDict()
    assert (row.pop("y"), row.pop("m"), row.pop("d"), row.pop("h")) == (2016, 1, 4, 10)
    row["tdur"] = round(row["tdur"], 3)
    assert row == expected_row(sample)

    # each worker read only its own partition: the master's round robin decides who gets what
    published = dict(re.findall(r"published (\S*nfcapd\.\d+) .* partition (\d) offset",
                                master.log()))
    assert sorted(published) == sorted(relative.values())
    for worker_id, worker in enumerate(workers):
        done = re.findall(rf"worker-{worker_id}: (\S*nfcapd\.\d+): \d+ rows", worker.log())
        assert sorted(done) == sorted(n for n, p in published.items() if int(p) == worker_id)
        assert done                                                   # both partitions used
    with Catalog(config.hive.metastore_uris) as catalog:
        assert [v for v, _ in catalog.list_partitions(db, "flow")] == \
            [["2016", "1", "4", "9"], ["2016", "1", "4", "10"]]


def test_bad_name_is_set_aside(local_config, flow_files, tmp_path):
    """Two files of the same bad name in two sub-folders: both set aside, apart."""
    list(setup_all(local_config))
    collector = local_config.pipeline(PIPELINE).collector_path
    drop(flow_files["nfcapd.201601040900"], collector, "nfcapd.latest")
    (collector / "r2").mkdir()
    drop(flow_files["nfcapd.201601040905"], collector / "r2", "nfcapd.latest")
    master = start_master(local_config.path, PIPELINE, 1, unique("SPOT-INGEST-flow"), tmp_path)
    quarantine = collector / ".quarantine"
    other = stored_name("r2/nfcapd.latest")
    try:
        wait_for(lambda: (quarantine / "nfcapd.latest").exists() and (quarantine / other).exists(),
                 60, "the bad names to be set aside", [master])
    finally:
        assert master.stop() == 0
    assert (quarantine / "nfcapd.latest.reason").read_text() == (
        "nfcapd.latest: file name 'nfcapd.latest' carries no time stamp: expected "
        "nfcapd.YYYYMMDDhhmm or nfcapd.YYYYMMDDhhmmss\n")
    assert (quarantine / f"{other}.reason").read_text().startswith("r2/nfcapd.latest: file name")
    assert (quarantine / "nfcapd.latest").read_bytes() == \
        flow_files["nfcapd.201601040900"].read_bytes()
    assert (quarantine / other).read_bytes() == flow_files["nfcapd.201601040905"].read_bytes()
    assert "nfcapd.latest: set aside in" in master.log()


def publish_binaries(config: IngestConfig, topic: str, files: list[tuple[Path, str]],
                     partition: int = 0) -> None:
    """Stores binaries and publishes their messages, as the master would, to one partition."""
    storage = open_storage(config)
    publisher = Publisher(config.kafka, topic)
    try:
        for path, name in files:
            hour = name[15:17]
            remote = f"{config.hdfs_app_path}/flow/binary/20160104/{hour}/{PIPELINE}/{name}"
            storage.upload(path, remote)
            publisher.send(FileMessage(PIPELINE, name, remote, path.stat().st_size).encode(),
                           partition)
    finally:
        publisher.close()


def run_worker_until_idle(config: IngestConfig, topic: str, parallel: int = 1) -> Worker:
    worker = Worker(config, config.pipeline(PIPELINE), 0, topic, parallel)
    assert worker.run(idle_exit_seconds=3) == 0
    return worker


def test_same_message_twice_leaves_one_copy(local_config, flow_files, spark):
    list(setup_all(local_config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(local_config.kafka, topic, 1)
    name = "nfcapd.201601040900"
    publish_binaries(local_config, topic, [(flow_files[name], name), (flow_files[name], name)])
    worker = run_worker_until_idle(local_config, topic)
    assert (worker.processed, worker.rows) == (2, 600)
    db = local_config.dbname
    spark.catalog.refreshTable(f"{db}.flow")
    assert spark.sql(f"SELECT count(*) FROM {db}.flow").collect()[0][0] == 300
    consumer = PartitionConsumer(local_config.kafka, topic, 0)
    try:
        assert consumer.committed() == 2
    finally:
        consumer.close()


def test_corrupt_file_is_quarantined_and_the_next_one_lands(local_config, flow_files, tmp_path):
    list(setup_all(local_config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(local_config.kafka, topic, 1)
    real = flow_files["nfcapd.201601040905"]
    corrupt = tmp_path / "random"
    corrupt.write_bytes(os.urandom(5000))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    publish_binaries(local_config, topic, [(corrupt, "nfcapd.201601040900"),
                                           (truncated, "nfcapd.201601040910"),
                                           (real, "nfcapd.201601040905")])
    worker = run_worker_until_idle(local_config, topic, parallel=2)
    assert (worker.processed, worker.rows) == (3, 250)
    consumer = PartitionConsumer(local_config.kafka, topic, 0)
    try:
        assert consumer.committed() == 3          # every offset committed, in order
    finally:
        consumer.close()
    storage = open_storage(local_config)
    quarantine = f"{local_config.hdfs_app_path}/flow/quarantine/{PIPELINE}"
    assert storage.list(quarantine) == ["nfcapd.201601040900", "nfcapd.201601040900.reason",
                                        "nfcapd.201601040910", "nfcapd.201601040910.reason"]
    reason = Path(quarantine, "nfcapd.201601040900.reason").read_text()
    assert re.fullmatch(r"nfcapd\.201601040900 \(.*/nfcapd\.201601040900\): nfdump failed "
                        r"\(exit code 0\): Open file '.*': bad magic: 0x[0-9A-F]+\n", reason), reason
    assert "appendix offset error" in Path(quarantine, "nfcapd.201601040910.reason").read_text()
    assert storage.exists(output_path(local_config, "nfcapd.201601040905") + ".parquet")
    assert not storage.exists(output_path(local_config, "nfcapd.201601040900") + ".parquet")


def test_failed_upload_keeps_the_file_and_retries(tmp_path, flow_files, kafka_up):
    """Storage unreachable: the file stays in the collector folder, the reason is logged,
    the master retries, and stops cleanly without having lost it."""
    from .conftest import base_config_data, write_config

    data = base_config_data("/user/spot", "spot", tmp_path)
    data["hdfs"] = {"namenode_url": "http://127.0.0.1:1"}
    config_path = write_config(tmp_path, data)
    collector = Path(data["pipelines"][PIPELINE]["collector_path"])
    kept = drop(flow_files["nfcapd.201601040900"], collector)
    master = start_master(config_path, PIPELINE, 1, unique("SPOT-INGEST-flow"), tmp_path)
    try:
        wait_for(lambda: "(attempt 2)" in master.log(), 60, "a second attempt", [master])
    finally:
        assert master.stop() == 0
    assert kept.read_bytes() == flow_files["nfcapd.201601040900"].read_bytes()
    assert ("flow_internals: nfcapd.201601040900 not handed over (attempt 1), kept in place, "
            "retry in 2 s: mkdirs /user/spot/flow/binary/20160104/09/flow_internals: cannot "
            "reach WebHDFS at http://127.0.0.1:1: ConnectionError") in master.log()


def test_worker_does_not_commit_while_the_metastore_is_unreachable(local_config, flow_files,
                                                                   tmp_path, caplog):
    """A transient failure leaves the offset uncommitted; a later worker loads the file. The
    worker must have fetched, decoded and failed on the metastore, or this proves nothing."""
    import threading

    from common.config import HiveSettings

    list(setup_all(local_config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(local_config.kafka, topic, 1)
    name = "nfcapd.201601041000"
    publish_binaries(local_config, topic, [(flow_files[name], name)])
    broken = local_config.model_copy(update={"hive": HiveSettings(("thrift://127.0.0.1:1",))})
    worker = Worker(broken, broken.pipeline(PIPELINE), 0, topic)
    stopper = threading.Timer(6, worker.stop)
    stopper.start()
    assert worker.run() == 0
    assert (worker.processed, worker.rows) == (0, 0)
    assert re.search(r"offset 0 not done, not the file's fault \(cannot reach the Hive "
                     r"Metastore \(thrift://127.0.0.1:1: .*\)\); not committed, retry in 2 s",
                     caplog.text), caplog.text
    # it got as far as placing the rows: the Parquet file is there, only registration failed
    assert open_storage(local_config).exists(output_path(local_config, name) + ".parquet")
    consumer = PartitionConsumer(local_config.kafka, topic, 0)
    try:       # the heartbeat may have re-committed the start (0): message 0 is not done
        assert consumer.committed() in (None, 0)
    finally:
        consumer.close()
    healed = run_worker_until_idle(local_config, topic)
    assert (healed.processed, healed.rows) == (1, 200)


def test_sigterm_mid_flight_loses_nothing(tmp_path, flow_files, kafka_up, metastore_up):
    """Stopped while publishing: every file is either still in the collector folder or
    stored with its message on the topic; the master exits 0 and keeps the topic."""
    from .conftest import base_config_data, write_config

    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["collector_processes"] = 1                     # one at a time: a long queue to cut
    config = load_config(write_config(tmp_path, data))
    collector = config.pipeline(PIPELINE).collector_path
    names = [f"nfcapd.2016010409{m:02d}{s:02d}" for m in range(5) for s in range(60)]
    small = flow_files["nfcapd.201601041005"]
    for name in names:
        drop(small, collector, name)
    topic = unique("SPOT-INGEST-flow")
    binary = Path(config.hdfs_app_path, "flow", "binary", "20160104", "09", PIPELINE)
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    try:
        wait_for(lambda: binary.exists() and len(os.listdir(binary)) >= 3, 60,
                 "the first files to be stored", [master], interval=0.002)
    finally:
        assert master.stop() == 0
    left = sorted(p.name for p in visible_files(collector))
    messages = []
    for partition in (0, 1):
        consumer = PartitionConsumer(config.kafka, topic, partition)
        try:
            for _ in range(10):
                messages += [FileMessage.decode(m.value) for m in consumer.poll(timeout_ms=500)]
        finally:
            consumer.close()
    published = sorted(m.name for m in messages)
    print(f"stopped with {len(published)} published and {len(left)} left in place")
    assert sorted(left + published) == names                     # nothing lost, nothing twice
    assert len(published) >= 1
    # the signal came with work in flight and files waiting, or this proves nothing
    in_flight = re.search(r"stopping: finishing (\d+) file\(s\) in flight", master.log())
    assert in_flight and int(in_flight.group(1)) >= 1, master.log()[-2000:]
    assert len(left) >= 1
    storage = open_storage(config)
    assert all(storage.size(m.path) == m.size for m in messages)  # every message's binary stored
    assert f"stopped; {len(published)} file(s) published, 0 failure(s)" in master.log()


def test_live_nfcapd_writing_into_the_collector_folder(local_config, tmp_path):
    """The production shape: nfcapd itself writes nfcapd.current.<pid> in the collector folder
    and renames it every 2 s; the master takes only the renamed files, and every flow nfcapd
    wrote lands in the table (empty intervals included)."""
    from pipelines.flow.netflow_generator import LiveNfcapd

    list(setup_all(local_config))
    collector = local_config.pipeline(PIPELINE).collector_path
    topic = unique("SPOT-INGEST-flow")
    master = start_master(local_config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "created, 2 partitions" in master.log(), 60, "the topic", [master])
    workers = [start_worker(local_config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)]
    procs = [master, *workers]
    try:
        with LiveNfcapd(collector, interval=2) as nfcapd:
            for burst in range(3):
                start = datetime.now(timezone.utc).replace(microsecond=0)
                nfcapd.send(synthetic_flows(1000, start, seed=10 + burst, spread_seconds=1))
                time.sleep(2.5)
        assert nfcapd.flows == 3000

        def all_loaded() -> bool:
            published = re.findall(r"published (nfcapd\.\d+) ", master.log())
            done = [n for w in workers for n in re.findall(r"(nfcapd\.\d+): \d+ rows", w.log())]
            return not visible_files(collector) and sorted(done) == sorted(published)

        wait_for(all_loaded, 90, "every rotated file to be loaded", procs)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0]
    published = re.findall(r"published (nfcapd\.\d+) ", master.log())
    assert len(published) >= 3                           # several rotations
    assert "nfcapd.current" not in master.log()
    rows = sum(int(r) for w in workers for r in re.findall(r"nfcapd\.\d+: (\d+) rows", w.log()))
    assert rows == 3000
    storage = open_storage(local_config)
    placed = [f"{output_path_of(local_config, name)}" for name in published]
    assert sum(pq.read_metadata(p).num_rows for p in placed if storage.exists(p)) == 3000


def output_path_of(config: IngestConfig, name: str) -> str:
    """Output of a file named by nfcapd itself (any date, with or without seconds)."""
    from pipelines.flow.collector import flow_file_time

    part = HourPartition.of(flow_file_time(name))
    return f"{partition_dir(config.hdfs_app_path, 'flow', part)}/{PIPELINE}-{name}.parquet"


def test_collector_path_relative_is_created_on_demand_absolute_must_exist(tmp_path, flow_files,
                                                                          kafka_up):
    """The fixtures create collector folders; this one does not: a relative collector_path
    that does not exist yet is created by the master, which then collects from it; an
    absolute one that does not exist stops the master with one line."""
    import json
    import subprocess
    import sys

    from .conftest import base_config_data

    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path / "unused")
    data["pipelines"][PIPELINE]["collector_path"] = "relative/collector"
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps(data))
    folder = tmp_path / "relative" / "collector"
    assert not folder.exists()
    master = start_master(conf, PIPELINE, 1, unique("SPOT-INGEST-flow"), tmp_path)
    try:
        wait_for(lambda: folder.is_dir(), 60, "the folder to be created", [master])
        drop(flow_files["nfcapd.201601040900"], folder)
        wait_for(lambda: not visible_files(folder), 60, "the file to be collected", [master])
    finally:
        assert master.stop() == 0
    assert f"watching {folder} " in master.log()

    data["pipelines"][PIPELINE]["collector_path"] = str(tmp_path / "absent")
    conf.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "master_collector.py", "-c", str(conf), "-t", PIPELINE,
                           "-w", "1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (
        1, f"error: {conf}: key 'pipelines.{PIPELINE}.collector_path': folder "
           f"'{tmp_path / 'absent'}' does not exist\n")
    assert not (tmp_path / "absent").exists()
