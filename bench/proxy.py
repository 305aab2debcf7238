"""6. Proxy: lines/s through the Spark Structured Streaming job (pipelines/proxy/job.py,
launched by pipelines/proxy/submit.py as a launcher does: spark-submit, local[2], 1g driver)
vs the same parse by pyarrow's CSV reader in one Python process, on the same Blue Coat log
(pipelines/proxy/log_writer.py).

The job reads the lines published as the proxy master publishes them (whole lines packed
into messages of kafka.message_size bytes, round robin over two partitions). Its figure is
rows / the sum of its batches' own seconds (its log line per batch), so the JVM's start-up
(reported beside it) is not counted against a long-running job. The pyarrow side streams the
log file through pyarrow.csv (space-separated, `"` quotes without escapes, header lines
dropped as rows of the wrong width), maps the fields to the proxy table's columns as
bluecoat.py does (`-` empty, integers NULL when `-`, fulluri, y/m/d/h) and writes one Parquet
file per partition.

Skipped, with the reason, when the job's modules are missing or the job does not run here.
"""
from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from bench.support import (REPO, Bench, BenchError, check_rows, make_config, say, table_rows, tail,
                           wait_for)

TITLE = "Proxy: lines/s through the Spark job vs pyarrow's CSV reader in one process"
PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9)
BATCH_LINE = re.compile(rf"{PIPELINE} batch (\d+): (\d+) rows, (\d+) rejected, (\d+) "
                        r"partitions, ([\d.]+) s")
JOB_TIMEOUT_S = 900


def skipped(reason: str) -> dict:
    return {"title": TITLE, "status": "skipped", "reason": reason}


def run(bench: Bench) -> dict:
    for module in ("submit.py", "job.py", "log_writer.py", "bluecoat.py"):
        if not (REPO / "pipelines" / "proxy" / module).exists():
            return skipped(f"pipelines/proxy/{module} does not exist")
    try:
        from pipelines.proxy import bluecoat, log_writer, submit  # noqa: F401
        submit.connector_jars()
    except Exception as exc:  # noqa: BLE001 - an unfinished module is a reason to skip
        return skipped(f"the proxy job cannot be launched here: {type(exc).__name__}: {exc}")
    from common.setup import setup_all

    args = bench.args
    folder = bench.folder("proxy")
    config = make_config(folder)
    list(setup_all(config))
    log_path = folder / "access.log"
    stats = log_writer.write_log(log_path, args.proxy_lines, START, hours=2)
    say(f"  log: {stats.records:,} records ({stats.valid:,} valid), {stats.header_lines} header "
        f"lines, {log_path.stat().st_size / 1e6:.0f} MB")

    ours = parse_with_pyarrow(log_path, folder / "pyarrow-out")
    if ours["rows"] != stats.valid:
        raise BenchError(f"pyarrow parse: {ours['rows']} rows, the log holds {stats.valid}")
    say(f"  pyarrow in one process: {ours['seconds']:.2f} s "
        f"({ours['rows'] / ours['seconds']:,.0f} lines/s)")

    spark = run_job(bench, config, folder, log_path, stats.valid)
    say(f"  Spark job: {spark['batch_seconds']:.2f} s in {spark['batches']} batch(es) "
        f"({spark['rows'] / spark['batch_seconds']:,.0f} lines/s); from spark-submit to the "
        f"last row placed {spark['wall_s']:.1f} s")
    spark_rate = spark["rows"] / spark["batch_seconds"]
    ours_rate = ours["rows"] / ours["seconds"]
    return {
        "title": TITLE,
        "inputs": {"records": stats.records, "valid": stats.valid,
                   "header_lines": stats.header_lines, "bytes": log_path.stat().st_size,
                   "message_size": config.kafka.message_size},
        "spark": spark, "pyarrow": ours,
        "row_checks": [spark["row_check"], check_rows("pyarrow parse", stats.valid, ours["rows"])],
        "spark_lines_per_s": round(spark_rate), "pyarrow_lines_per_s": round(ours_rate),
        "ratio_pyarrow_over_spark": round(ours_rate / spark_rate, 2),
        "headlines": [("Spark job lines/s (its batches)", f"{spark_rate:,.0f}"),
                      ("pyarrow one process lines/s", f"{ours_rate:,.0f}"),
                      ("pyarrow / Spark", f"{ours_rate / spark_rate:.1f}x")],
        "columns": ["path", "rows", "seconds", "lines/s"],
        "table": [
            ["Spark job (sum of its batches)", f"{spark['rows']:,}",
             f"{spark['batch_seconds']:.2f}", f"{spark_rate:,.0f}"],
            ["Spark job (spark-submit -> last row placed)", f"{spark['rows']:,}",
             f"{spark['wall_s']:.2f}", f"{spark['rows'] / spark['wall_s']:,.0f}"],
            ["pyarrow CSV reader, one process (file -> Parquet)", f"{ours['rows']:,}",
             f"{ours['seconds']:.2f}", f"{ours_rate:,.0f}"],
        ],
    }


