#!/usr/bin/env python3
"""Runs the local single-machine stack on loopback: HDFS, Kafka and the Hive Metastore.

    .venv/bin/python services/stack.py start    # idempotent; waits until every service is healthy
    .venv/bin/python services/stack.py status   # exit 0 only when every service is healthy, else 3
    .venv/bin/python services/stack.py stop     # SIGTERM (then SIGKILL after 30 s) our own pids
    .venv/bin/python services/stack.py stop kafka   # any command can name services (hdfs = both)

Every service is a real JVM (nothing is mocked):

    hdfs-namenode  Hadoop NameNode, RPC 127.0.0.1:8020, HTTP/WebHDFS 127.0.0.1:9870
    hdfs-datanode  Hadoop DataNode, 127.0.0.1:9866 (data), :9864 (HTTP), :9867 (IPC)
    kafka          Kafka 4 KRaft node (broker + controller), 127.0.0.1:9092 (controller :9093)
    metastore      Hive Metastore 2.3 (the jars inside pyspark), thrift 127.0.0.1:9083, Derby DB,
                   served by services/metastore/BoundMetaStore.java (Hive 2.3's own main binds
                   0.0.0.0: every port of the stack listens on loopback only)

Jars come from .cache/jars/{kafka,hadoop,metastore} (services/fetch-jars.sh; metastore is our
launcher, compiled there) and from the pyspark package of the interpreter running this script. Config templates live in services/conf/ and are rendered into
the state folder var/stack/ (git-ignored), which also holds the data, logs/<service>.log (stdout and
stderr of the JVM) and pids/<service>.pid. Processes run detached and outlive this script.

Only the standard library is needed to start and stop; the health checks speak the real protocols
with the project's own clients (services/health.py). The rest lives beside this file: process
supervision in supervise.py, configuration templates in templates.py.
"""
from __future__ import annotations

import argparse
import fcntl
import importlib.util
import logging
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from kraft import cluster_id as kraft_cluster_id  # noqa: E402
from health import http_get, jmx, kafka_brokers, metastore_ready  # noqa: E402
from supervise import (HOST, JAVA17_OPENS, LOG_TAIL_LINES, LOGS, PIDS, ROOT,  # noqa: E402
                       STATE, Service, StackError, java_bin, pid_alive, port_free, port_owner,
                       proc_cmdline, tail)
from templates import render  # noqa: E402

CONF = ROOT / "services" / "conf"
JARS = ROOT / ".cache" / "jars"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0



# ----------------------------------------------------------------------------------------------
# where the services come from

def pyspark_jars() -> Path:
    spec = importlib.util.find_spec("pyspark")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise StackError(f"pyspark is not installed in {sys.executable} (run: make setup)")
    jars = Path(list(spec.submodule_search_locations)[0]) / "jars"
    if not any(jars.glob("hive-metastore-*.jar")):
        raise StackError(f"no hive-metastore jar in {jars}")
    return jars


def jar_dir(component: str) -> Path:
    path = JARS / component
    if not (JARS / f"{component}.stamp").is_file() or not any(path.glob("*.jar")):
        raise StackError(f"{component} jars missing in {path} (run: make jars)")
    return path


METASTORE_MAIN = "spotingest.stack.BoundMetaStore"


def metastore_classpath() -> list[str]:
    """Our launcher of the Hive Metastore (bound to one address), then Hive 2.3 from pyspark."""
    return [f"{jar_dir('metastore')}/*", f"{pyspark_jars()}/*"]


# ----------------------------------------------------------------------------------------------
# services

class HdfsService(Service):
    conf_dir = STATE / "hdfs" / "conf"

    def prepare(self) -> None:
        for f in ("core-site.xml", "hdfs-site.xml", "hadoop-metrics2.properties",
                  "log4j.properties", "jul-logging.properties"):
            render(CONF / "hadoop" / f, self.conf_dir / f)

    def env(self) -> dict[str, str]:
        return {**os.environ, "HADOOP_CONF_DIR": str(self.conf_dir)}

    def hadoop_jvm(self, heap: str) -> list[str]:
        # The Maven jars lack the webapps/ folders of the binary tarball: services/conf/hadoop-webapps
        # provides the (empty) ones HttpServer2 insists on.
        classpath = [str(self.conf_dir), str(CONF / "hadoop-webapps"), f"{jar_dir('hadoop')}/*"]
        return self.jvm(heap, classpath, *JAVA17_OPENS,
                        f"-Dhadoop.log.dir={LOGS}", f"-Dhadoop.home.dir={STATE / 'hdfs'}",
                        f"-Dlog4j.configuration=file:{self.conf_dir / 'log4j.properties'}",
                        f"-Djava.util.logging.config.file={self.conf_dir / 'jul-logging.properties'}")


