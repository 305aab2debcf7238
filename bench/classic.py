"""4. The classic load path the original Spot used, vs ours, on the same nfcapd files.

Classic, per file, one after the other as the original worker did: the decoder's CSV staged
into a file (`nfdump -r FILE -q -o csv > <app>/flow/stage/<file>/<file>.csv`), then one SQL
engine process: `spark-sql` from the venv's pyspark (a stand-in for the Hive CLI: local[2],
1g driver, the same metastore) that creates a staging table over the CSV, runs
`INSERT INTO TABLE <db>.flow PARTITION (y=.., m=.., d=.., h=..) SELECT ...` (SPEC.md's mapping,
the same one pipelines/flow/decode.py applies) and drops the staging table. Its database is
its own, made with common.setup.setup_all.

Ours: a master and two workers already running; the files renamed into the collector folder
at once; timed until every file is committed. Ratio = classic seconds / ours. Both must load
the same rows (compared column by column after sorting).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench import inputs
from bench.support import (FLOW_PIPELINE, VENV_BIN, Bench, BenchError, Offsets, all_committed,
                           collector_empty, make_config, say, start_master, start_workers,
                           tail, wait_for, worker_rows)

TITLE = "Classic load path (nfdump csv + one spark-sql per file) vs ours (master + 2 workers)"
RATIO_TARGET = 10
WARM_UP = "nfcapd.201601041200"     # a small file in an hour of its own, loaded first
FILE_LINE = re.compile(r": (nfcapd\.\d+): (\d+) rows in ([\d.]+) s")
SPARK_SQL_TIMEOUT_S = 600
_TIME_PARTS = {"tryear": "year", "trmonth": "month", "trday": "day", "trhour": "hour",
               "trminute": "minute", "trsec": "second"}


def select_list() -> str:
    """The flow table's columns from nfdump's csv columns, in the table's order."""
    from common.schemas import FLOW
    from pipelines.flow.decode import FIELDS, TIME_RECEIVED

    received = f"substr(`{TIME_RECEIVED}`, 1, 19)"
    out = []
    for column in FLOW.columns:
        if column.name == "treceived":
            value = received
        elif column.name == "unix_tstamp":
            value = f"unix_timestamp({received})"
        elif column.name in _TIME_PARTS:
            value = f"{_TIME_PARTS[column.name]}({received})"
        else:
            value = f"`{FIELDS[column.name]}`"
        out.append(f"CAST({value} AS {column.hive_type}) AS {column.name}")
    return ",\n  ".join(out)


def load_sql(db: str, stage_table: str, csv_columns: list[str], location: str,
             part, partition_names: list[str]) -> str:
    columns = ", ".join(f"`{name}` STRING" for name in csv_columns)
    spec = ", ".join(f"{n}={v}" for n, v in zip(partition_names, (part.y, part.m, part.d, part.h)))
    return (f"DROP TABLE IF EXISTS {db}.{stage_table};\n"
            f"CREATE EXTERNAL TABLE {db}.{stage_table} ({columns})\n"
            f"ROW FORMAT DELIMITED FIELDS TERMINATED BY ','\nSTORED AS TEXTFILE\n"
            f"LOCATION '{location}';\n"
            f"INSERT INTO TABLE {db}.flow PARTITION ({spec})\nSELECT\n  {select_list()}\n"
            f"FROM {db}.{stage_table};\n"
            f"DROP TABLE {db}.{stage_table};\n")


def spark_sql_argv(config, warehouse: Path, script: Path) -> list[str]:
    return [str(VENV_BIN / "spark-sql"), "--master", "local[2]", "--driver-memory", "1g",
            "--conf", f"spark.hadoop.hive.metastore.uris={','.join(config.hive.metastore_uris)}",
            "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.session.timeZone=UTC",
            "--conf", f"spark.sql.warehouse.dir={warehouse}",
            "--driver-java-options", f"-Duser.timezone=UTC -Dderby.system.home={warehouse}",
            "-f", str(script)]


def spark_env() -> dict[str, str]:
    import pyspark

    return {**os.environ, "TZ": "UTC", "SPARK_HOME": str(Path(pyspark.__file__).parent),
            "PYSPARK_PYTHON": str(VENV_BIN / "python"), "SPARK_LOCAL_IP": "127.0.0.1"}


def forget_flow_table(config) -> None:
    """Drops the bench database's flow table (external: its files stay) when it was made by
    a run from another folder: the classic path inserts at the table's location."""
    from common.catalog import Catalog
    from common.layout import table_root
    from common.storage import open_storage

    want = open_storage(config).uri(table_root(config.hdfs_app_path, "flow"))
    with Catalog(config.hive.metastore_uris) as catalog:
        if catalog.database_exists(config.dbname) and \
                catalog.table_exists(config.dbname, "flow") and \
                catalog.get_table(config.dbname, "flow").sd.location.rstrip("/") != want.rstrip("/"):
            catalog.client.drop_table(config.dbname, "flow", False)


