"""A cluster deployment in which every role is on a host of its own (tests/cluster/network.py:
a network namespace, an address, a name, a local disk), as "Deploying on a cluster" in the
README describes it:

    collector            masters (flow, dns, proxy): the collector folders
    worker-1, worker-2   flow and dns workers, one partition each
    kafka-1..3           a KRaft Kafka, topics replicated 3 times, min.insync.replicas 2
    namenode, datanode   HDFS (WebHDFS for the masters and workers, RPC for Spark)
    metastore            the Hive Metastore (services/metastore/BoundMetaStore)
    resourcemanager, nodemanager   YARN
    spark-master, spark-worker     a Spark standalone cluster
    edge-1, edge-2       the proxy job's driver (worker.py), before and after a move
    operator             spot_setup.py, ingest_status.py, the test's checks (probe.py)

Each host holds its own configuration file; nothing is shared but the services. Exact counts
of distinct rows, read from the files and through Spark SQL.
"""
from __future__ import annotations

import collections
import copy
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from common.schemas import DNS
from pipelines.dns import capture_writer as cw
from pipelines.proxy import bluecoat, log_writer
from services.supervise import C1_ONLY
from tests.integration.procs import STARTING_S, visible_files, wait_for
from tests.reliability.harness import numbered_capture

from .network import REPO, Host

PROXY_FILE = re.compile(r"^proxy_bluecoat-([0-9a-f]{8})-b(\d+)-(\d+)\.parquet$")
WORKER = re.compile(r"^worker (\d+) on (\S+) \(pid \d+\)$")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class Deployment:
    """One ingest deployment on the cluster: a database, an hdfs_app_path, and each host's own
    ingest_conf.json (its local folders on its own disk)."""

    def __init__(self, cluster, spark_streaming: dict | None = None):
        self.cluster = cluster
        self.db, self.app = unique("spot_cluster"), "/" + unique("spot_cluster")
        self.spark_streaming = {"spark_batch_size": 2, **(spark_streaming or {})}
        self.configs: dict[str, Path] = {}
        self.procs = []

    def config(self, host: Host) -> Path:
        """The host's configuration file, as that host sees it (written once)."""
        if host.name in self.configs:
            return self.configs[host.name]
        data = copy.deepcopy(json.loads((REPO / "ingest_conf.json").read_text()))
        root = host.local(self.db)
        data.update(dbname=self.db, hdfs_app_path=self.app)
        data["kafka"].update(kafka_server=self.cluster.kafka.bootstrap, replication_factor=3,
                             message_size=100_000)
        data["hdfs"] = {"namenode_url": "http://namenode:9870", "user": "spot"}
        data["hive"] = {"metastore_uris": self.cluster.metastore.uri}
        data["spark-streaming"].update(self.spark_streaming)
        for name, pipeline in data["pipelines"].items():
            pipeline["collector_path"] = str(root / "collector" / name)
            pipeline["local_staging"] = str(root / "staging" / name)
            host.outside(root / "collector" / name).mkdir(parents=True, exist_ok=True)
            if "pcap_split_staging" in pipeline:
                pipeline["pcap_split_staging"] = str(root / "staging" / name / "split")
        data["pipelines"]["dns_server_1"]["pkt_num"] = 200
        path = root / "ingest_conf.json"
        host.outside(path).write_text(json.dumps(data, indent=2))
        self.configs[host.name] = path
        return path

    def collector_folder(self, host: Host, pipeline: str) -> Path:
        """Where the test drops files for a master: the collector folder on that host's disk."""
        return host.outside(host.local(self.db, "collector", pipeline))

    def setup(self) -> str:
        """spot_setup.py on the operator host: storage folders, database, tables."""
        operator = self.cluster.network["operator"]
        return operator.run([sys.executable, "spot_setup.py", "-c", str(self.config(operator))]).stdout

    def master(self, host: Host, pipeline: str, workers: int, topic: str):
        proc = host.start([sys.executable, "master_collector.py", "-c", str(self.config(host)),
                           "-t", pipeline, "-w", str(workers), "-id", topic],
                          self.log(host, f"master-{pipeline}"))
        self.procs.append(proc)
        wait_for(lambda: f"created, {workers} partitions" in proc.log(), 120,
                 f"the topic of {pipeline}", [proc])
        return proc

    def worker(self, host: Host, pipeline: str, partition: int, topic: str, parallel: int = 1,
               env: dict[str, str] | None = None):
        proc = host.start([sys.executable, "worker.py", "-c", str(self.config(host)),
                           "-t", pipeline, "-i", str(partition), "--topic", topic,
                           "-p", str(parallel)],
                          self.log(host, f"worker-{pipeline}-{partition}"), env=env)
        self.procs.append(proc)
        return proc

    def log(self, host: Host, name: str) -> Path:
        return self.cluster.logs / self.db / f"{host.name}-{name}-{uuid.uuid4().hex[:4]}.log"

    def stop_all(self, timeout: float = 180) -> list[int]:
        codes = [p.stop(timeout) for p in self.procs]
        self.procs.clear()
        return codes

    def probe(self, name: str, *args, **kwargs):
        return self.cluster.probe.call(name, str(self.config(self.cluster.network["operator"])),
                                       *args, **kwargs)

    def spark_sql(self, host: Host, *tables: str) -> dict:
        done = host.run([sys.executable, "-m", "tests.cluster.sparksql", self.cluster.metastore.uri,
                         self.db, *tables], env={"PYTHONPATH": str(REPO)},
                        cwd=host.outside(host.local("tmp")), timeout=600)
        return json.loads(done.stdout.strip().splitlines()[-1])


