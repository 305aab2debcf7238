"""nfdump 1.7 csv -> Arrow record batches of the flow table (SPEC.md mapping).

nfdump runs with TZ=UTC, so the times it prints name one instant each; they are rendered in
the worker's zone here.

Columns are found by their names in nfdump's own csv header (never by a fixed position), and
the output is streamed: memory stays flat whatever the file size.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from common.arrow_csv import PrefixedStream, fit, stream_batches
from common.decoder import split_options
from common.errors import ConfigError, DecoderUnavailable
from common.schemas import FLOW

NFDUMP = "nfdump"
NO_FLOWS = b"No matching flows"

# flow column -> nfdump csv header name (SPEC.md). treceived and its parts come from "tr".
FIELDS = {
    "tdur": "td", "sip": "sa", "dip": "da", "sport": "sp", "dport": "dp", "proto": "pr",
    "flag": "flg", "fwd": "fwd", "stos": "stos", "ipkt": "ipkt", "ibyt": "ibyt",
    "opkt": "opkt", "obyt": "obyt", "input": "in", "output": "out", "sas": "sas",
    "das": "das", "dtos": "dtos", "dir": "dir", "rip": "ra",
}
TIME_RECEIVED = "tr"
_TIME_PARTS = {"tryear": pc.year, "trmonth": pc.month, "trday": pc.day, "trhour": pc.hour,
               "trminute": pc.minute, "trsec": pc.second}

# nfdump 1.7 reports unreadable files on stderr and still exits 0. What it skips with a
# warning and reads on from ("Skip unknown record type 9", nfdump 1.6's sampler record) is not
# an error; a block it skips (its flows lost) is.
_NFDUMP_ERROR = re.compile(r"error|bad magic|corrupt|unable|cannot|can't|can not|failed|"
                           r"not a file|short read|skip block", re.IGNORECASE)


# One file decoded by two nfdump processes at once (nfdump's csv output is single-threaded):
# a filter and its negation, so every record is in exactly one half by construction. The
# last bits of the source and destination addresses, same or different, split real traffic
# close to evenly (IPv6 records all fall in the second half: nothing is lost, only the
# speed-up). Smaller files are not worth a second nfdump start.
SAME_PARITY = ("(src net 0.0.0.0 0.0.0.1 and dst net 0.0.0.0 0.0.0.1) or "
               "(src net 0.0.0.1 0.0.0.1 and dst net 0.0.0.1 0.0.0.1)")
HALVES = (SAME_PARITY, f"not ({SAME_PARITY})")
SPLIT_MIN_BYTES = 4 << 20
CSV_BLOCK_BYTES = 4 << 20      # nfdump csv read per Arrow batch


def nfdump_argv(path: str, process_opt: str = "", header: bool = False,
                records: str | None = None) -> list[str]:
    """nfdump -r FILE -q -o csv plus process_opt (tokenised, never given to a shell), and
    `records`, a filter choosing part of the file's records (one of HALVES).
    header=True drops -q: nfdump then prints its csv header first (and a summary last)."""
    argv = [NFDUMP, "-r", path] + ([] if header else ["-q"]) + ["-o", "csv"]
    return argv + split_options(process_opt) + ([records] if records else [])


def decoders_for(size: int, process_opt: str, decoders: int) -> int:
    """How many nfdump processes decode a file of `size` bytes: `decoders` (1 or 2) for a
    large file when process_opt is empty; one otherwise (process_opt may filter or
    aggregate, and an aggregate over halves is not the aggregate over the file)."""
    if decoders < 2 or size < SPLIT_MIN_BYTES or split_options(process_opt):
        return 1
    return len(HALVES)


def nfdump_failed(stderr: str) -> bool:
    return bool(_NFDUMP_ERROR.search(stderr))


def header_names(first_line: bytes) -> list[str]:
    """Column names of nfdump's csv header line. A header without a column the table needs
    is this nfdump's fault (not 1.7's csv), never the file's: DecoderUnavailable."""
    names = [n.strip() for n in first_line.decode("ascii", "replace").strip().split(",")]
    missing = [n for n in [TIME_RECEIVED, *FIELDS.values()] if n not in names]
    if missing:
        raise DecoderUnavailable(f"nfdump's csv header lacks {', '.join(missing)} (nfdump 1.7 "
                                 f"is needed): {first_line[:200]!r}")
    return names


# The worker owns nfdump's input and output: process_opt may filter or aggregate, not these.
OWNED_OPTIONS = ("-r", "-R", "-M", "-w", "-o", "-q")


