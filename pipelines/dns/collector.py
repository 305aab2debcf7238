"""DNS collector side: complete captures (pcap, pcapng) are split with editcap into pieces of
pkt_num packets; each piece is stored under the hour of its first packet and published, the
pieces of one capture round robin over the topic's partitions (every worker decodes a share
of a large capture at once).

The capture is removed only once every piece is stored and acknowledged; the pieces are then
removed from pcap_split_staging. A master stopped part way splits the capture again on its
next start: the same capture gives the same pieces, and a worker's output for a piece
replaces itself, so pieces published twice are loaded once.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from common import decoder
from common.binary import BinaryFileCollector, Piece
from common.errors import ConfigError, SpotIngestError
from common.layout import HourPartition
from common.messages import stored_name
from common.plugin import Collected, RejectedFile
from pipelines.dns.decode import (EDITCAP, Outcome, classify, decoder_message, editcap_argv,
                                  list_pieces, piece_index, piece_time)

log = logging.getLogger(__name__)


class DnsCollector(BinaryFileCollector):
    source = "dns"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = "UTC"

    def split_staging(self) -> Path:
        return Path(self.pipeline.pcap_split_staging or
                    Path(self.pipeline.local_staging) / "split")

    def check_environment(self) -> None:
        """editcap installed, the time zone its piece names are stamped in known."""
        self.tz = decoder.worker_timezone()
        if shutil.which(EDITCAP) is None:
            raise ConfigError(f"{EDITCAP} is not installed or not on PATH (run make setup)")
        self.split_staging().mkdir(parents=True, exist_ok=True)

    def check(self, item: Collected) -> None:
        """A capture's time is in its packets, not its name: nothing to refuse up front."""

    def pieces(self, item: Collected) -> list[Piece]:
        """Splits the capture into a private folder of pcap_split_staging (hidden, so a
        staging folder inside collector_path is never collected)."""
        self.tz = decoder.worker_timezone()
        stored = stored_name(item.relative)
        folder = self.split_folder(item)
        shutil.rmtree(folder, ignore_errors=True)        # what a killed master left
        folder.mkdir(parents=True)
        prefix = folder / f"{stored}_spot"
        argv = editcap_argv(str(item.path), str(prefix), self.pipeline.pkt_num)
        try:
            _, stderr = decoder.run(argv, decoder.decoder_env({"TZ": self.tz}),
                                    judge=self._judge(item))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if classify(0, stderr) is Outcome.CUT_SHORT:
            log.warning("%s: %s: %s; the packets before the cut are kept", self.pipeline.name,
                        item.relative, decoder_message(stderr).rstrip("."))
        out = []
        for path in list_pieces(str(prefix)):
            index = piece_index(path.name)
            hour = HourPartition.of(piece_time(path.name, self.tz))
            out.append(Piece(path, f"{item.relative} [piece {index}]", path.name, hour))
        if not out:
            log.info("%s: %s holds no packets; nothing to publish", self.pipeline.name,
                     item.relative)
        return out

    def _judge(self, item: Collected):
        """editcap's ending: a file it cannot read is set aside with its message; a cut short
        capture is split up to the cut; any other failure is retried, and the capture set
        aside after max_attempts (a signal or a missing editcap is retried without end)."""
        def judge(code: int, stderr: str) -> Exception | None:
            outcome = classify(code, stderr)
            if outcome is Outcome.UNREADABLE:
                return RejectedFile(f"editcap cannot read it: {decoder_message(stderr)}")
            if outcome is Outcome.FAILED:     # counted: set aside after max_attempts
                return SpotIngestError(f"editcap failed (exit code {code}): "
                                       f"{decoder_message(stderr)}")
            return None
        return judge

    def split_folder(self, item: Collected) -> Path:
        return self.split_staging() / f".{stored_name(item.relative)}-{os.getpid()}"

    def discard(self, pieces: list[Piece], item: Collected) -> None:
        shutil.rmtree(self.split_folder(item), ignore_errors=True)


COLLECTOR = DnsCollector