def proxy_expected(log: Path) -> collections.Counter:
    """(partition folder, the 28 columns) of every valid line, by the parser's own contract."""
    rows = collections.Counter()
    for parsed in map(bluecoat.parse_line, log.read_bytes().split(b"\n")):
        if isinstance(parsed, bluecoat.Row):
            values = tuple(parsed)
            y, m, d, h = values[-4:]
            rows[(f"y={y}/m={m}/d={d}/h={h}", *values[:-4])] += 1
    return rows


# ---------------------------------------------------------------------------- the hosts

def test_every_host_is_a_host_of_its_own(network, probe):
    """Each host answers to its own name and address; 127.0.0.1 is each host's own; the
    machine's own network gains nothing."""
    operator = network["operator"]
    seen = operator.run(["python3", "-c", "import socket; h = socket.gethostname(); "
                         "print(h, socket.gethostbyname(h))"]).stdout.split()
    assert seen == ["operator", operator.address]
    assert probe.call("hostname") == "operator"
    # the probe reaches another host by name; nothing on the operator's own loopback
    kafka = network["kafka-1"]
    listener = kafka.start(["python3", "-c", "import socket, time\ns = socket.socket()\n"
                            "s.bind(('kafka-1', 9999)); s.listen(); print('up', flush=True)\n"
                            "time.sleep(60)"], network.base / "logs" / "listener.log")
    try:
        wait_for(lambda: "up" in listener.log(), 30, "the listener", [listener])
        assert probe.call("connect", "kafka-1", 9999) == "ok"
        assert probe.call("connect", kafka.address, 9999) == "ok"
        assert probe.call("connect", "127.0.0.1", 9999) == "refused"
    finally:
        listener.kill()
    addresses = {h.address for h in network.hosts.values()}
    assert len(addresses) == len(network.hosts)
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                check=True).stdout
    assert not any(h.netns in root_links for h in network.hosts.values())
    assert "br0" not in root_links


# ---------------------------------------------------------------------------- flow and dns

