"""`make demo`, flow: real nfcapd files (a real nfcapd on loopback fed by the NetFlow
generator) dropped into the collector folder as nfcapd does (by rename), loaded by the master
and two workers, and queried.

    python -m pipelines.flow.demo [-c CONF] [--flows N]
"""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from common.cli import ArgumentParser, add_config_argument, config_from_args, positive_int, run
from common.demo import PipelineRun, print_rows, spark_session
from common.layout import HourPartition, partition_dir
from common.setup import setup_all
from common.storage import open_storage
from pipelines.flow.netflow_generator import capture, synthetic_flows

PIPELINE = "flow_internals"
FILES = ["nfcapd.201601040900", "nfcapd.201601040930", "nfcapd.201601041000",
         "nfcapd.201601041030"]


def main() -> int:
    parser = ArgumentParser(prog="pipelines.flow.demo", description=__doc__.splitlines()[0])
    add_config_argument(parser)
    parser.add_argument("--flows", type=positive_int, default=25000, help="flows per file")
    args = parser.parse_args()
    config = config_from_args(args, "demo")
    storage = open_storage(config)

    print("== spot_setup")
    for line in setup_all(config):
        print("  " + line)

    print(f"== flow: making {len(FILES)} nfcapd files of {args.flows:,} flows with a real nfcapd")
    scratch = Path(tempfile.mkdtemp(prefix="spot-demo-"))
    for n, name in enumerate(FILES):
        start = datetime.strptime(name[7:], "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
        path = capture(synthetic_flows(args.flows, start, seed=n, spread_seconds=1800), scratch,
                       name)
        print(f"  {name}: {path.stat().st_size / 1e6:.1f} MB")
    outputs = [f"{partition_dir(config.hdfs_app_path, 'flow', HourPartition(2016, 1, 4, int(n[15:17])))}"
               f"/{PIPELINE}-{n}.parquet" for n in FILES]
    for earlier in outputs:                    # a demo run before this one
        storage.delete(earlier)

    demo = PipelineRun(config, PIPELINE, 2)
    demo.start()
    try:
        collector = config.collector_folder(PIPELINE)
        for name in FILES:                     # as nfcapd does: complete files appear by rename
            os.replace(scratch / name, collector / name)
        demo.wait(lambda: (sum(storage.exists(o) for o in outputs), len(FILES)), "files loaded")
    finally:
        codes = demo.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    spark = spark_session(config)
    try:
        db = config.dbname
        spark.catalog.refreshTable(f"{db}.flow")
        where = "y = 2016 AND m = 1 AND d = 4"
        rows = spark.sql(f"SELECT y, m, d, h, count(*) AS flows FROM {db}.flow WHERE {where} "
                         "GROUP BY y, m, d, h ORDER BY h").collect()
        print_rows(f"rows per partition in {db}.flow", rows, ["y", "m", "d", "h", "flows"])
        print_rows("top talkers by bytes", spark.sql(
            f"SELECT sip, sum(ibyt) AS bytes, count(*) AS flows FROM {db}.flow WHERE {where} "
            "GROUP BY sip ORDER BY bytes DESC LIMIT 5").collect(), ["sip", "bytes", "flows"])
        total = sum(r.flows for r in rows)
        print(f"  total {total:,} flows (expected {len(FILES) * args.flows:,})")
        return 0 if total == len(FILES) * args.flows and not any(codes) else 1
    finally:
        spark.stop()


if __name__ == "__main__":
    run(main)