class NameNode(HdfsService):
    name = "hdfs-namenode"
    address = "hdfs://127.0.0.1:8020, http://127.0.0.1:9870"
    ports = (8020, 9870)
    main_class = "org.apache.hadoop.hdfs.server.namenode.NameNode"

    def initialize(self) -> None:
        if (STATE / "hdfs" / "name" / "current" / "VERSION").is_file():
            return
        # A new namespace: DataNode storage from an earlier one would be refused.
        shutil.rmtree(STATE / "hdfs" / "name", ignore_errors=True)
        shutil.rmtree(STATE / "hdfs" / "data", ignore_errors=True)
        self.run_tool([*self.hadoop_jvm("384m"), self.main_class, "-format", "-nonInteractive",
                       "-force"], "formatting the NameNode")

    def command(self) -> list[str]:
        return [*self.hadoop_jvm("384m"), self.main_class]

    def check(self) -> str | None:
        info = jmx(9870, "Hadoop:service=NameNode,name=NameNodeInfo")
        if info.get("Safemode"):
            return f"in safe mode: {info['Safemode']}"
        status, body = http_get(f"http://{HOST}:9870/webhdfs/v1/?op=GETFILESTATUS")
        if status != 200:
            return f"WebHDFS GETFILESTATUS answered HTTP {status}"
        return None


class DataNode(HdfsService):
    name = "hdfs-datanode"
    address = "127.0.0.1:9866, http://127.0.0.1:9864"
    ports = (9866, 9864, 9867)
    main_class = "org.apache.hadoop.hdfs.server.datanode.DataNode"

    def command(self) -> list[str]:
        return [*self.hadoop_jvm("256m"), self.main_class]

    def check(self) -> str | None:
        # The DataNode's own view, from its HTTP server (where WebHDFS redirects land): it has
        # registered, heartbeats and has sent its block report. (Not DataNodeInfo: reading that
        # bean before registration logs stack traces.)
        activity = jmx(9864, "Hadoop:service=DataNode,name=DataNodeActivity*")
        if int(activity.get("HeartbeatsNumOps", 0)) < 1:
            return "the DataNode has not registered with the NameNode yet"
        if int(activity.get("BlockReportsNumOps", 0)) < 1:
            return "the DataNode has not sent its block report yet"
        state = jmx(9870, "Hadoop:service=NameNode,name=FSNamesystemState")
        if int(state.get("NumLiveDataNodes", 0)) < 1:
            return "the NameNode sees no live DataNode yet"
        if int(state.get("CapacityTotal", 0)) <= 0:
            return "the DataNode has not reported its storage yet"
        return None


class Kafka(Service):
    name = "kafka"
    address = "127.0.0.1:9092 (controller 127.0.0.1:9093)"
    ports = (9092, 9093)
    main_class = "kafka.Kafka"
    home = STATE / "kafka"

    def prepare(self) -> None:
        render(CONF / "kafka" / "server.properties", self.home / "server.properties")
        render(CONF / "kafka" / "log4j2.properties", self.home / "log4j2.properties")

    def classpath(self) -> list[str]:
        return [f"{jar_dir('kafka')}/*"]

    def kafka_jvm(self, heap: str) -> list[str]:
        return self.jvm(heap, self.classpath(),
                        f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                        f"-Dkafka.logs.dir={LOGS}")

    def initialize(self) -> None:
        data = self.home / "data"
        if (data / "meta.properties").is_file():
            return
        shutil.rmtree(data, ignore_errors=True)
        id_file = self.home / "cluster.id"
        if not id_file.is_file():
            id_file.write_text(kraft_cluster_id())
        cluster_id = id_file.read_text().strip()
        self.run_tool([*self.kafka_jvm("256m"), "kafka.tools.StorageTool", "format",
                       "-t", cluster_id, "-c", str(self.home / "server.properties")],
                      "formatting the Kafka storage")

    def command(self) -> list[str]:
        return [*self.kafka_jvm("512m"), self.main_class, str(self.home / "server.properties")]

    def check(self) -> str | None:
        return None if kafka_brokers(9092) else "no broker registered yet"


