"""What the pipelines' demos (`make demo`) share: running a master and its workers as real
processes on a configuration, waiting for their work with a progress line, stopping them,
and asking Spark SQL about the tables through the metastore."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from common.config import IngestConfig

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "var" / "demo"


class PipelineRun:
    """A master and `workers` workers of one pipeline, on a topic of their own."""

    def __init__(self, config: IngestConfig, pipeline: str, workers: int, tz: str = "UTC",
                 worker_args: list[str] | None = None):
        self.config, self.pipeline, self.workers, self.tz = config, pipeline, workers, tz
        self.worker_args = worker_args or []
        self.topic = f"SPOT-INGEST-{pipeline}_demo_{datetime.now():%H_%M_%S_%f}"
        self.procs: list[subprocess.Popen] = []
        LOGS.mkdir(parents=True, exist_ok=True)

    def _spawn(self, script: str, args: list[str], log: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, script, "-c", str(self.config.path), "-t",
                                 self.pipeline, *args], cwd=REPO,
                                stdout=open(LOGS / log, "wb"), stderr=subprocess.STDOUT,
                                env={**os.environ, "TZ": self.tz})

    def start(self) -> None:
        print(f"== {self.pipeline}: master and {self.workers} workers on topic {self.topic} "
              f"(logs in {LOGS})", flush=True)
        self.procs.append(self._spawn("master_collector.py", ["-w", str(self.workers), "-id",
                                                              self.topic],
                                      f"{self.pipeline}-master.log"))
        self.procs += [self._spawn("worker.py", ["-i", str(i), "--topic", self.topic,
                                                 *self.worker_args],
                                   f"{self.pipeline}-worker-{i}.log")
                       for i in range(self.workers)]

    def wait(self, progress: Callable[[], tuple[int, int]], what: str,
             timeout: float = 600) -> float:
        """Waits until progress() gives (done, total) with done == total, printing a progress
        line with the rate every few seconds; returns the seconds it took."""
        started = last = time.monotonic()
        while True:
            done, total = progress()
            if done >= total:
                break
            if any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"a {self.pipeline} process exited early; see {LOGS}")
            now = time.monotonic()
            if now - started > timeout:
                raise SystemExit(f"{what}: {done}/{total} after {timeout:.0f} s; see {LOGS}")
            if now - last >= 3:
                rate = done / (now - started)
                print(f"  {what}: {done}/{total} ({rate:,.0f}/s)", flush=True)
                last = now
            time.sleep(0.5)
        seconds = time.monotonic() - started
        print(f"  {what}: {total}/{total} in {seconds:.1f} s", flush=True)
        return seconds

    def stop(self) -> list[int]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(180) for proc in self.procs]
        print(f"== {self.pipeline} stopped (exit codes {codes})", flush=True)
        return codes


def spark_session(config: IngestConfig):
    """A small local Spark session reading the tables through the configured metastore."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = LOGS / "warehouse"
    spark = (SparkSession.builder.master("local[2]").appName("spot-ingest-demo")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "1g")
             .config("spark.sql.warehouse.dir", str(warehouse))
             .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
             .config("spark.hadoop.hive.metastore.uris", ",".join(config.hive.metastore_uris))
             .enableHiveSupport().getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def print_rows(title: str, rows, columns: list[str]) -> None:
    print(f"== {title}")
    for row in rows:
        print("  " + "  ".join(f"{c}={row[c]}" for c in columns))