def test_flow_and_dns_with_master_and_workers_on_separate_hosts(cluster, tmp_path):
    net = cluster.network
    collector, w1, w2, edge = net["collector"], net["worker-1"], net["worker-2"], net["edge-1"]
    d = Deployment(cluster)
    assert "created" in d.setup()
    flow_topic, dns_topic = unique("SPOT-INGEST-flow_internals"), unique("SPOT-INGEST-dns_server_1")
    try:
        d.master(collector, "flow_internals", 2, flow_topic)
        d.master(collector, "dns_server_1", 2, dns_topic)
        for partition, host in enumerate((w1, w2)):
            d.worker(host, "flow_internals", partition, flow_topic)
            d.worker(host, "dns_server_1", partition, dns_topic)
        ids: set[int] = set()
        for n in range(4):
            made, made_ids = numbered_capture(tmp_path / "made", f"nfcapd.20160104{9 + n % 2:02d}"
                                              f"{n:02d}", 2000, 1 + n * 10_000)
            ids |= made_ids
            os.replace(made, d.collector_folder(collector, "flow_internals") / made.name)
        traffic = cw.traffic_mix(300, datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc), 240.0)
        capture = cw.write_pcap(tmp_path / "made" / "dns.pcap", traffic.packets)
        dns_folder = d.collector_folder(collector, "dns_server_1")
        os.replace(capture, dns_folder / "dns.pcap")
        wait_for(lambda: d.probe("committed", flow_topic) and d.probe("committed", dns_topic)
                 and not (dns_folder / "dns.pcap").exists(), 300, "flow and dns loaded",
                 d.procs, interval=2)
        # the status tool, on the operator host, names each partition's worker by its host
        status = net["operator"].run([sys.executable, "ingest_status.py", "-c",
                                      str(d.config(net["operator"])), "-t", "flow_internals",
                                      "--topic", flow_topic, "--json"])
        partitions = json.loads(status.stdout)["topics"][0]["partitions"]
        assert [WORKER.match(p["worker"]).groups() for p in partitions] == \
            [("0", "worker-1"), ("1", "worker-2")]
        assert [p["active"] for p in partitions] == [True, True]
    finally:
        codes = d.stop_all()
    assert codes == [0] * 6
    flow_ids = d.probe("table_column", "flow", "ibyt")
    assert (len(flow_ids), set(flow_ids)) == (len(ids), ids)
    dns_rows = d.probe("table_rows", "dns")
    expected_dns = collections.Counter(tuple(r[c.name] for c in DNS.columns)
                                       for r in traffic.rows)
    assert collections.Counter(r[1:] for r in dns_rows.elements()) == expected_dns
    # partitions and tables located on the NameNode by name, readable from another host
    fs = "hdfs://namenode:8020"
    assert d.probe("table_location", "flow") == f"{fs}{d.app}/flow/hive"
    flow_parts = d.probe("catalog_partitions", "flow")
    assert sorted(location for _, location in flow_parts) == sorted(
        f"{fs}{d.app}/flow/hive/y=2016/m=01/d=04/h={h}" for h in ("09", "10"))
    read = d.spark_sql(edge, "flow", "dns")
    assert read == {"flow": {"rows": len(ids), "distinct": len(ids), "partitions": 2},
                    "dns": {"rows": len(traffic.rows), "distinct": len(set(expected_dns)),
                            "partitions": len({r[0] for r in dns_rows})}}
    # the workers' scratch space was theirs: nothing of it on the collector host
    assert not any(collector.outside(collector.local(d.db, "staging")).rglob("*.parquet"))


# ---------------------------------------------------------------------------- proxy

# The application master and the executors compile with C1 alone, as the tests' drivers do
# (tests/conftest.py); spark-submit's --conf sets the executors' extraJavaOptions, so theirs
# comes through their environment (HotSpot reads JAVA_TOOL_OPTIONS).
C1_SETTINGS = {"spark.yarn.am.extraJavaOptions": C1_ONLY,
               "spark.executorEnv.JAVA_TOOL_OPTIONS": C1_ONLY}


def spark_defaults(host: Host, settings: dict[str, str]) -> Path:
    """An edge host's SPARK_CONF_DIR with its spark-defaults.conf (as the host sees it)."""
    folder = host.local("spark-conf")
    host.outside(folder).mkdir(parents=True, exist_ok=True)
    host.outside(folder / "spark-defaults.conf").write_text(
        "".join(f"{k} {v}\n" for k, v in settings.items()))
    return folder


def publish_log(d: Deployment, tmp_path: Path, name: str, records: int, start: datetime,
                **bad) -> collections.Counter:
    log = tmp_path / name
    log_writer.write_log(log, records, start, hours=1, bad=bad)
    expected = proxy_expected(log)
    os.replace(log, d.collector_folder(d.cluster.network["collector"], "proxy_bluecoat") / name)
    return expected