def run(bench: Bench) -> dict:
    from common.setup import setup_all

    args = bench.args
    files = inputs.flow_files(args.classic_files, args.classic_flows)
    total_rows = args.classic_files * args.classic_flows
    folder = bench.folder("classic")
    classic_config = make_config(folder / "classic", dbname="spot_bench_classic")
    forget_flow_table(classic_config)    # its INSERT writes where the table says: this run's
    list(setup_all(classic_config))      # its own database, folders and tables
    classic = run_classic(classic_config, folder / "classic", files, args.classic_flows)
    say(f"  classic: {classic['seconds']:.1f} s for {len(files)} files "
        f"({classic['seconds'] / len(files):.1f} s per file)")
    ours = run_ours(bench, folder / "ours", files, total_rows)
    say(f"  ours: {ours['seconds']:.2f} s for {len(files)} files")
    same = sorted_rows(Path(classic_config.hdfs_app_path) / "flow" / "hive").equals(
        sorted_rows(Path(ours["app_path"]) / "flow" / "hive", skip=WARM_UP))
    if not same:
        raise BenchError("the classic path and ours loaded different rows from the same files")
    say("  both loaded the same rows")
    ratio = classic["seconds"] / ours["seconds"]
    return {
        "title": TITLE,
        "inputs": {"files": len(files), "flows_per_file": args.classic_flows,
                   "folder": str(files[0].parent)},
        "classic": classic, "ours": ours, "same_rows": same, "ratio": round(ratio, 2),
        "targets": [{"figure": "classic s / ours s", "value": f"{ratio:.1f}",
                     "target": f">= {RATIO_TARGET}", "met": ratio >= RATIO_TARGET}],
        "headlines": [("classic s per file", f"{classic['seconds'] / len(files):.1f}"),
                      ("ours s for all files", f"{ours['seconds']:.2f}")],
        "columns": ["path", "files", "rows", "seconds", "s per file", "rows/s"],
        "table": [
            ["classic: nfdump csv + spark-sql per file", str(len(files)), f"{total_rows:,}",
             f"{classic['seconds']:.1f}", f"{classic['seconds'] / len(files):.2f}",
             f"{total_rows / classic['seconds']:,.0f}"],
            ["  of which nfdump -> csv", "", "", f"{classic['stage_s']:.1f}", "", ""],
            ["  of which spark-sql (JVM, staging table, INSERT)", "", "",
             f"{classic['spark_sql_s']:.1f}", "", ""],
            ["ours: master + 2 workers (drop -> all committed)", str(len(files)),
             f"{total_rows:,}", f"{ours['seconds']:.2f}",
             f"{ours['seconds'] / len(files):.2f}", f"{total_rows / ours['seconds']:,.0f}"],
            ["ratio classic / ours", "", "", f"{ratio:.1f}x", "", ""],
        ],
    }


def run_classic(config, folder: Path, files: list[Path], flows: int) -> dict:
    from common.layout import HourPartition
    from common.schemas import FLOW
    from common.storage import open_storage
    from pipelines.flow.collector import flow_file_time
    from pipelines.flow.decode import header_names, nfdump_argv

    storage = open_storage(config)
    header = subprocess.run(nfdump_argv(str(files[0]), header=True) + ["-c", "1"],
                            capture_output=True, check=True, env={**os.environ, "TZ": "UTC"})
    csv_columns = header_names(header.stdout.splitlines()[0])
    warehouse, scripts = folder / "warehouse", folder / "sql"
    scripts.mkdir(parents=True)
    env = spark_env()
    partition_names = [c.name for c in FLOW.partition_columns]
    per_file = []
    start = time.perf_counter()
    for path in files:
        t0 = time.perf_counter()
        stage = Path(config.hdfs_app_path) / "flow" / "stage" / path.name
        stage.mkdir(parents=True)
        with open(stage / f"{path.name}.csv", "wb") as out:
            subprocess.run(nfdump_argv(str(path)), stdout=out, check=True,
                           env={**os.environ, "TZ": "UTC"})
        t1 = time.perf_counter()
        script = scripts / f"{path.name}.sql"
        script.write_text(load_sql(config.dbname, f"flow_stage_{path.name.split('.')[1]}",
                                   csv_columns, storage.uri(str(stage)),
                                   HourPartition.of(flow_file_time(path.name)),
                                   partition_names))
        with open(folder / f"spark-sql-{path.name}.log", "wb") as log:
            proc = subprocess.run(spark_sql_argv(config, warehouse, script), cwd=folder,
                                  env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=SPARK_SQL_TIMEOUT_S)
        if proc.returncode != 0:
            raise BenchError(f"spark-sql exited with {proc.returncode} on {path.name}:\n"
                             f"{tail((folder / f'spark-sql-{path.name}.log').read_text())}")
        shutil.rmtree(stage)
        t2 = time.perf_counter()
        per_file.append({"file": path.name, "stage_s": round(t1 - t0, 3),
                         "spark_sql_s": round(t2 - t1, 3)})
        say(f"    {path.name}: csv {t1 - t0:.2f} s, spark-sql {t2 - t1:.1f} s")
    seconds = time.perf_counter() - start
    rows = parquet_rows(Path(config.hdfs_app_path) / "flow" / "hive")
    if rows != len(files) * flows:
        raise BenchError(f"the classic path loaded {rows} rows, expected {len(files) * flows}")
    return {"seconds": round(seconds, 2), "rows": rows,
            "stage_s": round(sum(f["stage_s"] for f in per_file), 2),
            "spark_sql_s": round(sum(f["spark_sql_s"] for f in per_file), 2),
            "per_file": per_file, "database": config.dbname,
            "engine": "spark-sql (pyspark's), local[2], 1g driver, one process per file"}


