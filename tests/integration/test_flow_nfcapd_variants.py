"""nfcapd files as real collectors write them (tests/fixtures/nfcapd/, made by the real nfcapd
1.6.22 and 1.7.1: see make_fixtures.py there): each loads exactly what the installed nfdump
reads, or is quarantined with nfdump's own message. The oracle is nfdump's own csv, mapped
here independently of the worker's code."""
from __future__ import annotations

import csv
import json
import logging
import os
import re
import struct
import subprocess
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from common import metrics
from common.binary import Binary
from common.config import parse_config
from common.kafka_admin import ensure_topic
from common.layout import HourPartition
from common.messages import FileMessage
from common.storage import LocalStorage, open_storage
from common.setup import setup_all
from pipelines.flow.worker import FlowProcessor

from .conftest import unique
from .test_flow_pipeline import PIPELINE, publish_binaries, run_worker_until_idle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nfcapd"
MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())
INT_RANGE = (-(1 << 31), (1 << 31) - 1)
INT_COLUMNS = {"sport": "sp", "dport": "dp", "fwd": "fwd", "stos": "stos", "input": "in",
               "output": "out", "sas": "sas", "das": "das", "dtos": "dtos", "dir": "dir"}
BIGINT_COLUMNS = {"ipkt": "ipkt", "ibyt": "ibyt", "opkt": "opkt", "obyt": "obyt"}


def fixture(name: str) -> Path:
    return FIXTURES / MANIFEST[name]["file"]


def nfdump_csv(path: Path) -> tuple[list[dict], str]:
    """nfdump's own reading of a file (TZ=UTC): its rows by header name, and its stderr."""
    env = {**os.environ, "TZ": "UTC"}
    header = subprocess.run(["nfdump", "-r", str(fixture("v17-asn4")), "-o", "csv", "-c", "1"],
                            env=env, capture_output=True, text=True, check=True).stdout
    run = subprocess.run(["nfdump", "-r", str(path), "-q", "-o", "csv"], env=env,
                         capture_output=True, text=True)
    lines = [] if run.stdout.startswith("No matching flows") else run.stdout.splitlines()
    return list(csv.DictReader(lines, fieldnames=header.splitlines()[0].split(","))), \
        run.stderr.strip()


def float32(text: str) -> float:
    return struct.unpack("f", struct.pack("f", float(text)))[0]


