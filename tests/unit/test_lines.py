"""Cutting logs into messages of whole lines (common/lines.py) on literal inputs."""
from __future__ import annotations

import gzip
import io
import random

import pytest

from common import lines
from common.lines import Chunk, LongLine, chunks, open_log


def cut(text: bytes, limit: int, start: int = 0) -> list:
    return list(chunks(io.BytesIO(text), limit, start))


def test_whole_lines_up_to_the_limit():
    assert cut(b"aaa\nbb\ncccc\nd\n", 8) == [Chunk(0, 7, b"aaa\nbb\n"), Chunk(7, 14, b"cccc\nd\n")]
    assert cut(b"aaa\nbb\n", 100) == [Chunk(0, 7, b"aaa\nbb\n")]
    assert cut(b"", 10) == []


def test_a_last_line_without_newline_is_a_line():
    assert cut(b"aa\nbb", 4) == [Chunk(0, 3, b"aa\n"), Chunk(3, 5, b"bb")]
    assert cut(b"aa\nbb", 10) == [Chunk(0, 5, b"aa\nbb")]


def test_a_line_longer_than_the_limit_is_set_apart_whole():
    assert cut(b"ab\n0123456789\ncd\n", 6) == [
        Chunk(0, 3, b"ab\n"), LongLine(3, b"0123456789\n"), Chunk(14, 17, b"cd\n")]
    assert cut(b"0123456789", 6) == [LongLine(0, b"0123456789")]


def test_resuming_at_a_recorded_offset_continues_exactly():
    text = b"aaa\nbb\ncccc\nd\n"
    assert cut(text, 8, 7) == [Chunk(7, 14, b"cccc\nd\n")]


def test_gzip_logs_are_read_decompressed(tmp_path):
    plain, packed = tmp_path / "a.log", tmp_path / "b.log.gz"
    plain.write_bytes(b"x\ny\n")
    packed.write_bytes(gzip.compress(b"x\ny\n"))
    for path in (plain, packed):
        with open_log(path) as stream:
            assert list(chunks(stream, 100, 2)) == [Chunk(2, 4, b"y\n")]


@pytest.mark.parametrize("seed", range(5))
def test_any_text_any_limit_any_block_size(seed, monkeypatch):
    """The chunks put back together are the text; every chunk holds whole lines within the
    limit; a resume at any chunk gives the same rest."""
    monkeypatch.setattr(lines, "READ_BLOCK", 7)
    rng = random.Random(seed)
    for _ in range(500):
        parts = [bytes(rng.choice(b"ab") for _ in range(rng.randint(0, 25)))
                 for _ in range(rng.randint(0, 30))]
        text = b"\n".join(parts) + (b"\n" if parts and rng.random() < 0.5 else b"")
        limit = rng.randint(1, 40)
        out = cut(text, limit)
        assert b"".join(c.data for c in out) == text
        position = 0
        for piece in out:
            assert piece.start == position
            position += len(piece.data)
            whole = piece.data.endswith(b"\n") or position == len(text)
            if isinstance(piece, Chunk):
                assert len(piece.data) <= limit and whole
            else:
                assert len(piece.data) > limit and piece.data.count(b"\n") <= 1 and whole
        if len(out) > 1:
            k = rng.randrange(1, len(out))
            assert cut(text, limit, out[k].start) == out[k:]
