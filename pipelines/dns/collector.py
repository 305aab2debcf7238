"""DNS collector side: complete captures (pcap, pcapng) are cut into pieces of pkt_num
packets; each piece is stored under the hour of its first packet and published, the pieces
of one capture round robin over the topic's partitions (every worker decodes a share of a
large capture at once).

The pieces are cut by `dnsdecode split` (records copied as they are; each piece is handed
over the moment it is complete, so the first is stored and decoded while the rest are still
being cut), or by `editcap -c` when the pipeline's decoder is tshark (editcap writes every
piece before the first is handed over). Both name a piece after its first packet's time.

The capture is removed only once every piece is stored and acknowledged; the pieces are then
removed from pcap_split_staging. A master stopped part way splits the capture again on its
next start: the same capture gives the same pieces, and a worker's output for a piece
replaces itself, so pieces published twice are loaded once. A split folder left by a
process killed with SIGKILL (its name ends in that process's pid) is removed by the next
split or master start; the folder of a process still running is left alone.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil

from common import decoder
from common.binary import BinaryFileCollector, Piece
from common.errors import ConfigError, SpotIngestError
from common.layout import HourPartition
from common.messages import stored_name
from common.plugin import Collected, RejectedFile
from pipelines.dns import fast
from pipelines.dns.decode import (EDITCAP, Outcome, classify, decoder_message, editcap_argv,
                                  list_pieces, piece_index, piece_time)

log = logging.getLogger(__name__)

_SPLIT_FOLDER = re.compile(r"^\.(?P<stored>.+)-(?P<pid>[0-9]+)$")


def stale_split_folders(staging: Path) -> list[Path]:
    """The split folders in staging whose process is gone: no process has its pid, or the
    one that has it started after the folder last changed (the pid was reused)."""
    stale = []
    try:
        entries = list(staging.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        match = _SPLIT_FOLDER.match(entry.name)
        if not match or not entry.is_dir():
            continue
        try:
            changed = entry.stat().st_mtime
            started = psutil.Process(int(match["pid"])).create_time()
        except FileNotFoundError:
            continue
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            stale.append(entry)
            continue
        if started > changed + 1:
            stale.append(entry)
    return stale


class DnsCollector(BinaryFileCollector):
    source = "dns"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = "UTC"
        self.splitter = "editcap" if self.pipeline.decoder == "tshark" else "dnsdecode"

    def split_staging(self) -> Path:
        return Path(self.pipeline.pcap_split_staging or
                    Path(self.pipeline.local_staging) / "split")

    def check_environment(self) -> None:
        """The splitter installed, the time zone its piece names are stamped in known; the
        split folders of dead processes removed."""
        self.tz = decoder.worker_timezone()
        if self.splitter == "editcap" and shutil.which(EDITCAP) is None:
            raise ConfigError(f"{EDITCAP} is not installed or not on PATH (run make setup)")
        if self.splitter == "dnsdecode" and not fast.built():
            raise ConfigError(f"{fast.DNSDECODE} is not built (run make setup, which builds "
                              "it with Go)")
        self.split_staging().mkdir(parents=True, exist_ok=True)
        self.remove_stale()

    def remove_stale(self) -> None:
        for folder in stale_split_folders(self.split_staging()):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("%s: removed %s, left by a process that is gone", self.pipeline.name,
                     folder)

    def check(self, item: Collected) -> None:
        """A capture's time is in its packets, not its name: nothing to refuse up front."""

    def pieces(self, item: Collected) -> Iterator[Piece]:
        """Splits the capture into a private folder of pcap_split_staging (hidden, so a
        staging folder inside collector_path is never collected), piece by piece."""
        self.tz = decoder.worker_timezone()
        self.remove_stale()
        folder = self.split_folder(item)
        shutil.rmtree(folder, ignore_errors=True)        # what this process left
        folder.mkdir(parents=True)
        prefix = folder / f"{stored_name(item.relative)}_spot"
        count = 0
        paths = self._dnsdecode(item, prefix) if self.splitter == "dnsdecode" else \
            self._editcap(item, prefix)
        for path in paths:
            index = piece_index(path.name)
            hour = HourPartition.of(piece_time(path.name, self.tz))
            count += 1
            yield Piece(path, f"{item.relative} [piece {index}]", path.name, hour)
            path.unlink(missing_ok=True)                 # stored and acknowledged by now
        if not count:
            log.info("%s: %s holds no packets; nothing to publish", self.pipeline.name,
                     item.relative)

    def _editcap(self, item: Collected, prefix: Path) -> list[Path]:
        argv = editcap_argv(str(item.path), str(prefix), self.pipeline.pkt_num)
        decoder.run(argv, decoder.decoder_env({"TZ": self.tz}), judge=self._judge(item, EDITCAP))
        return list_pieces(str(prefix))

    def _dnsdecode(self, item: Collected, prefix: Path) -> Iterator[Path]:
        """`dnsdecode split`, each piece as it prints its name (complete and closed)."""
        argv = [str(fast.DNSDECODE), "split", str(self.pipeline.pkt_num), str(item.path),
                str(prefix)]
        with decoder.stream(argv, decoder.decoder_env({"TZ": self.tz}),
                            judge=self._judge(item, "dnsdecode")) as out:
            for line in out:
                yield Path(os.fsdecode(line.rstrip(b"\n")))

    def _warn_cut(self, item: Collected, stderr: str) -> None:
        if classify(0, stderr) is Outcome.CUT_SHORT:
            log.warning("%s: %s: %s; the packets before the cut are kept", self.pipeline.name,
                        item.relative, decoder_message(stderr).rstrip("."))

    def _judge(self, item: Collected, tool: str):
        """The splitter's ending: a file it cannot read is set aside with its message; a cut
        short capture is split up to the cut; any other failure is retried, and the capture
        set aside after max_attempts (a signal or a missing splitter is retried without
        end)."""
        def judge(code: int, stderr: str) -> Exception | None:
            outcome = classify(code, stderr)
            if outcome is Outcome.UNREADABLE:
                return RejectedFile(f"{tool} cannot read it: {decoder_message(stderr)}")
            if outcome is Outcome.CUT_SHORT:
                self._warn_cut(item, stderr)
                return None
            if outcome is Outcome.FAILED:     # counted: set aside after max_attempts
                return SpotIngestError(f"{tool} failed (exit code {code}): "
                                       f"{decoder_message(stderr)}")
            return None
        return judge

    def split_folder(self, item: Collected) -> Path:
        return self.split_staging() / f".{stored_name(item.relative)}-{os.getpid()}"

    def discard(self, pieces, item: Collected) -> None:
        if hasattr(pieces, "close"):
            pieces.close()                   # a split still running is stopped first
        shutil.rmtree(self.split_folder(item), ignore_errors=True)


COLLECTOR = DnsCollector
