"""What an operator does to the processes: start a second master on a folder, stop one
the instant it starts, paste a command into a new shell, run two pipelines' metrics on one
host, watch a worker busy on a long file."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from common.config import load_config
from common.kafka_admin import ensure_topic, topic_offsets
from common.plugin import Processed
from common.setup import setup_all
from common.worker import HEARTBEAT_S, Worker

from .conftest import base_config_data, unique, write_config
from .procs import REPO, start_master, visible_files, wait_for
from .test_flow_pipeline import PIPELINE, flow_files, publish_binaries  # noqa: F401 (fixture)


def two_pipelines_one_folder(tmp_path: Path) -> Path:
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["pipelines"]["flow_externals"]["collector_path"] = \
        data["pipelines"]["flow_internals"]["collector_path"]
    return write_config(tmp_path, data)


def test_one_master_per_collector_folder_and_a_killed_one_blocks_nothing(tmp_path, kafka_up,
                                                                         metastore_up):
    conf = two_pipelines_one_folder(tmp_path)
    config = load_config(conf)
    list(setup_all(config))
    folder = config.pipeline(PIPELINE).collector_path
    first = start_master(conf, PIPELINE, 1, None, tmp_path / "first")
    try:
        wait_for(lambda: "watching" in first.log(), 120, "the first master", [first])
        for pipeline in ("flow_externals", PIPELINE):     # another pipeline, the same one
            second = start_master(conf, pipeline, 1, None, tmp_path / f"second-{pipeline}")
            assert second.wait(120) == 1
            assert re.fullmatch(
                rf"error: collector folder {re.escape(str(folder))} is already watched by the "
                rf"master of pipeline {PIPELINE} \(pid {first.popen.pid} on "
                rf"{re.escape(socket.gethostname())}, since [0-9: -]+\): one master per "
                r"collector folder\n", second.log()), second.log()
            check = subprocess.run([sys.executable, "master_collector.py", "-c", str(conf),
                                    "-t", pipeline, "-w", "1", "--check"], cwd=REPO,
                                   capture_output=True, text=True, timeout=120)
            assert check.returncode == 1 and "is already watched by the master of" in check.stderr
    finally:
        assert first.kill(group=True) == -signal.SIGKILL
    third = start_master(conf, "flow_externals", 1, None, tmp_path / "third")
    try:                                    # the kernel dropped the dead master's lock
        wait_for(lambda: "watching" in third.log(), 120, "a master after the kill", [third])
    finally:
        assert third.stop() == 0


def test_check_accepts_a_good_pipeline(monkeypatch, kafka_up):
    """--check on the shipped configuration asks the broker (the local stack's) for the
    pipeline's topic."""
    monkeypatch.delenv("SPOT_INGEST_CONF", raising=False)
    proc = subprocess.run([sys.executable, str(REPO / "master_collector.py"), "-t",
                           "flow_internals", "-w", "2", "--check"], capture_output=True,
                          text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (
        0, f"{REPO / 'ingest_conf.json'}: pipeline flow_internals (flow) OK\n"
           "topic SPOT-INGEST-spot-flow_internals\n")


def run_until_exit(argv: list[str], env: dict, sig: int, blocked: bool) -> tuple[int, str]:
    """Starts an entry point and sends it `sig` at once. blocked: the signal is blocked when
    the program starts (it arrives "before" the program could handle it, deterministically,
    and waits); else it is sent as soon as the process exists."""
    def hold():
        signal.pthread_sigmask(signal.SIG_BLOCK, {sig})

    proc = subprocess.Popen(argv, cwd="/", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=hold if blocked else None)
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return 999, out
    return proc.returncode, out


@pytest.mark.parametrize("script, args", [
    ("master_collector.py", ["-t", PIPELINE, "-w", "1"]),
    ("worker.py", ["-t", PIPELINE, "-i", "0"]),
])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_during_start_up_is_a_clean_stop(tmp_path, kafka_up, metastore_up, script,
                                                args, sig):
    """A stop signal that reaches an entry point before its handler exists (here: blocked
    when it starts, so it is certainly early) is held and makes a clean stop (exit 0), with
    the interpreter the venv was made from (the entry point enters the venv itself)."""
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    conf = write_config(tmp_path, data)
    python = Path(sys.base_prefix) / "bin" / "python3"
    env = {"PATH": os.environ["PATH"], "TZ": "UTC", "HOME": str(tmp_path)}
    code, out = run_until_exit([str(python), str(REPO / script), "-c", str(conf), *args], env,
                               sig, blocked=True)
    assert code == 0, out
    assert "Traceback" not in out and "error" not in out, out


def test_pasted_commands_run_from_anywhere_with_the_bare_interpreter(tmp_path, kafka_up,
                                                                     metastore_up):
    """What make demo and the README print, pasted into a new shell: another folder, a
    Python without the project's packages (the one the venv was made from)."""
    python = Path(sys.base_prefix) / "bin" / "python3"
    bare = subprocess.run([str(python), "-c", "import pyarrow"], capture_output=True)
    assert bare.returncode != 0                       # or this proves nothing
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    conf = write_config(tmp_path, data)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    setup = subprocess.run([str(python), str(REPO / "spot_setup.py"), "-c", str(conf)],
                           cwd="/", env=env, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr
    status = subprocess.run([str(python), str(REPO / "ingest_status.py"), "-c", str(conf),
                             "-t", PIPELINE, "--json"], cwd="/", env=env, capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pipeline"] == PIPELINE


def scrape(address: str) -> str:
    return urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()


def test_metrics_of_two_pipelines_on_one_host(tmp_path, kafka_up, metastore_up):
    """A fixed metrics.port serves one pipeline per host: the second is refused with what to
    do; port 0 gives every process a free port, which the status shows."""
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data["metrics"] = {"port": port}
    fixed = write_config(tmp_path, data)
    list(setup_all(load_config(fixed)))
    first = start_master(fixed, PIPELINE, 1, None, tmp_path / "a")
    try:
        wait_for(lambda: "metrics on" in first.log(), 120, "the first master's metrics", [first])
        second = start_master(fixed, "flow_externals", 1, None, tmp_path / "b")
        assert second.wait(120) == 1
        assert second.log().endswith(
            f"error: metrics: cannot listen on 127.0.0.1:{port}: Address already in use "
            "(another pipeline on this host? give each its own pipelines.<name>.metrics_port, "
            "or set metrics.port to 0)\n"), second.log()
    finally:
        assert first.stop() == 0
    data["metrics"] = {"port": 0}
    anywhere = write_config(tmp_path, data)
    masters = [start_master(anywhere, p, 1, None, tmp_path / p)
               for p in (PIPELINE, "flow_externals")]
    try:
        for m in masters:
            wait_for(lambda: "metrics on" in m.log(), 120, "the metrics", masters)
        addresses = [re.search(r"metrics on http://(\S+)/metrics", m.log()).group(1)
                     for m in masters]
        assert len(set(addresses)) == 2
        assert all("# TYPE spot_files_published_total counter" in scrape(a) for a in addresses)
        status = subprocess.run([sys.executable, "ingest_status.py", "-c", str(anywhere), "-t",
                                 PIPELINE, "--json"], cwd=REPO, capture_output=True, text=True,
                                timeout=120)
        assert status.returncode == 0, status.stderr
        master = json.loads(status.stdout)["collector"]["master"]
        assert (master["pid"], master["metrics"]) == (masters[0].popen.pid, addresses[0])
    finally:
        assert [m.stop() for m in masters] == [0, 0]


class Blocking:
    """A processor that holds its message until released: a worker busy on one long file."""

    def __init__(self):
        self.release, self.holding = threading.Event(), threading.Event()

    def start(self) -> None:
        pass

    def process(self, message) -> Processed:
        self.holding.set()
        self.release.wait(300)
        return Processed("held", 0)

    def give_up(self, message, reason) -> Processed:
        return Processed("held", 0, quarantined="-")


def test_a_worker_busy_on_one_long_file_stays_active(local_config, flow_files, tmp_path):
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(local_config.kafka, topic, 1)
    publish_binaries(local_config, topic, [(flow_files["nfcapd.201601041000"],
                                            "nfcapd.201601041000")])
    worker = Worker(local_config, local_config.pipeline(PIPELINE), 0, topic)
    worker.processor = held = Blocking()
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        assert held.holding.wait(120)
        since = time.time()

        def beat_while_busy() -> bool:
            (p,) = topic_offsets(local_config.kafka, topic)
            return p.committed == 0 and json.loads(p.metadata or "{}").get("at", 0) > \
                since + HEARTBEAT_S / 2
        wait_for(beat_while_busy, 3 * HEARTBEAT_S + 60, "a heartbeat while the file is held")
    finally:
        held.release.set()
        worker.stop()
        runner.join(120)
    (p,) = topic_offsets(local_config.kafka, topic)
    assert p.committed == 1                               # and the file itself, once done


def test_a_second_file_set_aside_under_one_name_keeps_the_first(local_config, tmp_path):
    """Two files the master cannot collect, one after the other under the same name: both
    stay in .quarantine/ with their reasons."""
    list(setup_all(local_config))
    folder = local_config.pipeline(PIPELINE).collector_path
    master = start_master(local_config.path, PIPELINE, 1, None, tmp_path)
    quarantine = folder / ".quarantine"
    try:
        for n, content in enumerate((b"first", b"second")):
            (folder / "nfcapd.latest").write_bytes(content)   # no time stamp: set aside
            wait_for(lambda: len(list(quarantine.glob("nfcapd.latest*.reason"))) == n + 1, 120,
                     f"set-aside {n + 1}", [master])
            wait_for(lambda: not visible_files(folder), 60, "the folder to empty", [master])
    finally:
        assert master.stop() == 0
    assert (quarantine / "nfcapd.latest").read_bytes() == b"first"
    assert (quarantine / "nfcapd.latest.1").read_bytes() == b"second"
    assert sorted(p.name for p in quarantine.glob("*.reason")) == ["nfcapd.latest.1.reason",
                                                                   "nfcapd.latest.reason"]
