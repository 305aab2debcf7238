"""The cluster suite's fixtures: hosts that are hosts (one network namespace each, made here
and removed after the suite, whatever happened) and the daemons on them, each JVM started once
for the whole suite (package scope). Needs root; fails otherwise."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from . import roles
from .network import Network, cleanup_leftovers
from .probe import Probe

HOSTS = ["collector", "worker-1", "worker-2", "kafka-1", "kafka-2", "kafka-3", "namenode",
         "datanode", "metastore", "resourcemanager", "nodemanager", "spark-master",
         "spark-worker", "edge-1", "edge-2", "operator"]
START_TIMEOUT_S = 300


def wait_ready(what: str, ready, daemons: list[roles.Daemon],
               timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [d for d in daemons if not d.alive()]
        if dead:
            raise RuntimeError(f"{what}: {', '.join(d.name for d in dead)} exited during start\n"
                               + "\n".join(d.tail() for d in dead))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n"
                               + "\n".join(d.tail() for d in daemons))
        time.sleep(1)


class Cluster:
    """Kafka (three brokers), HDFS, the metastore: what every pipeline needs."""

    def __init__(self, network: Network, probe: Probe):
        self.network, self.probe = network, probe
        self.logs = network.base / "logs"
        nn = network["namenode"]
        self.kafka = roles.Kafka([network[f"kafka-{i}"] for i in (1, 2, 3)], self.logs)
        self.namenode = roles.NameNode(nn, "namenode", self.logs, nn)
        self.datanode = roles.DataNode(network["datanode"], "datanode", self.logs, nn)
        self.metastore = roles.Metastore(network["metastore"], self.logs, nn)

    def daemons(self) -> list[roles.Daemon]:
        return [*self.kafka.daemons(), self.namenode, self.datanode, self.metastore]

    def start(self) -> "Cluster":
        with ThreadPoolExecutor(3) as pool:     # storage formats, one JVM each
            for done in [pool.submit(self.kafka.prepare), pool.submit(self.namenode.prepare),
                         pool.submit(self.datanode.prepare), pool.submit(self.metastore.prepare)]:
                done.result()
        for daemon in self.daemons():
            daemon.start()
        wait_ready("HDFS", self.hdfs_ready, [self.namenode, self.datanode])
        wait_ready("Kafka", lambda: self.probe.call("kafka_brokers", self.kafka.bootstrap) == 3,
                   self.kafka.daemons())
        wait_ready("the metastore", lambda: self.probe.call("metastore_ready", self.metastore.uri),
                   [self.metastore])
        return self

    def hdfs_ready(self) -> bool:
        state = self.probe.call("http_json", "http://namenode:9870/jmx?qry=Hadoop:service="
                                "NameNode,name=FSNamesystemState")
        beans = (state or {}).get("beans") or [{}]
        return int(beans[0].get("NumLiveDataNodes", 0)) == 1 and \
            int(beans[0].get("CapacityTotal", 0)) > 0

    def stop(self) -> None:
        for daemon in reversed(self.daemons()):
            daemon.stop()


@pytest.fixture(scope="package")
def network(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the cluster suite makes network namespaces and mounts: it runs as root",
                    pytrace=False)
    cleanup_leftovers()
    net = Network(tmp_path_factory.mktemp("cluster"), HOSTS)
    net.create()
    try:
        yield net
    finally:
        net.destroy()


@pytest.fixture(scope="package")
def probe(network):
    made = Probe.start(network["operator"], network.base / "logs" / "probe.log")
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="package")
def cluster(network, probe):
    made = Cluster(network, probe)
    try:
        yield made.start()
    finally:
        made.stop()


@pytest.fixture(scope="package")
def yarn(cluster):
    """A ResourceManager and one NodeManager, on hosts of their own."""
    net, nn, logs = cluster.network, cluster.network["namenode"], cluster.logs
    rm = roles.ResourceManager(net["resourcemanager"], "resourcemanager", logs, nn,
                               net["resourcemanager"])
    nm = roles.NodeManager(net["nodemanager"], "nodemanager", logs, nn, net["resourcemanager"])
    try:
        for daemon in (rm, nm):
            daemon.prepare()
            daemon.start()

        def one_node_running() -> bool:
            nodes = cluster.probe.call("http_json", "http://resourcemanager:8088/ws/v1/cluster/nodes")
            return [n["id"] for n in ((nodes or {}).get("nodes") or {}).get("node") or []
                    if n.get("state") == "RUNNING"] == ["nodemanager:8041"]

        wait_ready("YARN", one_node_running, [rm, nm])
        yield rm, nm
    finally:
        nm.stop()
        rm.stop()


@pytest.fixture(scope="package")
def spark_standalone(cluster):
    """A Spark standalone master and one worker, each on a host of its own."""
    net = cluster.network
    master, worker = roles.spark_standalone(net["spark-master"], net["spark-worker"],
                                            cluster.logs)
    try:
        master.start()
        worker.start()

        def worker_alive() -> bool:
            state = cluster.probe.call("http_json", "http://spark-master:8080/json/")
            return [w.get("host") for w in (state or {}).get("workers") or []
                    if w.get("state") == "ALIVE"] == ["spark-worker"]

        wait_ready("the Spark standalone cluster", worker_alive, [master, worker])
        yield master, worker
    finally:
        worker.stop()
        master.stop()
