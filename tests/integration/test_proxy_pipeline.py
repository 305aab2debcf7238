"""The proxy pipeline through its entry scripts: master_collector.py publishes Blue Coat
logs, worker.py runs the Spark job with the configuration's spark-streaming settings; rows,
rejected lines and cells left NULL exactly as the logs hold them, in every layout and form
(with #Fields directives, headerless in Spot's layout, behind syslog headers, with runs of
spaces and tabs, CRLF, gzip, a format changed mid-file); the job's position in the consumer
group; a stop of the worker stops the job."""
from __future__ import annotations

import gzip
import re
import shutil
import signal
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common.catalog import Catalog
from common.config import load_config
from common.setup import setup_all
from common.status import topic_status
from common.storage import open_storage
from pipelines.proxy import bluecoat, layouts, log_writer

from .conftest import REPO, base_config_data, unique, write_config
from .procs import start_master, start_worker, visible_files, wait_for
from .test_proxy_job import end_offsets, folder_row_count, folder_rows, rejected_records

PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)
MESSAGE_SIZE = 50_000
FIXTURES = REPO / "tests" / "fixtures" / "proxy"
NULLED = re.compile(rf"{PIPELINE} batch \d+: .*, (\d+) cells nulled \(([^)]*)\)")
BAD = {kind: 2 for kind in [*log_writer.BAD_KINDS, *log_writer.NULLED_KINDS]}


def make_logs(folder: Path) -> dict[str, Path]:
    """The fixtures, and a generated log of every layout in every form, each file its own
    days (so that no two files share a partition)."""
    logs = {}
    for path in sorted(FIXTURES.glob("*.log")):
        logs[path.name] = Path(shutil.copy(path, folder / path.name))
    forms = {"directives": {}, "headerless": {"header_every": 0}, "rfc3164": {"syslog": "rfc3164"},
             "rfc5424": {"syslog": "rfc5424", "crlf": True}, "ragged": {"ragged": True}}
    day = 0
    for layout in sorted(layouts.WELL_KNOWN):
        for form, options in forms.items():
            if form == "headerless" and layout != "spot":
                continue          # headerless logs of other layouts need pipelines.<name>.fields
            day += 1
            name = f"{layout}-{form}.log" + (".gz" if form == "rfc5424" else "")
            log_writer.write_log(folder / name, 600, START + timedelta(days=day), hours=2,
                                 seed=day, bad=BAD, gzip=name.endswith(".gz"),
                                 layout=layout, **{"header_every": 250, **options})
            logs[name] = folder / name
    return logs


def read_lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def scrape(address: str) -> dict[str, float]:
    """A Prometheus endpoint's samples: {'name{labels}': value}."""
    import urllib.request

    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def account(path: Path) -> tuple[int, Counter, Counter, Counter]:
    """(lines in, rows, rejected by reason, cells nulled by column) as the master publishes
    the log and the reference parser reads it."""
    rows, rejected, nulled = Counter(), Counter(), Counter()
    lines = read_lines(path)
    for message, header in log_writer.messages_with_layouts(lines, MESSAGE_SIZE):
        for line in bluecoat.split_lines(message)[:-1]:
            result, cells = bluecoat.parse(line, layouts.from_header(header))
            if isinstance(result, bluecoat.Row):
                rows[tuple(result)] += 1
                nulled.update(cells)
            elif result is not None:
                rejected[result.reason] += 1
    return len(lines), rows, rejected, nulled


def test_proxy_logs_of_every_layout_end_to_end(tmp_path, kafka_up, metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["kafka"]["message_size"] = MESSAGE_SIZE
    data["spark-streaming"]["spark_batch_size"] = 2
    data["metrics"] = {"port": 0}
    config = load_config(write_config(tmp_path, data))
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    (tmp_path / "logs").mkdir()
    logs = make_logs(tmp_path / "logs")
    accounts = {name: account(path) for name, path in logs.items()}
    expected, rejected, nulled = Counter(), Counter(), Counter()
    print("\nper log: lines in, rows out, rejected lines by reason, cells nulled")
    for name, (lines, rows, reasons, cells) in sorted(accounts.items()):
        print(f"  {name}: {lines} lines, {sum(rows.values())} rows, {dict(reasons)}, "
              f"{dict(cells)}")
        expected.update(rows)
        rejected.update(reasons)
        nulled.update(cells)
    topic = unique(f"SPOT-INGEST-{PIPELINE}")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "(created, 2 partitions)" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path, parallel=2)
    storage = open_storage(config)
    try:
        for path in logs.values():
            path.rename(collector / path.name)
        total = sum(expected.values())
        wait_for(lambda: folder_row_count(storage, config.hdfs_app_path, tmp_path) == total,
                 600, "every record in the table folders", [master, worker], interval=2)
        wait_for(lambda: not visible_files(collector), 60,
                 "every log handed over", [master, worker])
        ends = end_offsets(config, topic)
        wait_for(lambda: [p.committed for p in topic_status(config, topic).partitions] ==
                 [ends[0], ends[1]], 60, "the job's position in the group", [worker])
        status = topic_status(config, topic)
        assert (status.lag, [p.active for p in status.partitions]) == (0, [True, True])
        (address,) = {p.metrics for p in status.partitions}      # the job's own endpoint
        scraped = scrape(address)
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
    assert rows == expected            # the reference parser's rows, folder values included
    got = Counter(r["reason"] for r in rejected_records(storage, config, tmp_path))
    assert got == rejected
    logged: Counter = Counter()
    for _, columns in NULLED.findall(log_text):
        logged.update({c: int(n) for c, n in (part.split(" ") for part in columns.split(", "))})
    assert logged == nulled and nulled["scbytes"] > 30       # 3 GiB downloads among them
    assert {c: scraped.get(f'spot_cells_nulled_total{{column="{c}",pipeline="{PIPELINE}"}}')
            for c in nulled} == {c: float(n) for c, n in nulled.items()}
    assert scraped[f'spot_rows_written_total{{pipeline="{PIPELINE}",worker="0"}}'] == \
        float(sum(expected.values()))
    per_partition = Counter(r[28:] for r in rows.elements())
    with Catalog(config.hive.metastore_uris) as catalog:
        assert sorted(tuple(v) for v, _ in catalog.list_partitions(config.dbname, "proxy")) == \
            sorted(per_partition)
    checkpoint = Path(config.hdfs_app_path, "proxy", "stage", PIPELINE, "checkpoints", topic)
    assert (checkpoint / "commits").is_dir()