def expected(n: dict, tz: str = "UTC") -> dict:
    """SPEC.md's mapping of one nfdump csv row: an integer beyond its column is NULL."""
    instant = datetime.strptime(n["tr"][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    local = instant.astimezone(ZoneInfo(tz))
    row = {"treceived": local.strftime("%Y-%m-%d %H:%M:%S"),
           "unix_tstamp": int(instant.timestamp()), "tryear": local.year,
           "trmonth": local.month, "trday": local.day, "trhour": local.hour,
           "trminute": local.minute, "trsec": local.second, "tdur": float32(n["td"]),
           "sip": n["sa"], "dip": n["da"], "proto": n["pr"], "flag": n["flg"], "rip": n["ra"]}
    for column, name in INT_COLUMNS.items():
        value = int(n[name])
        row[column] = value if INT_RANGE[0] <= value <= INT_RANGE[1] else None
    for column, name in BIGINT_COLUMNS.items():
        value = int(n[name])
        row[column] = value if value < 1 << 63 else None
    return row


def processor(tmp_path: Path) -> FlowProcessor:
    conf = {"dbname": "spot", "hdfs_app_path": str(tmp_path / "app"), "collector_processes": 1,
            "kafka": {"kafka_server": "127.0.0.1", "kafka_port": 9092},
            "pipelines": {PIPELINE: {"type": "flow", "collector_path": str(tmp_path),
                                     "local_staging": str(tmp_path / "staging")}}}
    config = parse_config(conf, tmp_path / "conf.json")
    proc = FlowProcessor(config, config.pipeline(PIPELINE), 0, storage=LocalStorage(),
                         catalog_factory=None)
    proc.start()
    return proc


def decoded(proc: FlowProcessor, path: Path) -> list[dict]:
    binary = Binary(FileMessage(PIPELINE, path.name, f"/x/{path.name}", path.stat().st_size),
                    HourPartition(2016, 1, 4, 9), path.name)
    [output] = list(proc.decode(path, binary, path.parent))
    batches = list(output.batches)
    return pa.Table.from_batches(batches).to_pylist() if batches else []


@pytest.mark.parametrize("name, flows, warning", [
    ("v16-lzo", 200, "Skip unknown record type 9"),        # nfdump 1.7 skips 1.6's sampler record
    ("v16-bzip2-asn4", 60, ""),
    ("v17-asn4", 60, ""),
    ("ipfix-end-before-start", 12, ""),
    ("empty", 0, ""),
])
def test_each_file_loads_exactly_what_nfdump_reads(name, flows, warning, tmp_path, caplog):
    path = fixture(name)
    oracle, stderr = nfdump_csv(path)
    assert (len(oracle), stderr) == (flows, warning)
    with caplog.at_level(logging.WARNING, logger="pipelines.flow.worker"):
        got = decoded(processor(tmp_path), path)
    assert len(got) == flows
    for row, n in zip(got, oracle):
        assert row == expected(n)
    nulls = Counter(c for row in got for c, v in row.items() if v is None)
    lines = [r.getMessage() for r in caplog.records if "stored as NULL" in r.getMessage()]
    if nulls:
        assert lines == [f"{PIPELINE} worker-0: {path.name}: {sum(nulls.values())} cell(s) stored "
                         f"as NULL (value did not fit its column): " +
                         ", ".join(f"{c} {n}" for c, n in sorted(nulls.items()))]
    else:
        assert lines == []


def test_what_the_fixtures_hold(tmp_path):
    """The variants are what they claim to be (else the test above proves less)."""
    v16 = subprocess.run(["nfdump", "-v", str(fixture("v16-lzo"))], capture_output=True,
                         text=True).stdout
    assert "Version    : 1 - lzo compressed" in v16
    bz2 = subprocess.run(["nfdump", "-v", str(fixture("v16-bzip2-asn4"))], capture_output=True,
                         text=True).stdout
    assert "Version    : 1 - bz2 compressed" in bz2
    asn4, _ = nfdump_csv(fixture("v16-bzip2-asn4"))
    assert {"4200000000", "4200000001", "4294967295"} <= {r["sas"] for r in asn4}
    assert any(":" in r["sa"] for r in asn4) and any(int(r["obyt"]) for r in asn4)
    ended, _ = nfdump_csv(fixture("ipfix-end-before-start"))
    assert [r["td"] for r in ended].count("18446744073709540.000") == 4
    assert nfdump_csv(fixture("empty")) == ([], "")


def test_four_byte_asns_keep_their_rows_counted_once_per_file(tmp_path, caplog):
    before = {c: metrics.CELLS_NULLED.labels(PIPELINE, c)._value.get() for c in ("sas", "das")}
    with caplog.at_level(logging.WARNING, logger="pipelines.flow.worker"):
        got = decoded(processor(tmp_path), fixture("v16-bzip2-asn4"))
    assert len(got) == 60
    # sas cycles through 6 values of which 3 (4200000000, 4200000001, 4294967295) exceed INT
    assert sum(r["sas"] is None for r in got) == sum(r["das"] is None for r in got) == 30
    assert {c: metrics.CELLS_NULLED.labels(PIPELINE, c)._value.get() - before[c]
            for c in before} == {"sas": 30, "das": 30}
    assert [r.getMessage() for r in caplog.records if "NULL" in r.getMessage()] == [
        f"{PIPELINE} worker-0: nfcapd.201601041000: 60 cell(s) stored as NULL (value did not "
        f"fit its column): das 30, sas 30"]


def test_flows_that_end_before_they_start_keep_nfdumps_duration(tmp_path):
    got = decoded(processor(tmp_path), fixture("ipfix-end-before-start"))
    assert [r["tdur"] for r in got].count(float32("18446744073709540.000")) == 4


@pytest.mark.parametrize("names, apart, rendered", [
    (("nfcapd.201611060830", "nfcapd.201611060930"), 3600, (1, 1)),   # 01:30 PDT, 01:30 PST
    (("nfcapd.201603130959", "nfcapd.201603131000"), 60, (1, 3)),     # 01:59 PST, 03:00 PDT
])
def test_received_times_across_dst_in_the_workers_zone(names, apart, rendered, tmp_path,
                                                       monkeypatch):
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    proc = processor(tmp_path)
    first, second = ([r for r in decoded(proc, FIXTURES / "dst" / name)] for name in names)
    for name, rows in zip(names, (first, second)):
        oracle, _ = nfdump_csv(FIXTURES / "dst" / name)
        assert rows == [expected(n, "America/Los_Angeles") for n in oracle]
    assert second[0]["unix_tstamp"] - first[0]["unix_tstamp"] in range(apart - 1, apart + 2)
    assert (first[0]["trhour"], second[0]["trhour"]) == rendered
    if apart == 3600:   # the same wall-clock minute twice, an hour apart
        assert first[0]["treceived"][:16] == second[0]["treceived"][:16] == "2016-11-06 01:30"


CORRUPT = {
    "corrupt-truncated": r"read\(\) error: Short read: Expected: \d+, received: \d+",
    "corrupt-lzo-block": r"Uncompress_Block_LZO\(\) error decompression failed in nffile\.c "
                         r"line \d+: LZO error: -6",
    "corrupt-block-size": r"Corrupt data file: Error buffer size \d+",
    "corrupt-short-header": r"Short read from file: \S+",
}


def test_corrupt_files_are_quarantined_with_nfdumps_message(local_config):
    list(setup_all(local_config))
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(local_config.kafka, topic, 1)
    good = fixture("v16-lzo")
    files = [(fixture(name), fixture(name).name) for name in CORRUPT] + [(good, good.name)]
    publish_binaries(local_config, topic, files)
    worker = run_worker_until_idle(local_config, topic)
    assert (worker.processed, worker.rows) == (len(files), 200)
    storage = open_storage(local_config)
    quarantine = f"{local_config.hdfs_app_path}/flow/quarantine/{PIPELINE}"
    assert storage.list(quarantine) == sorted(
        n for name in CORRUPT for n in (fixture(name).name, fixture(name).name + ".reason"))
    for name, message in CORRUPT.items():
        reason = Path(quarantine, fixture(name).name + ".reason").read_text()
        assert re.fullmatch(rf"{fixture(name).name} \(\S+\): nfdump failed \(exit code 0\): "
                            rf"{message}\n", reason), reason
