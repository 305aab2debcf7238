"""What travels on a topic for the binary-file pipelines (flow, dns), how a collected file's
path becomes a stored name, and which stored paths a worker may read.

Names: the watcher is recursive, and several sources can write identically named files in
sub-folders (nfcapd -n, one folder per source). Everything stored or written for a file is
named after its path relative to collector_path, so two such files never overwrite each
other, and the same file always gets the same names (redelivery replaces, never doubles).
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import asdict, dataclass

from common.errors import SpotIngestError
from common.layout import HourPartition, binary_root

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,159}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")
_DATE, _HOUR = re.compile(r"\d{8}"), re.compile(r"\d{2}")


class BadMessage(SpotIngestError):
    """A Kafka message this pipeline cannot act on; it is logged, skipped and committed."""


def stored_name(relative: str) -> str:
    """A file's name in storage, made from its path relative to collector_path.

    A plain top-level name (letters, digits, '.', '_', '+', '=', '-'; not starting with a
    dot or a dash) is kept as it is: nfcapd.201601040900 stays nfcapd.201601040900. Any
    other path (a sub-folder, spaces, quotes, a newline, non-ASCII, a leading dash) becomes
    its readable part plus a digest of the whole path: unique, stable and safe everywhere
    (HDFS, Hive, Spark, a terminal)."""
    if _PLAIN.fullmatch(relative):
        return relative
    readable = _UNSAFE.sub("_", relative.replace("/", "_")).strip("._-")[:100] or "file"
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class FileMessage:
    """The message for one stored binary file: its pipeline, the name it was collected under
    (its path relative to collector_path: data, shown in logs), where it is stored, and its
    size."""
    pipeline: str
    name: str
    path: str
    size: int

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> "FileMessage":
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            fields = {k: data[k] for k in ("pipeline", "name", "path", "size")}
            if not all(isinstance(fields[k], str) for k in ("pipeline", "name", "path")) or \
                    isinstance(fields["size"], bool) or not isinstance(fields["size"], int):
                raise TypeError("wrong field types")
            return cls(**fields)
        except (ValueError, KeyError, TypeError) as exc:
            preview = (raw or b"")[:80].decode("utf-8", "replace")
            raise BadMessage(f"not a file message ({type(exc).__name__}): {preview!r}") from None


def confined_partition(path: str, app_path: str, source: str, pipeline: str) -> HourPartition:
    """The hour of a stored binary, after checking that path is exactly
    <src>/binary/YYYYMMDD/HH/<pipeline>/<name>: nothing outside this pipeline's own binary
    folder (no '..', no other pipeline, no other source, no deeper or shallower path)."""
    root = binary_root(app_path, source) + "/"
    own = f"{root}YYYYMMDD/HH/{pipeline}/"
    parts = path[len(root):].split("/") if path.startswith(root) else []
    if posixpath.normpath(path) != path or len(parts) != 4 or not _DATE.fullmatch(parts[0]) \
            or not _HOUR.fullmatch(parts[1]) or parts[2] != pipeline or \
            parts[3].startswith(".") or not parts[3]:
        raise BadMessage(f"refusing path outside {own}: {path!r}")
    try:
        part = HourPartition(int(parts[0][:4]), int(parts[0][4:6]), int(parts[0][6:]),
                             int(parts[1]))
        part.check()
    except ValueError:
        raise BadMessage(f"refusing path with an impossible date: {path!r}") from None
    return part
