"""The cluster's daemons, each a real JVM on its own host (tests/cluster/network.py), from the
jars the local stack uses: three KRaft Kafka nodes; a NameNode and a DataNode from the local
stack's own templates (services/conf/hadoop) rendered with host names instead of 127.0.0.1;
the Hive Metastore served by services/metastore/BoundMetaStore on the metastore host's
address; a YARN ResourceManager and NodeManager (services/maven/yarn); a Spark standalone
master and worker (pyspark's jars). Every daemon listens on its host's name, which each host's
/etc/hosts resolves to that host's address. Modest heaps. stop() ends a daemon; whatever
happens, Network.destroy() kills what is left with its namespace."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .network import REPO, Host, HostProc

SERVICES = REPO / "services"
sys.path.insert(0, str(SERVICES))

from kraft import cluster_id, replicated_node_properties  # noqa: E402
from supervise import JAVA17_OPENS, JVM_COMMON, java_bin  # noqa: E402
from templates import fill, render  # noqa: E402

JARS = REPO / ".cache" / "jars"
CONF = Path(__file__).resolve().parent / "conf"
HADOOP_FILES = ("core-site.xml", "hdfs-site.xml", "hadoop-metrics2.properties",
                "log4j.properties", "jul-logging.properties")
BOUND_METASTORE = "spotingest.stack.BoundMetaStore"


def pyspark_home() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    return Path(list(spec.submodule_search_locations)[0])


def java_home() -> Path:
    return Path(java_bin()).resolve().parents[1]


def jar_dir(component: str) -> Path:
    path = JARS / component
    if not any(path.glob("*.jar")):
        raise RuntimeError(f"no {component} jars in {path} (run: make jars)")
    return path


class Daemon:
    """One JVM on one host, its output in logs/<name>.log of the test's folder."""
    heap = "256m"

    def __init__(self, host: Host, name: str, logs: Path):
        self.host, self.name = host, name
        self.log = logs / f"{name}.log"
        self.proc: HostProc | None = None
        self.state = host.local("state")            # on the host's own disk
        host.outside(host.local("tmp")).mkdir(parents=True, exist_ok=True)

    def prepare(self) -> None:
        """Configuration files, storage formats: before the first start."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def jvm(self, classpath: list[object], *extra: str) -> list[str]:
        return [java_bin(), f"-Xmx{self.heap}", *JVM_COMMON,
                f"-Djava.io.tmpdir={self.host.local('tmp')}", *extra,
                "-cp", os.pathsep.join(str(c) for c in classpath)]

    def start(self) -> "Daemon":
        self.proc = self.host.start(self.command(), self.log, env=self.env())
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self, timeout: float = 60) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.stop(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crashed machine."""
        if self.proc is not None:
            self.proc.kill()

    def tail(self, chars: int = 3000) -> str:
        try:
            return f"--- {self.log.name}\n{self.log.read_text(errors='replace')[-chars:]}"
        except OSError:
            return f"--- {self.log.name}: no log"


# ---------------------------------------------------------------------------- Kafka

class KafkaNode(Daemon):
    """A KRaft node (broker and controller) listening on its host's name: 9092, controller
    9093, and advertising that name to clients."""

    def __init__(self, host: Host, node_id: int, voters: list[Host], logs: Path):
        super().__init__(host, host.name, logs)
        self.node_id, self.voters = node_id, voters
        self.properties = host.local("kafka", "server.properties")

    def kafka_jvm(self, heap: str) -> list[str]:
        log4j = SERVICES / "conf" / "kafka" / "log4j2.properties"
        self.heap = heap
        return self.jvm([f"{jar_dir('kafka')}/*"], f"-Dlog4j2.configurationFile={log4j}")

    def prepare(self, cluster: str) -> None:
        data = self.host.local("kafka", "data")
        voters = ",".join(f"{i}@{h.name}:9093" for i, h in enumerate(self.voters, 1))
        text = replicated_node_properties(self.node_id, voters, self.host.name, 9092, 9093,
                                          str(data))
        target = self.host.outside(self.properties)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self.host.run([*self.kafka_jvm("128m"), "kafka.tools.StorageTool", "format",
                       "-t", cluster, "-c", str(self.properties)], timeout=180)

    def command(self) -> list[str]:
        return [*self.kafka_jvm("256m"), "kafka.Kafka", str(self.properties)]


