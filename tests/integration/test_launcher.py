"""start_standalone_ingest.sh: one tmux session with the master and the workers."""
from __future__ import annotations

import shutil
import subprocess

from common.setup import setup_all

from .procs import REPO, wait_for
from .test_flow_pipeline import PIPELINE, flow_files, output_path  # noqa: F401 (fixture)
from common.storage import open_storage


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def test_launcher_runs_master_and_workers_in_tmux(local_config, flow_files):
    list(setup_all(local_config))
    session = f"spot-ingest-{PIPELINE}"
    subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)
    proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), "-c",
                           str(local_config.path), PIPELINE, "2", "UTC"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"tmux session {session}: master + 2 worker(s) on topic "
                                  f"SPOT-INGEST-{PIPELINE}_")
    try:
        windows = tmux("list-windows", "-t", f"={session}", "-F", "#{window_name}").split()
        assert windows == ["master", "worker-0", "worker-1"]
        name = "nfcapd.201601041000"
        shutil.copyfile(flow_files[name], local_config.pipeline(PIPELINE).collector_path / name)
        storage = open_storage(local_config)
        wait_for(lambda: storage.exists(output_path(local_config, name) + ".parquet"), 90,
                 "the file to be loaded through the tmux session")
        for window in windows:
            tmux("send-keys", "-t", f"={session}:{window}", "C-c")

        def all_dead() -> bool:
            states = tmux("list-panes", "-s", "-t", f"={session}", "-F",
                          "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}").split()
            last_states[:] = states
            return all(s.startswith("1:") for s in states)

        last_states: list[str] = []
        wait_for(all_dead, 60, "every process to stop after Ctrl-C")
        # tmux knows the exit status only when it reaps the process before the terminal
        # closes; where it knows it, it is 0, and no process died of a signal
        assert all(s in ("1:0:", "1::") for s in last_states), last_states
        screens = [tmux("capture-pane", "-p", "-J", "-t", f"={session}:{w}") for w in windows]
        assert "flow_internals: stopped; 1 file(s) published, 0 failure(s)" in screens[0]
        assert all(" stopped; " in screen and "Traceback" not in screen for screen in screens)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={session}"], capture_output=True)


def test_launcher_rejects_bad_arguments_before_starting_anything():
    proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), "Flow Internals", "2"],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (
        1, "error: pipeline name 'Flow Internals' must be lowercase without spaces\n")
    proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), PIPELINE, "two"],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (
        1, "error: WORKERS: expected a positive integer, got 'two'\n")
