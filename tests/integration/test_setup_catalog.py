"""spot_setup against the real metastore and storage; tables read back through Spark SQL."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from common.catalog import Catalog
from common.layout import HourPartition, partition_dir, setup_folders
from common.schemas import FLOW, PROXY, TABLES
from common.setup import setup_all
from common.storage import open_storage

from .conftest import REPO, base_config_data, write_config, unique

SPARK_TYPES = {"STRING": "string", "BIGINT": "bigint", "INT": "int", "FLOAT": "float"}

# SPEC.md, "Hive tables", written out again here as the independent oracle.
SPEC = {
    "flow": "treceived STRING, unix_tstamp BIGINT, tryear INT, trmonth INT, trday INT, "
            "trhour INT, trminute INT, trsec INT, tdur FLOAT, sip STRING, dip STRING, "
            "sport INT, dport INT, proto STRING, flag STRING, fwd INT, stos INT, ipkt BIGINT, "
            "ibyt BIGINT, opkt BIGINT, obyt BIGINT, input INT, output INT, sas INT, das INT, "
            "dtos INT, dir INT, rip STRING, y INT, m INT, d INT, h INT",
    "dns": "frame_time STRING, unix_tstamp BIGINT, frame_len INT, ip_dst STRING, "
           "ip_src STRING, dns_qry_name STRING, dns_qry_class STRING, dns_qry_type INT, "
           "dns_qry_rcode INT, dns_a STRING, y INT, m INT, d INT, h INT",
    "proxy": "p_date STRING, p_time STRING, clientip STRING, host STRING, reqmethod STRING, "
             "useragent STRING, resconttype STRING, duration INT, username STRING, "
             "authgroup STRING, exceptionid STRING, filterresult STRING, webcat STRING, "
             "referer STRING, respcode STRING, action STRING, urischeme STRING, "
             "uriport STRING, uripath STRING, uriquery STRING, uriextension STRING, "
             "serverip STRING, scbytes INT, csbytes INT, virusid STRING, bcappname STRING, "
             "bcappoper STRING, fulluri STRING, y STRING, m STRING, d STRING, h STRING",
}


def test_setup_creates_then_reports_existing(local_config):
    first = list(setup_all(local_config))
    db, app = local_config.dbname, local_config.hdfs_app_path
    assert first[0] == f"storage: local filesystem under {app}"
    assert first[1:10] == [f"[{n}/13] folder {f}: created"
                           for n, f in enumerate(setup_folders(app), 1)]
    assert first[10] == f"[10/13] database {db}: created (thrift://127.0.0.1:9083)"
    assert first[11:] == [f"[{n}/13] table {db}.{t}: created at file://{app}/{t}/hive"
                          for n, t in zip((11, 12, 13), ("flow", "dns", "proxy"))]
    second = list(setup_all(local_config))
    assert second[1:10] == [f"[{n}/13] folder {f}: exists"
                            for n, f in enumerate(setup_folders(app), 1)]
    assert second[10] == f"[10/13] database {db}: exists (thrift://127.0.0.1:9083)"
    assert second[11:] == [f"[{n}/13] table {db}.{t}: exists at file://{app}/{t}/hive"
                           for n, t in zip((11, 12, 13), ("flow", "dns", "proxy"))]


def test_tables_match_spec_through_spark_sql(local_config, spark):
    list(setup_all(local_config))
    db = local_config.dbname
    assert sorted(TABLES) == sorted(SPEC)
    for name, spec in SPEC.items():
        fields = [(f.name, f.dataType.simpleString())
                  for f in spark.table(f"{db}.{name}").schema.fields]
        expected = [(col.split()[0], SPARK_TYPES[col.split()[1]]) for col in spec.split(", ")]
        assert fields == expected, name
        partitions = spark.sql(f"DESCRIBE {db}.{name}").collect()
        assert [r.col_name for r in partitions][-4:] == ["y", "m", "d", "h"]
        detail = {r["col_name"]: r["data_type"]
                  for r in spark.sql(f"DESCRIBE FORMATTED {db}.{name}").collect()}
        assert detail["Type"] == "EXTERNAL"
        assert detail["Provider"] == "hive"
        assert detail["Location"] == f"file:{local_config.hdfs_app_path}/{name}/hive"
        assert "ParquetHiveSerDe" in detail["Serde Library"]


def _write_flow_rows(storage, folder: str, tmp_path, rows: int) -> None:
    table = pa.table({c.name: pa.array([None] * rows, c.arrow_type) for c in FLOW.columns},
                     schema=FLOW.arrow_schema())
    table = table.set_column(FLOW.column_names.index("sip"), "sip",
                             pa.array([f"10.0.0.{i}" for i in range(rows)], pa.string()))
    local = tmp_path / "part.parquet"
    pq.write_table(table, local)
    storage.upload(local, f"{folder}/nfcapd.201601040900.parquet")


def test_partition_added_through_catalog_is_visible_to_spark(local_config, spark, tmp_path):
    list(setup_all(local_config))
    db, app = local_config.dbname, local_config.hdfs_app_path
    storage = open_storage(local_config)
    part = HourPartition.of(datetime(2016, 1, 4, 9))
    folder = partition_dir(app, "flow", part)
    _write_flow_rows(storage, folder, tmp_path, 3)
    with Catalog(local_config.hive.metastore_uris) as catalog:
        assert catalog.add_partition(db, FLOW, part, storage.uri(folder)) is True
        assert catalog.add_partition(db, FLOW, part, storage.uri(folder)) is False  # idempotent
        assert catalog.list_partitions(db, "flow") == [
            (["2016", "1", "4", "9"], f"file:{app}/flow/hive/y=2016/m=01/d=04/h=09")]
    assert [r[0] for r in spark.sql(f"SHOW PARTITIONS {db}.flow").collect()] == \
        ["y=2016/m=1/d=4/h=9"]
    spark.catalog.refreshTable(f"{db}.flow")
    rows = spark.sql(f"SELECT sip, y, m, d, h FROM {db}.flow WHERE y=2016 AND m=1 AND d=4 AND h=9"
                     " ORDER BY sip").collect()
    assert [tuple(r) for r in rows] == [("10.0.0.0", 2016, 1, 4, 9), ("10.0.0.1", 2016, 1, 4, 9),
                                        ("10.0.0.2", 2016, 1, 4, 9)]


def test_proxy_partitions_are_padded_strings(local_config, spark):
    list(setup_all(local_config))
    db, app = local_config.dbname, local_config.hdfs_app_path
    storage = open_storage(local_config)
    part = HourPartition(2016, 1, 4, 9)
    folder = partition_dir(app, "proxy", part)
    storage.mkdirs(folder)
    with Catalog(local_config.hive.metastore_uris) as catalog:
        catalog.add_partition(db, PROXY, part, storage.uri(folder))
    assert [r[0] for r in spark.sql(f"SHOW PARTITIONS {db}.proxy").collect()] == \
        ["y=2016/m=01/d=04/h=09"]


def test_setup_on_hdfs_and_spark_reads_hdfs_partition(hdfs_config, spark, tmp_path):
    lines = list(setup_all(hdfs_config))
    db, app = hdfs_config.dbname, hdfs_config.hdfs_app_path
    assert lines[0] == f"storage: WebHDFS http://127.0.0.1:9870 under {app}"
    assert lines[-1] == f"[13/13] table {db}.proxy: created at hdfs://127.0.0.1:8020{app}/proxy/hive"
    storage = open_storage(hdfs_config)
    assert storage.list(app) == ["dns", "flow", "proxy"]
    part = HourPartition(2016, 1, 4, 10)
    folder = partition_dir(app, "flow", part)
    _write_flow_rows(storage, folder, tmp_path, 5)
    with Catalog(hdfs_config.hive.metastore_uris) as catalog:
        catalog.add_partition(db, FLOW, part, storage.uri(folder))
    spark.catalog.refreshTable(f"{db}.flow")
    assert spark.sql(f"SELECT count(*) FROM {db}.flow WHERE h=10").collect()[0][0] == 5


def _run_setup(config_path):
    return subprocess.run([sys.executable, str(REPO / "spot_setup.py"), "-c", str(config_path)],
                          capture_output=True, text=True, timeout=120)


def test_spot_setup_cli_prints_what_it_did(tmp_path, metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    proc = _run_setup(write_config(tmp_path, data))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == 14
    assert out[-1] == \
        f"[13/13] table {data['dbname']}.proxy: created at file://{tmp_path}/spot/proxy/hive"


def test_spot_setup_unreachable_metastore(tmp_path):
    data = base_config_data(str(tmp_path / "spot"), "spot", tmp_path)
    data["hive"] = {"metastore_uris": "thrift://127.0.0.1:1"}
    proc = _run_setup(write_config(tmp_path, data))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: cannot reach the Hive Metastore (thrift://127.0.0.1:1: Could not connect to "
        "any of [('127.0.0.1', 1)])"]


def test_spot_setup_unreachable_storage(tmp_path):
    data = base_config_data("/user/spot", "spot", tmp_path)
    data["hdfs"] = {"namenode_url": "http://127.0.0.1:1"}
    proc = _run_setup(write_config(tmp_path, data))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: status /user/spot/flow/binary: cannot reach WebHDFS at http://127.0.0.1:1: "
        "ConnectionError"]
