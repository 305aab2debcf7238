"""Proxy pipeline, worker side, end to end: real Kafka, Hive Metastore, storage (local and
HDFS) and Spark; pipelines/proxy/job.py runs through spark-submit as a real process, is
stopped with SIGTERM and killed with SIGKILL mid-stream, and every row is accounted for."""
from __future__ import annotations

import json
import os
import posixpath
import re
import signal
import socket
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import Observation

from common.catalog import Catalog
from common.config import IngestConfig
from common.kafka_admin import ensure_topic
from common.kafka_io import Publisher
from common.layout import HourPartition, partition_dir
from common.schemas import PROXY
from common.setup import setup_all
from common.status import topic_status
from common.storage import Storage, open_storage
from pipelines.proxy import batches, bluecoat, job, layouts, log_writer, parse, submit

from .conftest import REPO, unique
from .procs import RUNNING_S, STARTING_S, command_line, wait_for

PIPELINE = "proxy_bluecoat"
MESSAGE_BYTES = 16_000  # ~55 lines a message: many offsets, several batches
ALL_BAD = {kind: 1 for kind in [*log_writer.BAD_KINDS, *log_writer.NULLED_KINDS]}
ROW_NAME = re.compile(rf"^{PIPELINE}-([0-9a-f]{{8}})-b(\d+)-(\d+)\.parquet$")
REJECTED_NAME = re.compile(rf"^{PIPELINE}-([0-9a-f]{{8}})-b(\d+)-(\d+)\.json$")
BATCH_LINE = re.compile(rf"{PIPELINE} batch (\d+): (\d+) rows, (\d+) rejected")
SPARK_TYPES = {"STRING": "string", "INT": "int"}


# --------------------------------------------------------------------------- helpers

@dataclass
class Published:
    """What went into the topic (each message with its layout header, as the master sends
    it), and what the reference parser makes of it."""

    topic: str
    messages: list[tuple[int, int, bytes, str | None]] = field(default_factory=list)

    def send(self, publisher: Publisher, values: list[tuple[bytes, str | None]]) -> None:
        for value, layout in values:
            partition = len(self.messages) % 2
            headers = [(layouts.HEADER, layout.encode())] if layout else None
            offset = publisher.send(value, partition, headers=headers)
            self.messages.append((partition, offset, value, layout))

    def rows(self) -> Counter:
        return Counter(tuple(r) for _, _, v, layout in self.messages
                       for r in bluecoat.parse_message(v, layout) if isinstance(r, bluecoat.Row))

    def nulled(self) -> Counter:
        return Counter(c for _, _, v, layout in self.messages for line in bluecoat.split_lines(v)
                       for c in bluecoat.nulled_cells(line, layouts.from_header(layout)))

    def rejected(self) -> dict[tuple[int, int, int], tuple[str, bytes]]:
        out = {}
        for partition, offset, value, layout in self.messages:
            for line_no, line in enumerate(bluecoat.split_lines(value)):
                result = bluecoat.parse_line(line, layouts.from_header(layout))
                if isinstance(result, bluecoat.Rejected):
                    out[(partition, offset, line_no)] = (result.reason, result.line)
        return out


def end_offsets(config: IngestConfig, topic: str) -> dict[int, int]:
    from common.kafka_io import PartitionTail

    tail = PartitionTail(config.kafka, topic)
    try:
        return {p: tail.end_offset(p) for p in (0, 1)}
    finally:
        tail.close()