class Metastore(Service):
    name = "metastore"
    address = "thrift://127.0.0.1:9083"
    ports = (9083,)
    main_class = METASTORE_MAIN
    home = STATE / "metastore"

    def prepare(self) -> None:
        render(CONF / "metastore" / "hive-site.xml", self.home / "conf" / "hive-site.xml")
        render(CONF / "metastore" / "hive-log4j2.properties",
               self.home / "conf" / "hive-log4j2.properties")
        (self.home / "warehouse").mkdir(parents=True, exist_ok=True)

    def cwd(self) -> Path:
        return self.home  # Derby and Hive drop files into the working directory

    def command(self) -> list[str]:
        log4j = self.home / "conf" / "hive-log4j2.properties"
        classpath = [str(self.home / "conf"), *metastore_classpath()]
        return [*self.jvm("512m", classpath, *JAVA17_OPENS,
                          f"-Dlog4j2.configurationFile={log4j}",
                          f"-Dlog4j.configurationFile={log4j}",
                          f"-Dderby.stream.error.file={LOGS / 'metastore-derby.log'}",
                          f"-Dhive.log.dir={LOGS}"),
                self.main_class, "--host", HOST, "--port", "9083"]

    def check(self) -> str | None:
        return None if metastore_ready(9083) else "database 'default' missing"


def quiet_client_logs() -> None:
    """Connection retries of the health checks are expected while services come up: the client
    libraries must not print them (they would through logging's last-resort handler)."""
    for name in ("kafka", "thrift", "hmsclient"):
        log = logging.getLogger(name)
        log.addHandler(logging.NullHandler())
        log.propagate = False


def services(names: list[str] | None = None) -> list[Service]:
    """Every service, or the ones named (hdfs names both HDFS daemons)."""
    every = [NameNode(), DataNode(), Kafka(), Metastore()]
    if not names:
        return every
    wanted = {n for name in names for n in (("hdfs-namenode", "hdfs-datanode")
                                             if name == "hdfs" else (name,))}
    unknown = wanted - {s.name for s in every}
    if unknown:
        raise StackError(f"unknown service {sorted(unknown)[0]!r} (known: hdfs, "
                         f"{', '.join(s.name for s in every)})")
    return [s for s in every if s.name in wanted]


# ----------------------------------------------------------------------------------------------
# commands

def fail(message: str, log: Path | None = None) -> int:
    print(f"stack: {message}", file=sys.stderr)
    if log is not None:
        print(f"---- last {LOG_TAIL_LINES} lines of {log}:", file=sys.stderr)
        print(tail(log), file=sys.stderr)
        print("----", file=sys.stderr)
    return 1


