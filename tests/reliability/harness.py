"""What the fault suite needs to break things for real and to count what survived.

Every flow the suite makes carries a unique number in its byte count (ibyt), so a row that
arrives twice, or not at all, is seen exactly: the suite counts distinct numbers, not totals.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from common.config import IngestConfig
from common.kafka_io import PartitionConsumer
from common.layout import table_root
from common.storage import open_storage
from pipelines.flow.netflow_generator import capture, synthetic_flows

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "flow_internals"


def numbered_capture(folder: Path, name: str, flows: int, first_id: int) -> tuple[Path, set[int]]:
    """A real nfcapd file of `flows` flows whose ibyt values are first_id, first_id + 1, ..."""
    stamp = name.rsplit(".", 1)[-1]
    start = datetime.strptime(stamp[:12], "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
    made = synthetic_flows(flows, start, seed=first_id % 100_000, spread_seconds=60)
    for i, flow in enumerate(made):
        flow.octets = first_id + i
    return capture(made, folder, name), set(range(first_id, first_id + flows))


def flow_ids(config: IngestConfig, tmp: Path) -> list[int]:
    """Every ibyt in every Parquet file under <app>/flow/hive: what Spot's models read."""
    storage = open_storage(config)
    ids: list[int] = []
    for path in storage.files_under(table_root(config.hdfs_app_path, "flow")):
        if not path.endswith(".parquet") or "/." in path:
            continue
        local = tmp / "read.parquet"
        storage.download(path, local)
        ids += pq.read_table(local, columns=["ibyt"]).column("ibyt").to_pylist()
    return ids


def assert_exactly_once(config: IngestConfig, expected: set[int], tmp: Path) -> None:
    ids = flow_ids(config, tmp)
    duplicates = len(ids) - len(set(ids))
    missing = expected - set(ids)
    extra = set(ids) - expected
    assert (len(ids), duplicates, len(missing), len(extra)) == (len(expected), 0, 0, 0), \
        f"{len(ids)} rows, {duplicates} duplicated, {len(missing)} missing, {len(extra)} unknown"


def committed(config: IngestConfig, topic: str, partition: int) -> int | None:
    consumer = PartitionConsumer(config.kafka, topic, partition)
    try:
        return consumer.committed()
    finally:
        consumer.close()


def stack(command: str, *services: str) -> None:
    subprocess.run([sys.executable, str(REPO / "services" / "stack.py"), command, *services],
                   check=True, stdout=subprocess.DEVNULL)


@contextmanager
def service_down(*services: str):
    """Stops real services of the local stack; always starts them again."""
    stack("stop", *services)
    try:
        yield
    finally:
        stack("start", *services)


def decoders_of(pid: int, name: str = "nfdump") -> list[psutil.Process]:
    """Decoders a worker runs on a fetched file (in sessions of their own, still its
    children); not the probe it runs at start."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if child.name() == name and any(a.endswith("/input") for a in child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, group: bool = False) -> None:
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)


def rng(seed: int) -> random.Random:
    return random.Random(seed)


class Freezer:
    """Freezes processes (the kernel's cgroup freezer, v1): a frozen process runs nothing and
    handles no signal until thawed; signals sent meanwhile wait. Unlike SIGSTOP it holds in
    a tmux pane (tmux continues a pane's stopped process) and cannot be seen by the process.
    Only the processes given are frozen, not their children."""

    ROOT = Path("/sys/fs/cgroup/freezer")

    def __init__(self):
        self.path = self.ROOT / f"spot-test-{os.getpid()}-{time.monotonic_ns()}"
        self.path.mkdir()
        self.pids: list[int] = []

    def freeze(self, pids: list[int]) -> None:
        for pid in pids:
            (self.path / "cgroup.procs").write_text(f"{pid}\n")
        self.pids += pids
        (self.path / "freezer.state").write_text("FROZEN\n")
        wait_until(lambda: (self.path / "freezer.state").read_text().strip() == "FROZEN", 30,
                   "the processes to freeze")

    def thaw(self) -> None:
        """Thaws everything frozen here (signals sent while frozen are handled now) and
        gives the processes back to the root group."""
        (self.path / "freezer.state").write_text("THAWED\n")
        for pid in self.pids:
            try:
                (self.ROOT / "cgroup.procs").write_text(f"{pid}\n")
            except OSError:          # gone (killed while frozen, it dies on thawing)
                pass
        self.pids = []

    def close(self) -> None:
        self.thaw()
        wait_until(lambda: not (self.path / "cgroup.procs").read_text().strip(), 30,
                   "the frozen group to empty")
        self.path.rmdir()
