"""The flow part of `make demo`: real nfcapd files (a real nfcapd on loopback fed by the
NetFlow generator) dropped into the collector folder as nfcapd does (by rename), loaded by
the flow pipeline's standalone session, and queried."""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from common.config import IngestConfig
from common.demo import PipelineRun, print_rows
from common.layout import HourPartition, partition_dir
from common.storage import open_storage
from pipelines.flow.netflow_generator import capture, synthetic_flows

PIPELINE = "flow_internals"
FILES = ["nfcapd.201601040900", "nfcapd.201601040930", "nfcapd.201601041000",
         "nfcapd.201601041030"]


def demo(config: IngestConfig, spark, flows: int, keep: bool) -> tuple[bool, PipelineRun]:
    storage = open_storage(config)
    print(f"== flow: making {len(FILES)} nfcapd files of {flows:,} flows with a real nfcapd")
    scratch = Path(tempfile.mkdtemp(prefix="spot-demo-"))
    for n, name in enumerate(FILES):
        start = datetime.strptime(name[7:], "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
        path = capture(synthetic_flows(flows, start, seed=n, spread_seconds=1800), scratch, name)
        print(f"  {name}: {path.stat().st_size / 1e6:.1f} MB")
    outputs = [f"{partition_dir(config.hdfs_app_path, 'flow', HourPartition(2016, 1, 4, int(n[15:17])))}"
               f"/{PIPELINE}-{n}.parquet" for n in FILES]
    for earlier in outputs:                    # a demo run before this one
        storage.delete(earlier)

    run = PipelineRun(config, PIPELINE, 2)
    run.start()
    stopped = 0
    try:
        collector = config.collector_folder(PIPELINE)
        for name in FILES:                     # as nfcapd does: complete files appear by rename
            os.replace(scratch / name, collector / name)
        run.wait(lambda: (sum(storage.exists(o) for o in outputs), len(FILES)), "files loaded")
    finally:
        if not keep:
            stopped = run.stop()
        shutil.rmtree(scratch, ignore_errors=True)

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
    print(f"  flow: {total:,} rows (expected {len(FILES) * flows:,})")
    return total == len(FILES) * flows and stopped == 0, run
