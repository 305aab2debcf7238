"""Streaming a decoder's CSV output into Arrow, shared by the pipelines that read one.

The output is read in blocks by pyarrow's CSV reader (never held whole in memory); what
the reader cannot parse is the decoded file's fault and becomes a DecodeError.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from common.errors import DecodeError


class PrefixedStream(io.RawIOBase):
    """A stream with some already-read bytes put back in front (a header line, a probe of
    the first bytes)."""

    def __init__(self, prefix: bytes, rest: IO[bytes]):
        self._prefix, self._rest = prefix, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def stream_batches(source: IO[bytes], what: str, read_options: pacsv.ReadOptions,
                   parse_options: pacsv.ParseOptions,
                   convert_options: pacsv.ConvertOptions) -> Iterator[pa.RecordBatch]:
    """pyarrow's streaming CSV reader over `source`, its parse errors turned into one-line
    DecodeErrors naming `what` (e.g. "nfdump output")."""
    try:
        reader = pacsv.open_csv(source, read_options=read_options, parse_options=parse_options,
                                convert_options=convert_options)
        for batch in reader:
            yield batch
    except pa.ArrowInvalid as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise DecodeError(f"{what} cannot be parsed: {message}") from None


# ------------------------------------------------------------------ text -> column types

_INT_RANGES = {pa.int32(): (-(1 << 31), (1 << 31) - 1), pa.int64(): (-(1 << 63), (1 << 63) - 1)}


def fit(values: pa.Array, target: pa.DataType) -> tuple[pa.Array, int]:
    """A decoder's text column as `target` (int32, int64, float32), with every value that does
    not fit (an integer out of the column's range, a non-number) NULL in its cell, as Hive's
    cast made it: returns the column and how many cells became NULL. Values read as numbers
    already (an integer column) are range-checked the same way.

    Vectorised on the usual path (every value a number that fits); a batch holding a
    non-number or an integer beyond 64 bits is converted value by value."""
    if pa.types.is_floating(target):
        return _fit_float(values, target)
    low, high = _INT_RANGES[target]
    try:
        wide = values if pa.types.is_integer(values.type) else pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _fit_each(values, target, lambda v: _integer(v, low, high))
    if len(wide) == 0 or wide.null_count == len(wide):
        return wide.cast(target), 0
    bounds = pc.min_max(wide)
    if bounds["min"].as_py() >= low and bounds["max"].as_py() <= high:
        return wide.cast(target), 0
    fits = pc.less_equal(wide, pa.scalar(high, wide.type))
    if pa.types.is_signed_integer(wide.type):
        fits = pc.and_(fits, pc.greater_equal(wide, pa.scalar(low, wide.type)))
    nulled = len(wide) - wide.null_count - (pc.sum(fits).as_py() or 0)
    kept = pc.if_else(fits, wide, pa.scalar(None, wide.type))
    return kept.cast(target), nulled


def _fit_float(values: pa.Array, target: pa.DataType) -> tuple[pa.Array, int]:
    try:
        number = pc.cast(values, target)   # text straight to float32: one rounding, as parsed
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        texts = values.to_pylist()
        number = pc.cast(pa.array([t if _is_float(t) else None for t in texts], values.type),
                         target)
    finite = pc.is_finite(number)
    nulled = len(values) - values.null_count - (pc.sum(finite).as_py() or 0)
    if nulled == 0:
        return number, 0
    return pc.if_else(finite, number, pa.scalar(None, target)), nulled


def _fit_each(values: pa.Array, target: pa.DataType, convert) -> tuple[pa.Array, int]:
    """The slow path: one value at a time."""
    texts = values.to_pylist()
    out = [None if v is None else convert(v) for v in texts]
    nulled = sum(1 for v, o in zip(texts, out) if v is not None and o is None)
    return pa.array(out, target), nulled


def _integer(text, low: int, high: int) -> int | None:
    try:
        value = int(text.strip()) if isinstance(text, str) else int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _is_float(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