def cmd_start(quiet: bool, names: list[str] | None = None) -> int:
    say = (lambda *a: None) if quiet else print
    for d in (STATE, LOGS, PIDS, STATE / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    all_services = services(names)

    # What runs already? Healthy ones are left alone; ones still coming up are waited for.
    to_start: list[Service] = []
    to_wait: dict[str, tuple[Service, int, float]] = {}
    live = {s.name: s.live_pid() for s in all_services}
    with ThreadPoolExecutor(len(all_services)) as pool:
        health = dict(zip(live, pool.map(
            lambda s: s.healthy() if live[s.name] else (False, ""), all_services)))
    for s in all_services:
        pid = live[s.name]
        if pid and health[s.name][0]:
            say(f"{s.name}: already running (pid {pid})")
        elif pid:
            to_wait[s.name] = (s, pid, time.monotonic())
        else:
            s.pid_file.unlink(missing_ok=True)  # stale or absent
            to_start.append(s)
    if not to_start and not to_wait:
        return 0

    # Ports: a listener we did not start is an error; one of ours without a pid file is adopted.
    for s in list(to_start):
        for port in s.ports:
            if port_free(port):
                continue
            owner = port_owner(port)
            if owner and s.is_ours(owner):  # ours, but its pid file went missing: adopt it
                s.pid_file.write_text(f"{owner}\n")
                to_start.remove(s)
                if s.healthy()[0]:
                    say(f"{s.name}: already running (pid {owner}; pid file restored)")
                else:
                    to_wait[s.name] = (s, owner, time.monotonic())
                break
            who = f" (pid {owner}: {' '.join((proc_cmdline(owner) or ['?'])[:1])})" if owner else ""
            return fail(f"port {HOST}:{port} needed by {s.name} is already in use by another "
                        f"process{who}; stop it or free the port")

    if not to_start and not to_wait:
        return 0
    try:
        java_bin()
        for s in to_start:
            s.prepare()
            s.command()  # resolves jars and pyspark early: clear errors before anything starts
    except StackError as e:
        return fail(str(e), e.log)

    # Launch concurrently; the DataNode follows the NameNode (a first format resets its storage).
    def launch_group(group: list[Service]) -> list[tuple[Service, int | StackError, float]]:
        out = []
        for s in group:
            t0 = time.monotonic()
            try:
                out.append((s, s.launch(), t0))
            except StackError as e:
                out.append((s, e, t0))
            except OSError as e:
                out.append((s, StackError(f"{s.name}: cannot start: {e}", s.log), t0))
        return out

    hdfs = [s for s in to_start if isinstance(s, HdfsService)]
    groups = [g for g in ([hdfs] + [[s] for s in to_start if s not in hdfs]) if g]
    errors: list[StackError] = []
    if groups:
        with ThreadPoolExecutor(len(groups)) as pool:
            for result in pool.map(launch_group, groups):
                for s, pid_or_err, t0 in result:
                    if isinstance(pid_or_err, StackError):
                        errors.append(pid_or_err)
                    else:
                        to_wait[s.name] = (s, pid_or_err, t0)
    if errors:
        for e in errors[1:]:
            fail(str(e), e.log)
        return fail(str(errors[0]), errors[0].log)

    # Wait until each one answers on its protocol, in dependency order for the output.
    pending = [to_wait[s.name] for s in all_services if s.name in to_wait]
    while pending:
        for item in list(pending):
            s, pid, t0 = item
            code = s.exited(pid)
            if code is not None:
                s.pid_file.unlink(missing_ok=True)
                return fail(f"{s.name} (pid {pid}) exited during start"
                            + (f" with code {code}" if code >= 0 else ""), s.log)
            ok, why = s.healthy()
            if ok:
                say(f"{s.name}: started (pid {pid}) in {time.monotonic() - t0:.1f} s")
                pending.remove(item)
            elif time.monotonic() - t0 > START_TIMEOUT_S:
                return fail(f"{s.name} (pid {pid}) not healthy after {START_TIMEOUT_S:.0f} s "
                            f"({why}); it is left running, see {s.log}", s.log)
        if pending:
            time.sleep(0.5)
    return 0


def cmd_status(quiet: bool, names: list[str] | None = None) -> int:
    all_services = services(names)
    live = {s.name: s.live_pid() for s in all_services}
    with ThreadPoolExecutor(len(all_services)) as pool:
        health = list(pool.map(lambda s: s.healthy() if live[s.name] else (False, ""),
                               all_services))
    all_ok = True
    for s, (ok, why) in zip(all_services, health):
        pid = live[s.name]
        state = "healthy" if ok else ("running, not answering" if pid else "stopped")
        all_ok = all_ok and ok
        if not quiet:
            print(f"{s.name:<14} {state:<23} pid {pid or '-':<8} {s.address}")
    return 0 if all_ok else 3


def cmd_stop(quiet: bool, names: list[str] | None = None) -> int:
    say = (lambda *a: None) if quiet else print
    running: list[tuple[Service, int]] = []
    for s in reversed(services(names)):
        pid = s.live_pid()
        if pid:
            running.append((s, pid))
        else:
            s.pid_file.unlink(missing_ok=True)
    if not running:
        say("stack: nothing running")
        return 0
    t0 = time.monotonic()
    for s, pid in running:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    left = list(running)
    while left and time.monotonic() - t0 < STOP_TIMEOUT_S:
        for s, pid in list(left):
            if not pid_alive(pid):
                say(f"{s.name}: stopped (pid {pid}) in {time.monotonic() - t0:.1f} s")
                s.pid_file.unlink(missing_ok=True)
                left.remove((s, pid))
        if left:
            time.sleep(0.2)
    for s, pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        say(f"{s.name}: killed (pid {pid}), still running {STOP_TIMEOUT_S:.0f} s after SIGTERM")
        s.pid_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("start", "status", "stop"))
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help="only these (hdfs, hdfs-namenode, hdfs-datanode, kafka, metastore)")
    parser.add_argument("--quiet", action="store_true", help="print nothing (exit code only)")
    args = parser.parse_args(argv)
    quiet_client_logs()
    command = {"start": cmd_start, "status": cmd_status, "stop": cmd_stop}[args.command]
    try:
        if args.command == "status":
            return command(args.quiet, args.services)
        # One start/stop at a time (e.g. two `make test` runs): the second waits for the first.
        STATE.mkdir(parents=True, exist_ok=True)
        with open(STATE / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return command(args.quiet, args.services)
    except StackError as e:
        return fail(str(e), e.log)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
