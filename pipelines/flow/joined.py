"""nfdump's pipe output joined line by line with a fmt output of what pipe lacks -> the flow
table's rows, value for value as nfdump's csv gives them, at a third of nfdump's CPU.

nfdump 1.7.1 on 1,000,000 flows (CPU s): `-o csv` 9.7, `-o pipe` 1.1, the fmt below 2.0 (both
measured on the same loaded machine; see README). csv formats 48 fields with three
localtime() calls per record; pipe prints the raw numbers (times in epoch milliseconds,
addresses as 32-bit words), and this fmt adds the five fields pipe lacks that Spot needs:

    %trr   time received, epoch seconds with milliseconds ("%.3f")
    %ra    router address (-6: full IPv6, as csv prints it)
    %opkt %obyt  output packets and bytes (-N: plain numbers, never "1.2 M")
    %fwd %dtos   forwarding status, destination ToS
    %dir   direction, printed I (0) or E (any other value): so both outputs read only the
           records with direction 0 or 1 (DIRECTIONS); the others (none, in valid data) are
           read by nfdump's csv, the filter's negation (ODD_DIRECTIONS).

Both nfdumps read the same file with the same filter and print its records in the same
order, one line each (a tunnel record adds one line to both, as it does to csv); their
lines are zipped in batches and the counts must agree to the end. What pipe prints as numbers
becomes csv's text here: addresses through the C library's inet_ntop (nfdump's own), protocol
and TCP flags names from a table learned from the installed nfdump at start (Names), the
duration as csv computes and prints it ((last - first) unsigned / 1000.0, "%.3f").
"""
from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from common.arrow_csv import PrefixedStream, fit, stream_batches
from common.errors import DecodeError
from common.schemas import FLOW
from pipelines.flow.decode import NFDUMP, NO_FLOWS, local_times

PIPE = ("af", "first", "last", "pr", "sa0", "sa1", "sa2", "sa3", "sp", "da0", "da1", "da2",
        "da3", "dp", "sas", "das", "in", "out", "flg", "tos", "ipkt", "ibyt")
FMT_FIELDS = ("trr", "ra", "opkt", "obyt", "fwd", "dtos", "dir")
FMT = "fmt:" + "|".join(f"%{name}" for name in FMT_FIELDS)
DIRECTIONS = "flowdir 0 or flowdir 1"
ODD_DIRECTIONS = f"not ({DIRECTIONS})"
AF_INET6 = 10
# flow column -> the pipe field it comes from (the rest: fmt, or built below)
FROM_PIPE = {"sport": "sp", "dport": "dp", "stos": "tos", "ipkt": "ipkt", "ibyt": "ibyt",
             "input": "in", "output": "out", "sas": "sas", "das": "das"}
FROM_FMT = {"fwd": "fwd", "dtos": "dtos", "opkt": "opkt", "obyt": "obyt"}


@dataclass(frozen=True)
class Names:
    """What csv prints for each protocol number and each TCP flags byte (0-255), as learned
    from the installed nfdump (csv and pipe of one file holding every value)."""
    protocols: tuple[str, ...]
    flags: tuple[str, ...]


def records_filter(records: str | None) -> str:
    """The filter both outputs read: the usual directions, within `records` (a half)."""
    return f"({DIRECTIONS}) and ({records})" if records else DIRECTIONS


def pipe_argv(path: str, records: str | None = None) -> list[str]:
    return [NFDUMP, "-r", path, "-q", "-o", "pipe", records_filter(records)]


def fmt_argv(path: str, records: str | None = None) -> list[str]:
    return [NFDUMP, "-r", path, "-q", "-N", "-6", "-o", FMT, records_filter(records)]


def _reader(stream: IO[bytes], names: tuple[str, ...], types: dict[str, pa.DataType],
            what: str, block_size: int) -> Iterator[pa.RecordBatch]:
    head = stream.read(len(NO_FLOWS))
    if not head or head == NO_FLOWS:
        stream.read()
        return iter(())
    return stream_batches(PrefixedStream(head, stream), what,
                          pacsv.ReadOptions(column_names=list(names), block_size=block_size),
                          pacsv.ParseOptions(delimiter="|"),
                          pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))


# pipe prints every field as an unsigned number (printf %u, %llu): read as such, range-checked
# by `fit`; fmt pads its fields with spaces: read as text.
PIPE_TYPES = {name: pa.uint64() for name in PIPE}
FMT_TYPES = {name: pa.string() for name in FMT_FIELDS}


