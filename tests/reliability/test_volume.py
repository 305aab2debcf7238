"""2,000 small files dropped at once (more than the watcher, the pool and the commits see in
any ordinary minute; 5,000 took 275 s of the CI budget for the same proof): every one
ingested exactly once."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow.parquet as pq

from common.messages import stored_name
from tests.integration.conftest import unique
from tests.integration.procs import start_master, start_worker, visible_files, wait_for

from .harness import PIPELINE, committed, numbered_capture
from .test_kills import fresh_config

FILES = 2000
DISTINCT = 50          # distinct captures, each behind FILES / DISTINCT names (hard links)
FLOWS = 20


def test_two_thousand_files_at_once(tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path, collector_processes=5)
    collector = config.pipeline(PIPELINE).collector_path
    sources = [numbered_capture(tmp_path / "made", f"nfcapd.2016010408{n:02d}", FLOWS,
                                1 + n * 1000) for n in range(DISTINCT)]
    names = [f"nfcapd.20160104{9 + i // 3600:02d}{i % 3600 // 60:02d}{i % 60:02d}"
             for i in range(FILES)]
    expected = {}
    staged = tmp_path / "staged"
    staged.mkdir()
    for i, name in enumerate(names):
        source, ids = sources[i % DISTINCT]
        os.link(source, staged / name)
        expected[name] = ids
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "created, 2 partitions" in master.log(), 60, "the topic", [master])
    workers = [start_worker(config.path, PIPELINE, i, topic, tmp_path, parallel=2) for i in (0, 1)]
    procs = [master, *workers]
    started = time.monotonic()
    try:
        for name in names:                       # all at once, by rename
            os.replace(staged / name, collector / name)
        wait_for(lambda: not visible_files(collector), 600, "every file published", procs)
        published = time.monotonic() - started
        wait_for(lambda: (committed(config, topic, 0) or 0) + (committed(config, topic, 1) or 0)
                 == FILES, 900, "every file committed", procs, interval=2)
        loaded = time.monotonic() - started
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0]
    print(f"{FILES} files: published in {published:.0f} s ({FILES / published:.0f} files/s), "
          f"loaded in {loaded:.0f} s ({FILES / loaded:.0f} files/s)")
    hive = Path(config.hdfs_app_path, "flow", "hive", "y=2016", "m=01", "d=04")
    outputs = sorted(p for p in hive.rglob("*.parquet"))
    assert len(outputs) == FILES
    by_name = {f"{PIPELINE}-{stored_name(n)}.parquet": n for n in names}
    for path in outputs:
        ids = pq.read_table(path, columns=["ibyt"]).column("ibyt").to_pylist()
        assert sorted(ids) == sorted(expected[by_name[path.name]]), path.name
