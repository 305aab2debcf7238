"""What the pipelines' demos (`make demo`) share: a pipeline started in its standalone tmux
session (start_standalone_ingest.sh, as a user would), waiting for its work with a progress
line, stopping it (stop_standalone_ingest.sh) or leaving it running, and asking Spark SQL
about the tables through the metastore."""
from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from common.config import IngestConfig

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "var" / "demo"


class PipelineRun:
    """One pipeline's standalone session: a master and `workers` workers (the proxy job with
    -p workers), on a topic of their own."""

    def __init__(self, config: IngestConfig, pipeline: str, workers: int, tz: str = "UTC"):
        self.config, self.pipeline, self.workers, self.tz = config, pipeline, workers, tz
        self.session = self.topic = ""
        LOGS.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """Starts the pipeline's session; one an earlier demo left running is stopped first
        (one master per collector folder)."""
        earlier = subprocess.run(["bash", str(REPO / "stop_standalone_ingest.sh"),
                                  self.pipeline], capture_output=True, text=True, cwd=REPO)
        if earlier.returncode != 1 or "no session" not in earlier.stderr:
            print(f"== {self.pipeline}: stopped the session an earlier demo left running: " +
                  "; ".join((earlier.stdout + earlier.stderr).strip().splitlines()), flush=True)
        proc = subprocess.run(["bash", str(REPO / "start_standalone_ingest.sh"), self.pipeline,
                               str(self.workers), self.tz, "-c", str(self.config.path)],
                              capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr.strip() or f"cannot start {self.pipeline}")
        match = re.search(r"tmux session (\S+): .* on topic (\S+) ", proc.stdout)
        if not match:
            raise SystemExit(f"unexpected launcher output: {proc.stdout!r}")
        self.session, self.topic = match.group(1), match.group(2)
        print(f"== {self.pipeline}: tmux session {self.session}, topic {self.topic}",
              flush=True)

    def _dead_windows(self) -> list[str]:
        out = subprocess.run(["tmux", "list-panes", "-s", "-t", f"={self.session}", "-F",
                              "#{window_name}:#{pane_dead}"], capture_output=True, text=True)
        return [line.split(":")[0] for line in out.stdout.split() if line.endswith(":1")]

    def wait(self, progress: Callable[[], tuple[int, int]], what: str,
             timeout: float = 600, before_first: str | None = None) -> float:
        """Waits until progress() gives (done, total) with done == total, printing a progress
        line with the rate every few seconds (`before_first` says what is going on while
        nothing is done yet); returns the seconds it took."""
        started = last = time.monotonic()
        while True:
            done, total = progress()
            if done >= total:
                break
            dead = self._dead_windows()
            if dead:
                raise SystemExit(f"{self.pipeline}: {', '.join(dead)} exited early; see "
                                 f"tmux attach -t {self.session}")
            now = time.monotonic()
            if now - started > timeout:
                raise SystemExit(f"{what}: {done}/{total} after {timeout:.0f} s; see "
                                 f"tmux attach -t {self.session}")
            if now - last >= 3:
                rate = done / (now - started)
                doing = before_first if before_first and not done else f"{rate:,.0f}/s"
                print(f"  {what}: {done:,}/{total:,} ({doing})", flush=True)
                last = now
            time.sleep(0.5)
        seconds = time.monotonic() - started
        print(f"  {what}: {total:,}/{total:,} in {seconds:.1f} s", flush=True)
        return seconds

    def stop(self) -> int:
        proc = subprocess.run(["bash", str(REPO / "stop_standalone_ingest.sh"), self.session],
                              capture_output=True, text=True, cwd=REPO)
        print(f"== {self.pipeline} stopped: " + "; ".join(proc.stdout.strip().splitlines()),
              flush=True)
        return proc.returncode

    def how_to(self) -> list[str]:
        """Commands that run as printed in a new shell, from any folder: absolute paths, and
        python3 (the entry points enter the project's .venv themselves)."""
        collector = self.config.pipeline(self.pipeline).collector_path
        conf = "" if self.config.path.resolve() == (REPO / "ingest_conf.json").resolve() \
            else f" -c {self.config.path.resolve()}"
        pad = " " * len(self.pipeline)
        return [f"{self.pipeline}: watch   python3 {REPO / 'ingest_status.py'}{conf} -t "
                f"{self.pipeline} --watch 5",
                f"{pad}  drop    your own files into {collector}",
                f"{pad}  attach  tmux attach -t {self.session}",
                f"{pad}  stop    bash {REPO / 'stop_standalone_ingest.sh'} {self.session}"]


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
