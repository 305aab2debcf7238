"""services/stack.py on the real local stack: status, a second start that changes nothing,
a stop by pid and a start of one service, and refusal when a foreign process holds a port."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from .procs import REPO

STACK = [sys.executable, str(REPO / "services" / "stack.py")]
PIDS = REPO / "var" / "stack" / "pids"


def stack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STACK, *args], capture_output=True, text=True, timeout=300)


def pid_of(service: str) -> int:
    return int((PIDS / f"{service}.pid").read_text())


def test_status_and_a_second_start_that_changes_nothing(kafka_up, metastore_up, hdfs_up):
    status = stack("status")
    assert status.returncode == 0, status.stdout
    assert re.findall(r"^(\S+)\s+healthy\s+pid (\d+)", status.stdout, re.M) == [
        (name, str(pid_of(name))) for name in ("hdfs-namenode", "hdfs-datanode", "kafka",
                                               "metastore")]
    before = {n: pid_of(n) for n in ("hdfs-namenode", "hdfs-datanode", "kafka", "metastore")}
    again = stack("start")
    assert again.returncode == 0
    assert again.stdout == "".join(f"{n}: already running (pid {p})\n" for n, p in before.items())
    assert {n: pid_of(n) for n in before} == before


def test_stop_by_pid_then_start_one_service(metastore_up):
    pid = pid_of("metastore")
    stopped = stack("stop", "metastore")
    assert stopped.returncode == 0
    assert re.fullmatch(rf"metastore: stopped \(pid {pid}\) in [\d.]+ s\n", stopped.stdout)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert not (PIDS / "metastore.pid").exists()
    down = stack("status", "metastore")
    assert down.returncode == 3 and re.match(r"metastore\s+stopped\s+pid -", down.stdout)
    started = stack("start", "metastore")
    assert started.returncode == 0, started.stderr
    assert re.fullmatch(r"metastore: started \(pid \d+\) in [\d.]+ s\n", started.stdout)
    assert stack("status").returncode == 0


def test_refusal_when_a_foreign_process_holds_a_port(metastore_up):
    stack("stop", "metastore")
    holder = subprocess.Popen([sys.executable, "-c", "import socket, time\n"
                               "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, "
                               "socket.SO_REUSEADDR, 1)\n"
                               "s.bind(('127.0.0.1', 9083)); s.listen(); print('up', flush=True)\n"
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "up\n"
        refused = stack("start", "metastore")
        assert refused.returncode == 1
        assert refused.stderr == (f"stack: port 127.0.0.1:9083 needed by metastore is already in "
                                  f"use by another process (pid {holder.pid}: {sys.executable});"
                                  " stop it or free the port\n")
    finally:
        holder.kill()
        holder.wait()
        time.sleep(0.5)
        assert stack("start", "metastore").returncode == 0
