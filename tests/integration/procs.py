"""Runs the real entry scripts (master_collector.py, worker.py) as processes for tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]

# How long a Spark job may take to start and finish its first batches, and a running job to
# finish what was just published: liveness bounds, not timings. make test runs two sessions
# side by side; on a loaded 2-core machine one job's first batch took 121 s and its next start
# 67 s to its query, and a job on YARN took 207 s from spark-submit to its query and more than
# 190 s more for its first batch: 240 s and 420 s bounds failed those tests.
STARTING_S = 600
RUNNING_S = 300


class Proc:
    def __init__(self, argv: list[str], log_path: Path, env: dict | None = None):
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        # a process group of its own, as a terminal gives a command: signals sent to the group
        # (Ctrl-C) reach it and what it started in the same group
        self.popen = subprocess.Popen(argv, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                      env={**os.environ, "TZ": "UTC", **(env or {})},
                                      start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._log.close()
        return code

    def wait(self, timeout: float = 60) -> int:
        """The exit code, once the process ended by itself (no signal sent)."""
        code = self.popen.wait(timeout)
        self._log.close()
        return code

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        """As Ctrl-C (SIGINT) or a closed terminal (SIGHUP) does: the whole process group."""
        os.killpg(self.popen.pid, sig)

    def kill(self, group: bool = False) -> int:
        """SIGKILL: no clean-up at all, as a crash or the OOM killer."""
        if group:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            self.popen.kill()
        code = self.popen.wait()
        self._log.close()
        return code


def start_master(config: Path, pipeline: str, workers: int, topic: str | None, log_dir: Path,
                 env: dict | None = None) -> Proc:
    """topic None: the pipeline's own (no -id), as an operator starts it."""
    return Proc([sys.executable, "master_collector.py", "-c", str(config), "-t", pipeline,
                 "-w", str(workers), *(["-id", topic] if topic else [])],
                log_dir / "master.log", env)


def start_worker(config: Path, pipeline: str, worker_id: int, topic: str | None, log_dir: Path,
                 parallel: int = 1, env: dict | None = None) -> Proc:
    """topic None: the pipeline's own (no --topic)."""
    return Proc([sys.executable, "worker.py", "-c", str(config), "-t", pipeline,
                 "-i", str(worker_id), *(["--topic", topic] if topic else []),
                 "-p", str(parallel)], log_dir / f"worker-{worker_id}.log", env)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             procs: list[Proc] = (), interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if not proc.alive():
                raise AssertionError(f"{proc.log_path.name} exited early while waiting for "
                                     f"{what}:\n{proc.log()[-3000:]}")
        time.sleep(interval)
    logs = "\n".join(f"--- {p.log_path.name}\n{p.log()[-3000:]}" for p in procs)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def visible_files(folder: Path) -> list[Path]:
    """Files under a collector folder that its master would take or leave: hidden names (the
    master's lock, .progress, .quarantine) are its own bookkeeping."""
    return [p for p in folder.rglob("*") if p.is_file() and
            not any(part.startswith(".") for part in p.relative_to(folder).parts)]


def command_line(process) -> list[str]:
    """A psutil process's command line, or [] once it has exited: a short-lived child (one
    a JVM runs and has not reaped yet) is a zombie whose command line cannot be read."""
    import psutil

    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):     # ZombieProcess is a NoSuchProcess
        return []
