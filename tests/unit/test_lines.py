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
        Chunk(0, 3, b"ab\n"), LongLine(3, 11, b"0123456789\n"), Chunk(14, 17, b"cd\n")]
    assert cut(b"0123456789", 6) == [LongLine(0, 10, b"0123456789")]


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
        assert b"".join(c.data if isinstance(c, Chunk) else c.head for c in out) == text
        position = 0
        for piece in out:
            assert piece.start == position
            data = piece.data if isinstance(piece, Chunk) else piece.head
            position += len(data)
            whole = data.endswith(b"\n") or position == len(text)
            if isinstance(piece, Chunk):
                assert len(piece.data) <= limit and whole
            else:
                assert piece.length == len(data) > limit and data.count(b"\n") <= 1 and whole
        if len(out) > 1:
            k = rng.randrange(1, len(out))
            assert cut(text, limit, out[k].start) == out[k:]


# --------------------------------------------------------------------------- damaged logs

LINES = b"".join(b"2016-01-04 09:00:%02d line %d\n" % (n % 60, n) for n in range(4000))


def gzip_stream(data: bytes) -> gzip.GzipFile:
    return gzip.GzipFile(fileobj=io.BytesIO(data))


def sent_until_damage(stream, limit: int) -> tuple[bytes, lines.DamagedLog]:
    out = []
    with pytest.raises(lines.DamagedLog) as damaged:
        for piece in chunks(stream, limit):
            assert isinstance(piece, Chunk)
            assert piece.start == sum(len(c) for c in out)
            out.append(piece.data)
    return b"".join(out), damaged.value


def test_a_truncated_gzip_gives_every_whole_line_before_the_cut(monkeypatch):
    monkeypatch.setattr(lines, "READ_BLOCK", 4096)
    packed = gzip.compress(LINES)
    sent, damage = sent_until_damage(gzip_stream(packed[:len(packed) // 2]), 1000)
    assert len(sent) > 10_000 and LINES.startswith(sent) and sent.endswith(b"\n")
    assert str(damage).startswith(f"damaged gzip data after {len(sent)} bytes: ")
    assert "Compressed file ended before the end-of-stream marker was reached" in str(damage)


def test_corrupt_gzip_data_is_the_files_fault(monkeypatch):
    monkeypatch.setattr(lines, "READ_BLOCK", 4096)
    packed = bytearray(gzip.compress(LINES))
    packed[len(packed) // 2:len(packed) // 2 + 64] = b"\xff" * 64   # deflate data destroyed:
    sent, damage = sent_until_damage(gzip_stream(bytes(packed)), 1000)  # garbage, then the CRC
    assert sent.endswith(b"\n") and "CRC check failed" in str(damage)
    bad_crc = bytearray(gzip.compress(LINES))
    bad_crc[-8] ^= 0xFF                                              # the trailer's CRC-32
    sent, damage = sent_until_damage(gzip_stream(bytes(bad_crc)), 1000)
    assert LINES.startswith(sent) and len(sent) > len(LINES) // 2    # the check at the end
    assert "CRC check failed" in str(damage)
    _, damage = sent_until_damage(gzip_stream(b"\x1f\x8b\x08" + b"\x00" * 40), 1000)
    assert str(damage).startswith("damaged gzip data after 0 bytes: ")


def test_a_damaged_gzip_resumed_past_its_start_is_still_the_files_fault():
    packed = gzip.compress(LINES)
    with pytest.raises(lines.DamagedLog):
        list(chunks(gzip_stream(packed[:len(packed) // 3]), 1000, start=len(LINES) - 10))


class Zeros(io.RawIOBase):
    """`size` bytes of zeros without a newline, never held in memory: a crashed writer's
    preallocated file."""

    def __init__(self, size: int, then: bytes = b""):
        self.size, self.then, self.position = size, then, 0
        self.block = bytes(1 << 20)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.position < self.size:
            piece = self.block[:min(n, len(self.block), self.size - self.position)]
        else:
            piece = self.then[self.position - self.size:][:n]
        self.position += len(piece)
        return piece


def test_an_endless_line_is_read_in_flat_memory():
    """A line of 64 MB without a newline: measured, not held (the allocation peak stays a
    small multiple of the block size); what follows it is read as usual."""
    import tracemalloc

    size = 64 << 20
    stream = Zeros(size, then=b"\n2016-01-04 09:00:00 after\n")
    tracemalloc.start()
    try:
        out = list(chunks(stream, 1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out == [LongLine(0, size + 1, bytes(lines.LONG_LINE_KEPT)),
                   Chunk(size + 1, size + 27, b"2016-01-04 09:00:00 after\n")]
    assert peak < 16 << 20, f"{peak / 1e6:.0f} MB allocated at the peak"


def test_an_endless_line_at_the_end_of_the_file():
    out = cut(b"ab\n" + b"x" * 5000, 100)
    assert out == [Chunk(0, 3, b"ab\n"), LongLine(3, 5000, b"x" * 5000)]


def test_a_set_aside_name_never_replaces_an_earlier_one(tmp_path):
    first = lines.unused_path(tmp_path, "access.log@0")
    first.write_bytes(b"one")
    second = lines.unused_path(tmp_path, "access.log@0")
    second.write_bytes(b"two")
    third = lines.unused_path(tmp_path, "access.log@0")
    assert (first.name, second.name, third.name) == ("access.log@0", "access.log@0.1",
                                                     "access.log@0.2")
    assert first.read_bytes() == b"one"
