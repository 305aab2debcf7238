"""Flow worker throughput and memory on one large nfcapd file (default 1,000,000 flows).

Reports, in one run on the same file:
  - `nfdump -r FILE -q -o csv > /dev/null` (the decoder's own limit);
  - one real worker.py process end to end (fetch, nfdump, Arrow, Parquet, placement,
    partition registration, commit): rows/s from its own log line, and its peak RSS (VmHWM);
  - an in-process breakdown of where the time goes along the path.

    python -m bench.flow_worker [--flows N] [--storage local|hdfs]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.catalog import Catalog  # noqa: E402
from common.config import load_config  # noqa: E402
from common.kafka_io import Publisher, ensure_topic  # noqa: E402
from common.layout import HourPartition, partition_dir  # noqa: E402
from common.parquet_out import write_batches  # noqa: E402
from common import decoder  # noqa: E402
from common.messages import FileMessage  # noqa: E402
from common.schemas import FLOW  # noqa: E402
from common.setup import setup_all  # noqa: E402
from common.storage import open_storage  # noqa: E402
from pipelines.flow.decode import csv_batches, header_names, nfdump_argv, nfdump_failed  # noqa: E402
from pipelines.flow.netflow_generator import capture, count_flows, synthetic_flows  # noqa: E402

PIPELINE = "flow_internals"
NAME = "nfcapd.201601040900"
WORK = REPO / "var" / "bench"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def make_file(flows: int) -> Path:
    folder = WORK / f"flows-{flows}"
    path = folder / NAME
    if not path.exists():
        print(f"making {NAME} with {flows} flows (real nfcapd)...", flush=True)
        start = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)
        capture(synthetic_flows(flows, start, seed=7, spread_seconds=3000), folder, NAME)
    return path


def bench_config(storage_kind: str) -> Path:
    data = json.loads((REPO / "ingest_conf.json").read_text())
    data["dbname"] = "spot_bench"
    if storage_kind == "hdfs":
        data["hdfs_app_path"] = "/spot-bench"
        data["hdfs"] = {"namenode_url": "http://127.0.0.1:9870", "user": "spot"}
    else:
        data["hdfs_app_path"] = str(WORK / "spot")
    data["pipelines"][PIPELINE]["local_staging"] = str(WORK / "staging")
    path = WORK / f"bench_conf_{storage_kind}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--storage", choices=["local", "hdfs"], default="local")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TZ", "UTC")

    path = make_file(args.flows)
    rows = count_flows(path)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({size_mb:.1f} MB, {rows} flows)")

    # 1. the decoder alone
    with open(os.devnull, "wb") as null:
        _, nfdump_s = timed(lambda: subprocess.run(nfdump_argv(str(path)), stdout=null, check=True))
    print(f"nfdump -q -o csv > /dev/null: {nfdump_s:.2f} s = {rows / nfdump_s:,.0f} rows/s")

    # 2. one real worker process end to end
    config_path = bench_config(args.storage)
    config = load_config(config_path)
    list(setup_all(config))
    storage = open_storage(config)
    topic = f"SPOT-INGEST-bench_{datetime.now():%H_%M_%S_%f}"
    ensure_topic(config.kafka, topic, 1)
    remote = f"{config.hdfs_app_path}/flow/binary/20160104/09/{PIPELINE}/{NAME}"
    storage.upload(path, remote)
    publisher = Publisher(config.kafka, topic)
    publisher.send(FileMessage(PIPELINE, NAME, remote, path.stat().st_size).encode(), 0)
    publisher.close()
    log_path = WORK / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "worker.py", "-c", str(config_path), "-t",
                                   PIPELINE, "-i", "0", "--topic", topic], cwd=REPO,
                                  stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 900
        pattern = re.compile(rf"{re.escape(NAME)}: (\d+) rows in ([\d.]+) s")
        while not (match := pattern.search(log_path.read_text())):
            if worker.poll() is not None or time.monotonic() > deadline:
                print(log_path.read_text()[-3000:])
                return 1
            time.sleep(0.2)
        peak_mb = vm_hwm_mb(worker.pid)
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    loaded, worker_s = int(match.group(1)), float(match.group(2))
    print(f"worker end to end ({args.storage} storage): {loaded} rows in {worker_s:.2f} s = "
          f"{loaded / worker_s:,.0f} rows/s ({worker_s / nfdump_s:.2f}x nfdump alone); "
          f"peak RSS {peak_mb:.0f} MB")
    assert loaded == rows, (loaded, rows)

    # 3. where the time goes, stage by stage, in this process
    local = WORK / "stage-input"
    _, fetch_s = timed(lambda: storage.download(remote, local))
    names = header_names(decoder.run(nfdump_argv(str(local), header=True) + ["-c", "1"])
                         .splitlines()[0].encode())

    def decode_only():
        with decoder.stream(nfdump_argv(str(local)), stderr_fails=nfdump_failed) as out:
            return sum(b.num_rows for b in csv_batches(out, names))

    def decode_and_write():
        with decoder.stream(nfdump_argv(str(local)), stderr_fails=nfdump_failed) as out:
            return write_batches(csv_batches(out, names), FLOW.arrow_schema(), WORK / "stage.parquet")

    _, decode_s = timed(decode_only)
    _, write_s = timed(decode_and_write)
    part = HourPartition(2016, 1, 4, 9)
    target = f"{partition_dir(config.hdfs_app_path, 'flow', part)}/bench.parquet"
    _, upload_s = timed(lambda: storage.upload(WORK / "stage.parquet", target))

    def register():
        with Catalog(config.hive.metastore_uris) as catalog:
            catalog.add_partition(config.dbname, FLOW, part,
                                  storage.uri(partition_dir(config.hdfs_app_path, "flow", part)))
    _, register_s = timed(register)
    storage.delete(target)
    parquet_mb = (WORK / "stage.parquet").stat().st_size / 1e6
    print("breakdown:")
    print(f"  fetch binary from storage     {fetch_s:7.2f} s")
    print(f"  nfdump -> Arrow batches       {decode_s:7.2f} s ({decode_s - nfdump_s:+.2f} s over nfdump alone)")
    print(f"  ... + Parquet write           {write_s:7.2f} s ({write_s - decode_s:+.2f} s for Parquet, {parquet_mb:.1f} MB)")
    print(f"  upload Parquet to storage     {upload_s:7.2f} s")
    print(f"  register partition            {register_s:7.2f} s")
    for leftover in (local, WORK / "stage.parquet"):
        leftover.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
