"""republish.py: quarantined binaries published again to their pipeline's topic (all, by
time range, by name), put back where they were stored, loaded exactly once however often
it runs; --dry-run changes nothing."""
from __future__ import annotations

import subprocess
import sys

from common.kafka_admin import ensure_topic
from common.messages import FileMessage
from common.setup import setup_all
from common.storage import open_storage
from common.worker import Worker, make_processor

from .procs import REPO
from .test_flow_pipeline import (PIPELINE, flow_files, output_path,  # noqa: F401 (fixture)
                                 run_worker_until_idle)


def republish(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "republish.py", "-c", str(config.path), "-t",
                           PIPELINE, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def quarantine_as_a_worker_would(config, files, name: str, reason: str) -> str:
    """Stores a binary and sets it aside with the worker's own code and words."""
    from common.binary import Binary
    from common.layout import HourPartition

    storage = open_storage(config)
    path = f"{config.hdfs_app_path}/flow/binary/20160104/{name[15:17]}/{PIPELINE}/{name}"
    storage.upload(files[name], path)
    processor = make_processor(config, config.pipeline(PIPELINE), 0)
    message = FileMessage(PIPELINE, name, path, files[name].stat().st_size)
    processor.quarantine(Binary(message, HourPartition(2016, 1, 4, int(name[15:17])), name),
                         reason)
    return path


def rows(config, name: str) -> int:
    import pyarrow.parquet as pq

    storage = open_storage(config)
    path = output_path(config, name) + ".parquet"
    return pq.read_metadata(path).num_rows if storage.exists(path) else 0


def test_quarantined_binaries_come_back_once(local_config, flow_files):
    config = local_config
    list(setup_all(config))
    topic = config.topic_of(PIPELINE)
    ensure_topic(config.kafka, topic, 2)
    names = ["nfcapd.201601040900", "nfcapd.201601040905", "nfcapd.201601041000"]
    reason = "failed 5 times: column sas: Integer value 4200000001 not in range"
    paths = {n: quarantine_as_a_worker_would(config, flow_files, n, reason) for n in names}
    storage = open_storage(config)
    quarantine = f"{config.hdfs_app_path}/flow/quarantine/{PIPELINE}"

    dry = republish(config, "--all", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"{n}: would publish {paths[n]} to {topic}[{i % 2}] (quarantined: {reason})"
        for i, n in enumerate(names)] + [f"{PIPELINE}: 3 binaries would publish, 0 missing"]
    assert all(storage.exists(f"{quarantine}/{n}") for n in names)     # nothing moved

    hour = republish(config, "--from", "2016-01-04T10", "--to", "2016-01-04T10")
    assert hour.stdout.splitlines()[-1] == f"{PIPELINE}: 1 binary published, 0 missing"
    by_name = republish(config, "--name", "*0905")
    assert by_name.stdout.splitlines()[-1] == f"{PIPELINE}: 1 binary published, 0 missing"
    assert storage.exists(paths["nfcapd.201601041000"]) and \
        not storage.exists(f"{quarantine}/nfcapd.201601041000.reason")
    again = republish(config, "--all")                 # the one left, then nothing more
    assert again.stdout.splitlines()[-1] == f"{PIPELINE}: 1 binary published, 0 missing"
    assert republish(config, "--all").stdout == f"{PIPELINE}: 0 binaries published, 0 missing\n"
    for partition in (0, 1):
        worker = Worker(config, config.pipeline(PIPELINE), partition, topic)
        assert worker.run(idle_exit_seconds=3) == 0
    assert [rows(config, n) for n in names] == [300, 250, 200]

    # set aside again (the same file), republished again: its rows replace themselves
    quarantine_as_a_worker_would(config, flow_files, "nfcapd.201601040900", "again")
    assert republish(config, "--name", "nfcapd.201601040900").returncode == 0
    run_worker_until_idle(config, topic)
    assert [rows(config, n) for n in names] == [300, 250, 200]


def test_republish_says_what_it_needs(local_config):
    proc = republish(local_config)
    assert (proc.returncode, proc.stderr) == (
        1, "republish.py: error: say which binaries: --all, --name PATTERN, or --from/--to "
           "HOUR\n")
    proc = republish(local_config, "--from", "yesterday")
    assert (proc.returncode, proc.stderr) == (
        1, "error: expected an hour as YYYY-MM-DDTHH (or a day YYYY-MM-DD), got 'yesterday'\n")
