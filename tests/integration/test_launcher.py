"""start_standalone_ingest.sh and stop_standalone_ingest.sh: one tmux session per ingest."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess

from common.setup import setup_all
from common.storage import open_storage

from .conftest import base_config_data, unique, write_config
from .procs import REPO, wait_for
from .test_flow_pipeline import PIPELINE, output_path


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def start(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), *args],
                          capture_output=True, text=True, timeout=120)


def stop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "stop_standalone_ingest.sh"), *args],
                          capture_output=True, text=True, timeout=300)


def session_of(stdout: str) -> str:
    match = re.match(r"tmux session (SPOT-INGEST-[a-z0-9_-]+-\d\d_\d\d_\d\d): ", stdout)
    assert match, stdout
    return match.group(1)


def test_session_ctrl_c_mid_decode_and_graceful_stop(local_config, tmp_path):
    """The session the README describes; stopped with stop_standalone_ingest.sh while a
    worker decodes a large file: the decoder is not interrupted, the file's rows all land,
    every window reports exit status 0, the session closes."""
    from tests.reliability.harness import assert_exactly_once, decoders_of, numbered_capture

    list(setup_all(local_config))
    name = "nfcapd.201601041000"
    big, ids = numbered_capture(tmp_path, name, 400_000, 1)
    proc = start(PIPELINE, "2", "-c", str(local_config.path), "UTC")     # -c anywhere
    assert proc.returncode == 0, proc.stderr
    session = session_of(proc.stdout)
    try:
        assert session.startswith(f"SPOT-INGEST-{PIPELINE}-")
        lines = proc.stdout.splitlines()
        assert lines[0] == (f"tmux session {session}: master + 2 worker(s) on topic "
                            f"SPOT-INGEST-{local_config.dbname}-{PIPELINE} (TZ=UTC)")
        assert lines[1:] == [f"attach with: tmux attach -t {session}",
                             f"stop with:   bash {REPO}/stop_standalone_ingest.sh {session}"]
        windows = tmux("list-windows", "-t", f"={session}", "-F", "#{window_name}").split()
        assert windows == ["master", "worker-0", "worker-1"]
        pids = [int(p) for p in tmux("list-panes", "-s", "-t", f"={session}", "-F",
                                     "#{pane_pid}").split()]
        shutil.copyfile(big, local_config.pipeline(PIPELINE).collector_path / name)
        wait_for(lambda: [d for pid in pids[1:] for d in decoders_of(pid)], 90,
                 "a worker to decode the file", interval=0.01)
        stopped = stop(PIPELINE)                       # by pipeline: one session of it runs
        assert (stopped.returncode, stopped.stderr) == (0, ""), stopped
        assert stopped.stdout == ("master: exit status 0\nworker-0: exit status 0\n"
                                  f"worker-1: exit status 0\nsession {session} closed\n")
        assert subprocess.run(["tmux", "has-session", "-t", f"={session}"]).returncode != 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)
    assert open_storage(local_config).exists(output_path(local_config, name) + ".parquet")
    assert_exactly_once(local_config, ids, tmp_path)


def test_a_second_session_of_a_running_pipeline_is_refused_naming_the_first(local_config):
    """One master per collector folder: the launcher returns once its master holds the
    folder, so a second launcher is refused at its check, deterministically, and opens
    nothing. A stop right after the start (workers still loading) is a clean stop."""
    conf = str(local_config.path)
    first = start(PIPELINE, "1", "-c", conf)
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)
    try:
        master_pid = tmux("display-message", "-p", "-t", f"={session}:master", "#{pane_pid}")
        before = tmux_sessions()
        second = start("-c", conf, PIPELINE, "1")
        folder = local_config.pipeline(PIPELINE).collector_path
        assert (second.returncode, second.stdout) == (1, "")
        assert re.fullmatch(
            rf"error: collector folder {re.escape(str(folder))} is already watched by the "
            rf"master of pipeline {PIPELINE} \(pid {master_pid.strip()} on "
            rf"{re.escape(socket.gethostname())}, since [0-9: -]+\): one master per collector "
            r"folder\n", second.stderr), second.stderr
        assert tmux_sessions() == before
        done = stop(PIPELINE)
        assert (done.returncode, done.stderr) == (0, ""), done
        assert done.stdout == ("master: exit status 0\nworker-0: exit status 0\n"
                               f"session {session} closed\n")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)


def test_a_proxy_session_runs_one_spark_job_window(local_config):
    proc = start("proxy_bluecoat", "2", "-c", str(local_config.path))
    assert proc.returncode == 0, proc.stderr
    session = session_of(proc.stdout)
    try:
        assert "master + the Spark job (local[2] unless spark_master is set)" in proc.stdout
        assert tmux("list-windows", "-t", f"={session}", "-F", "#{window_name}").split() == \
            ["master", "worker"]
        wait_for(lambda: "starting the proxy job on local[2]" in tmux(
            "capture-pane", "-p", "-J", "-S", "-100", "-t", f"={session}:worker"), 60,
            "the job to start")
        done = stop(session)
        assert done.returncode == 0, done
        assert done.stdout == f"master: exit status 0\nworker: exit status 0\nsession {session} closed\n"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)


def test_launcher_refuses_when_a_service_does_not_answer(tmp_path):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["kafka"]["kafka_port"] = 1
    conf = write_config(tmp_path, data)
    before = tmux_sessions()
    proc = start(PIPELINE, "2", "-c", str(conf))
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1, "", "error: Kafka does not answer at 127.0.0.1:1 (make services starts the local "
               "stack)\n")
    data["kafka"]["kafka_port"] = 9092
    data["hive"] = {"metastore_uris": "thrift://127.0.0.1:1"}
    proc = start(PIPELINE, "2", "-c", str(write_config(tmp_path, data)))
    assert (proc.returncode, proc.stderr) == (
        1, "error: the Hive Metastore does not answer at thrift://127.0.0.1:1 (make services "
           "starts the local stack)\n")
    assert tmux_sessions() == before                  # nothing was opened


def tmux_sessions() -> set[str]:
    out = subprocess.run(["tmux", "list-sessions", "-F", "#{session_name}"],
                         capture_output=True, text=True).stdout
    return set(out.split())


def test_launcher_rejects_bad_arguments_before_starting_anything():
    proc = start("Flow Internals", "2")
    assert (proc.returncode, proc.stderr) == (
        1, "error: pipeline name 'Flow Internals' must be lowercase without spaces\n")
    proc = start(PIPELINE, "two")
    assert (proc.returncode, proc.stderr) == (
        1, "error: WORKERS: expected a positive integer, got 'two'\n")
    proc = start(PIPELINE)
    assert (proc.returncode, proc.stderr) == (
        1, "usage: bash start_standalone_ingest.sh PIPELINE WORKERS [TZ] [-c CONF]\n")
    proc = stop("no_such_pipeline")
    assert (proc.returncode, proc.stderr) == (
        1, "error: no session no_such_pipeline, and no SPOT-INGEST-no_such_pipeline-* session "
           "running\n")
