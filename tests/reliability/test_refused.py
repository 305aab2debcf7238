"""The storage refusing one binary is that binary's fault, not the machine's: it costs
max_attempts attempts, then the binary is set aside and the partition goes on (before, an
HDFS "Permission denied" on one binary was retried for ever and stalled its partition)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.config import load_config
from common.kafka_admin import ensure_topic
from common.setup import setup_all
from common.storage import open_storage
from tests.integration.conftest import unique
from tests.integration.test_flow_pipeline import (PIPELINE, flow_files,  # noqa: F401 (fixture)
                                                  output_path, publish_binaries,
                                                  run_worker_until_idle)


@pytest.mark.parametrize("backend", ["local", "hdfs"])
def test_a_binary_the_storage_will_not_let_us_read_is_set_aside_and_the_partition_goes_on(
        backend, request, flow_files, tmp_path):
    """The refused binary here is a folder where the file should be: the local filesystem
    says "Is a directory", HDFS "Path is not a file" (the local HDFS runs without
    permissions, so its "Permission denied" cannot be made; it takes the same path)."""
    config = request.getfixturevalue(f"{backend}_config")
    data = json.loads(Path(config.path).read_text())
    data["pipelines"][PIPELINE]["max_attempts"] = 2
    Path(config.path).write_text(json.dumps(data))
    config = load_config(config.path)
    list(setup_all(config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    refused, good = "nfcapd.201601040900", "nfcapd.201601041000"
    publish_binaries(config, topic, [(flow_files[refused], refused), (flow_files[good], good)])
    storage = open_storage(config)
    binary = f"{config.hdfs_app_path}/flow/binary/20160104/09/{PIPELINE}/{refused}"
    storage.delete(binary)
    storage.mkdirs(binary)

    worker = run_worker_until_idle(config, topic)

    assert (worker.processed, worker.quarantined, worker.rows) == (2, 1, 200)
    quarantine = f"{config.hdfs_app_path}/flow/quarantine/{PIPELINE}/{refused}"
    reason = storage.read_range(quarantine + ".reason", 0, 4096).decode()
    assert reason.startswith(f"{refused} ({binary}): failed 2 times: download {binary}: ")
    assert ("Is a directory" if backend == "local" else "is not a file") in reason, reason
    assert storage.exists(quarantine) and not storage.exists(binary)
    assert storage.exists(output_path(config, good) + ".parquet")
