"""Flow worker side: one nfcapd binary -> nfdump -> Arrow -> one Parquet file in its hour."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from common import decoder
from common.errors import DecodeError
from common.layout import HourPartition
from common.plugin import BadMessage, BinaryFileProcessor, Output, RejectedFile
from common.schemas import FLOW
from pipelines.flow.collector import flow_file_time
from pipelines.flow.decode import csv_batches, header_names, nfdump_argv, nfdump_failed


def worker_timezone() -> str:
    """Times are rendered in the worker's TZ (the launcher sets it), UTC when unset."""
    return (os.environ.get("TZ") or "UTC").lstrip(":")


class FlowProcessor(BinaryFileProcessor):
    source = "flow"
    table = FLOW

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = worker_timezone()
        self.env = decoder.decoder_env({"TZ": self.tz})
        self._names: list[str] | None = None
        self._names_lock = threading.Lock()

    def csv_names(self, local: Path) -> list[str]:
        """nfdump's csv column names, read once from its own header (a 1-record run)."""
        with self._names_lock:
            if self._names is None:
                argv = nfdump_argv(str(local), self.pipeline.process_opt, header=True) + ["-c", "1"]
                out = decoder.run(argv, self.env, timeout=60)
                first = out.splitlines()[0] if out else ""
                if nfdump_failed(first) or "," not in first:
                    raise DecodeError(f"nfdump printed no csv header: {first[:120]!r}")
                self._names = header_names(first.encode())
            return self._names

    def decode(self, local: Path, name: str, workdir: Path) -> Iterator[Output]:
        try:
            part = HourPartition.of(flow_file_time(name))
        except RejectedFile as exc:
            raise BadMessage(str(exc)) from None
        names = self.csv_names(local)

        def batches():
            argv = nfdump_argv(str(local), self.pipeline.process_opt)
            with decoder.stream(argv, self.env, stderr_fails=nfdump_failed) as out:
                yield from csv_batches(out, names, self.tz)

        yield Output(part, f"{self.pipeline.name}-{name}.parquet", batches())


PROCESSOR = FlowProcessor
