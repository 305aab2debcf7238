"""The newest partitions of a pipeline's table, with their rows and the time of their newest
row, from the metastore and Parquet footers alone (no row is read)."""
from __future__ import annotations

import posixpath
import struct
import time
from dataclasses import dataclass

from common.catalog import Catalog
from common.config import IngestConfig
from common.layout import table_root
from common.schemas import TABLES
from common.storage import Storage

NEWEST_PARTITIONS = 3


@dataclass
class PartitionRows:
    values: list[str]
    location: str
    files: int
    rows: int
    newest: str | None


@dataclass
class TableStatus:
    table: str
    partitions: int
    newest: list[PartitionRows]
    newest_of: str = ""          # what "newest" is the time of (the column it comes from)
    exists: bool = True          # False: spot_setup.py has not created it yet


def parquet_footer(storage: Storage, path: str):
    """A Parquet file's metadata from its footer alone (two small reads, not the file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tail = storage.read_range(path, -8, 8)
    if len(tail) != 8 or tail[4:] != b"PAR1":
        raise ValueError(f"{path} is not a Parquet file")
    length = struct.unpack("<I", tail[:4])[0]
    footer = storage.read_range(path, -(length + 8), length + 8)
    return pq.read_metadata(pa.BufferReader(b"PAR1" + footer))


NEWEST_COLUMNS = {"flow": ("unix_tstamp",), "dns": ("unix_tstamp",),
                  "proxy": ("p_date", "p_time")}
# What each table's newest time is: flow's rows are timed by when nfcapd received the flow
# (treceived, whatever hour the file's name gives), dns's by the packet, proxy's by the line.
NEWEST_OF = {"flow": "treceived", "dns": "frame time", "proxy": "p_date p_time"}


def _newest(metadata, table: str) -> str | None:
    """The newest row's time from the column statistics (no data read). For proxy the two
    maxima combine exactly: a partition is one hour of one date, so p_date is one value."""
    columns = NEWEST_COLUMNS[table]
    best = None
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        values = []
        for i in range(group.num_columns):
            column = group.column(i)
            if column.path_in_schema in columns and column.statistics is not None and \
                    column.statistics.has_min_max:
                values.append(column.statistics.max)
        if len(values) == len(columns):
            value = values[0] if len(values) == 1 else " ".join(map(str, values))
            best = value if best is None or value > best else best
    if best is None:
        return None
    if isinstance(best, int):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(best))
    return str(best)


def table_status(config: IngestConfig, storage: Storage, catalog: Catalog,
                 table: str) -> TableStatus:
    """The newest partitions of a table with their row counts, from Parquet footers."""
    schema = TABLES[table]
    if not catalog.table_exists(config.dbname, table):
        return TableStatus(table, 0, [], NEWEST_OF[table], exists=False)
    partitions = catalog.list_partitions(config.dbname, table)
    newest = []
    root = table_root(config.hdfs_app_path, table)
    for values, location in partitions[-NEWEST_PARTITIONS:][::-1]:
        folder = posixpath.join(root, "/".join(
            f"{c.name}={v.zfill(4 if c.name == 'y' else 2)}"
            for c, v in zip(schema.partition_columns, values)))
        rows = files = 0
        newest_time = None
        for path in storage.files_under(folder):
            name = posixpath.basename(path)
            if not name.endswith(".parquet") or name.startswith((".", "_")):
                continue
            metadata = parquet_footer(storage, path)
            rows += metadata.num_rows
            files += 1
            seen = _newest(metadata, table)
            newest_time = seen if newest_time is None or (seen and seen > newest_time) else newest_time
        newest.append(PartitionRows(list(values), location, files, rows, newest_time))
    return TableStatus(table, len(partitions), newest, NEWEST_OF[table])
