"""Streaming a decoder's CSV output into Arrow, shared by the pipelines that read one.

The output is read in blocks by pyarrow's CSV reader (never held whole in memory); what
the reader cannot parse is the decoded file's fault and becomes a DecodeError.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import pyarrow as pa
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