def check_options(process_opt: str) -> list[str]:
    """process_opt as arguments; ConfigError when it cannot be split or sets an option the
    worker owns."""
    options = split_options(process_opt)
    owned = [o for o in options if o[:2] in OWNED_OPTIONS]
    if owned:
        raise ConfigError(f"process_opt {process_opt!r} sets {owned[0][:2]}: the worker sets "
                          f"{' '.join(OWNED_OPTIONS)} itself (use process_opt for filters)")
    return options


def _read_types(names: Sequence[str]) -> dict[str, pa.DataType]:
    """Every column read as text: numbers are converted by `fit`, so that a value that does
    not fit its column costs that cell, never the file."""
    return {name: pa.string() for name in [TIME_RECEIVED, *FIELDS.values()]}


def csv_batches(stdout: IO[bytes], names: Sequence[str], tz: str = "UTC",
                block_size: int = CSV_BLOCK_BYTES,
                nulled: Counter | None = None) -> Iterator[pa.RecordBatch]:
    """Streams `nfdump -q -o csv` output (nfdump run with TZ=UTC) as flow-table record
    batches, times rendered in `tz`; cells stored as NULL are counted into `nulled`."""
    head = stdout.read(len(NO_FLOWS))
    if not head or head == NO_FLOWS:
        stdout.read()      # drain: nfdump must be able to finish
        return
    for batch in stream_batches(
            PrefixedStream(head, stdout), "nfdump csv output",
            pacsv.ReadOptions(column_names=list(names), block_size=block_size),
            pacsv.ParseOptions(delimiter=","),
            pacsv.ConvertOptions(column_types=_read_types(names),
                                 include_columns=[TIME_RECEIVED, *FIELDS.values()],
                                 strings_can_be_null=False)):
        yield to_flow_batch(batch, tz, nulled)


def received_times(utc_text: pa.Array, tz: str) -> dict[str, pa.Array]:
    """treceived, unix_tstamp and tryear..trsec from nfdump's time received printed in UTC
    (`YYYY-MM-DD HH:MM:SS[.mmm]`): unix_tstamp is the true instant, the others render it in
    the worker's zone `tz` (so the two 01:30 of a fall-back night stay an hour apart)."""
    text = pc.utf8_slice_codeunits(utc_text, 0, 19)
    instant = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    if tz in UTC_NAMES:  # the text is its own rendering
        return time_columns(instant, pc.if_else(pc.is_valid(instant), text, None), instant)
    return local_times(instant, tz)


def local_times(instant: pa.Array, tz: str) -> dict[str, pa.Array]:
    """The time columns of instants (timestamps in seconds, naive UTC) rendered in `tz`. Each
    distinct second is rendered once (a file's flows share few receive seconds; strftime is
    dear)."""
    encoded = pc.dictionary_encode(instant)
    seconds = encoded.dictionary
    if tz not in UTC_NAMES:
        seconds = pc.local_timestamp(seconds.cast(pa.timestamp("s", tz="UTC"))
                                     .cast(pa.timestamp("s", tz=tz)))
    rendered = time_columns(seconds, pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S"),
                            encoded.dictionary)
    return {name: pc.take(values, encoded.indices) for name, values in rendered.items()}


def time_columns(local: pa.Array, text: pa.Array, instant: pa.Array) -> dict[str, pa.Array]:
    derived = {"treceived": text, "unix_tstamp": instant.cast(pa.int64())}
    for name, part in _TIME_PARTS.items():
        derived[name] = part(local).cast(pa.int32())
    return derived


UTC_NAMES = ("UTC", "Etc/UTC", "")


def to_flow_batch(batch: pa.RecordBatch, tz: str = "UTC",
                  nulled: Counter | None = None) -> pa.RecordBatch:
    """One batch of nfdump's csv columns (text) -> the flow table's columns, in order. A value
    that does not fit its column is NULL in that cell (counted per column in `nulled`)."""
    received = batch.column(TIME_RECEIVED)
    derived = received_times(received, tz)
    lost = derived["unix_tstamp"].null_count - received.null_count
    if lost and nulled is not None:
        nulled["treceived"] += lost
    arrays = []
    for column in FLOW.columns:
        if column.name in derived:
            arrays.append(derived[column.name])
            continue
        value = batch.column(FIELDS[column.name])
        if column.hive_type != "STRING":
            value, count = fit(value, column.arrow_type)
            if count and nulled is not None:
                nulled[column.name] += count
        arrays.append(value)
    return pa.RecordBatch.from_arrays(arrays, schema=FLOW.arrow_schema())
