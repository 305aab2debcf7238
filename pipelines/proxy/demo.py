"""The proxy part of `make demo`: a Blue Coat access log (headers repeated mid-file, quoted user agents
with spaces, `-` fields, some malformed lines, some values too wide for their column) dropped into the collector folder, published
as messages of whole lines by the master, parsed by the Spark job the worker runs, queried.
"""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from common.config import IngestConfig
from common.demo import PipelineRun, print_rows
from common.status import rejected_lines
from common.storage import open_storage
from common.table_status import parquet_footer
from pipelines.proxy.log_writer import write_log

PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)
BAD = {"field_count": 20, "non_integer": 10, "unclosed_quote": 5, "invalid_utf8": 5}


def demo(config: IngestConfig, spark, lines: int, keep: bool) -> tuple[bool, PipelineRun]:
    storage = open_storage(config)
    hive = f"{config.hdfs_app_path}/proxy/hive"
    for earlier in storage.files_under(hive):           # a demo run before this one
        storage.delete(earlier)
    rejected_before = rejected_lines(storage, config, config.pipeline(PIPELINE))

    scratch = Path(tempfile.mkdtemp(prefix="spot-proxy-demo-"))
    log = scratch / "bluecoat-demo.log"
    stats = write_log(log, lines, START, hours=2, bad=BAD)
    print(f"== proxy: a Blue Coat log of {stats.records:,} records ({stats.valid:,} valid, "
          f"{stats.invalid} malformed, {sum(stats.nulled.values())} with a value too wide for "
          f"its column (a NULL cell), {stats.header_lines} header lines, "
          f"{log.stat().st_size / 1e6:.1f} MB)")

    def lines_placed() -> tuple[int, int]:
        """Rows in the table and rejected lines with their reasons, both placed (a batch
        places its rows first, then its rejected lines)."""
        paths = [p for p in storage.files_under(hive) if p.endswith(".parquet")]
        rejected = rejected_lines(storage, config, config.pipeline(PIPELINE)) - rejected_before
        return sum(parquet_footer(storage, p).num_rows for p in paths) + rejected, stats.records

    run = PipelineRun(config, PIPELINE, 2)
    run.start()
    stopped = 0
    try:
        log.rename(config.collector_folder(PIPELINE) / log.name)
        run.wait(lines_placed, "lines placed (rows and rejected)", timeout=600,
                 before_first="the Spark job is starting; rows come with its first batches")
    finally:
        if not keep:
            stopped = run.stop()
        scratch.rmdir()

    rejected = rejected_lines(storage, config, config.pipeline(PIPELINE)) - rejected_before
    db = config.dbname
    spark.catalog.refreshTable(f"{db}.proxy")
    where = "y = '2016' AND m = '01' AND d = '04'"
    per_hour = spark.sql(f"SELECT y, m, d, h, count(*) AS requests FROM {db}.proxy WHERE "
                         f"{where} GROUP BY y, m, d, h ORDER BY h").collect()
    print_rows(f"rows per partition in {db}.proxy", per_hour, ["y", "m", "d", "h", "requests"])
    print_rows("top hosts", spark.sql(
        f"SELECT host, count(*) AS requests, sum(scbytes) AS bytes FROM {db}.proxy WHERE "
        f"{where} GROUP BY host ORDER BY requests DESC, host LIMIT 5").collect(),
        ["host", "requests", "bytes"])
    total = sum(r.requests for r in per_hour)
    print(f"  proxy: {total:,} rows (expected {stats.valid:,}); {rejected} lines rejected "
          f"(expected {stats.invalid}), with their reasons under "
          f"{config.hdfs_app_path}/proxy/rejected/{PIPELINE}/")
    return total == stats.valid and rejected == stats.invalid and stopped == 0, run
