"""Table declarations, their derived forms, and the storage layout."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from common.errors import ConfigError
from common.kafka_io import check_topic_name, default_topic_name
from common.layout import HourPartition, binary_dir, partition_dir, setup_folders
from common.schemas import DNS, FLOW, PROXY, TABLES


def test_flow_columns_in_spec_order():
    assert [(c.name, c.hive_type) for c in FLOW.columns][:9] == [
        ("treceived", "STRING"), ("unix_tstamp", "BIGINT"), ("tryear", "INT"),
        ("trmonth", "INT"), ("trday", "INT"), ("trhour", "INT"), ("trminute", "INT"),
        ("trsec", "INT"), ("tdur", "FLOAT")]
    assert FLOW.column_names[-1] == "rip"
    assert len(FLOW.columns) == 28
    assert len(DNS.columns) == 10
    assert len(PROXY.columns) == 28
    assert sorted(TABLES) == ["dns", "flow", "proxy"]


def test_arrow_schema_derives_from_declaration():
    schema = FLOW.arrow_schema()
    assert schema.names == FLOW.column_names
    assert schema.field("unix_tstamp").type == pa.int64()
    assert schema.field("sport").type == pa.int32()
    assert schema.field("tdur").type == pa.float32()
    assert schema.field("sip").type == pa.string()
    assert "y" not in schema.names


def test_ddl_derives_from_declaration():
    ddl = DNS.ddl("spot", "hdfs://nn:8020/user/spot/dns/hive")
    assert ddl == (
        "CREATE EXTERNAL TABLE IF NOT EXISTS spot.dns (\n"
        "  frame_time STRING,\n  unix_tstamp BIGINT,\n  frame_len INT,\n  ip_dst STRING,\n"
        "  ip_src STRING,\n  dns_qry_name STRING,\n  dns_qry_class STRING,\n"
        "  dns_qry_type INT,\n  dns_qry_rcode INT,\n  dns_a STRING\n)\n"
        "PARTITIONED BY (y INT, m INT, d INT, h INT)\nSTORED AS PARQUET\n"
        "LOCATION 'hdfs://nn:8020/user/spot/dns/hive'")


def test_partition_folder_is_zero_padded_and_values_follow_table_types():
    part = HourPartition.of(datetime(2016, 1, 4, 9, 30))
    assert part.folder() == "y=2016/m=01/d=04/h=09"
    assert part.values(FLOW) == ["2016", "1", "4", "9"]
    assert part.values(DNS) == ["2016", "1", "4", "9"]
    assert part.values(PROXY) == ["2016", "01", "04", "09"]
    assert partition_dir("/user/spot", "flow", part) == "/user/spot/flow/hive/y=2016/m=01/d=04/h=09"


def test_binary_dir_and_setup_folders():
    assert binary_dir("/user/spot", "flow", datetime(2016, 1, 4, 9, 5)) == \
        "/user/spot/flow/binary/20160104/09"
    folders = setup_folders("/user/spot")
    assert len(folders) == 9
    assert folders[0] == "/user/spot/flow/binary"
    assert folders[-1] == "/user/spot/proxy/stage"


def test_topic_names():
    assert default_topic_name("flow_internals", datetime(2026, 1, 2, 3, 4, 5, 60)) == \
        "SPOT-INGEST-flow_internals_03_04_05_000060"
    assert check_topic_name("SPOT-INGEST-a.b_c") == "SPOT-INGEST-a.b_c"
    with pytest.raises(ConfigError) as info:
        check_topic_name("bad topic;rm")
    assert str(info.value) == ("invalid topic name 'bad topic;rm': use 1-249 characters among "
                               "letters, digits, '.', '_' and '-'")
