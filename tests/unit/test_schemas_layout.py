"""Table declarations, their derived forms, and the storage layout."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from common.errors import ConfigError
from common.kafka_io import check_topic_name
from common.layout import HourPartition, binary_path, partition_dir, setup_folders
from common.schemas import DNS, FLOW, PROXY, TABLES


# SPEC.md's tables, written out literally: the declarations must match them exactly.
SPEC_FLOW = ("treceived STRING, unix_tstamp BIGINT, tryear INT, trmonth INT, trday INT, "
             "trhour INT, trminute INT, trsec INT, tdur FLOAT, sip STRING, dip STRING, "
             "sport INT, dport INT, proto STRING, flag STRING, fwd INT, stos INT, ipkt BIGINT, "
             "ibyt BIGINT, opkt BIGINT, obyt BIGINT, input INT, output INT, sas INT, das INT, "
             "dtos INT, dir INT, rip STRING")
SPEC_DNS = ("frame_time STRING, unix_tstamp BIGINT, frame_len INT, ip_dst STRING, "
            "ip_src STRING, dns_qry_name STRING, dns_qry_class STRING, dns_qry_type INT, "
            "dns_qry_rcode INT, dns_a STRING")
SPEC_PROXY = ("p_date STRING, p_time STRING, clientip STRING, host STRING, reqmethod STRING, "
              "useragent STRING, resconttype STRING, duration INT, username STRING, "
              "authgroup STRING, exceptionid STRING, filterresult STRING, webcat STRING, "
              "referer STRING, respcode STRING, action STRING, urischeme STRING, "
              "uriport STRING, uripath STRING, uriquery STRING, uriextension STRING, "
              "serverip STRING, scbytes INT, csbytes INT, virusid STRING, bcappname STRING, "
              "bcappoper STRING, fulluri STRING")
ARROW = {"STRING": pa.string(), "BIGINT": pa.int64(), "INT": pa.int32(), "FLOAT": pa.float32()}


def spec_pairs(text: str) -> list[tuple[str, str]]:
    return [tuple(item.split()) for item in text.split(", ")]


@pytest.mark.parametrize("table, spec, parts", [
    (FLOW, SPEC_FLOW, "y INT, m INT, d INT, h INT"),
    (DNS, SPEC_DNS, "y INT, m INT, d INT, h INT"),
    (PROXY, SPEC_PROXY, "y STRING, m STRING, d STRING, h STRING"),
])
def test_declarations_and_arrow_schemas_match_spec(table, spec, parts):
    assert [(c.name, c.hive_type) for c in table.columns] == spec_pairs(spec)
    assert [(c.name, c.hive_type) for c in table.partition_columns] == spec_pairs(parts)
    assert [(f.name, f.type) for f in table.arrow_schema()] == \
        [(name, ARROW[kind]) for name, kind in spec_pairs(spec)]
    assert sorted(TABLES) == ["dns", "flow", "proxy"]


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


def test_binary_path_and_setup_folders():
    assert binary_path("/user/spot", "flow", "flow_internals", HourPartition(2016, 1, 4, 9),
                       "nfcapd.201601040905") == \
        "/user/spot/flow/binary/20160104/09/flow_internals/nfcapd.201601040905"
    folders = setup_folders("/user/spot")
    assert len(folders) == 9
    assert folders[0] == "/user/spot/flow/binary"
    assert folders[-1] == "/user/spot/proxy/stage"


def test_topic_names():
    assert check_topic_name("SPOT-INGEST-a.b_c") == "SPOT-INGEST-a.b_c"
    with pytest.raises(ConfigError) as info:
        check_topic_name("bad topic;rm")
    assert str(info.value) == ("invalid topic name 'bad topic;rm': use 1-249 characters among "
                               "letters, digits, '.', '_' and '-'")
