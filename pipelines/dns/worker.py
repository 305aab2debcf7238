"""DNS worker side: one capture piece -> tshark -> Arrow -> one Parquet file in the piece's
hour (the hour editcap stamped in the piece's name, which the collector stored it under)."""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import decoder
from common.binary import Binary, BinaryFileProcessor, Output
from common.errors import ConfigError, DecodeError, DecoderUnavailable, SpotIngestError
from common.schemas import DNS
from pipelines.dns.decode import (TSHARK, Outcome, check_fields, classify, decoder_message,
                                  dns_batches, probe_capture, tshark_argv)

log = logging.getLogger(__name__)


class DnsProcessor(BinaryFileProcessor):
    source = "dns"
    table = DNS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = "UTC"
        self.env = decoder.decoder_env({"TZ": self.tz})

    def start(self) -> None:
        """tshark installed, process_opt complete and accepted, TZ known: checked once here,
        on a probe capture, so that none of them can ever be mistaken for a bad file."""
        super().start()
        self.tz = decoder.worker_timezone()
        self.env = decoder.decoder_env({"TZ": self.tz})
        check_fields(self.pipeline.process_opt)
        if shutil.which(TSHARK, path=self.env.get("PATH")) is None:
            raise ConfigError(f"{TSHARK} is not installed or not on PATH (run make setup)")
        with tempfile.TemporaryDirectory(prefix="spot-tshark-probe-") as folder:
            probe = probe_capture(Path(folder) / "probe.pcap")
            try:
                with decoder.stream(tshark_argv(str(probe), self.pipeline.process_opt),
                                    self.env, judge=self._judge(probe.name)) as out:
                    rows = sum(b.num_rows for b in dns_batches(out, self.tz))
            except (DecodeError, DecoderUnavailable, SpotIngestError) as exc:
                raise ConfigError(f"tshark cannot run with process_opt "
                                  f"{self.pipeline.process_opt!r}: {exc}") from None
        if rows != 1:
            log.warning("%s worker-%d: process_opt's filter drops a plain DNS response; rows "
                        "will be loaded only for what it keeps", self.pipeline.name,
                        self.worker_id)

    def _judge(self, name: str):
        """tshark's ending: a capture cut short keeps its rows (a warning); one tshark cannot
        read is the file's fault; any other failure is counted against the message (options
        and filter were accepted at start)."""
        def judge(code: int, stderr: str) -> Exception | None:
            outcome = classify(code, stderr)
            if outcome is Outcome.CUT_SHORT:
                log.warning("%s worker-%d: %s: %s; the rows before the cut are kept",
                            self.pipeline.name, self.worker_id, name,
                            decoder_message(stderr).rstrip("."))
            elif outcome is Outcome.UNREADABLE:
                return DecodeError(f"cannot read it: {decoder_message(stderr)}")
            elif outcome is Outcome.FAILED:
                return SpotIngestError(f"tshark failed (exit code {code}): "
                                       f"{decoder_message(stderr)}")
            return None
        return judge

    def decode(self, local: Path, binary: Binary, workdir: Path) -> Iterator[Output]:
        def batches():
            argv = tshark_argv(str(local), self.pipeline.process_opt)
            with decoder.stream(argv, self.env, judge=self._judge(binary.message.name)) as out:
                yield from dns_batches(out, self.tz)

        yield Output(binary.partition, self.output_name(binary), batches())


PROCESSOR = DnsProcessor
