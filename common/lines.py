"""Collectors of text logs (proxy): no stored binary, no remote path. A log file (plain or
gzip) becomes messages of whole lines, each at most kafka.message_size bytes, round robin
over the topic's partitions; a long-running job on the worker side reads them.

Exactly what was sent survives a stop or a kill of the master: progress is recorded beside
the file (<collector_path>/.progress/<name>.json) around every message:

1. before a send, the message about to go (its byte range, partition, key) and the
   partition's end offset at that moment are recorded as pending;
2. after the broker acknowledged it, the progress moves past it.

A master that restarts with a pending message looks for its key in that partition from the
recorded end offset on: found, it was acknowledged (progress moves on); not found, it is
sent. So a restart neither loses nor re-sends lines. The same holds for a send retried
within one run, and for a send whose copy was still in flight (a follower in a pause, the
message appended by the leader but never acknowledged): every message of a file is its own
transaction of a producer whose transactional id is the file's (transactional_id), so the
next attempt first fences every earlier producer of that file (an open transaction is
aborted, one being committed completes) and only then looks for the key among committed
messages. The job reads read_committed. The file is removed once every line is
acknowledged. A line longer than message_size is never split nor sent: it is set aside in
<collector_path>/.quarantine/ with the reason (its first LONG_LINE_KEPT bytes: a line is
measured, never held whole), and the rest of the file goes on. A damaged .log.gz is the file's
fault: its lines before the damage are sent, then the file is set aside (DamagedLog).
"""
from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Callable

from common.kafka_io import Publisher, PartitionTail
from common.messages import stored_name
from common.plugin import Collected, Collector, Partitions, Published, RejectedFile
from common.storage import Storage

log = logging.getLogger(__name__)

PROGRESS = ".progress"
QUARANTINE = ".quarantine"
READ_BLOCK = 1 << 20
LONG_LINE_KEPT = 1 << 20       # of a line too long to send, what is kept in .quarantine
# what a damaged gzip stream raises: bad headers and CRCs, bad deflate data, a truncated end
DAMAGED_STREAM = (gzip.BadGzipFile, zlib.error, EOFError)


class DamagedLog(RejectedFile):
    """A compressed log that cannot be read past some point (bad gzip data, a truncated
    stream): the file's fault, never the machine's. Every whole line before the damage has
    been sent; str() says how far the file was read and what the decompressor said."""


@dataclass(frozen=True)
class Chunk:
    """Whole lines of a file: bytes [start, end) of its (decompressed) content, all in one
    layout (None: none declared)."""
    start: int
    end: int
    data: bytes
    layout: str | None = None


@dataclass(frozen=True)
class LongLine:
    """A line longer than a message may be: set aside, never sent. It is measured, not held:
    `head` keeps its first LONG_LINE_KEPT bytes (all of it when shorter)."""
    start: int
    length: int
    head: bytes


class _Blocks:
    """A stream's content block by block. A damaged compressed stream ends it early; the
    damage is kept for the caller to report once the lines read before it are out."""

    def __init__(self, stream: IO[bytes]):
        self.stream, self.eof, self.damage = stream, False, None
        # one underlying read per call: a read of a whole block would drop what it had
        # decompressed when the damage comes later in the same block
        self._read = getattr(stream, "read1", stream.read)

    def read(self) -> bytes:
        if self.eof:
            return b""
        try:
            block = self._read(READ_BLOCK)
        except DAMAGED_STREAM as exc:
            self.damage, block = exc, b""
        self.eof = not block
        return block

    def skip(self, offset: int) -> None:
        try:
            self.stream.seek(offset)      # gzip streams seek forward by reading
        except DAMAGED_STREAM as exc:
            raise damaged(offset, exc) from None


def damaged(offset: int, exc: BaseException) -> DamagedLog:
    detail = str(exc) or type(exc).__name__
    return DamagedLog(f"damaged gzip data after {offset} bytes: {detail}; the lines before it "
                      "were sent, the rest cannot be read")


Directive = Callable[[bytes], "str | None"]


