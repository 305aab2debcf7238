"""The three Hive tables, declared once (SPEC.md). The DDL, the metastore's column lists and
the Arrow schemas the writers use all derive from these declarations."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Hive type -> Arrow type. Parquet written with these reads back as exactly the Hive type.
_ARROW_TYPES = {
    "STRING": pa.string(),
    "BIGINT": pa.int64(),
    "INT": pa.int32(),
    "FLOAT": pa.float32(),
}


@dataclass(frozen=True)
class Column:
    name: str
    hive_type: str

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.hive_type]


@dataclass(frozen=True)
class TableSchema:
    name: str                        # table name, also the storage folder <src>
    columns: tuple[Column, ...]
    partition_columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def partitions_are_strings(self) -> bool:
        return all(c.hive_type == "STRING" for c in self.partition_columns)

    def arrow_schema(self) -> pa.Schema:
        """Schema of the Parquet files: data columns only (partition values live in folders)."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    def ddl(self, dbname: str, location: str) -> str:
        cols = ",\n".join(f"  {c.name} {c.hive_type}" for c in self.columns)
        parts = ", ".join(f"{c.name} {c.hive_type}" for c in self.partition_columns)
        return (f"CREATE EXTERNAL TABLE IF NOT EXISTS {dbname}.{self.name} (\n{cols}\n)\n"
                f"PARTITIONED BY ({parts})\nSTORED AS PARQUET\nLOCATION '{location}'")


def _columns(spec: str) -> tuple[Column, ...]:
    """'a STRING, b INT' -> Columns; keeps each table readable as in SPEC.md."""
    out = []
    for item in spec.split(","):
        name, hive_type = item.split()
        out.append(Column(name, hive_type))
    return tuple(out)


FLOW = TableSchema(
    name="flow",
    columns=_columns(
        "treceived STRING, unix_tstamp BIGINT, tryear INT, trmonth INT, trday INT, trhour INT,"
        " trminute INT, trsec INT, tdur FLOAT, sip STRING, dip STRING, sport INT, dport INT,"
        " proto STRING, flag STRING, fwd INT, stos INT, ipkt BIGINT, ibyt BIGINT, opkt BIGINT,"
        " obyt BIGINT, input INT, output INT, sas INT, das INT, dtos INT, dir INT, rip STRING"),
    partition_columns=_columns("y INT, m INT, d INT, h INT"),
)

DNS = TableSchema(
    name="dns",
    columns=_columns(
        "frame_time STRING, unix_tstamp BIGINT, frame_len INT, ip_dst STRING, ip_src STRING,"
        " dns_qry_name STRING, dns_qry_class STRING, dns_qry_type INT, dns_qry_rcode INT,"
        " dns_a STRING"),
    partition_columns=_columns("y INT, m INT, d INT, h INT"),
)

PROXY = TableSchema(
    name="proxy",
    columns=_columns(
        "p_date STRING, p_time STRING, clientip STRING, host STRING, reqmethod STRING,"
        " useragent STRING, resconttype STRING, duration INT, username STRING,"
        " authgroup STRING, exceptionid STRING, filterresult STRING, webcat STRING,"
        " referer STRING, respcode STRING, action STRING, urischeme STRING, uriport STRING,"
        " uripath STRING, uriquery STRING, uriextension STRING, serverip STRING,"
        " scbytes INT, csbytes INT, virusid STRING, bcappname STRING, bcappoper STRING,"
        " fulluri STRING"),
    partition_columns=_columns("y STRING, m STRING, d STRING, h STRING"),
)

TABLES: dict[str, TableSchema] = {t.name: t for t in (FLOW, DNS, PROXY)}
