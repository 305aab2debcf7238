"""The Prometheus endpoints of a master and a worker, scraped after a known ingest."""
from __future__ import annotations

import json
import re
import shutil
import socket
import urllib.request
from pathlib import Path

from common.setup import setup_all

from .conftest import unique
from .procs import start_master, start_worker, wait_for
from .test_flow_pipeline import PIPELINE, flow_files  # noqa: F401 (fixture)


def free_port_pair() -> int:
    """A port p with p, p + 1 free (the master's and worker 0's)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no two free ports in a row")


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        match = re.match(r"^(spot_\w+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            out[match.group(1)] = float(match.group(2))
    return out


def test_metrics_after_a_known_ingest(local_config, flow_files, tmp_path):
    data = json.loads(Path(local_config.path).read_text())
    port = free_port_pair()
    data["metrics"] = {"port": port}
    config_path = Path(local_config.path)
    config_path.write_text(json.dumps(data))
    list(setup_all(local_config))
    collector = local_config.pipeline(PIPELINE).collector_path
    topic = unique("SPOT-INGEST-flow")
    master = start_master(config_path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "created, 1 partitions" in master.log(), 60, "the topic", [master])
    worker = start_worker(config_path, PIPELINE, 0, topic, tmp_path)
    names = ["nfcapd.201601040900", "nfcapd.201601040905", "nfcapd.201601041000"]
    try:
        for name in names:
            shutil.copyfile(flow_files[name], collector / name)
        (collector / "nfcapd.latest").write_bytes(b"no time stamp")
        wait_for(lambda: worker.log().count(" rows in ") == 3, 60, "three files", [master, worker])
        wait_for(lambda: scrape(port).get('spot_files_published_total{pipeline="flow_internals"}')
                 == 3, 10, "the master's counters", [master, worker])
        m, w = scrape(port), scrape(port + 1)
    finally:
        assert [master.stop(), worker.stop()] == [0, 0]
    p = 'pipeline="flow_internals"'
    pw = f'{p},worker="0"'
    assert m[f"spot_files_detected_total{{{p}}}"] == 3
    assert m[f"spot_files_published_total{{{p}}}"] == 3
    assert m[f"spot_messages_published_total{{{p}}}"] == 3
    assert m[f"spot_files_set_aside_total{{{p}}}"] == 1
    assert m[f'spot_upload_seconds_count{{{p},role="master"}}'] == 3
    assert w[f"spot_messages_processed_total{{{pw}}}"] == 3
    assert w[f"spot_files_ingested_total{{{pw}}}"] == 3
    assert w[f"spot_rows_written_total{{{pw}}}"] == 300 + 250 + 200
    assert w[f"spot_files_quarantined_total{{{pw}}}"] == 0
    assert w[f"spot_decode_seconds_count{{{p}}}"] == 3
    assert w[f'spot_upload_seconds_count{{{p},role="worker"}}'] == 3
    assert w[f"spot_register_seconds_count{{{p}}}"] == 2        # hours 09 and 10, once each
    assert w[f'spot_consumer_lag{{partition="0",{p},topic="{topic}"}}'] == 0
