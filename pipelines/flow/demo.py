"""`make demo`: the flow pipeline on the embedded default configuration.

Makes real nfcapd files (a real nfcapd on loopback fed by the NetFlow generator), runs the
master and two workers as real processes, waits until every flow is queryable in Hive, prints
rows per partition through Spark SQL, and stops the pipeline.

    python -m pipelines.flow.demo [-c CONF] [--flows N]
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from common.cli import ArgumentParser, add_config_argument, config_from_args, positive_int, run
from common.layout import HourPartition, partition_dir
from common.setup import setup_all
from common.storage import open_storage
from pipelines.flow.netflow_generator import capture, synthetic_flows

PIPELINE = "flow_internals"
REPO = Path(__file__).resolve().parents[2]
FILES = ["nfcapd.201601040900", "nfcapd.201601040930", "nfcapd.201601041000",
         "nfcapd.201601041030"]


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, env={**os.environ, "TZ": "UTC"})


def main() -> int:
    parser = ArgumentParser(prog="pipelines.flow.demo", description=__doc__.splitlines()[0])
    add_config_argument(parser)
    parser.add_argument("--flows", type=positive_int, default=25000, help="flows per file")
    args = parser.parse_args()
    config = config_from_args(args)
    config_arg = ["-c", str(config.path)]
    pipeline = config.pipeline(PIPELINE)
    storage = open_storage(config)

    print("== spot_setup")
    for line in setup_all(config):
        print("  " + line)

    print(f"== making {len(FILES)} nfcapd files of {args.flows} flows with a real nfcapd")
    scratch = Path(tempfile.mkdtemp(prefix="spot-demo-"))
    for n, name in enumerate(FILES):
        start = datetime.strptime(name[7:], "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
        path = capture(synthetic_flows(args.flows, start, seed=n, spread_seconds=1800), scratch, name)
        print(f"  {name}: {path.stat().st_size / 1e6:.1f} MB")

    logs = REPO / "var" / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    topic = f"SPOT-INGEST-{PIPELINE}_demo_{datetime.now():%H_%M_%S_%f}"
    print(f"== master and 2 workers on topic {topic} (logs in {logs})")
    procs = [spawn(["master_collector.py", *config_arg, "-t", PIPELINE, "-w", "2", "-id", topic],
                   logs / "master.log")]
    procs += [spawn(["worker.py", *config_arg, "-t", PIPELINE, "-i", str(i), "--topic", topic],
                    logs / f"worker-{i}.log") for i in (0, 1)]
    started = time.monotonic()
    try:
        pipeline.collector_path.mkdir(parents=True, exist_ok=True)
        for name in FILES:  # as nfcapd does: complete files appear by rename
            os.replace(scratch / name, pipeline.collector_path / name)
        outputs = [f"{partition_dir(config.hdfs_app_path, 'flow', HourPartition(2016, 1, 4, int(n[15:17])))}"
                   f"/{PIPELINE}-{n}.parquet" for n in FILES]
        deadline = time.monotonic() + 300
        while not all(storage.exists(o) for o in outputs):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a pipeline process exited early; see {logs}")
            if time.monotonic() > deadline:
                raise SystemExit(f"files not loaded within 300 s; see {logs}")
            time.sleep(0.5)
        print(f"  all {len(FILES)} files loaded in {time.monotonic() - started:.1f} s")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in procs]
        print(f"== pipeline stopped (exit codes {codes})")
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"== rows per partition in {config.dbname}.flow (Spark SQL on the Hive Metastore)")
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (SparkSession.builder.master("local[2]").appName("spot-ingest-demo")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.warehouse.dir", str(REPO / "var" / "demo" / "warehouse"))
             .config("spark.hadoop.hive.metastore.uris", ",".join(config.hive.metastore_uris))
             .enableHiveSupport().getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        rows = spark.sql(f"SELECT y, m, d, h, count(*) AS flows FROM {config.dbname}.flow "
                         "WHERE y = 2016 AND m = 1 AND d = 4 GROUP BY y, m, d, h ORDER BY h").collect()
        for r in rows:
            print(f"  y={r.y} m={r.m} d={r.d} h={r.h}: {r.flows} flows")
        total = sum(r.flows for r in rows)
        print(f"  total {total} flows (expected {len(FILES) * args.flows})")
        return 0 if total == len(FILES) * args.flows and codes == [0, 0, 0] else 1
    finally:
        spark.stop()


if __name__ == "__main__":
    run(main)
