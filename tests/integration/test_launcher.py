"""start_standalone_ingest.sh: one tmux session with the master and the workers."""
from __future__ import annotations

import shutil
import subprocess

from common.setup import setup_all

from .procs import REPO, wait_for
from .test_flow_pipeline import PIPELINE, output_path
from common.storage import open_storage


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def test_launcher_runs_master_and_workers_in_tmux(local_config, tmp_path):
    """The session the README describes; Ctrl-C in every window while a worker decodes a
    large file: the decoder is not interrupted, the file's rows all land, every process
    exits cleanly."""
    from tests.reliability.harness import assert_exactly_once, decoders_of, numbered_capture

    list(setup_all(local_config))
    session = f"spot-ingest-{PIPELINE}"
    subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)
    name = "nfcapd.201601041000"
    big, ids = numbered_capture(tmp_path, name, 400_000, 1)
    proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), "-c",
                           str(local_config.path), PIPELINE, "2", "UTC"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"tmux session {session}: master + 2 worker(s) on topic "
                                  f"SPOT-INGEST-{PIPELINE}_")
    try:
        windows = tmux("list-windows", "-t", f"={session}", "-F", "#{window_name}").split()
        assert windows == ["master", "worker-0", "worker-1"]
        pids = [int(p) for p in tmux("list-panes", "-s", "-t", f"={session}", "-F",
                                     "#{pane_pid}").split()]
        shutil.copyfile(big, local_config.pipeline(PIPELINE).collector_path / name)

        def decoding():
            return [d for pid in pids[1:] for d in decoders_of(pid)]

        wait_for(decoding, 90, "a worker to decode the file", interval=0.01)
        for window in windows:
            tmux("send-keys", "-t", f"={session}:{window}", "C-c")

        def all_dead() -> bool:
            states = tmux("list-panes", "-s", "-t", f"={session}", "-F",
                          "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}").split()
            last_states[:] = states
            return all(s.startswith("1:") for s in states)

        last_states: list[str] = []
        wait_for(all_dead, 120, "every process to stop after Ctrl-C")
        # tmux knows the exit status only when it reaps the process before the terminal
        # closes; where it knows it, it is 0, and no process died of a signal
        assert all(s in ("1:0:", "1::") for s in last_states), last_states
        screens = [tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", f"={session}:{w}")
                   for w in windows]
        assert "flow_internals: stopped; 1 file(s) published, 0 failure(s)" in screens[0]
        assert any(f"{name}: 400000 rows" in screen for screen in screens[1:]), screens
        assert all(" stopped; " in screen and "Traceback" not in screen for screen in screens)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)
    assert open_storage(local_config).exists(output_path(local_config, name) + ".parquet")
    assert_exactly_once(local_config, ids, tmp_path)


def test_launcher_rejects_bad_arguments_before_starting_anything():
    proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), "Flow Internals", "2"],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (
        1, "error: pipeline name 'Flow Internals' must be lowercase without spaces\n")
    proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), PIPELINE, "two"],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (
        1, "error: WORKERS: expected a positive integer, got 'two'\n")