def group_offsets(config: IngestConfig, topic: str) -> dict:
    """What the consumer group named after the topic holds: {partition: (offset, metadata)}."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap)
    try:
        found = admin.list_group_offsets({topic: None}).get(topic, {})
    finally:
        admin.close()
    return {tp.partition: (o.offset, o.metadata) for tp, o in found.items()
            if tp.topic == topic and o.offset >= 0}


def committed_offsets(config: IngestConfig, topic: str) -> dict[int, int]:
    return {p: offset for p, (offset, _) in group_offsets(config, topic).items()}


def commit_times(config: IngestConfig, topic: str) -> list[float]:
    return [json.loads(meta)["at"] for _, meta in group_offsets(config, topic).values()]


def storage_uri(config: IngestConfig) -> str:
    return config.hdfs.filesystem_uri if config.hdfs.enabled else "file://"


def job_args(config: IngestConfig, topic: str, **extra: str) -> list[str]:
    args = ["--bootstrap", config.kafka.bootstrap, "--topic", topic, "--pipeline", PIPELINE,
            "--dbname", config.dbname, "--app-path", config.hdfs_app_path,
            "--storage-uri", storage_uri(config),
            "--metastore", ",".join(config.hive.metastore_uris),
            "--batch-seconds", "2", "--max-offsets-per-trigger", "15", "--stop-timeout", "60"]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", value]
    return args


class JobRun:
    """spark-submit ... job.py as a launcher runs it; in a session of its own so that a
    crash can take the JVM and its Python driver down together."""

    def __init__(self, args: list[str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(submit.spark_submit_argv(args), cwd=REPO,
                                      stdout=self._log, stderr=subprocess.STDOUT,
                                      env=submit.spark_env(), start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def batches(self) -> list[tuple[int, int, int]]:
        """(batch id, rows, rejected) of every batch this run completed."""
        return [tuple(map(int, m)) for m in BATCH_LINE.findall(self.log())]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def driver_pid(self) -> int:
        """The job's Python driver: the child of spark-submit's JVM running job.py."""
        import psutil

        (driver,) = [p for p in psutil.Process(self.popen.pid).children(recursive=True)
                     if any(a.endswith("job.py") for a in command_line(p))]
        return driver.pid

    def terminate(self, timeout: float = 180, group: bool = False) -> int:
        """SIGTERM to the process spark-submit became (the JVM), or to its whole process
        group (the JVM and its Python driver at once): launchers do either."""
        if group:
            os.killpg(self.popen.pid, signal.SIGTERM)
        else:
            self.popen.send_signal(signal.SIGTERM)
        return self._wait(timeout)

    def crash(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self._wait(60)

    def _wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        finally:
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            self._log.close()


def hive_files(storage: Storage, app_path: str) -> dict[tuple[str, ...], list[str]]:
    """Every file under <app>/proxy/hive, by its y/m/d/h folder values."""
    out: dict[tuple[str, ...], list[str]] = {}
    root = posixpath.join(app_path, "proxy", "hive")

    def walk(folder: str, values: tuple[str, ...]) -> None:
        if len(values) == 4:
            out[values] = [posixpath.join(folder, n) for n in storage.list(folder)]
            return
        for name in storage.list(folder):
            assert name.startswith("ymdh"[len(values)] + "="), f"stray entry {folder}/{name}"
            walk(posixpath.join(folder, name), values + (name.split("=", 1)[1],))

    if storage.exists(root):
        walk(root, ())
    return out


def local_copy(storage: Storage, path: str, tmp_path: Path) -> Path:
    if not storage.describe().startswith("WebHDFS"):
        return Path(path)
    local = tmp_path / "copies" / path.strip("/").replace("/", "_")
    storage.download(path, local)
    return local


def folder_row_count(storage: Storage, app_path: str, tmp_path: Path) -> int:
    """Rows by the Parquet footers of every file a downstream model would read."""
    return sum(pq.ParquetFile(local_copy(storage, p, tmp_path)).metadata.num_rows
               for paths in hive_files(storage, app_path).values() for p in paths)


def folder_rows(storage: Storage, app_path: str, tmp_path: Path) -> tuple[Counter, set[str]]:
    """(rows with their folder's partition values, query ids in the file names); checks
    every file's name and schema on the way."""
    rows: Counter = Counter()
    query_ids = set()
    for values, paths in hive_files(storage, app_path).items():
        for path in paths:
            match = ROW_NAME.match(posixpath.basename(path))
            assert match, f"unexpected file {path}"
            query_ids.add(match.group(1))
            table = pq.read_table(local_copy(storage, path, tmp_path))
            assert table.schema.equals(PROXY.arrow_schema(), check_metadata=False), path
            rows.update(tuple(r.values()) + values for r in table.to_pylist())
    return rows, query_ids


def rejected_records(storage: Storage, config: IngestConfig, tmp_path: Path) -> list[dict]:
    folder = batches.rejected_root(config.hdfs_app_path, PIPELINE)
    records = []
    for name in storage.list(folder) if storage.exists(folder) else []:
        assert REJECTED_NAME.match(name), f"unexpected file {folder}/{name}"
        text = local_copy(storage, posixpath.join(folder, name), tmp_path).read_text("utf-8")
        records += [json.loads(line) for line in text.splitlines()]
    return records


def stage_folder(config: IngestConfig) -> str:
    return job.stage_root(config.hdfs_app_path, PIPELINE)


def batch_in_flight(storage: Storage, config: IngestConfig) -> bool:
    """A batch's staging folder exists from its write until its files are moved."""
    folder = stage_folder(config)
    return storage.exists(folder) and any(n.startswith("batch-") for n in storage.list(folder))


def uncommit_last_batch(storage: Storage, config: IngestConfig) -> int:
    """Rewinds the checkpoint to the state a crash leaves between a batch's moves into the
    partition folders and Spark's commit of it: the last committed batch loses its commit,
    and the offsets of any later batch (one refused by a stop, which moved nothing) go.
    The next run must replay that batch."""
    checkpoint = posixpath.join(stage_folder(config), "checkpoint")
    commits, offsets = posixpath.join(checkpoint, "commits"), posixpath.join(checkpoint, "offsets")
    last = max(int(n) for n in storage.list(commits) if n.isdigit())
    later = [int(n) for n in storage.list(offsets) if n.isdigit() and int(n) > last]
    for folder, batch in [(commits, last)] + [(offsets, n) for n in later]:
        storage.delete(posixpath.join(folder, str(batch)))
        storage.delete(posixpath.join(folder, f".{batch}.crc"))  # local checksum, if any
    return last


def same_uri(uri: str) -> str:
    """The metastore keeps file:///x as file:/x."""
    return re.sub(r"^file:/+", "file:/", uri)


def table_rows(spark, db: str) -> Counter:
    spark.sql(f"REFRESH TABLE {db}.proxy")
    names = PROXY.column_names + ["y", "m", "d", "h"]
    return Counter(tuple(r) for r in spark.table(f"{db}.proxy").select(*names).collect())


# --------------------------------------------------------------------------- the JVM parse

EDGE_LINE = ('2016-01-04 09:05:07 134 10.0.0.1 alice "Domain Users" - OBSERVED '
             '"Technology/Internet" - 200 TCP_NC_MISS GET text/html http www.example.com 80 '
             '/index.html ?q=1 html "Mozilla/5.0 (Windows NT 6.1)" 192.168.1.1 1520 410 - '
             '"none" "none"')


def edge_lines() -> list[bytes]:
    """Lines on every rule's edge: the JVM must answer exactly as the reference parser."""
    fields = [f'"{f}"' if " " in f else f for f in bluecoat.split_fields(EDGE_LINE)]

    def at(position: int, text: str) -> str:
        f = list(fields)
        f[position] = text
        return " ".join(f)

    texts = [
        EDGE_LINE, EDGE_LINE + " ", " " + EDGE_LINE, EDGE_LINE.replace(" 134 ", "  "),
        EDGE_LINE.replace("OBSERVED", "OBS\tERVED"), EDGE_LINE.replace(" ", "\t"),
        EDGE_LINE[:-1], EDGE_LINE.replace('"none" "none"', '"none"x "none"'),
        at(17, 'a"b'), at(17, '"a\rb"'), at(17, "a\rb"), at(17, '"-"'), at(17, '""'),
        at(17, '"x\\"'), at(0, "2016-02-29"), at(0, "2015-02-29"), at(0, "0000-02-29"),
        at(0, "2016-1-4"), at(0, "-"), at(1, "24:00:00"), at(1, "9:05:07"),
        at(1, "09:05:07.5"), at(2, "-"), at(2, ""), at(2, "+5"), at(2, "1.0"),
        at(2, "2147483647"), at(2, "2147483648"), at(2, "-2147483648"), at(2, "0005"),
        at(2, "00000000000000000001"), at(2, "١٢"), at(22, "x"), at(23, "99999999999"),
        at(22, "-"), at(15, "-"), at(17, "-"), at(18, "-"), at(20, '"a b'), '"', '""', "a",
        " ", " ".join(fields[:-1]), EDGE_LINE.replace("Mozilla", "Mo\u2028zilla"),
        EDGE_LINE.replace("Mozilla", "Mo\u00a0zilla"), EDGE_LINE.replace("alice", "al\x00ice"),
        "\x00" + EDGE_LINE, EDGE_LINE.replace("alice", "ålïcé😀"), "  #x",
    ]
    raw = EDGE_LINE.encode()
    return [t.encode() for t in texts] + [
        raw.replace(b"alice", b"al\xffice"), b"\xc0\x80" + raw,
        raw.replace(b"alice", b"\xed\xa0\x80"), raw.replace(b"alice", b"\xf4\x90\x80\x80"),
        raw + b"\r", raw + b"\r\r", b"#Fields: date time", b"#\xff", b"", b"\r"]


KAFKA_ROWS = ("topic string, partition int, offset long, value binary, "
              "headers array<struct<key:string,value:binary>>")
FIXTURES = REPO / "tests" / "fixtures" / "proxy"


def kafka_rows(spark, messages: list[tuple[bytes, str | None]]):
    """A DataFrame shaped as the Kafka source gives it, each message with its layout."""
    return spark.createDataFrame(
        [("t", i % 2, i, m, [(layouts.HEADER, h.encode())] if h else [])
         for i, (m, h) in enumerate(messages)], KAFKA_ROWS)


def layout_messages() -> tuple[list[tuple[bytes, str | None]], Counter]:
    """Every fixture, and generated logs of every layout and form (with directives,
    headerless, behind both syslog formats, ragged), cut and labelled as the master does;
    with the generator's count of planted faults."""
    messages = []
    for path in sorted(FIXTURES.glob("*.log")):
        messages += log_writer.messages_with_layouts(path.read_bytes().split(b"\n")[:-1], 2000)
    planted: Counter = Counter()
    bad = {kind: 1 for kind in [*log_writer.BAD_KINDS, *log_writer.NULLED_KINDS]}
    for n, name in enumerate(sorted(layouts.WELL_KNOWN)):
        for form in ({}, {"header_every": 0}, {"syslog": "rfc3164"},
                     {"syslog": "rfc5424", "ragged": True}):
            lines, stats = log_writer.generate(200, datetime(2016, 1, 4, 9), seed=n, bad=bad,
                                               crlf=bool(n % 2),
                                               **{"header_every": 80, **form})
            messages += log_writer.messages_with_layouts(lines, 8000)
            planted.update(stats.reasons)
    return messages, planted


def test_jvm_parse_matches_the_reference_parser(spark):
    lines = edge_lines()
    messages = [(line + b"\n", None) for line in lines]          # each line alone
    messages.append((b"\n".join(lines), None))                   # all in one, no final LF
    messages.append((b"\r\n".join(lines) + b"\r\n", None))       # CRLF
    spot = " ".join(layouts.SPOT)
    messages += [(line + b"\n", spot) for line in lines]         # declared Spot layout
    messages.append((b"al\xffice " + EDGE_LINE.encode(), None))  # invalid beside valid
    labelled, planted = layout_messages()
    messages += labelled
    parsed = [r for r in parse.parse_lines(parse.split_messages(kafka_rows(spark, messages)))
              .collect() if not r["skip"]]

    got: dict[int, list] = {}
    for r in parsed:
        got.setdefault(r["offset"], []).append(r.asDict())
    names = PROXY.column_names + ["y", "m", "d", "h"]
    checked = nulled = 0
    for offset, (message, header) in enumerate(messages):
        layout = layouts.from_header(header)
        expected = [e for e in (bluecoat.parse(line, layout)
                                for line in bluecoat.split_lines(message)) if e[0] is not None]
        mine = sorted(got.get(offset, []), key=lambda r: r["line_no"])
        assert len(mine) == len(expected), message[:200]
        for (e, cells), g in zip(expected, mine):
            if isinstance(e, bluecoat.Rejected):
                assert g["reason"] == e.reason, (g["line"], e)
            else:
                assert g["reason"] is None, (g["line"], g["reason"])
                assert tuple(g[n] for n in names) == tuple(e), g["line"]
                assert tuple(c for c in bluecoat.INT_COLUMNS if g[f"nulled_{c}"]) == cells
                nulled += len(cells)
            checked += 1
    assert checked > 4000 and nulled > 60
    reasons = Counter(r["reason"] for r in parsed if r["reason"])
    assert set(planted) <= set(reasons)  # every kind of fault seen by the JVM too


def test_rejected_rows_keep_the_exact_bytes(spark):
    bad = b"al\xffice " + EDGE_LINE.encode()
    df = kafka_rows(spark, [(b"#Software: SGOS\n" + bad + b"\r\nx y\n<13>Jan  4 09:00:00 h "
                             b"#Remark: x\n", None)])
    df = df.withColumn("partition", df["partition"] + 1).withColumn("offset", df["offset"] + 7)
    counts = Observation("rejected")
    rows = parse.rejected_rows(parse.parse_lines(parse.split_messages(df)), 42, counts).collect()
    assert (counts.get["lines"], counts.get["rejected"]) == (2, 2)
    assert [tuple(m) for m in counts.get["messages"]] == [(1, 7)]  # where they came from
    assert sorted((r.asDict() for r in rows), key=lambda r: r["line_no"]) == [
        {"batch_id": 42, "topic": "t", "partition": 1, "offset": 7, "line_no": 1,
         "reason": "invalid UTF-8", "line": bad.decode("utf-8", "replace"),
         "line_hex": bad.hex().upper()},
        {"batch_id": 42, "topic": "t", "partition": 1, "offset": 7, "line_no": 2,
         "reason": "wrong field count: 2 (expected 25, 26, 27, 40 or 42)", "line": "x y",
         "line_hex": None}]


def test_each_output_parses_a_line_once(spark):
    """Every step of the parse runs once per line: the filters on `reason` stay above it
    (parse.observed) and each step has its own projection; folded into the next one, the
    syslog header's regexp_replace or the fields' regexp_extract_all would run once for
    every column that reads them."""
    df = kafka_rows(spark, [(EDGE_LINE.encode(), " ".join(layouts.SPOT))])
    parsed = parse.parse_lines(parse.split_messages(df))
    for output in (parse.table_rows(parsed, Observation("a")),
                   parse.rejected_rows(parsed, 0, Observation("b"))):
        plan = output._jdf.queryExecution().executedPlan().toString()
        assert plan.count("regexp_extract_all(") == 1, plan
        assert plan.count("regexp_replace(") == 1, plan


# --------------------------------------------------------------------------- end to end

def phase_one() -> tuple[list[tuple[bytes, str | None]], list[log_writer.LogStats]]:
    lf, lf_stats = log_writer.generate(9000, datetime(2016, 1, 4, 9, 30), hours=2.5, seed=1,
                                       bad=ALL_BAD, header_every=2500)
    crlf, crlf_stats = log_writer.generate(3000, datetime(2016, 1, 4, 10, 40), hours=1, seed=2,
                                           bad=ALL_BAD, header_every=1000, crlf=True,
                                           layout="bcreportermain_v1", syslog="rfc5424")
    messages = list(log_writer.messages_with_layouts(lf, MESSAGE_BYTES))
    messages += list(log_writer.messages_with_layouts(crlf, MESSAGE_BYTES))
    messages.append((b"\n".join(log_writer.header_lines(datetime(2016, 1, 4, 12))) + b"\n",
                     None))
    return messages, [lf_stats, crlf_stats]


def phase_two() -> tuple[list[bytes], list[log_writer.LogStats]]:
    """Published while the job runs: a new day, across midnight (new partitions)."""
    lines, stats = log_writer.generate(2000, datetime(2016, 1, 5, 23, 30), hours=1, seed=3,
                                       bad={"invalid_utf8": 2, "unclosed_quote": 1,
                                            "huge_transfer": 3}, header_every=0)
    return list(log_writer.messages_with_layouts(lines, MESSAGE_BYTES)), [stats]


def expected_per_partition(stats: list[log_writer.LogStats]) -> Counter:
    total: Counter = Counter()
    for s in stats:
        total.update(s.per_partition)
    return total


# HDFS only: the stops and crashes go through the same Hadoop FileSystem calls on file://
# (test_proxy_pipeline runs the job on local storage end to end), and each run costs 5-7 min
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("backend", ["hdfs"])
def test_proxy_job_end_to_end_with_stops_and_crashes(backend, request, spark, tmp_path):
    config: IngestConfig = request.getfixturevalue(f"{backend}_config")
    list(setup_all(config))
    storage = open_storage(config)
    topic = unique("SPOT-INGEST-proxy")
    ensure_topic(config.kafka, topic, 2)
    published = Published(topic)
    publisher = Publisher(config.kafka, topic)
    first, stats = phase_one()
    published.send(publisher, first)
    valid_first = sum(s.valid for s in stats)
    args = job_args(config, topic)

    def rows_in_folders() -> int:
        return folder_row_count(storage, config.hdfs_app_path, tmp_path)

    # 1. SIGTERM mid-stream: the running batch finishes, exit 0
    run1 = JobRun(args, tmp_path / "job1.log")
    try:
        wait_for(lambda: len(run1.batches()) >= 2, STARTING_S, "two batches of the first run",
                 [run1])
    finally:
        code = run1.terminate()
    assert code == 0, run1.log()[-3000:]
    assert f"{PIPELINE} stopped after" in run1.log()
    after_stop = rows_in_folders()
    assert 0 < after_stop < valid_first  # stopped mid-stream
    assert after_stop == sum(rows for _, rows, _ in run1.batches())

    # 2. the state a crash leaves between the moves and the commit: the batch is replayed
    #    and replaces its own files; then SIGKILL while a batch is in flight
    replayed = uncommit_last_batch(storage, config)
    last_of_run1 = max(batch for batch, _, _ in run1.batches())
    run2 = JobRun(args, tmp_path / "job2.log")
    try:
        wait_for(lambda: any(b > last_of_run1 for b, _, _ in run2.batches()), STARTING_S,
                 "the replay and a batch of new data", [run2])
        assert run2.batches()[0][0] == replayed
        assert rows_in_folders() > after_stop
        wait_for(lambda: batch_in_flight(storage, config), RUNNING_S, "a batch in flight", [run2],
                 interval=0.05)
    finally:
        run2.crash()

    # 3. restart: everything lands once, new data too, then a clean stop
    run3 = JobRun(args, tmp_path / "job3.log")
    try:
        wait_for(lambda: rows_in_folders() == valid_first, STARTING_S, "every row of phase one",
                 [run3], interval=1)
        second, stats2 = phase_two()
        published.send(publisher, second)
        stats += stats2
        valid = sum(s.valid for s in stats)
        wait_for(lambda: rows_in_folders() == valid, RUNNING_S, "every row of phase two", [run3],
                 interval=1)
        # the job's position, as ingest_status reads it: the whole topic done, by this job
        ends = end_offsets(config, topic)
        wait_for(lambda: committed_offsets(config, topic) == ends, RUNNING_S,
                 "the last batch's end offsets in the group", [run3])
        status = topic_status(config, topic)
        assert [(p.committed, p.lag, p.active) for p in status.partitions] == \
            [(ends[0], 0, True), (ends[1], 0, True)]
        assert {p.worker for p in status.partitions} == {
            f"worker 0 on {socket.gethostname()} (pid {run3.driver_pid()})"}
        first = commit_times(config, topic)
        wait_for(lambda: min(commit_times(config, topic)) > max(first), RUNNING_S,
                 "a commit of the idle job's position again", [run3])
        assert committed_offsets(config, topic) == ends
    finally:
        code = run3.terminate(group=True)
        publisher.close()
    assert code == 0, run3.log()[-3000:]

    # the folders: exactly the reference parser's rows, each once, in the table's schema
    expected = published.rows()
    assert sum(expected.values()) == valid
    in_folders, query_ids = folder_rows(storage, config.hdfs_app_path, tmp_path)
    assert in_folders == expected
    assert len(query_ids) == 1  # one checkpoint, one query id in every name
    assert Counter(r[-4:] for r in in_folders.elements()) == expected_per_partition(stats)

    # the table: the same rows through Spark SQL and the metastore, with the table's types
    db = config.dbname
    assert table_rows(spark, db) == expected
    assert [(f.name, f.dataType.simpleString()) for f in spark.table(f"{db}.proxy").schema] == \
        [(c.name, SPARK_TYPES[c.hive_type]) for c in PROXY.columns + PROXY.partition_columns]
    with Catalog(config.hive.metastore_uris) as catalog:
        partitions = catalog.list_partitions(db, "proxy")
    want = sorted(expected_per_partition(stats))
    assert [tuple(values) for values, _ in partitions] == want
    assert [same_uri(location) for _, location in partitions] == [
        same_uri(storage.uri(partition_dir(config.hdfs_app_path, "proxy",
                                           HourPartition(*(int(v) for v in values)))))
        for values in want]

    # rejected lines: each once, with its reason, where it came from and its exact bytes
    records = rejected_records(storage, config, tmp_path)
    got = {}
    for r in records:
        key = (r["partition"], r["offset"], r["line_no"])
        assert key not in got, f"rejected twice: {r}"
        assert r["topic"] == topic and isinstance(r["batch_id"], int)
        raw = bytes.fromhex(r["line_hex"]) if "line_hex" in r else r["line"].encode()
        got[key] = (r["reason"], raw)
    assert got == published.rejected()
    assert Counter(reason for reason, _ in got.values()) == \
        sum((s.reasons for s in stats), Counter())

    # nothing left in staging but the checkpoint
    assert storage.list(stage_folder(config)) == ["checkpoint"]


def test_query_failure_exits_1_with_one_line(local_config, tmp_path):
    """Metastore unreachable: the batch fails before any file is moved, nothing commits."""
    list(setup_all(local_config))
    topic = unique("SPOT-INGEST-proxy")
    ensure_topic(local_config.kafka, topic, 2)
    publisher = Publisher(local_config.kafka, topic)
    publisher.send(EDGE_LINE.encode() + b"\n", 0)
    publisher.close()
    args = job_args(local_config, topic, metastore="thrift://127.0.0.1:9")
    run = JobRun(args, tmp_path / "job.log")
    code = run._wait(STARTING_S)
    log = run.log()
    assert code == 1, log[-3000:]
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors == [log.rstrip().splitlines()[-1]]
    assert errors[0].startswith(f"error: proxy job {PIPELINE}: query failed: cannot reach the "
                                "Hive Metastore (thrift://127.0.0.1:9"), errors[0]
    storage = open_storage(local_config)
    assert all(not paths for paths in hive_files(storage, local_config.hdfs_app_path).values())
    commits = posixpath.join(stage_folder(local_config), "checkpoint", "commits")
    assert not storage.exists(commits) or not [n for n in storage.list(commits) if n.isdigit()]


# --------------------------------------------------------------------------- command line

def test_command_line_round_trip_and_bad_arguments(capsys):
    opts = job.parse_args(["--bootstrap", "k:9092", "--topic", "t", "--pipeline", "p",
                           "--dbname", "d", "--app-path", "/user/spot/",
                           "--storage-uri", "hdfs://nn:8020/", "--batch-seconds", "10"])
    assert (opts.app_path, opts.storage_uri, opts.app_uri) == \
        ("/user/spot", "hdfs://nn:8020", "hdfs://nn:8020/user/spot")
    assert opts.checkpoint_uri == "hdfs://nn:8020/user/spot/proxy/stage/p/checkpoint"
    assert opts.max_offsets == 500 and opts.metastore == ("thrift://127.0.0.1:9083",)
    assert job.parse_args(job.to_argv(opts)) == opts
    for bad in (["--app-path", "relative"], ["--app-path", "/a/*"], ["--pipeline", "Bad Name"],
                ["--storage-uri", "hdfs:/nn"], ["--batch-seconds", "0"],
                ["--metastore", "localhost:9083"]):
        argv = job.to_argv(opts)
        i = argv.index(bad[0])
        argv[i + 1] = bad[1]
        with pytest.raises(SystemExit) as exit_info:
            job.parse_args(argv)
        assert exit_info.value.code == 2
        assert "error: argument" in capsys.readouterr().err.strip().splitlines()[-1]


def test_spark_submit_command_line():
    argv = submit.spark_submit_argv(["--topic", "t"])
    jars = argv[argv.index("--jars") + 1].split(",")
    assert any("spark-sql-kafka-0-10" in j for j in jars)
    assert not any("scala-library" in j for j in jars)  # Spark ships its own
    assert argv[argv.index("--driver-java-options") + 1] == submit.JIT_OPTIONS
    assert argv[-3:] == [str(submit.JOB), "--topic", "t"]
    assert submit.artifact_of("kafka-clients-3.9.1.jar") == "kafka-clients"
    assert submit.artifact_of("scala-parallel-collections_2.13-1.2.0.jar") == \
        "scala-parallel-collections_2.13"