def run_job(bench: Bench, config, folder: Path, log_path: Path, valid: int) -> dict:
    from common.kafka_admin import ensure_topic
    from common.kafka_io import Publisher
    from pipelines.proxy import log_writer, submit

    topic = bench.topic("proxy")
    ensure_topic(config.kafka, topic, 2)
    publisher = Publisher(config.kafka, topic)
    sent = 0
    try:
        lines = (line.rstrip(b"\n") for line in open(log_path, "rb"))
        for message in log_writer.messages(lines, config.kafka.message_size):
            publisher.send(message, sent % 2)
            sent += 1
    finally:
        publisher.close()
    job_args = ["--bootstrap", config.kafka.bootstrap, "--topic", topic, "--pipeline", PIPELINE,
                "--dbname", config.dbname, "--app-path", config.hdfs_app_path,
                "--storage-uri", "file://", "--metastore", ",".join(config.hive.metastore_uris),
                "--batch-seconds", "2", "--stop-timeout", "120"]
    argv = submit.spark_submit_argv(job_args, master="local[2]", driver_memory="1g")
    start = time.perf_counter()
    job = bench.start(argv, folder / "job.log", env=submit.spark_env())

    def batches() -> list[tuple]:
        return [(int(b), int(r), int(j), int(p), float(s))
                for b, r, j, p, s in BATCH_LINE.findall(job.log())]

    try:
        wait_for(lambda: sum(b[1] + b[2] for b in batches()) >= valid or not job.alive(),
                 JOB_TIMEOUT_S, "the proxy job's batches", interval=0.2)
        wall = time.perf_counter() - start
    finally:
        code = job.stop(timeout=180)
    done = batches()
    if sum(b[1] for b in done) != valid:
        raise BenchError(f"the proxy job (exit {code}) logged {sum(b[1] for b in done):,} rows "
                         f"of {valid:,}: rows LOST ({tail(job.log(), 3).strip()[:300]}); see "
                         f"{job.log_path}")
    checked = check_rows("the Spark job", valid, table_rows(config, "proxy"))
    return {"row_check": checked,"rows": sum(b[1] for b in done), "rejected": sum(b[2] for b in done),
            "batches": len(done), "batch_seconds": round(sum(b[4] for b in done), 3),
            "per_batch": [{"batch": b[0], "rows": b[1], "seconds": b[4]} for b in done],
            "wall_s": round(wall, 2), "messages": sent, "exit_code": code,
            "engine": "spark-submit local[2], 1g driver (pipelines/proxy/submit.py)",
            "log": str(job.log_path)}


def parse_with_pyarrow(log_path: Path, out: Path) -> dict:
    """The log file -> proxy-table Parquet files, one per partition, in this process."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from common.schemas import PROXY
    from pipelines.proxy import bluecoat

    out.mkdir(parents=True)
    names = [f"f{i}" for i in range(bluecoat.FIELD_COUNT)]
    skipped = [0]

    def wrong_width(row) -> str:          # header lines, and lines of another width
        skipped[0] += 1
        return "skip"

    schema = PROXY.arrow_schema()
    writers: dict[tuple, pq.ParquetWriter] = {}
    rows = 0
    start = time.perf_counter()
    reader = pacsv.open_csv(
        log_path,
        read_options=pacsv.ReadOptions(column_names=names, block_size=4 << 20),
        parse_options=pacsv.ParseOptions(delimiter=" ", quote_char='"', double_quote=False,
                                         escape_char=False, newlines_in_values=False,
                                         invalid_row_handler=wrong_width),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             strings_can_be_null=False))
    for batch in reader:
        columns = {}
        for column in PROXY.columns:
            if column.name == "fulluri":
                continue
            value = batch.column(bluecoat.COLUMN_FIELDS[column.name])
            empty = pc.equal(value, bluecoat.EMPTY)
            if column.hive_type == "INT":
                columns[column.name] = pc.if_else(empty, None, value).cast(pa.int32())
            else:
                columns[column.name] = pc.if_else(empty, "", value)
        columns["fulluri"] = pc.binary_join_element_wise(
            columns["host"], columns["uripath"], columns["uriquery"], "")
        table = pa.Table.from_pydict({c.name: columns[c.name] for c in PROXY.columns},
                                     schema=schema)
        date, clock = batch.column(0), batch.column(1)
        keys = pa.Table.from_pydict({"y": pc.utf8_slice_codeunits(date, 0, 4),
                                     "m": pc.utf8_slice_codeunits(date, 5, 7),
                                     "d": pc.utf8_slice_codeunits(date, 8, 10),
                                     "h": pc.utf8_slice_codeunits(clock, 0, 2)})
        for part in keys.group_by(["y", "m", "d", "h"]).aggregate([]).to_pylist():
            mask = pc.and_(pc.and_(pc.equal(keys["y"], part["y"]), pc.equal(keys["m"], part["m"])),
                           pc.and_(pc.equal(keys["d"], part["d"]), pc.equal(keys["h"], part["h"])))
            key = (part["y"], part["m"], part["d"], part["h"])
            if key not in writers:
                folder = out / f"y={key[0]}/m={key[1]}/d={key[2]}/h={key[3]}"
                folder.mkdir(parents=True)
                writers[key] = pq.ParquetWriter(folder / "part-0.parquet", schema,
                                                compression="snappy")
            writers[key].write_table(table.filter(mask))
        rows += batch.num_rows
    for writer in writers.values():
        writer.close()
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": round(seconds, 3), "lines_skipped": skipped[0],
            "partitions": len(writers),
            "engine": "pyarrow.csv streaming reader + pyarrow.compute + ParquetWriter, "
                      "one process"}