def chunks(stream: IO[bytes], limit: int, start: int = 0, layout: str | None = None,
           marker: bytes | None = None, directive: Directive | None = None
           ) -> Iterator[Chunk | LongLine]:
    """Cuts a stream into runs of whole lines of at most `limit` bytes each, from byte
    `start` on. A last line without its newline is a line too. Deterministic: the same
    content gives the same chunks, so a resumed file continues exactly where it stopped.
    Memory stays within a few blocks whatever the lines' lengths. A damaged compressed
    stream raises DamagedLog once every whole line before the damage has been given.

    Layouts: `layout` is the one in force at `start`. A line holding `marker` is offered to
    `directive`, which returns the layout it declares (None: not a directive); a run never
    holds lines of two layouts: it ends before a directive, which starts the next run."""
    blocks = _Blocks(stream)
    if start:
        blocks.skip(start)
    offset, data = start, b""
    while True:
        while not blocks.eof and len(data) <= limit:
            data += blocks.read()
        if blocks.damage is not None:
            data = data[:data.rfind(b"\n") + 1]      # a line cut by the damage is no line
        if not data:
            break
        if len(data) <= limit:                       # the end of the file: one last run
            cut = len(data)
        else:
            cut = data.rfind(b"\n", 0, limit) + 1
        if cut and marker is not None:
            cut, layout = _layout_cut(data, cut, layout, marker, directive)
        if cut:
            yield Chunk(offset, offset + cut, data[:cut], layout)
            offset, data = offset + cut, data[cut:]
            continue
        line, data = _long_line(data, limit, blocks)  # a first line longer than the limit
        if line is None:                             # cut short by damage: not a line
            break
        yield LongLine(offset, *line)
        offset += line[0]
    if blocks.damage is not None:
        raise damaged(offset, blocks.damage)


def _layout_cut(data: bytes, cut: int, layout: str | None, marker: bytes,
                directive: Directive) -> tuple[int, str | None]:
    """(where the run of data[:cut] ends, its layout): a directive at the start sets the
    run's layout, a later one ends the run before it, and before the `#` lines just above it
    (the #Software, #Version, #Date that come with it go with it, not alone)."""
    position = 0
    while (found := data.find(marker, position, cut)) >= 0:
        line_start = data.rfind(b"\n", 0, found) + 1
        line_end = data.find(b"\n", found, cut)
        line_end = cut if line_end < 0 else line_end + 1
        declared = directive(data[line_start:line_end])
        if declared is not None:
            block = line_start
            while block > 0 and data.startswith(b"#", data.rfind(b"\n", 0, block - 1) + 1):
                block = data.rfind(b"\n", 0, block - 1) + 1
            if block > 0:
                return block, layout
            layout = declared
        position = line_end
    return cut, layout


def _long_line(data: bytes, limit: int, blocks: _Blocks) -> tuple[tuple[int, bytes] | None,
                                                                   bytes]:
    """((length, head), the data after it) of a line that starts `data` and is longer than
    `limit`, read on to its newline (or the end of the file) without holding it."""
    end = data.find(b"\n", limit)
    if end >= 0:
        return (end + 1, data[:min(end + 1, LONG_LINE_KEPT)]), data[end + 1:]
    length, head = len(data), data[:LONG_LINE_KEPT]
    while True:
        block = blocks.read()
        if not block:
            return (None if blocks.damage is not None else (length, head)), b""
        end = block.find(b"\n")
        piece = block if end < 0 else block[:end + 1]
        if len(head) < LONG_LINE_KEPT:
            head += piece[:LONG_LINE_KEPT - len(head)]
        length += len(piece)
        if end >= 0:
            return (length, head), block[end + 1:]


def unused_path(folder: Path, name: str) -> Path:
    """folder/name, else folder/name.1, name.2, ...: the first free one, created empty (so
    that nothing set aside earlier under the same name is ever replaced)."""
    for n in itertools.count():
        path = folder / (name if n == 0 else f"{name}.{n}")
        try:
            with open(path, "xb"):
                return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def open_log(path: Path) -> IO[bytes]:
    """A log file's content: gzip-compressed files (by their magic bytes) decompressed."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


@dataclass
class Progress:
    """What was handed over of one file. `identity` ties it to that very file: a new file
    under the same name starts from zero."""
    identity: list[int]
    offset: int = 0
    sent: int = 0                   # messages acknowledged so far (the next one's index)
    pending: dict | None = None     # {"partition", "end_offset", "key", "end"}
    layout: str | None = None       # the layout in force at `offset`

    @staticmethod
    def identity_of(path: Path) -> list[int]:
        st = path.stat()
        return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


class ProgressFile:
    def __init__(self, root: Path, name: str):
        self.path = root / PROGRESS / f"{name}.json"

    def load(self, identity: list[int]) -> Progress:
        try:
            data = json.loads(self.path.read_text())
            progress = Progress(**data)
        except (OSError, ValueError, TypeError):
            return Progress(identity)
        return progress if progress.identity == identity else Progress(identity)

    def save(self, progress: Progress) -> None:
        self.path.parent.mkdir(exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w") as out:
            json.dump(asdict(progress), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def transactional_id(topic: str, name: str) -> str:
    """The transactional id of every producer that ever sends a file (by its stored name) to
    a topic: a new attempt fences all earlier ones, in this run or a dead master's."""
    return f"spot-ingest-{topic}-{name}"


