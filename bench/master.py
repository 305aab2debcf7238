"""5. Master: files/s handed over (stored, published, acknowledged, removed) for many small
real nfcapd files dropped at once, with collector_processes = 1, 2, 5, on local storage and on
HDFS (WebHDFS) storage.

Timed from the drop (every file renamed into the collector folder) to the folder being empty:
a file is removed only once stored and acknowledged. Each master is warmed up first with a few
files (its pool processes start on demand and connect on their first file). No workers run:
this is the master alone.

On HDFS the default is fewer files (--master-hdfs-files): a small file's WebHDFS write often
takes 0.4 s there (see the report), so 1,000 files with one process would take minutes while
the rate is already clear from a few hundred.
"""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta

from bench import inputs
from bench.support import (FLOW_PIPELINE, Bench, BenchError, collector_empty, cpu_seconds,
                           make_config, published, say, start_master, wait_for)

TITLE = "Master: files/s for small files dropped at once"
TARGET_FILES_PER_S = 200     # local storage, 5 collector processes
TIMEOUT_S = 900


def run(bench: Bench) -> dict:
    args = bench.args
    small = inputs.small_flow_file()
    folder = bench.folder("master")
    runs = []
    for storage in args.master_storage:
        for processes in args.master_processes:
            files = args.master_hdfs_files if storage == "hdfs" else args.master_files
            runs.append(one_run(bench, folder / f"{storage}-p{processes}", small, storage,
                                processes, files))
            r = runs[-1]
            say(f"  {storage:5s} storage, {processes} collector processes: "
                f"{r['files_per_s']:,.0f} files/s ({r['seconds']:.2f} s)")
    local5 = next((r for r in runs if r["storage"] == "local" and r["processes"] == 5), None)
    targets = []
    if local5:
        targets.append({"figure": "files/s, local storage, 5 processes",
                        "value": f"{local5['files_per_s']:.0f}",
                        "target": f">= {TARGET_FILES_PER_S}",
                        "met": local5["files_per_s"] >= TARGET_FILES_PER_S})
    return {
        "title": TITLE, "inputs": {"files_local": args.master_files,
                                   "files_hdfs": args.master_hdfs_files, "file": str(small),
                                   "file_bytes": small.stat().st_size, "workers": 0},
        "runs": runs, "targets": targets,
        "headlines": [(f"files/s, {r['storage']} storage, {r['processes']} processes",
                       f"{r['files_per_s']:,.0f}") for r in runs if r is not local5],
        "columns": ["storage", "collector_processes", "files", "seconds", "files/s",
                    "drop -> 1st file gone s", "files/s after the 1st", "cores"],
        "table": [[r["storage"], str(r["processes"]), str(r["files"]), f"{r['seconds']:.2f}",
                   f"{r['files_per_s']:,.0f}", f"{r['first_file_gone_s']:.2f}",
                   f"{r['files_per_s_after_first']:,.0f}", f"{r['cores']:.2f}"] for r in runs],
    }


def _visible(folder) -> int:
    return sum(1 for e in os.scandir(folder) if not e.name.startswith("."))


def _names(count: int, first: datetime) -> list[str]:
    """nfcapd.YYYYMMDDhhmmss names, one second apart (one hour folder for 3,600 of them)."""
    return [f"nfcapd.{first + timedelta(seconds=i):%Y%m%d%H%M%S}" for i in range(count)]


def _drop(source, incoming, collector, names: list[str]) -> float:
    """Copies `names` into `incoming` (not timed), then renames them all into the collector
    folder; returns the time the drop began."""
    for name in names:
        shutil.copyfile(source, incoming / name)
    start = time.perf_counter()
    for name in names:
        os.replace(incoming / name, collector / name)
    return start


def one_run(bench: Bench, folder, small, storage_kind: str, processes: int, files: int) -> dict:
    from common.storage import open_storage

    folder.mkdir(parents=True)
    app = f"/spot-bench/master-{bench.run_id}-p{processes}" if storage_kind == "hdfs" else None
    config = make_config(folder, storage=storage_kind, app_path=app,
                         collector_processes=processes)
    topic = bench.topic(f"master_{storage_kind}_p{processes}")
    master = start_master(bench, config, FLOW_PIPELINE, 2, topic, folder / "master.log")
    collector = config.collector_folder(FLOW_PIPELINE)
    incoming = folder / "incoming"
    incoming.mkdir()
    warm = _names(max(2 * processes, 4), datetime(2016, 1, 6, 1))
    try:
        _drop(small, incoming, collector, warm)
        wait_for(lambda: collector_empty(collector), 120, "the warm-up files", [master])
        cpu_before = cpu_seconds([master])
        start = _drop(small, incoming, collector, _names(files, datetime(2016, 1, 6, 2)))
        first = [None]

        def handed_over() -> bool:
            left = _visible(collector)
            if first[0] is None and left < files:
                first[0] = time.perf_counter()
            return left == 0
        wait_for(handed_over, TIMEOUT_S, f"{files} files handed over", [master], interval=0.01)
        end = time.perf_counter()
        seconds = end - start
        cpu = cpu_seconds([master]) - cpu_before
    finally:
        code = master.stop()
    handed = len(published(master))
    errors = master.log().count("not handed over")
    if code != 0 or handed != files + len(warm):
        raise BenchError(f"master ({storage_kind}, {processes} processes): exit {code}, "
                         f"{handed} published of {files + len(warm)}; see {master.log_path}")
    if storage_kind == "hdfs":
        open_storage(config).delete(config.hdfs_app_path, recursive=True)
    pickup = first[0] - start
    return {"storage": storage_kind, "processes": processes, "files": files,
            "seconds": round(seconds, 3), "files_per_s": round(files / seconds, 1),
            "first_file_gone_s": round(pickup, 3),
            "files_per_s_after_first": round((files - 1) / max(end - first[0], 1e-6), 1),
            "cpu_s": round(cpu, 2), "cores": round(cpu / seconds, 2),
            "retries": errors, "warm_up_files": len(warm),
            "ingestion_interval_s": config.ingestion_interval}
