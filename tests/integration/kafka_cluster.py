"""A three-node KRaft Kafka on loopback for the tests that need replicas of their own (the
shared stack has one broker), from the jars the local stack uses: every node broker and
controller, a modest heap each, torn down by stop()."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from services.kraft import cluster_id, replicated_node_properties
from services.supervise import JVM_COMMON

REPO = Path(__file__).resolve().parents[2]
KAFKA_JARS = REPO / ".cache" / "jars" / "kafka"
LOG4J = REPO / "services" / "conf" / "kafka" / "log4j2.properties"


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home, "bin", "java")) if home else "java"


class KafkaCluster:
    """Three KRaft nodes: brokers on 127.0.0.1:19292/19294/19296, controllers one port up."""

    def __init__(self, folder: Path, nodes: int = 3, base_port: int = 19292):
        self.folder, self.nodes, self.base_port = folder, nodes, base_port
        self.procs: dict[int, subprocess.Popen] = {}
        self.cluster_id = cluster_id()

    def broker_port(self, node: int) -> int:
        return self.base_port + 2 * (node - 1)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in range(1, self.nodes + 1))

    def _properties(self, node: int) -> Path:
        voters = ",".join(f"{n}@127.0.0.1:{self.broker_port(n) + 1}"
                          for n in range(1, self.nodes + 1))
        port = self.broker_port(node)
        data = self.folder / f"node-{node}"
        text = replicated_node_properties(node, voters, "127.0.0.1", port, port + 1,
                                          str(data))
        path = self.folder / f"node-{node}.properties"
        path.write_text(text)
        return path

    def _jvm(self, heap: str) -> list[str]:
        return [java(), f"-Xmx{heap}", *JVM_COMMON,
                f"-Dlog4j2.configurationFile={LOG4J}", "-cp", f"{KAFKA_JARS}/*"]

    def start(self) -> "KafkaCluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        for node in range(1, self.nodes + 1):
            props = self._properties(node)
            done = subprocess.run([*self._jvm("128m"), "kafka.tools.StorageTool", "format",
                                   "-t", self.cluster_id, "-c", str(props)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"Kafka cluster: formatting node {node} failed: "
                                   f"{(done.stderr or done.stdout).strip()[-1000:]}")
        for node in range(1, self.nodes + 1):
            self.start_node(node, wait=False)
        self.wait_for_brokers(self.nodes)
        return self

    def start_node(self, node: int, wait: bool = True) -> None:
        log = open(self.folder / f"node-{node}.log", "ab")
        self.procs[node] = subprocess.Popen(
            [*self._jvm("256m"), "kafka.Kafka", str(self.folder / f"node-{node}.properties")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        if wait:
            self.wait_for_brokers(self.nodes)

    def kill_node(self, node: int) -> None:
        """SIGKILL: as a crashed machine."""
        proc = self.procs.pop(node)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def in_sync(self, topic: str) -> tuple[int, int]:
        """(smallest, largest) number of in-sync replicas over the topic's partitions."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        for attempt in range(10):          # a request may first go to the dead broker
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                         request_timeout_ms=5000, bootstrap_timeout_ms=5000)
                try:
                    (entry,) = admin.describe_topics([topic])
                    break
                finally:
                    admin.close()
            except KafkaError:
                time.sleep(1)
        else:
            raise RuntimeError(f"cannot describe {topic} on {self.bootstrap}")
        sizes = [len(p.get("isr_nodes") or p.get("isr") or []) for p in entry["partitions"]]
        return min(sizes), max(sizes)

    def wait_in_sync(self, topic: str, replicas: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.in_sync(topic)[0] < replicas:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic}: partitions not back to {replicas} in-sync "
                                   f"replicas in {timeout} s: {self.in_sync(topic)}")
            time.sleep(1)

    def wait_for_brokers(self, count: int, timeout: float = 120) -> None:
        from kafka import KafkaAdminClient

        deadline = time.monotonic() + timeout
        while True:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                         request_timeout_ms=5000, bootstrap_timeout_ms=5000)
                try:
                    if len(admin.describe_cluster().get("brokers") or []) >= count:
                        return
                finally:
                    admin.close()
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() > deadline:
                logs = "\n".join((self.folder / f"node-{n}.log").read_text()[-2000:]
                                 for n in range(1, self.nodes + 1))
                raise RuntimeError(f"Kafka cluster: {count} brokers not up in {timeout} s\n{logs}")
            time.sleep(1)

    def stop(self) -> None:
        for node in list(self.procs):
            proc = self.procs.pop(node)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
