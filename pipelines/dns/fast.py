"""Which decoder reads a dns piece: dnsdecode (pipelines/dns/dnsdecode, Go, built into
build/dnsdecode by `make setup`) or tshark, and the command line of each.

dnsdecode prints exactly what `tshark_argv(path, SEED_PROCESS_OPT)` prints for the columns
the worker reads (decode.NEEDED_FIELDS, under the same names), at 40-60 times tshark's
packets per second, so `dns_batches` reads either. The worker runs `dnsdecode columns`: the
same rows as the table's columns (pipelines/dns/columns.py), which its Python side reads for a
sixth of the CPU the text costs. dnsdecode implements those fields and the seed's display
filter `dns.flags.response == 1`, nothing else: a process_opt asking for
another field, another filter, or any tshark option (-o, -d, --disable-protocol, ...) is
decoded by tshark instead, whatever `decoder` says (`choose` says why, for the log line).
A capture of a link type dnsdecode does not read (it exits with EXIT_UNSUPPORTED) is
decoded by tshark too. Where dnsdecode and tshark differ by design, README's DNS section
lists it and tests/integration/test_dns_fast.py proves it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.dns.decode import NEEDED_FIELDS, parse_options

REPO = Path(__file__).resolve().parents[2]
DNSDECODE = REPO / "build" / "dnsdecode"
EXIT_UNSUPPORTED = 3         # a link type dnsdecode does not read: use tshark for that file

# Spot's own options (SPEC.md), used by tshark when process_opt is empty.
SEED_PROCESS_OPT = ("-E separator=, -E header=y -E occurrence=f -T fields -e frame.time "
                    "-e frame.time_epoch -e frame.len -e ip.src -e ip.dst -e dns.resp.name "
                    "-e dns.resp.type -e dns.resp.class -e dns.flags.rcode -e dns.a "
                    "'dns.flags.response == 1'")
# frame.time is in the seed's fields; the worker builds frame_time from frame.time_epoch.
FIELDS = frozenset(NEEDED_FIELDS) | {"frame.time"}
_RESPONSE_FILTER = re.compile(r"^\(*\s*dns\.flags\.response\s*(==|eq)\s*(1|true|True|TRUE)\s*\)*$")


@dataclass(frozen=True)
class Choice:
    decoder: str             # "dnsdecode" or "tshark"
    process_opt: str         # the options tshark runs with (the seed's when none are given)
    reason: str = ""         # why tshark, when dnsdecode was asked for


def dnsdecode_argv(path: str) -> list[str]:
    """dnsdecode printing tshark's text (what the differential tests compare with tshark)."""
    return [str(DNSDECODE), path]


def columns_argv(path: str) -> list[str]:
    """dnsdecode printing the table's columns (pipelines/dns/columns.py reads them): what the
    worker runs."""
    return [str(DNSDECODE), "columns", path]


def lacks(process_opt: str) -> str:
    """What in process_opt dnsdecode does not implement, as words for a log line ("" when
    dnsdecode reads it as tshark would)."""
    parsed = parse_options(process_opt)
    extra = [f for f in parsed.fields if f not in FIELDS]
    if extra:
        return "fields " + ", ".join(extra)
    filters = [" ".join(parsed.filter)] if parsed.filter else []
    kept, tokens = [], list(parsed.options)
    while tokens:
        token = tokens.pop(0)
        if token in ("-Y", "--display-filter") and tokens:
            filters.append(tokens.pop(0))
        elif token.startswith("--display-filter="):
            filters.append(token.partition("=")[2])
        else:
            kept.append(token)
    if kept:
        return "options " + " ".join(kept)
    unknown = [f for f in filters if not _RESPONSE_FILTER.match(f.strip())]
    if unknown or not filters:
        return "the display filter " + (repr(unknown[0]) if unknown else "(none)")
    return ""


def choose(decoder: str | None, process_opt: str) -> Choice:
    """The decoder and options for a pipeline's `decoder` and `process_opt` keys."""
    options = process_opt.strip() or SEED_PROCESS_OPT
    if decoder == "tshark":
        return Choice("tshark", options)
    if not process_opt.strip():
        return Choice("dnsdecode", SEED_PROCESS_OPT)
    missing = lacks(process_opt)
    if missing:
        return Choice("tshark", options, f"process_opt asks for {missing}, which only tshark "
                                         "implements")
    return Choice("dnsdecode", options)


def built() -> bool:
    return DNSDECODE.is_file()