class Kafka:
    """Three KRaft nodes; topics replicated three times with min.insync.replicas 2."""

    def __init__(self, hosts: list[Host], logs: Path):
        self.nodes = [KafkaNode(h, i, hosts, logs) for i, h in enumerate(hosts, 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{n.host.name}:9092" for n in self.nodes)

    def prepare(self) -> None:
        cluster = cluster_id()
        for node in self.nodes:
            node.prepare(cluster)

    def daemons(self) -> list[Daemon]:
        return list(self.nodes)


# ---------------------------------------------------------------------------- Hadoop

class HadoopDaemon(Daemon):
    """A Hadoop daemon configured by the local stack's templates, with host names."""
    main_class = ""
    extra_files: tuple[str, ...] = ()

    def __init__(self, host: Host, name: str, logs: Path, namenode: Host,
                 resourcemanager: Host | None = None):
        super().__init__(host, name, logs)
        self.namenode, self.resourcemanager = namenode, resourcemanager
        self.conf = host.local("hadoop-conf")

    def values(self) -> dict[str, str]:
        values = {"STATE": str(self.state), "HOST": self.host.name, "NAMENODE": self.namenode.name}
        if self.resourcemanager is not None:
            values["RESOURCEMANAGER"] = self.resourcemanager.name
        return values

    def prepare(self) -> None:
        folder = self.host.outside(self.conf)
        for name in HADOOP_FILES:
            render(SERVICES / "conf" / "hadoop" / name, folder / name, self.values())
        for name in self.extra_files:
            (folder / name).write_text(fill((CONF / name).read_text(), self.values(), name))

    def classpath(self) -> list[object]:
        return [self.conf, SERVICES / "conf" / "hadoop-webapps", f"{jar_dir('hadoop')}/*"]

    def hadoop_jvm(self) -> list[str]:
        return self.jvm(self.classpath(), *JAVA17_OPENS,
                        f"-Dhadoop.log.dir={self.host.local('logs')}",
                        f"-Dhadoop.home.dir={self.state}",
                        f"-Dlog4j.configuration=file:{self.conf / 'log4j.properties'}",
                        f"-Djava.util.logging.config.file={self.conf / 'jul-logging.properties'}")

    def env(self) -> dict[str, str]:
        return {"HADOOP_CONF_DIR": str(self.conf), "JAVA_HOME": str(java_home())}

    def command(self) -> list[str]:
        return [*self.hadoop_jvm(), self.main_class]


class NameNode(HadoopDaemon):
    main_class = "org.apache.hadoop.hdfs.server.namenode.NameNode"

    def prepare(self) -> None:
        super().prepare()
        self.host.run([*self.hadoop_jvm(), self.main_class, "-format", "-nonInteractive",
                       "-force"], timeout=180, env=self.env())


class DataNode(HadoopDaemon):
    heap = "192m"
    main_class = "org.apache.hadoop.hdfs.server.datanode.DataNode"


class ResourceManager(HadoopDaemon):
    main_class = "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager"
    extra_files = ("yarn-site.xml", "capacity-scheduler.xml")

    def classpath(self) -> list[object]:
        return [self.conf, f"{jar_dir('yarn')}/*"]


class NodeManager(ResourceManager):
    main_class = "org.apache.hadoop.yarn.server.nodemanager.NodeManager"


def client_conf(host: Host, namenode: Host, resourcemanager: Host) -> Path:
    """An edge host's HADOOP_CONF_DIR (core-site and yarn-site), as the cluster's client
    configuration; returns the folder as the host sees it."""
    daemon = ResourceManager(host, "client-conf", host.network.base / "logs", namenode,
                             resourcemanager)
    folder = host.outside(daemon.conf)
    render(SERVICES / "conf" / "hadoop" / "core-site.xml", folder / "core-site.xml",
           daemon.values())
    (folder / "yarn-site.xml").write_text(
        fill((CONF / "yarn-site.xml").read_text(), daemon.values(), "yarn-site.xml"))
    return daemon.conf


# ---------------------------------------------------------------------------- metastore

class Metastore(Daemon):
    """The Hive Metastore 2.3 of pyspark (Derby on the metastore host's disk, the warehouse on
    HDFS), served by the local stack's BoundMetaStore on this host's address only."""
    heap = "384m"

    def __init__(self, host: Host, logs: Path, namenode: Host):
        super().__init__(host, "metastore", logs)
        self.namenode = namenode
        self.conf = host.local("metastore-conf")

    def prepare(self) -> None:
        folder = self.host.outside(self.conf)
        fs = f"hdfs://{self.namenode.name}:8020"
        render(SERVICES / "conf" / "metastore" / "hive-site.xml", folder / "hive-site.xml",
               {"STATE": str(self.state), "WAREHOUSE": f"{fs}/user/hive/warehouse",
                "DEFAULT_FS": fs})
        shutil.copy(SERVICES / "conf" / "metastore" / "hive-log4j2.properties", folder)

    def command(self) -> list[str]:
        log4j = self.conf / "hive-log4j2.properties"
        return [*self.jvm([self.conf, f"{jar_dir('metastore')}/*", pyspark_home() / "jars" / "*"],
                          *JAVA17_OPENS, f"-Dlog4j2.configurationFile={log4j}",
                          f"-Dlog4j.configurationFile={log4j}",
                          f"-Dderby.stream.error.file={self.state / 'derby.log'}",
                          f"-Dderby.system.home={self.state}",
                          f"-Dhive.log.dir={self.host.local('logs')}"),
                BOUND_METASTORE, "--host", self.host.name, "--port", "9083"]

    def start(self) -> "Daemon":
        self.host.outside(self.state).mkdir(parents=True, exist_ok=True)
        return super().start()

    @property
    def uri(self) -> str:
        return f"thrift://{self.host.name}:9083"


# ---------------------------------------------------------------------------- Spark

class SparkDaemon(Daemon):
    """A Spark standalone daemon from pyspark's launcher (spark-class)."""

    def __init__(self, host: Host, name: str, logs: Path, args: list[str]):
        super().__init__(host, name, logs)
        self.args = args

    def env(self) -> dict[str, str]:
        return {"SPARK_DAEMON_MEMORY": "192m", "JAVA_HOME": str(java_home()),
                "SPARK_WORKER_DIR": str(self.host.local("spark-work")),
                "SPARK_LOG_DIR": str(self.host.local("logs")),
                "SPARK_LOCAL_DIRS": str(self.host.local("tmp"))}

    def command(self) -> list[str]:
        return [str(pyspark_home() / "bin" / "spark-class"), *self.args]


def spark_standalone(master: Host, worker: Host, logs: Path) -> tuple[SparkDaemon, SparkDaemon]:
    url = f"spark://{master.name}:7077"
    return (SparkDaemon(master, "spark-master", logs,
                        ["org.apache.spark.deploy.master.Master", "--host", master.name,
                         "--port", "7077", "--webui-port", "8080"]),
            SparkDaemon(worker, "spark-worker", logs,
                        ["org.apache.spark.deploy.worker.Worker", url, "--host", worker.name,
                         "--cores", "2", "--memory", "1g", "--webui-port", "8081"]))