class LineBatchCollector(Collector):
    """A log becomes messages of whole lines. Subclasses that know a log's layout
    directives set directive_marker and directive(): every message then carries the layout
    of its lines in the header layout_header (and never holds lines of two layouts)."""

    directive_marker: bytes | None = None
    layout_header = "layout"

    def directive(self, line: bytes) -> str | None:
        """The layout a directive line declares; None for any other line."""
        return None

    def default_layout(self) -> str | None:
        """The layout of the lines before any directive (None: not known)."""
        return None

    def publish(self, item: Collected, partitions: Partitions, storage: Storage,
                publisher: Publisher) -> list[Published]:
        """`publisher` names the topic; the file's own transactional publisher sends."""
        root = self.config.collector_folder(self.pipeline.name)
        name = stored_name(item.relative)
        progress_file = ProgressFile(root, name)
        progress = progress_file.load(Progress.identity_of(item.path))
        tail = PartitionTail(self.config.kafka, publisher.topic, read_committed=True)
        publisher = Publisher(self.config.kafka, publisher.topic,
                              transactional_id(publisher.topic, name))
        try:
            if progress.pending is not None:
                publisher.connect()          # fences the earlier attempt: its fate is final
                self._settle_pending(progress, progress_file, tail, item)
            out = []
            if progress.offset == 0:
                progress.layout = self.default_layout()
            with open_log(item.path) as stream:
                for piece in chunks(stream, self.config.kafka.message_size, progress.offset,
                                    progress.layout, self.directive_marker, self.directive):
                    if isinstance(piece, LongLine):
                        self._set_aside(root, name, item, piece)
                        progress.offset = piece.start + piece.length
                        progress_file.save(progress)
                        continue
                    out.append(self._send(piece, progress, progress_file, partitions, tail,
                                          publisher, name, item))
        except DamagedLog:
            progress_file.remove()       # the master sets the file aside with the reason
            raise
        finally:
            publisher.close()
            tail.close()
        os.unlink(item.path)             # only now: every line acknowledged
        progress_file.remove()
        return out

    def _send(self, chunk: Chunk, progress: Progress, progress_file: ProgressFile,
              partitions: Partitions, tail: PartitionTail, publisher: Publisher, name: str,
              item: Collected) -> Published:
        partition = partitions.of(progress.sent)
        key = f"{name}@{chunk.start}"
        progress.pending = {"partition": partition, "end_offset": tail.end_offset(partition),
                            "key": key, "end": chunk.end, "layout": chunk.layout}
        progress_file.save(progress)
        headers = [(self.layout_header, chunk.layout.encode())] if chunk.layout else None
        offset = publisher.send(chunk.data, partition=partition, key=key.encode(),
                                headers=headers)
        progress.offset, progress.sent, progress.pending = chunk.end, progress.sent + 1, None
        progress.layout = chunk.layout
        progress_file.save(progress)
        return Published(f"{item.relative} [bytes {chunk.start}-{chunk.end}]", None, partition,
                         offset, len(chunk.data))

    def _settle_pending(self, progress: Progress, progress_file: ProgressFile,
                        tail: PartitionTail, item: Collected) -> None:
        """The master stopped between recording a message and hearing back about it: the
        message is on the topic (acknowledged) or it is not (to be sent again)."""
        pending = progress.pending
        found = tail.has_key(pending["partition"], pending["end_offset"], pending["key"].encode())
        if found:
            progress.offset, progress.sent = pending["end"], progress.sent + 1
            progress.layout = pending.get("layout", progress.layout)
        log.info("%s: %s: resuming at byte %d (the message sent before the stop was %s)",
                 self.pipeline.name, item.relative, progress.offset,
                 "acknowledged" if found else "not acknowledged: sending it again")
        progress.pending = None
        progress_file.save(progress)

    def _set_aside(self, root: Path, name: str, item: Collected, line: LongLine) -> None:
        folder = root / QUARANTINE
        folder.mkdir(exist_ok=True)
        target = unused_path(folder, f"{name}@{line.start}")
        target.write_bytes(line.head)
        reason = (f"{item.relative}: the line at byte {line.start} is {line.length} bytes, "
                  f"longer than kafka.message_size ({self.config.kafka.message_size}); set "
                  "aside, not sent")
        if len(line.head) < line.length:
            reason += f" (its first {len(line.head)} bytes are kept in {target.name})"
        (folder / f"{target.name}.reason").write_text(reason + "\n", errors="replace")
        log.error("%s: %s", self.pipeline.name, reason)