def job_started(worker) -> bool:
    """The proxy job's driver has started its query (it logs the line once it has)."""
    return " started: topic " in worker.log()


def proxy_files(d: Deployment) -> list[str]:
    return [p.rsplit("/", 1)[1] for p in d.probe("files_under", f"{d.app}/proxy/hive")
            if p.endswith(".parquet")]


@pytest.mark.timeout(2400)
def test_the_proxy_job_on_yarn_and_a_move_of_its_edge_host(cluster, yarn, tmp_path):
    """Client mode: the driver on edge-1 (then edge-2), the executors in a NodeManager's
    container on another host, in the queue the site's spark-defaults names. The checkpoint
    lives on HDFS: the job started again on another edge host resumes where it stopped."""
    from .roles import client_conf, pyspark_home

    net = cluster.network
    d = Deployment(cluster, {"spark_master": "yarn", "spark_exec": 1,
                             "spark_executor_memory": "512m", "spark_executor_cores": 1,
                             "driver_memory": "512m"})
    d.setup()
    topic = unique("SPOT-INGEST-proxy_bluecoat")

    def edge_env(host: Host) -> dict[str, str]:
        return {"HADOOP_CONF_DIR": str(client_conf(host, net["namenode"], net["resourcemanager"])),
                "SPARK_CONF_DIR": str(spark_defaults(host, {
                    "spark.yarn.jars": f"local:{pyspark_home() / 'jars'}/*",
                    "spark.yarn.queue": "spot", "spark.yarn.am.memory": "384m",
                    **C1_SETTINGS}))}

    try:
        d.master(net["collector"], "proxy_bluecoat", 2, topic)
        expected = publish_log(d, tmp_path, "access-1.log", 3000,
                               datetime(2016, 1, 4, 9, tzinfo=timezone.utc), field_count=2)
        first = d.worker(net["edge-1"], "proxy_bluecoat", 0, topic, env=edge_env(net["edge-1"]))
        wait_for(lambda: job_started(first), STARTING_S, "the job's query on edge-1", d.procs,
                 interval=3)
        wait_for(lambda: sum(d.probe("table_rows", "proxy").values()) == sum(expected.values()),
                 STARTING_S, "the first log's rows", d.procs, interval=3)
        apps = cluster.probe.call("http_json", "http://resourcemanager:8088/ws/v1/cluster/apps"
                                  "?states=RUNNING")["apps"]["app"]
        assert [(a["queue"], a["amHostHttpAddress"].split(":")[0]) for a in apps] == \
            [("root.spot", "nodemanager")]
        containers = cluster.probe.call("http_json", "http://nodemanager:8042/ws/v1/node/"
                                        "containers")["containers"]["container"]
        assert len([c for c in containers if c["state"] == "RUNNING"]) == 2  # AM + executor
        assert first.stop(180) == 0
        d.procs.remove(first)
        assert "starting the proxy job on yarn" in first.log()
        # the edge host moves: the same job started on edge-2, more lines meanwhile
        expected += publish_log(d, tmp_path, "access-2.log", 2000,
                                datetime(2016, 1, 4, 11, tzinfo=timezone.utc), non_integer=3)
        second = d.worker(net["edge-2"], "proxy_bluecoat", 0, topic, env=edge_env(net["edge-2"]))
        wait_for(lambda: job_started(second), STARTING_S, "the job's query on edge-2", d.procs,
                 interval=3)
        wait_for(lambda: sum(d.probe("table_rows", "proxy").values()) == sum(expected.values()),
                 STARTING_S, "the second log's rows", d.procs, interval=3)
    finally:
        codes = d.stop_all()
    assert codes == [0, 0]                               # the master, the job on edge-2
    assert d.probe("table_rows", "proxy") == expected
    # one query throughout: edge-2 resumed edge-1's checkpoint, on HDFS
    assert {PROXY_FILE.match(name).group(1) for name in proxy_files(d)} == \
        {PROXY_FILE.match(proxy_files(d)[0]).group(1)}
    assert d.probe("files_under", f"{d.app}/proxy/stage/proxy_bluecoat/checkpoints/{topic}")
    assert d.spark_sql(net["edge-2"], "proxy") == {"proxy": {
        "rows": sum(expected.values()), "distinct": len(expected),
        "partitions": len({r[0] for r in expected})}}


