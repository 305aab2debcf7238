"""Flow worker side: one nfcapd binary -> nfdump -> Arrow -> one Parquet file in its hour."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from common import decoder, metrics
from common.decoder import split_options
from common.binary import Binary, BinaryFileProcessor, Output
from common.errors import ConfigError, DecodeError, DecoderUnavailable
from common.parallel import merged
from common.schemas import FLOW
from pipelines.flow.decode import (CSV_BLOCK_BYTES, HALVES, NFDUMP, SPLIT_MIN_BYTES,
                                   check_options, csv_batches, decoders_for, header_names,
                                   nfdump_argv, nfdump_failed)
from pipelines.flow.joined import (BLOCK_BYTES, ODD_DIRECTIONS, Names, fmt_argv,
                                   joined_batches, learn_names, pipe_argv, probe_flows)

log = logging.getLogger(__name__)

NFDUMP_TZ = "UTC"   # nfdump prints times in UTC: one instant each, also in a fall-back hour


def nulled_line(nulled: Counter) -> str:
    """`3 cell(s) stored as NULL (value did not fit its column): sas 2, das 1`"""
    per_column = ", ".join(f"{column} {n}" for column, n in sorted(nulled.items()))
    return (f"{sum(nulled.values())} cell(s) stored as NULL (value did not fit its column): "
            f"{per_column}")


def make_probe(folder: Path) -> Path | None:
    """An nfcapd file made by this machine's own nfcapd (so this nfdump reads it) holding every
    protocol number and TCP flags byte, to try the decoder and its options at start and learn
    nfdump's names for them; None when nfcapd cannot make one."""
    from pipelines.flow.netflow_generator import capture

    try:
        return capture(probe_flows(datetime(2016, 1, 4, 9, tzinfo=timezone.utc)), folder,
                       "nfcapd.201601040900")
    except (RuntimeError, OSError) as exc:
        log.warning("no probe file (nfcapd: %s); nfdump's options are checked on an empty file",
                    exc)
        return None


class FlowProcessor(BinaryFileProcessor):
    source = "flow"
    table = FLOW

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = "UTC"
        self.env = decoder.decoder_env({"TZ": NFDUMP_TZ})
        self._names: list[str] | None = None
        self._names_lock = threading.Lock()
        self.decoders = 1
        self.joined: Names | None = None     # None: nfdump's csv is read (see decode)

    def start(self) -> None:
        """nfdump installed, process_opt accepted, TZ known, csv header as expected: checked
        once here, so that none of them can ever be mistaken for a bad file."""
        super().start()
        self.tz = decoder.worker_timezone()     # times are rendered in it; nfdump prints UTC
        check_options(self.pipeline.process_opt)
        self.decoders = self.pipeline.decoders or (2 if (os.cpu_count() or 1) >= 2 else 1)
        if shutil.which(NFDUMP, path=self.env.get("PATH")) is None:
            raise ConfigError(f"{NFDUMP} is not installed or not on PATH (run make setup)")
        with tempfile.TemporaryDirectory(prefix="spot-nfdump-probe-") as folder:
            probe = make_probe(Path(folder))
            empty = Path(folder) / "empty"
            empty.write_bytes(b"")
            try:
                if probe is not None:
                    self._names = self._header(probe)
                    self.joined = learn_names(str(probe), self.env)
                out, _ = decoder.run(nfdump_argv(str(probe or empty), self.pipeline.process_opt),
                                     self.env, timeout=60,
                                     stderr_fails=nfdump_failed if probe else None)
            except (DecodeError, DecoderUnavailable) as exc:
                raise ConfigError(f"nfdump cannot run with process_opt "
                                  f"{self.pipeline.process_opt!r}: {exc}") from None
        if out.startswith("usage"):
            raise ConfigError(f"nfdump refuses process_opt {self.pipeline.process_opt!r} "
                              "(it printed its usage)")
        if self.joined is None or split_options(self.pipeline.process_opt):
            self.joined = None
            log.info("nfdump's csv output is read (%s)", "process_opt is set"
                     if split_options(self.pipeline.process_opt) else "no probe file")
        if self.joined is None and \
                decoders_for(SPLIT_MIN_BYTES, self.pipeline.process_opt, self.decoders) > 1:
            log.info("files of %d MB or more are decoded by %d nfdump processes, each over "
                     "half of their records", SPLIT_MIN_BYTES >> 20, len(HALVES))

    def _header(self, local: Path) -> list[str]:
        """nfdump's csv column names, from its own header (a one-record run without filters:
        the columns do not depend on them)."""
        out, _ = decoder.run(nfdump_argv(str(local), header=True) + ["-c", "1"], self.env,
                             timeout=60, stderr_fails=nfdump_failed)
        first = out.splitlines()[0] if out else ""
        return header_names(first.encode())

    def csv_names(self, local: Path) -> list[str]:
        with self._names_lock:
            if self._names is None:
                self._names = self._header(local)
            return self._names

    def decode(self, local: Path, binary: Binary, workdir: Path) -> Iterator[Output]:
        """nfdump's pipe and fmt outputs joined (pipelines/flow/joined.py), with csv for the
        records they cannot carry; csv alone when process_opt is set or no probe could be
        made, a large file then read in two halves of its records by two nfdumps."""
        path, names = str(local), self.csv_names(local)
        if self.joined is None:
            halves = decoders_for(local.stat().st_size, self.pipeline.process_opt,
                                  self.decoders)
            records = [None] if halves == 1 else list(HALVES)
            block = CSV_BLOCK_BYTES // halves     # readers share the block: memory as with one
            parts = [(self._csv, (path, names, r, block)) for r in records]
        else:   # the joined outputs keep two nfdumps busy already: no halves
            parts = [(self._joined, (path, None)),
                     (self._csv, (path, names, ODD_DIRECTIONS, BLOCK_BYTES))]
        counts = [Counter() for _ in parts]
        rows = merged([lambda f=f, a=a, n=n: f(*a, nulled=n) for (f, a), n in zip(parts, counts)],
                      depth=1)
        yield Output(binary.partition, self.output_name(binary),
                     self.counted(rows, binary, counts))

    def _csv(self, path: str, names: list[str], records: str | None, block: int,
             nulled: Counter) -> Iterator:
        argv = nfdump_argv(path, self.pipeline.process_opt, records=records)
        with decoder.stream(argv, self.env, stderr_fails=nfdump_failed) as out:
            yield from csv_batches(out, names, self.tz, block_size=block, nulled=nulled)

    def _joined(self, path: str, records: str | None, nulled: Counter) -> Iterator:
        with decoder.stream(pipe_argv(path, records), self.env, stderr_fails=nfdump_failed) as p, \
                decoder.stream(fmt_argv(path, records), self.env, stderr_fails=nfdump_failed) as f:
            yield from joined_batches(p, f, self.joined, self.tz, nulled=nulled)

    def counted(self, rows: Iterator, binary: Binary, counts: list[Counter]) -> Iterator:
        """The rows, then (once they are all read) one log line and the metric for the cells
        of this file stored as NULL."""
        yield from rows
        nulled = sum(counts, Counter())
        if nulled:
            for column, n in nulled.items():
                metrics.CELLS_NULLED.labels(self.pipeline.name, column).inc(n)
            log.warning("%s worker-%d: %s: %s", self.pipeline.name, self.worker_id,
                        binary.message.name, nulled_line(nulled))


PROCESSOR = FlowProcessor