def sorted_rows(root: Path, skip: str | None = None):
    """Every row under a table folder as one Arrow table in the flow schema, sorted by every
    column: two loads of the same files compare equal whatever their file layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from common.schemas import FLOW

    schema = FLOW.arrow_schema()
    tables = [pq.read_table(Path(dirpath) / name, columns=schema.names).cast(schema)
              for dirpath, _, names in os.walk(root) for name in names
              if not name.startswith((".", "_")) and (skip is None or skip not in name)]
    return pa.concat_tables(tables).sort_by([(n, "ascending") for n in schema.names])


def parquet_rows(root: Path) -> int:
    """Rows in the data files under a table folder (Parquet footers; hidden files skipped)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(Path(dirpath) / name).metadata.num_rows
               for dirpath, _, names in os.walk(root) for name in names
               if not name.startswith((".", "_")))


def run_ours(bench: Bench, folder: Path, files: list[Path], total_rows: int) -> dict:
    from common.setup import setup_all

    config = make_config(folder)
    list(setup_all(config))
    topic = bench.topic("classic_ours")
    master = start_master(bench, config, FLOW_PIPELINE, 2, topic, folder / "master.log")
    workers = start_workers(bench, config, FLOW_PIPELINE, 2, topic, folder)
    procs = [master, *workers]
    collector = config.collector_folder(FLOW_PIPELINE)
    incoming = folder / "incoming"
    incoming.mkdir()
    offsets = Offsets(config)
    try:
        # warm-up: one small file through the whole path (the master's pool process starts
        # and connects on its first file, each worker opens the metastore on its first)
        warm = inputs.small_flow_file()
        shutil.copyfile(warm, incoming / WARM_UP)
        warm_start = time.perf_counter()
        os.replace(incoming / WARM_UP, collector / WARM_UP)
        wait_for(lambda: collector_empty(collector) and all_committed(offsets, topic, master, 1),
                 120, "the warm-up file committed", procs, interval=0.05)
        warm_s = time.perf_counter() - warm_start
        for path in files:
            shutil.copyfile(path, incoming / path.name)
        start = time.perf_counter()
        for path in files:
            os.replace(incoming / path.name, collector / path.name)
        wait_for(lambda: collector_empty(collector) and
                 all_committed(offsets, topic, master, 1 + len(files)), 600,
                 f"{len(files)} files committed", procs, interval=0.05)
        seconds = time.perf_counter() - start
    finally:
        offsets.close()
        codes = [p.stop() for p in procs]
    small_rows = json.loads((warm.parent / "info.json").read_text())["flows"]
    rows = worker_rows(workers) - small_rows
    stored = parquet_rows(Path(config.hdfs_app_path) / "flow" / "hive") - small_rows
    if any(codes) or rows != total_rows or stored != total_rows:
        raise BenchError(f"ours: exit codes {codes}, {rows} rows logged and {stored} stored "
                         f"of {total_rows}")
    return {"seconds": round(seconds, 3), "rows": rows, "workers": 2,
            "app_path": config.hdfs_app_path,
            "rows_per_worker": [worker_rows([w]) for w in workers],
            "warm_up_file_s": round(warm_s, 3),
            "worker_file_s": {m.group(1): float(m.group(3)) for w in workers
                              for m in FILE_LINE.finditer(w.log())}}
