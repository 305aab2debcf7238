"""Record batches -> one Parquet file, in row groups of bounded size (memory stays flat)."""
from __future__ import annotations

import os
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 131072


def write_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema,
                  path: str | os.PathLike) -> int:
    """Writes every batch to a Parquet file at path; returns the number of rows."""
    total = 0
    buffered: list[pa.RecordBatch] = []
    buffered_rows = 0
    with pq.ParquetWriter(os.fspath(path), schema, compression="snappy") as writer:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            buffered.append(batch)
            buffered_rows += batch.num_rows
            if buffered_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(buffered, schema))
                total += buffered_rows
                buffered, buffered_rows = [], 0
        if buffered:
            writer.write_table(pa.Table.from_batches(buffered, schema))
            total += buffered_rows
    return total
