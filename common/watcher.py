"""Watches a collector folder (recursively, with watchdog) and hands out files that are
complete. It knows nothing of what is done with them.

A file is a candidate when it appears (created, moved in, present at start, or found by a
periodic rescan) and the caller's `accept(name)` says yes. It is complete:
- at once when it arrived by a rename (nfcapd closing an interval) or its writer closed it
  (the close-after-write event, where the filesystem gives one);
- otherwise once its size and modification time have not changed for `settle_seconds`
  (a file found by a scan, or written where no close event comes) and no process on this
  machine holds it open for writing: a capture tcpdump writes in place and that pauses longer
  than the settle period is not cut. (A writer on another machine, through NFS, is not seen:
  there the settle period alone decides.)
Files handed out are not handed out again unless the caller asks for a retry.

Events can be lost (an inotify queue overflow is not replayed by watchdog) and the
observer thread can die: the folder is rescanned every `rescan_seconds`, and a dead
observer is restarted, so no file waits for a restart of the master.
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


def make_observer():
    """On Linux, inotify with full events: a file moved in from outside the watched tree is
    reported as moved (complete), not as created (still to settle). Elsewhere, watchdog's
    own choice."""
    try:
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)
    except (ImportError, OSError):
        from watchdog.observers import Observer

        return Observer()


WRITE_MODES = frozenset({"w", "a", "r+", "a+", "w+"})    # psutil's names of open modes


def files_open_for_writing() -> set[tuple[int, int]]:
    """(device, inode) of every file some process on this machine has open for writing, as
    psutil lists the processes' open files (all of them as root; those of other users are
    skipped otherwise)."""
    import psutil

    found: set[tuple[int, int]] = set()
    for proc in psutil.process_iter():
        try:
            files = proc.open_files()
        except (psutil.Error, OSError):
            continue
        for opened in files:
            if opened.mode not in WRITE_MODES:
                continue
            try:
                st = os.stat(opened.path)
            except OSError:                 # gone since, or renamed away
                continue
            found.add((st.st_dev, st.st_ino))
    return found


@dataclass
class _Candidate:
    size: int
    mtime_ns: int
    stable_since: float
    complete: bool = False
    not_before: float = 0.0


class FileWatcher:
    def __init__(self, root: Path, accept: Callable[[str], bool], settle_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, rescan_seconds: float = 30.0,
                 on_event: Callable[[], None] | None = None):
        self.root = Path(root)
        self.accept = accept
        self.settle_seconds = settle_seconds
        self.rescan_seconds = rescan_seconds
        self.clock = clock
        self._lock = threading.Lock()
        # noticed since the last ready(): True closed or moved in, False written, None scanned
        self._seen: dict[Path, bool | None] = {}
        self._candidates: dict[Path, _Candidate] = {}
        self._observer = None
        self._last_scan = clock()
        self.restarts = 0
        self.on_event = on_event            # called (from the observer thread) on every notice

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._start_observer()
        self.scan()  # after the observer runs: nothing falls between the two

    def _start_observer(self) -> None:
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_created(self, event):
                watcher._notice(event.src_path, event.is_directory)

            def on_moved(self, event):
                if event.dest_path:         # "": moved out of the watched tree
                    watcher._notice(event.dest_path, event.is_directory, complete=True)

            def on_modified(self, event):
                if not event.is_directory:
                    watcher._notice(event.src_path, False)

            def on_closed(self, event):
                watcher._notice(event.src_path, False, complete=True)

        self._observer = make_observer()
        self._observer.schedule(Handler(), str(self.root), recursive=True)
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join(timeout=10)
            self._observer = None

    def observer_alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def maintain(self) -> None:
        """Restarts a dead observer and rescans when it is time; ready() calls it."""
        if self._observer is not None and not self._observer.is_alive():
            self.restarts += 1
            log.error("watcher of %s had stopped; restarting it (restart %d) and rescanning",
                      self.root, self.restarts)
            self._observer = None
            self._start_observer()
            self.scan()
        elif self.clock() - self._last_scan >= self.rescan_seconds:
            self.scan()

    # ------------------------------------------------------------------ events

    def scan(self) -> None:
        """Notices every file under root (start-up, rescans, folders moved in whole)."""
        self._last_scan = self.clock()
        self._scan_dir(self.root)

    def _scan_dir(self, folder: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                self._notice(os.path.join(dirpath, name), False, complete=None)

    def _notice(self, path: str | bytes, is_directory: bool,
                complete: bool | None = False) -> None:
        path = Path(os.fsdecode(path))
        if is_hidden(path, self.root):
            return
        if is_directory:
            self._scan_dir(path)
            return
        if not self.accept(path.name):
            return
        with self._lock:
            if complete is None and path in self._seen:
                return                      # a scan adds nothing to what an event said
            self._seen[path] = complete
        if self.on_event is not None and complete is not None:
            self.on_event()

    # ------------------------------------------------------------------ hand-out

    def ready(self) -> list[Path]:
        """Files complete now, in name order (nfcapd names sort by time). Each is handed out once."""
        self.maintain()
        now = self.clock()
        with self._lock:
            fresh, self._seen = self._seen, {}
        for path, complete in fresh.items():
            cand = self._candidates.get(path)
            if cand is None:
                self._candidates[path] = _Candidate(-1, -1, now, bool(complete))
            elif complete:
                cand.complete = True
            elif complete is False and cand.not_before == 0.0:
                cand.complete = False           # written again after it was closed
        out = []
        writing: set[tuple[int, int]] | None = None
        for path, cand in list(self._candidates.items()):
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                del self._candidates[path]          # renamed away or removed
                continue
            changed = (st.st_size, st.st_mtime_ns) != (cand.size, cand.mtime_ns)
            if changed:
                cand.size, cand.mtime_ns, cand.stable_since = st.st_size, st.st_mtime_ns, now
            settled = not changed and now - cand.stable_since >= self.settle_seconds
            if now < cand.not_before or not (cand.complete or settled):
                continue
            if not cand.complete:
                # quiet, but is a writer still holding it open (tcpdump between packets)?
                if writing is None:
                    writing = files_open_for_writing()
                if (st.st_dev, st.st_ino) in writing:
                    continue
            out.append(path)
            del self._candidates[path]
        return sorted(out, key=lambda p: (p.name, str(p)))

    def retry(self, path: Path, delay: float) -> None:
        """Hands path out again (if it is still there) no sooner than `delay` seconds from now."""
        now = self.clock()
        with self._lock:
            self._candidates[Path(path)] = _Candidate(-1, -1, now, True, now + delay)

    def pending(self) -> int:
        with self._lock:
            return len(self._candidates) + len(self._seen)
