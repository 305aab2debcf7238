"""One master per collector folder.

Two masters watching one folder (two sessions of one pipeline, or two pipelines configured
with the same collector_path) would each publish its files: proxy lines twice, and their
`.progress` records interleaved. A master therefore holds an exclusive lock on
`<collector_path>/.spot-master.lock` for its whole life. The kernel releases the lock when
the holding process ends, however it ends (a SIGKILLed master never blocks the next start),
and the file says who holds it, so a refused start can name the holder.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from common.errors import ConfigError

LOCK_NAME = ".spot-master.lock"


def describe_holder(text: str) -> str:
    """'the master of pipeline P (pid N on host H, since ...)' from the lock file's content."""
    try:
        data = json.loads(text)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data["since"])))
        return (f"the master of pipeline {data['pipeline']} (pid {data['pid']} on "
                f"{data['host']}, since {since})")
    except (ValueError, KeyError, TypeError):
        return "another master"


class FolderLock:
    def __init__(self, folder: Path, pipeline: str):
        self.folder, self.pipeline = folder, pipeline
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, **published: object) -> None:
        """Takes the lock for the life of this process and records who holds it (and what
        `published` adds, e.g. the metrics address); ConfigError naming the holder when
        another process holds it."""
        fd = self._lock()
        record = {"pipeline": self.pipeline, "host": socket.gethostname(), "pid": os.getpid(),
                  "since": round(time.time(), 3), **published}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
        os.fsync(fd)
        self._fd = fd

    def update(self, **published: object) -> None:
        """Adds to what the lock file says of its holder (e.g. the metrics port once bound)."""
        if self._fd is None:
            return
        record = json.loads(os.pread(self._fd, 1 << 16, 0) or b"{}")
        record.update(published)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(record).encode() + b"\n", 0)

    def probe(self) -> None:
        """ConfigError naming the holder when a master holds the folder; takes nothing."""
        os.close(self._lock())

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)          # the kernel drops the lock with the descriptor
            self._fd = None

    def _lock(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)   # not inherited
        except OSError as exc:
            raise ConfigError(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 1 << 16, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise ConfigError(f"collector folder {self.folder} is already watched by {holder}: "
                              "one master per collector folder") from None
        return fd


def read_holder(folder: Path) -> dict | None:
    """What the lock file of a collector folder says of its holder, when that process still
    runs (as far as this host can tell: a holder on another host is taken at its word).
    Reads only: taking even a shared lock could make a master starting that instant fail."""
    try:
        data = json.loads((folder / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("host") == socket.gethostname():
        import psutil

        try:
            alive = psutil.Process(int(data["pid"])).create_time() <= float(data["since"]) + 1
        except (psutil.Error, KeyError, TypeError, ValueError):
            alive = False
        if not alive:
            return None
    return data