def zipped(pipe: Iterator[pa.RecordBatch],
           fmt: Iterator[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
    """Pairs of equally long batches: each pipe batch with the fmt rows of the same lines."""
    fmt = iter(fmt)
    held = pa.Table.from_batches([], pa.schema([(n, pa.string()) for n in FMT_FIELDS]))
    for batch in pipe:
        while held.num_rows < batch.num_rows:
            more = next(fmt, None)
            if more is None:
                raise DecodeError("nfdump's pipe and fmt outputs of one file differ in length")
            held = pa.concat_tables([held, pa.Table.from_batches([more])])
        rows = held.slice(0, batch.num_rows)
        held = held.slice(batch.num_rows)
        yield batch, pa.RecordBatch.from_arrays([c.combine_chunks() for c in rows.columns],
                                                names=list(FMT_FIELDS))
    if held.num_rows or next(fmt, None) is not None:
        raise DecodeError("nfdump's pipe and fmt outputs of one file differ in length")


# pyarrow's streaming CSV reader holds many times its block in memory (RSS 121 MB at 1 MB
# blocks, 91 MB at 512 KB, one pipe output of 1M flows): small blocks, read rows gathered
# into batches of BATCH_ROWS before they are converted (a batch's conversion has a fixed cost).
BLOCK_BYTES = 512 << 10
BATCH_ROWS = 32768


def joined_batches(pipe_out: IO[bytes], fmt_out: IO[bytes], names: Names, tz: str = "UTC",
                   block_size: int = BLOCK_BYTES,
                   nulled: Counter | None = None) -> Iterator[pa.RecordBatch]:
    """Flow-table batches from the two outputs of one file (both with -q)."""
    pipe = _reader(pipe_out, PIPE, PIPE_TYPES, "nfdump pipe output", block_size)
    fmt = _reader(fmt_out, FMT_FIELDS, FMT_TYPES, "nfdump fmt output", block_size)
    for p, f in zipped(gathered(pipe, BATCH_ROWS), fmt):
        yield to_flow_batch(p, f, names, tz, nulled)


def gathered(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Consecutive batches joined into batches of at least `rows` rows (the last may be less)."""
    group: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        group.append(batch)
        held += batch.num_rows
        if held >= rows:
            yield _one(group)
            group, held = [], 0
    if held:
        yield _one(group)


def _one(group: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(group) == 1:
        return group[0]
    table = pa.Table.from_batches(group)
    return pa.RecordBatch.from_arrays([c.combine_chunks() for c in table.columns],
                                      names=table.column_names)


def _count(nulled: Counter | None, column: str, n: int) -> None:
    if n and nulled is not None:
        nulled[column] += n


def to_flow_batch(p: pa.RecordBatch, f: pa.RecordBatch, names: Names, tz: str = "UTC",
                  nulled: Counter | None = None) -> pa.RecordBatch:
    received = pc.cast(pc.ascii_trim_whitespace(f.column("trr")), pa.float64(), safe=False)
    instant = pc.cast(pc.floor(received), pa.int64()).cast(pa.timestamp("s"))
    derived = local_times(instant, tz)
    derived.update(tdur=durations(p.column("first"), p.column("last")),
                   sip=addresses(p, "sa"), dip=addresses(p, "da"),
                   proto=named(p.column("pr"), names.protocols),
                   flag=named(p.column("flg"), names.flags),
                   rip=pc.ascii_trim_whitespace(f.column("ra")),
                   dir=pc.cast(pc.not_equal(pc.ascii_trim_whitespace(f.column("dir")), "I"),
                               pa.int32()))
    arrays = []
    for column in FLOW.columns:
        if column.name in derived:
            value = derived[column.name]
        else:
            text = p.column(FROM_PIPE[column.name]) if column.name in FROM_PIPE else \
                pc.ascii_trim_whitespace(f.column(FROM_FMT[column.name]))
            value, n = fit(text, column.arrow_type)
            _count(nulled, column.name, n)
        arrays.append(value)
    return pa.RecordBatch.from_arrays(arrays, schema=FLOW.arrow_schema())


def durations(first: pa.Array, last: pa.Array) -> pa.Array:
    """csv's td: (double)(last - first) / 1000.0 in unsigned 64-bit milliseconds, printed
    "%.3f" and read as a float (the same text, read by the same parser). Below 2**53 ms the
    text is the milliseconds with a decimal point; above (a flow that ended before it
    started wraps around), C's double arithmetic is repeated value by value."""
    diff = pc.subtract(pc.cast(last, pa.uint64()), pc.cast(first, pa.uint64()))  # wraps as in C
    exact = pc.less(diff, pa.scalar(1 << 53, pa.uint64()))
    seconds = pc.cast(pc.divide(diff, pa.scalar(1000, pa.uint64())), pa.string())
    millis = pc.utf8_lpad(pc.cast(pc.subtract(diff, pc.multiply(
        pc.divide(diff, pa.scalar(1000, pa.uint64())), pa.scalar(1000, pa.uint64()))),
        pa.string()), 3, "0")
    text = pc.binary_join_element_wise(seconds, millis, ".")
    if not pc.all(exact).as_py():
        wrapped = pc.filter(diff, pc.invert(exact)).to_pylist()
        text = pc.replace_with_mask(text, pc.invert(exact),
                                    pa.array(["%.3f" % (float(v) / 1000.0) for v in wrapped]))
    return text.cast(pa.float32())


def addresses(p: pa.RecordBatch, prefix: str) -> pa.Array:
    """Source or destination address as csv prints it (inet_ntop), from pipe's four words:
    IPv4 in the last word, IPv6 (address family 10) in all four."""
    words = [pc.cast(p.column(f"{prefix}{i}"), pa.uint32()) for i in range(4)]
    text = _dotted(words[3])
    v6 = pc.equal(p.column("af"), AF_INET6)
    if not pc.any(v6).as_py():
        return text
    rows = zip(*(pc.filter(w, v6).to_pylist() for w in words))
    known: dict[tuple, str] = {}
    v6_text = [known.get(r) or known.setdefault(
        r, socket.inet_ntop(socket.AF_INET6, struct.pack("!IIII", *r))) for r in rows]
    return pc.replace_with_mask(text, v6, pa.array(v6_text, pa.string()))


def _dotted(word: pa.Array) -> pa.Array:
    """a.b.c.d of 32-bit words; each distinct address formatted once."""
    encoded = pc.dictionary_encode(word)
    distinct = encoded.dictionary
    octets = [pc.cast(pc.bit_wise_and(pc.shift_right(distinct, shift), 255), pa.string())
              for shift in (24, 16, 8, 0)]
    return pc.take(pc.binary_join_element_wise(*octets, "."), encoded.indices)


def named(numbers: pa.Array, table: tuple[str, ...]) -> pa.Array:
    """Protocol or flags names by number (0-255); a number beyond the table prints as is."""
    inside = pc.less(numbers, len(table))
    picked = pc.take(pa.array(table), pc.if_else(inside, numbers, 0))
    return pc.if_else(inside, picked, pc.cast(numbers, pa.string()))


def probe_flows(start) -> list:
    """Flows holding every protocol number and every TCP flags byte: a file of them, read by
    csv and by pipe, teaches Names."""
    from pipelines.flow.netflow_generator import Flow

    return ([Flow("10.0.0.1", "10.0.0.2", 1, 2, proto, 1, 40, start) for proto in range(256)] +
            [Flow("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 40, start, tcp_flags=flags)
             for flags in range(256)])


def learn_names(path: str, env) -> Names | None:
    """Names from the installed nfdump's own csv and pipe of a probe_flows file; None when
    they do not cover every value (then csv is read instead)."""
    from common import decoder
    from pipelines.flow.decode import nfdump_failed

    csv_out, _ = decoder.run([NFDUMP, "-r", path, "-q", "-o", "csv"], env, timeout=60,
                             stderr_fails=nfdump_failed)
    pipe_out, _ = decoder.run([NFDUMP, "-r", path, "-q", "-o", "pipe"], env, timeout=60,
                              stderr_fails=nfdump_failed)
    protocols: dict[int, str] = {}
    flags: dict[int, str] = {}
    for text, raw in zip(csv_out.splitlines(), pipe_out.splitlines()):
        fields, numbers = text.split(","), raw.split("|")
        protocols[int(numbers[3])] = fields[7]
        flags[int(numbers[18])] = fields[8]
    if sorted(protocols) != list(range(256)) or sorted(flags) != list(range(256)):
        return None
    return Names(tuple(protocols[i] for i in range(256)), tuple(flags[i] for i in range(256)))
