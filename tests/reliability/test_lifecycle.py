"""An installation's life: stopped with a backlog and started again, in every order, by the
launcher and by hand, SIGKILLed, with another worker count, a worker moved to another host,
and upgraded from the version that made a new topic per start. Every row arrives exactly
once (distinct numbered flows are counted, not totals), and each stop is checked to have
left a backlog, or it proves nothing.

A backlog is made deterministically: the workers are frozen (the kernel's cgroup freezer)
while the master publishes a batch of files, and are sent their stop signal before they are
thawed; each then finishes at most the one message it may have in hand.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from common.config import load_config
from common.kafka_admin import topic_offsets
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import REPO, Proc, start_master, start_worker, visible_files, \
    wait_for

from .harness import PIPELINE, Freezer, assert_exactly_once
from .test_kills import fresh_config, make_files

FLOWS = 2_000           # per file
BATCH = 8               # files per cycle


def unread(config, topic: str) -> int:
    return sum(p.unread for p in topic_offsets(config.kafka, topic) or [])


def ends(config, topic: str) -> int:
    return sum(p.end for p in topic_offsets(config.kafka, topic) or [])


def done(config, topic: str) -> int:
    return sum(p.committed or 0 for p in topic_offsets(config.kafka, topic) or [])


def drop_while_frozen(config, topic: str, freezer: Freezer, worker_pids: list[int],
                      files: list[Path], procs: list[Proc]) -> None:
    """Publishes `files` through the running master while the workers cannot read; they
    stay frozen (stop_all thaws them, once they have their stop signal)."""
    collector = config.pipeline(PIPELINE).collector_path
    before = ends(config, topic)
    freezer.freeze(worker_pids)
    for path in files:
        path.rename(collector / path.name)
    wait_for(lambda: not visible_files(collector) and
             ends(config, topic) == before + len(files), 120,
             f"the master to publish {len(files)} files", procs)


def signal_frozen(workers: list[Proc], freezer: Freezer, sig: int) -> None:
    """The signal first, then the thaw: it is handled before the worker reads on."""
    for w in workers:
        w.popen.send_signal(sig)
    freezer.thaw()


def start_all(config_path: Path, workers: int, order: str, log: Path,
              worker_config: Path | None = None) -> tuple[Proc, list[Proc]]:
    """The master and `workers` workers, each without -id/--topic (the pipeline's own
    topic), in the given order."""
    def master() -> Proc:
        return start_master(config_path, PIPELINE, workers, None, log)

    def crew() -> list[Proc]:
        return [start_worker(worker_config or config_path, PIPELINE, i, None, log)
                for i in range(workers)]

    if order == "master first":
        m = master()
        wait_for(lambda: re.search(r"^topic .* partitions", m.log(), re.M), 120,
                 "the master's topic", [m])
        return m, crew()
    if order == "workers first":
        w = crew()
        wait_for(lambda: all("reading SPOT-INGEST" in p.log() or "waiting for topic" in p.log()
                             for p in w), 120, "the workers to start", w)
        return master(), w
    w = crew()
    return master(), w


def stop_all(master: Proc, workers: list[Proc], order: str, freezer: Freezer) -> list[int]:
    """Stops the master and the (possibly frozen) workers in the given order."""
    if order == "master first":
        code = master.stop()
        signal_frozen(workers, freezer, signal.SIGTERM)
        return [code, *(w.wait(120) for w in workers)]
    if order == "workers first":
        signal_frozen(workers, freezer, signal.SIGTERM)
        codes = [w.wait(120) for w in workers]
        return [master.stop(), *codes]
    if order == "both at once":
        master.popen.send_signal(signal.SIGTERM)
        signal_frozen(workers, freezer, signal.SIGTERM)
        return [proc.wait(120) for proc in (master, *workers)]
    for proc in (master, *workers):                                   # SIGKILL everything
        os.killpg(proc.popen.pid, signal.SIGKILL)
    freezer.thaw()
    return [proc.kill(group=True) for proc in (master, *workers)]


def reading(workers: list[Proc]):
    return lambda: all("reading SPOT-INGEST" in w.log() for w in workers)


def test_restarts_by_hand_in_every_order_with_other_worker_counts(tmp_path, kafka_up,
                                                                  metastore_up):
    config = fresh_config(tmp_path)
    topic = config.topic_of(PIPELINE)
    moved = base_config_data(config.hdfs_app_path, config.dbname, tmp_path / "other-host")
    moved["dbname"] = config.dbname
    moved_config = write_config(tmp_path, moved)        # a worker host with its own folders
    expected: set[int] = set()
    report = []
    cycles = [  # workers, start order, stop order, the workers' host
        (2, "master first", "master first", None),
        (3, "workers first", "workers first", None),
        (3, "both at once", "both at once", moved_config),
        (4, "master first", "SIGKILL everything", None),
    ]
    for n, (workers, start_order, stop_order, host) in enumerate(cycles):
        files, ids = make_files(tmp_path / f"made-{n}", BATCH, FLOWS,
                                first_id=1 + n * BATCH * FLOWS, skip=n * BATCH)
        expected |= ids
        log = tmp_path / f"cycle-{n}"
        began, done_before = time.monotonic(), done(config, topic)
        master, crew = start_all(config.path, workers, start_order, log, host)
        procs, freezer = [master, *crew], Freezer()
        try:
            wait_for(reading(crew), 120, "every worker reading its partition", procs)
            if n:                              # what the last stop left is being read again
                wait_for(lambda: done(config, topic) > done_before, 120, "the backlog to move",
                         procs)
                report.append((workers, start_order, round(time.monotonic() - began, 1)))
            drop_while_frozen(config, topic, freezer, [w.popen.pid for w in crew], files,
                              procs)
        finally:
            codes = stop_all(master, crew, stop_order, freezer)
            freezer.close()
        if stop_order != "SIGKILL everything":
            assert codes == [0] * (workers + 1), (stop_order, codes, master.log()[-2000:])
        left = unread(config, topic)
        assert left > 0, f"cycle {n}: the stop left no backlog: it proves nothing"
        report.append((f"cycle {n} stopped {stop_order}", f"{left} message(s) unread"))

    # fewer workers while partitions beyond them hold unread messages: refused, one line
    refused = subprocess.run([str(REPO / ".venv/bin/python"), "master_collector.py", "-c",
                              str(config.path), "-t", PIPELINE, "-w", "2"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert re.fullmatch(rf"error: topic {topic} has 4 partitions and partitions? [23](-3)? still "
                        r"hold\(s\) \d+ unread message\(s\) that 2 worker\(s\) would never "
                        r"read: start with -w 4 until they are read \(ingest_status.py shows "
                        r"the lag\), then with -w 2\n", refused.stderr), refused.stderr

    # everything read with the topic's four, then one more batch with two workers
    master, crew = start_all(config.path, 4, "both at once", tmp_path / "drain")
    freezer = Freezer()
    try:
        wait_for(lambda: unread(config, topic) == 0, 300, "the backlog to drain",
                 [master, *crew])
    finally:
        assert stop_all(master, crew, "master first", freezer) == [0] * 5
        freezer.close()
    files, ids = make_files(tmp_path / "made-last", BATCH, FLOWS,
                            first_id=1 + len(cycles) * BATCH * FLOWS, skip=len(cycles) * BATCH)
    expected |= ids
    master, crew = start_all(config.path, 2, "master first", tmp_path / "last")
    freezer = Freezer()
    try:
        assert "publishing over the first 2" in master.log()
        for path in files:
            path.rename(config.pipeline(PIPELINE).collector_path / path.name)
        wait_for(lambda: not visible_files(config.pipeline(PIPELINE).collector_path) and
                 unread(config, topic) == 0, 300, "the last batch", [master, *crew])
    finally:
        assert stop_all(master, crew, "workers first", freezer) == [0] * 3
        freezer.close()
    print("resume after each start (workers, order, seconds to the first row):",
          [r for r in report if len(r) == 3])
    print("backlog at each stop:", [r for r in report if len(r) == 2])
    assert_exactly_once(config, expected, tmp_path)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), *args],
                          capture_output=True, text=True, timeout=400)


def end_session(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "stop_standalone_ingest.sh"), *args],
                          capture_output=True, text=True, timeout=400)


def pending_sigint(pid: int) -> bool:
    """A SIGINT waits for the (frozen) process: its ShdPnd or SigPnd mask has bit 2."""
    with open(f"/proc/{pid}/status") as status:
        masks = [int(line.split()[1], 16) for line in status
                 if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(mask & 2 for mask in masks)


def pane_pids(session: str) -> dict[str, int]:
    out = tmux("list-panes", "-s", "-t", f"={session}", "-F", "#{window_name} #{pane_pid}")
    return {name: int(pid) for name, pid in (line.split() for line in out.splitlines())}


def test_the_launcher_stopped_with_a_backlog_resumes_it_with_more_workers(tmp_path, kafka_up,
                                                                          metastore_up):
    """The issue as an operator saw it: a session stopped with stop_standalone_ingest.sh
    while it had a backlog, started again with the launcher (now with two workers)."""
    config = fresh_config(tmp_path)
    topic = config.topic_of(PIPELINE)
    files, expected = make_files(tmp_path / "made", BATCH, FLOWS)
    more, ids = make_files(tmp_path / "more", BATCH, FLOWS, first_id=1 + BATCH * FLOWS,
                           skip=BATCH)
    expected |= ids
    sessions = []
    try:
        first = launch(PIPELINE, "1", "-c", str(config.path))
        assert first.returncode == 0, first.stderr
        session = re.match(r"tmux session (\S+):", first.stdout).group(1)
        sessions.append(session)
        pids = pane_pids(session)
        wait_for(lambda: "reading SPOT-INGEST" in tmux("capture-pane", "-p", "-J", "-S", "-",
                                                       "-t", f"={session}:worker-0"), 120,
                 "the worker to start")
        freezer = Freezer()
        try:
            drop_while_frozen(config, topic, freezer, [pids["worker-0"]], files, [])
            stopping = subprocess.Popen(["bash", str(REPO / "stop_standalone_ingest.sh"),
                                         session], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
            wait_for(lambda: pending_sigint(pids["worker-0"]), 60,
                     "the Ctrl-C to reach the worker")
        finally:
            freezer.close()
        out, err = stopping.communicate(timeout=400)
        stopped = subprocess.CompletedProcess(stopping.args, stopping.returncode, out, err)
        assert (stopped.returncode, stopped.stdout) == (
            0, f"master: exit status 0\nworker-0: exit status 0\nsession {session} closed\n")
        left = unread(config, topic)
        assert left >= BATCH - 1, left                     # the backlog the session left

        began = time.monotonic()
        second = launch(PIPELINE, "2", "-c", str(config.path))
        assert second.returncode == 0, second.stderr
        session = re.match(r"tmux session (\S+):", second.stdout).group(1)
        sessions.append(session)
        assert f"on topic {topic} " in second.stdout           # the same topic again
        wait_for(lambda: unread(config, topic) < left, 120, "the backlog to move")
        resumed = time.monotonic() - began
        for path in more:
            path.rename(config.pipeline(PIPELINE).collector_path / path.name)
        wait_for(lambda: not visible_files(config.pipeline(PIPELINE).collector_path) and
                 unread(config, topic) == 0 and done(config, topic) == 2 * BATCH, 300,
                 "every file read")
        assert [p.end for p in topic_offsets(config.kafka, topic)][1] > 0   # the new partition
        stopped = end_session(session)
        assert stopped.returncode == 0, stopped
    finally:
        for session in sessions:
            subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)
    print(f"launcher: {left} message(s) left at the stop, resumed {resumed:.1f} s after the "
          "second start")
    assert_exactly_once(config, expected, tmp_path)


@pytest.mark.parametrize("stop_order", ["master first", "SIGKILL everything"])
def test_an_upgrade_reads_what_the_earlier_version_left_unread(tmp_path, kafka_up,
                                                               metastore_up, stop_order):
    """The earlier version named a new topic per start (SPOT-INGEST-<pipeline>_HH_MM_SS_micro,
    what -id gives here: the same name, messages and group offsets) and left its unread
    messages there. A start of this version publishes them again to the pipeline's topic."""
    config = fresh_config(tmp_path)
    old = f"SPOT-INGEST-{PIPELINE}_{time.strftime('%H_%M_%S')}_{time.time_ns() // 1000 % 10**6:06d}"
    files, expected = make_files(tmp_path / "made", BATCH, FLOWS)
    log = tmp_path / "old"
    master = start_master(config.path, PIPELINE, 2, old, log)
    crew = [start_worker(config.path, PIPELINE, i, old, log) for i in (0, 1)]
    freezer = Freezer()
    try:
        wait_for(reading(crew), 120, "the old workers", [master, *crew])
        drop_while_frozen(config, old, freezer, [w.popen.pid for w in crew], files,
                          [master, *crew])
    finally:
        codes = stop_all(master, crew, stop_order, freezer)
        freezer.close()
    left = unread(config, old)
    assert left >= BATCH - 2, left

    new = tmp_path / "new"
    master, crew = start_all(config.path, 3, "master first", new)
    freezer = Freezer()
    try:
        assert re.search(rf"topic {old} \(made by an earlier version\): {left} unread "
                         rf"message\(s\) published again to {config.topic_of(PIPELINE)}, 0 whose "
                         "binary is no longer stored", master.log()), master.log()
        wait_for(lambda: unread(config, config.topic_of(PIPELINE)) == 0 and
                 done(config, config.topic_of(PIPELINE)) == left, 300,
                 "the old backlog read on the new topic", [master, *crew])
    finally:
        assert stop_all(master, crew, "master first", freezer) == [0] * 4
        freezer.close()
    assert unread(config, old) == 0                          # drained, not forgotten
    if stop_order == "master first":
        assert codes == [0, 0, 0]
    assert_exactly_once(config, expected, tmp_path)
    # a second start has nothing more to drain
    master = start_master(config.path, PIPELINE, 3, None, tmp_path / "again")
    try:
        wait_for(lambda: "watching" in master.log(), 120, "the master", [master])
        assert "made by an earlier version" not in master.log()
    finally:
        assert master.stop() == 0
