"""The proxy pipeline through its entry scripts: master_collector.py publishes Blue Coat
logs, worker.py runs the Spark job with the configuration's spark-streaming settings; rows
and rejected lines exactly as the log holds them; a stop of the worker stops the job."""
from __future__ import annotations

import signal
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from common.catalog import Catalog
from common.config import load_config
from common.setup import setup_all
from common.storage import open_storage
from pipelines.proxy import bluecoat, log_writer

from .conftest import base_config_data, unique, write_config
from .procs import start_master, start_worker, wait_for
from .test_proxy_job import folder_row_count, folder_rows, rejected_records

PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)


def test_proxy_end_to_end_through_the_entry_scripts(tmp_path, kafka_up, metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["kafka"]["message_size"] = 50_000
    data["spark-streaming"]["spark_batch_size"] = 2
    config = load_config(write_config(tmp_path, data))
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    log = tmp_path / "access.log"
    stats = log_writer.write_log(log, 6000, START, hours=3, bad={"field_count": 3,
                                                                "non_integer": 2,
                                                                "unclosed_quote": 1})
    lines = log.read_bytes().split(b"\n")
    expected = Counter(tuple(r) for r in map(bluecoat.parse_line, lines)
                       if isinstance(r, bluecoat.Row))
    topic = unique(f"SPOT-INGEST-{PIPELINE}")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "(created, 2 partitions)" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path, parallel=2)
    storage = open_storage(config)
    try:
        log.rename(collector / log.name)
        wait_for(lambda: folder_row_count(storage, config.hdfs_app_path, tmp_path) == stats.valid,
                 240, "every valid line in the table folders", [master, worker], interval=2)
        assert master.stop() == 0
        worker.popen.send_signal(signal.SIGTERM)
        assert worker.wait(180) == 0
    finally:
        master.stop()
        worker.stop()
    log_text = worker.log()
    assert "starting the proxy job on local[2] (batches every 2 s)" in log_text
    assert "stopping the proxy job (the running batch finishes)" in log_text
    assert "the proxy job exited with 0" in log_text
    rows, _ = folder_rows(storage, config.hdfs_app_path, tmp_path)
    assert sum(rows.values()) == stats.valid == 5994
    assert rows == expected            # the reference parser's rows, folder values included
    per_partition = Counter(r[28:] for r in rows.elements())
    assert per_partition == Counter(stats.per_partition)
    rejected = rejected_records(storage, config, tmp_path)
    assert Counter(r["reason"] for r in rejected) == stats.reasons
    with Catalog(config.hive.metastore_uris) as catalog:
        assert sorted(tuple(v) for v, _ in catalog.list_partitions(config.dbname, "proxy")) == \
            sorted(per_partition)
    checkpoint = Path(config.hdfs_app_path, "proxy", "stage", PIPELINE, "checkpoints", topic)
    assert (checkpoint / "commits").is_dir()
