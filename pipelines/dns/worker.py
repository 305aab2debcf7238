"""DNS worker side: one capture piece -> dnsdecode (its columns) or tshark (its text) ->
Arrow -> one Parquet file in the piece's hour (the hour editcap stamped in the piece's name,
which the collector stored it under). pipelines/dns/fast.py decides which decoder reads the
pieces."""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from common import decoder, metrics
from common.binary import Binary, BinaryFileProcessor, Output
from common.errors import ConfigError, DecodeError, DecoderUnavailable, SpotIngestError
from common.schemas import DNS
from pipelines.dns import fast
from pipelines.dns.columns import column_batches
from pipelines.dns.decode import (TSHARK, Outcome, check_fields, classify, decoder_message,
                                  dns_batches, probe_capture, tshark_argv)

log = logging.getLogger(__name__)


class UseTshark(SpotIngestError):
    """dnsdecode does not read this capture's link type: tshark must."""


class DnsProcessor(BinaryFileProcessor):
    source = "dns"
    table = DNS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = "UTC"
        self.env = decoder.decoder_env({"TZ": self.tz})
        self.choice = fast.choose(self.pipeline.decoder, self.pipeline.process_opt)
        self._tshark_only: set[str] = set()      # pieces dnsdecode stopped in, part way

    def start(self) -> None:
        """The decoders installed, process_opt complete and accepted, TZ known: checked once
        here, on a probe capture, so that none of them can ever be mistaken for a bad file."""
        super().start()
        self.tz = decoder.worker_timezone()
        self.env = decoder.decoder_env({"TZ": self.tz})
        if self.pipeline.process_opt.strip():
            check_fields(self.pipeline.process_opt)
        if self.choice.reason:
            log.info("%s worker-%d: decoding with tshark: %s", self.pipeline.name,
                     self.worker_id, self.choice.reason)
        if self.choice.decoder == "dnsdecode" and not fast.built():
            raise ConfigError(f"{fast.DNSDECODE} is not built (run make setup, which builds "
                              "it with Go)")
        if shutil.which(TSHARK, path=self.env.get("PATH")) is None:
            raise ConfigError(f"{TSHARK} is not installed or not on PATH (run make setup)")
        with tempfile.TemporaryDirectory(prefix="spot-dns-probe-") as folder:
            probe = probe_capture(Path(folder) / "probe.pcap")
            for name in {"tshark", self.choice.decoder}:
                rows = self._probe(name, probe)
                if rows != 1:
                    log.warning("%s worker-%d: process_opt's filter drops a plain DNS "
                                "response; rows will be loaded only for what it keeps",
                                self.pipeline.name, self.worker_id)
        log.info("%s worker-%d: decoder %s", self.pipeline.name, self.worker_id,
                 self.choice.decoder)

    def _probe(self, name: str, probe: Path) -> int:
        try:
            return sum(b.num_rows for b in self._batches(name, probe))
        except (DecodeError, DecoderUnavailable, SpotIngestError) as exc:
            what = (f"process_opt {self.choice.process_opt!r}" if name == "tshark"
                    else "its probe capture")
            raise ConfigError(f"{name} cannot run with {what}: {exc}") from None

    def _argv(self, name: str, path: Path) -> list[str]:
        if name == "dnsdecode":
            return fast.columns_argv(str(path))
        return tshark_argv(str(path), self.choice.process_opt)

    def _judge(self, name: str):
        """The decoder's ending: a capture cut short keeps its rows (a warning); one the
        decoder cannot read is the file's fault; a link type dnsdecode does not read goes
        to tshark; any other failure is counted against the message (the decoders and their
        options were accepted at start)."""
        def judge(code: int, stderr: str) -> Exception | None:
            if code == fast.EXIT_UNSUPPORTED and stderr.startswith("dnsdecode:"):
                return UseTshark(decoder_message(stderr))
            outcome = classify(code, stderr)
            if outcome is Outcome.CUT_SHORT:
                log.warning("%s worker-%d: %s: %s; the rows before the cut are kept",
                            self.pipeline.name, self.worker_id, name,
                            decoder_message(stderr).rstrip("."))
            elif outcome is Outcome.UNREADABLE:
                return DecodeError(f"cannot read it: {decoder_message(stderr)}")
            elif outcome is Outcome.FAILED:
                return SpotIngestError(f"failed (exit code {code}): "
                                       f"{decoder_message(stderr)}")
            return None
        return judge

    def _batches(self, name: str, local: Path, nulled: Counter | None = None):
        read = column_batches if name == "dnsdecode" else dns_batches
        with decoder.stream(self._argv(name, local), self.env, judge=self._judge(name)) as out:
            yield from read(out, self.tz, nulled=nulled)

    def decode(self, local: Path, binary: Binary, workdir: Path) -> Iterator[Output]:
        name = self.choice.decoder
        if binary.message.path in self._tshark_only:
            name = "tshark"

        def batches():
            rows, nulled = 0, Counter()
            try:
                for batch in self._batches(name, local, nulled):
                    rows += batch.num_rows
                    yield batch
            except UseTshark as exc:
                log.info("%s worker-%d: %s: %s; decoding it with tshark", self.pipeline.name,
                         self.worker_id, binary.message.name, str(exc).rstrip("."))
                if rows:       # rows already written: start the piece again, with tshark
                    self._tshark_only.add(binary.message.path)
                    raise SpotIngestError(f"{exc}: decoding it again with tshark") from None
                yield from self._batches("tshark", local, nulled)
            else:
                self._tshark_only.discard(binary.message.path)
            report_nulled(self.pipeline.name, self.worker_id, binary.message.name, nulled)

        yield Output(binary.partition, self.output_name(binary), batches())


def report_nulled(pipeline: str, worker_id: int, name: str, nulled: Counter) -> None:
    """One line per file for the cells stored as NULL because their value did not fit the
    column, and the spot_cells_nulled_total counter by column."""
    if not nulled:
        return
    for column, count in sorted(nulled.items()):
        metrics.CELLS_NULLED.labels(pipeline, column).inc(count)
    detail = ", ".join(f"{column} {count}" for column, count in sorted(nulled.items()))
    log.warning("%s worker-%d: %s: %d value(s) did not fit their column and are NULL in "
                "those cells, the rows kept (%s)", pipeline, worker_id, name,
                sum(nulled.values()), detail)


PROCESSOR = DnsProcessor