@pytest.mark.timeout(1800)
def test_the_proxy_job_on_a_spark_standalone_cluster(cluster, spark_standalone, tmp_path):
    """The driver on edge-1, the master on spark-master, the executor on spark-worker."""
    net = cluster.network
    d = Deployment(cluster, {"spark_master": "spark://spark-master:7077", "spark_exec": 1,
                             "spark_executor_memory": "512m", "spark_executor_cores": 2,
                             "driver_memory": "512m"})
    d.setup()
    topic = unique("SPOT-INGEST-proxy_bluecoat")
    try:
        d.master(net["collector"], "proxy_bluecoat", 2, topic)
        expected = publish_log(d, tmp_path, "access.log", 4000,
                               datetime(2016, 1, 4, 9, tzinfo=timezone.utc), non_integer=3)
        conf_dir = spark_defaults(net["edge-1"], C1_SETTINGS)
        worker = d.worker(net["edge-1"], "proxy_bluecoat", 0, topic, parallel=2,
                          env={"SPARK_CONF_DIR": str(conf_dir)})
        wait_for(lambda: job_started(worker), STARTING_S, "the job's query", d.procs, interval=3)
        wait_for(lambda: sum(d.probe("table_rows", "proxy").values()) == sum(expected.values()),
                 STARTING_S, "every valid line", d.procs, interval=3)
    finally:
        codes = d.stop_all()
    assert codes == [0, 0]
    assert "starting the proxy job on spark://spark-master:7077" in worker.log()
    assert d.probe("table_rows", "proxy") == expected
    # the executor ran on the worker's host (its disk), not beside the driver
    spark_worker = net["spark-worker"]
    apps = list(spark_worker.outside(spark_worker.local("spark-work")).glob("app-*"))
    assert apps and all((app / "0" / "stderr").exists() for app in apps)


# ---------------------------------------------------------------------------- Kafka

def test_a_replicated_kafka_survives_a_broker_killed_mid_run(cluster, tmp_path):
    net = cluster.network
    d = Deployment(cluster)
    d.setup()
    topic = unique("SPOT-INGEST-flow_internals")
    broker = cluster.kafka.nodes[1]                      # kafka-2
    ids: set[int] = set()
    try:
        d.master(net["collector"], "flow_internals", 2, topic)
        d.worker(net["worker-1"], "flow_internals", 0, topic)
        d.worker(net["worker-2"], "flow_internals", 1, topic)
        bootstrap = cluster.kafka.bootstrap
        assert cluster.probe.call("kafka_in_sync", bootstrap, topic) == (3, 3)
        folder = d.collector_folder(net["collector"], "flow_internals")
        for n in range(12):
            made, made_ids = numbered_capture(tmp_path / "made", f"nfcapd.2016010409{n:02d}",
                                              3000, 1 + n * 10_000)
            ids |= made_ids
            os.replace(made, folder / made.name)
            if n == 5:                                   # files in flight: a broker dies
                broker.kill()
        wait_for(lambda: cluster.probe.call("kafka_in_sync", bootstrap, topic)[1] == 2, 120,
                 "the dead broker to leave the in-sync replicas", d.procs)
        broker.start()
        wait_for(lambda: d.probe("committed", topic) and not visible_files(folder), 300,
                 "every file loaded", d.procs, interval=2)
        wait_for(lambda: cluster.probe.call("kafka_in_sync", bootstrap, topic)[0] == 3, 180,
                 "kafka-2 back in sync", d.procs, interval=2)
    finally:
        codes = d.stop_all()
        if not broker.alive():
            broker.start()
    assert codes == [0, 0, 0]
    flow_ids = d.probe("table_column", "flow", "ibyt")
    assert (len(flow_ids), set(flow_ids)) == (len(ids), ids)
    assert cluster.probe.call("kafka_topic_setting", cluster.kafka.bootstrap, topic,
                              "min.insync.replicas") == "2"
