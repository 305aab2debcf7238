"""A stored copy is on disk before the collector's own file goes (local storage)."""
from __future__ import annotations

import re
import subprocess
import sys

import psutil

from tests.integration.conftest import unique
from tests.integration.procs import REPO, wait_for

from .harness import PIPELINE, numbered_capture
from .test_kills import fresh_config


def test_the_stored_copy_is_synced_before_the_collected_file_is_removed(tmp_path, kafka_up,
                                                                        metastore_up):
    """Seen with strace on the real master: the copy's data (fsync of the file) and its name
    (fsync of its folder, after the rename) reach the disk before the unlink of the file in
    the collector folder."""
    config = fresh_config(tmp_path)
    collector = config.pipeline(PIPELINE).collector_path
    name = "nfcapd.201601040900"
    trace = tmp_path / "strace.txt"
    master = subprocess.Popen(
        ["strace", "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,"
         "unlink,unlinkat", "-o", str(trace), sys.executable, "master_collector.py", "-c",
         str(config.path), "-t", PIPELINE, "-w", "1", "-id", unique("SPOT-INGEST-flow")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        numbered_capture(collector, name, 100, 1)
        wait_for(lambda: not (collector / name).exists(), 60, "the file to be handed over")
    finally:
        for child in psutil.Process(master.pid).children():   # the master, not strace
            child.terminate()
        master.wait(60)
    lines = trace.read_text().splitlines()
    stored = f"{config.hdfs_app_path}/flow/binary/20160104/09/{PIPELINE}"

    def first(pattern: str) -> int:
        for n, line in enumerate(lines):
            if re.search(pattern, line):
                return n
        raise AssertionError(f"no {pattern!r} in the trace:\n" + "\n".join(lines[-40:]))

    synced_data = first(rf"fsync\(\d+<{re.escape(stored)}/\.{re.escape(name)}\._tmp_\w+>\) = 0")
    renamed = first(rf"rename\w*\(.*{re.escape(stored)}/{re.escape(name)}\"")
    synced_name = first(rf"fsync\(\d+<{re.escape(stored)}>\) = 0")
    removed = first(rf"unlink\w*\(.*\"{re.escape(str(collector / name))}\"")
    assert synced_data < renamed < synced_name < removed, (synced_data, renamed, synced_name,
                                                          removed)
