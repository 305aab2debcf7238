"""2. Flow, latency: a master and a worker running (real processes, local storage); a file
renamed into the collector folder, as nfcapd does when it closes an interval, until its rows
are queryable (its Parquet file in the partition folder and the partition registered in the
metastore), vs nfdump alone on that file.

The first drop warms the pipeline up (the master's pool process starts on its first file);
the figure is the median of the drops after it. Each drop gets an hour no earlier run
registered, so "registered" is always news.
"""
from __future__ import annotations

import os
import shutil
import statistics
import time
from datetime import datetime, timedelta

from bench import inputs
from bench.support import (FLOW_PIPELINE, Bench, BenchError, check_rows, make_config, say,
                           start_master, start_workers, timed_runs, wait_for, worker_line)

TITLE = "Flow, latency: file renamed into the collector folder -> rows queryable"
SLACK_S = 1.0


def _free_hours(catalog, db: str, count: int) -> list[datetime]:
    """`count` hours from 2017 on that have no partition in <db>.flow yet."""
    taken = {tuple(int(v) for v in values) for values, _ in catalog.list_partitions(db, "flow")}
    hours, hour = [], datetime(2017, 1, 1)
    while len(hours) < count:
        if (hour.year, hour.month, hour.day, hour.hour) not in taken:
            hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def run(bench: Bench) -> dict:
    from common.catalog import Catalog
    from common.layout import HourPartition, partition_dir
    from common.schemas import FLOW
    from common.setup import setup_all
    from pipelines.flow.decode import nfdump_argv

    args = bench.args
    folder = bench.folder("flow-latency")
    config = make_config(folder)
    list(setup_all(config))
    path = inputs.flow_file(args.latency_flows)
    nfdump = timed_runs(nfdump_argv(str(path)), args.nfdump_runs)
    say(f"  nfdump alone on {args.latency_flows:,} flows: {nfdump['seconds']:.2f} s")
    collector = config.collector_folder(FLOW_PIPELINE)
    incoming = folder / "incoming"          # same filesystem: the drop is one rename
    incoming.mkdir()
    topic = bench.topic("flow_latency")
    master = start_master(bench, config, FLOW_PIPELINE, 1, topic, folder / "master.log")
    worker, = start_workers(bench, config, FLOW_PIPELINE, 1, topic, folder)
    procs = [master, worker]
    drops, checks = [], []
    with Catalog(config.hive.metastore_uris) as catalog:
        for i, hour in enumerate(_free_hours(catalog, config.dbname, 1 + args.latency_runs)):
            name = f"nfcapd.{hour:%Y%m%d%H}00"
            part = HourPartition.of(hour)
            values = part.values(FLOW)
            output = f"{partition_dir(config.hdfs_app_path, 'flow', part)}/" \
                     f"{FLOW_PIPELINE}-{name}.parquet"
            shutil.copyfile(path, incoming / name)
            start = time.perf_counter()
            os.replace(incoming / name, collector / name)
            wait_for(lambda: os.path.exists(output), 600, f"{output}", procs, interval=0.005)
            placed = time.perf_counter() - start
            wait_for(lambda: any(v == values for v, _ in
                                 catalog.list_partitions(config.dbname, "flow")),
                     60, f"partition {values} registered", procs, interval=0.005)
            queryable = time.perf_counter() - start
            match = wait_for(lambda: worker_line(name).search(worker.log()), 60,
                             "the worker's line", procs)
            if int(match.group(1)) != args.latency_flows:
                raise BenchError(f"{name}: {match.group(1)} rows, expected {args.latency_flows}")
            worker_s = float(match.group(2))
            checks.append(check_rows(name, args.latency_flows, _parquet_rows(output)))
            drops.append({"file": name, "warm_up": i == 0, "queryable_s": round(queryable, 3),
                          "parquet_in_place_s": round(placed, 3), "worker_s": worker_s,
                          "before_worker_s": round(queryable - worker_s, 3)})
            say(f"    drop {i}{' (warm-up)' if i == 0 else ''}: queryable after "
                f"{queryable:.2f} s (worker {worker_s:.2f} s of it)")
    for proc in procs:
        if proc.stop() != 0:
            raise BenchError(f"{proc.log_path.name} did not stop cleanly")
    measured = [d for d in drops if not d["warm_up"]]
    latency = statistics.median(d["queryable_s"] for d in measured)
    worker_s = statistics.median(d["worker_s"] for d in measured)
    difference = latency - nfdump["seconds"]
    return {
        "title": TITLE, "storage": "local", "row_checks": checks,
        "inputs": {"flows": args.latency_flows, "file": str(path), "drops": len(drops),
                   "ingestion_interval_s": config.ingestion_interval},
        "nfdump_s": nfdump["seconds"], "nfdump_runs_s": nfdump["runs"],
        "latency_s": round(latency, 3), "difference_s": round(difference, 3),
        "worker_s": worker_s, "first_drop_s": drops[0]["queryable_s"], "drops": drops,
        "targets": [{"figure": "latency - nfdump (s)", "value": f"{difference:.2f}",
                     "target": f"<= {SLACK_S:.0f}", "met": difference <= SLACK_S}],
        "headlines": [("drop -> queryable s (median)", f"{latency:.2f}"),
                      ("nfdump alone s", f"{nfdump['seconds']:.2f}")],
        "columns": ["flows", "nfdump s", "drop -> queryable s (median)", "difference s",
                    "worker's own s", "before the worker s", "first (warm-up) drop s"],
        "table": [[f"{args.latency_flows:,}", f"{nfdump['seconds']:.2f}", f"{latency:.2f}",
                   f"{difference:+.2f}", f"{worker_s:.2f}", f"{latency - worker_s:.2f}",
                   f"{drops[0]['queryable_s']:.2f}"]],
    }


def _parquet_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows
