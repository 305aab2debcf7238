"""Watches a collector folder (recursively, with watchdog) and hands out files that are
complete. It knows nothing of what is done with them.

A file is a candidate when it appears (created, moved in, present at start) and the
caller's `accept(name)` says yes. It is handed out once its size and modification time
have not changed for `settle_seconds`: a file still being written, or copied in, waits.
Files handed out are not handed out again unless the caller asks for a retry.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def matches_supported(name: str, supported: tuple[str, ...] | list[str]) -> bool:
    """The seed's rule: a name is supported when it starts or ends with one of the patterns."""
    return any(name.startswith(p) or name.endswith(p) for p in supported)


def is_hidden(path: Path, root: Path) -> bool:
    """Names starting with '.' (temporary copies, our quarantine) anywhere below root."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    return any(part.startswith(".") for part in parts)


@dataclass
class _Candidate:
    size: int
    mtime_ns: int
    stable_since: float
    not_before: float = 0.0


class FileWatcher:
    def __init__(self, root: Path, accept: Callable[[str], bool], settle_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.root = Path(root)
        self.accept = accept
        self.settle_seconds = settle_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: set[Path] = set()            # appeared since the last ready() call
        self._candidates: dict[Path, _Candidate] = {}
        self._observer = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_created(self, event):
                watcher._notice(event.src_path, event.is_directory)

            def on_moved(self, event):
                watcher._notice(event.dest_path, event.is_directory)

            def on_modified(self, event):
                if not event.is_directory:
                    watcher._notice(event.src_path, False)

            def on_closed(self, event):
                watcher._notice(event.src_path, False)

        self._observer = Observer()
        self._observer.schedule(Handler(), str(self.root), recursive=True)
        self._observer.start()
        self.scan()  # after the observer runs: nothing falls between the two

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None

    # ------------------------------------------------------------------ events

    def scan(self) -> None:
        """Notices every file already under root (start-up, and folders moved in whole)."""
        self._scan_dir(self.root)

    def _scan_dir(self, folder: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                self._notice(os.path.join(dirpath, name), False)

    def _notice(self, path: str | bytes, is_directory: bool) -> None:
        path = Path(os.fsdecode(path))
        if is_hidden(path, self.root):
            return
        if is_directory:
            self._scan_dir(path)
            return
        if not self.accept(path.name):
            return
        with self._lock:
            self._seen.add(path)

    # ------------------------------------------------------------------ hand-out

    def ready(self) -> list[Path]:
        """Files complete now, in name order (nfcapd names sort by time). Each is handed out once."""
        now = self.clock()
        with self._lock:
            fresh, self._seen = self._seen, set()
        for path in fresh:
            if path not in self._candidates:
                self._candidates[path] = _Candidate(-1, -1, now)
        out = []
        for path, cand in list(self._candidates.items()):
            try:
                st = path.stat()
            except FileNotFoundError:
                del self._candidates[path]          # renamed away or removed
                continue
            if (st.st_size, st.st_mtime_ns) != (cand.size, cand.mtime_ns):
                cand.size, cand.mtime_ns, cand.stable_since = st.st_size, st.st_mtime_ns, now
                continue
            if now - cand.stable_since >= self.settle_seconds and now >= cand.not_before:
                out.append(path)
                del self._candidates[path]
        return sorted(out, key=lambda p: (p.name, str(p)))

    def retry(self, path: Path, delay: float) -> None:
        """Hands path out again (if it is still there) no sooner than `delay` seconds from now."""
        with self._lock:
            self._candidates[Path(path)] = _Candidate(-1, -1, self.clock(), self.clock() + delay)

    def pending(self) -> int:
        with self._lock:
            return len(self._candidates) + len(self._seen)
