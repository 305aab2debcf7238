"""Whose fault a failure is: the machine's (retried without a limit) or the file's (retried
max_attempts times, then set aside)."""
from __future__ import annotations

import errno
import gzip
import re
import zlib

import pytest

from common.errors import (CatalogError, DecodeError, DecoderUnavailable, KafkaError,
                           StorageError, StorageRefused, is_machine_fault)


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EIO, "Input/output error"),
    OSError(errno.EROFS, "Read-only file system"), ConnectionRefusedError(errno.ECONNREFUSED, "x"),
    TimeoutError(errno.ETIMEDOUT, "x"), OSError(errno.EMFILE, "Too many open files"),
    MemoryError(), KafkaError("x"), StorageError("x"), CatalogError("x"),
    DecoderUnavailable("x"),
])
def test_the_machines_faults(exc):
    assert is_machine_fault(exc)


@pytest.mark.parametrize("exc", [
    gzip.BadGzipFile("Not a gzipped file (b'\\x00\\x00')"),      # an OSError without errno
    EOFError("Compressed file ended before the end-of-stream marker was reached"),
    zlib.error("Error -3 while decompressing data: invalid block type"),
    PermissionError(errno.EACCES, "Permission denied"), FileNotFoundError(errno.ENOENT, "x"),
    IsADirectoryError(errno.EISDIR, "x"), StorageRefused("download x: Permission denied"),
    DecodeError("x"), ValueError("x"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid"),
])
def test_the_files_faults(exc):
    assert not is_machine_fault(exc)


def test_an_unexpected_error_names_where_it_came_from():
    import json

    from common.cli import where

    def ours():
        json.loads("{")

    try:
        ours()
    except ValueError as exc:
        line = ours.__code__.co_firstlineno + 1
        assert re.fullmatch(rf"tests/unit/test_errors\.py:{line} ours, raised in decoder\.py:\d+ "
                            "raw_decode", where(exc)), where(exc)
