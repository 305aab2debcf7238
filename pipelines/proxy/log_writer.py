"""Realistic Blue Coat ProxySG access logs for tests, benchmarks and demos: any of the
well-known ELFF layouts (layouts.py), with or without `#Fields` directives, plain or behind
syslog headers, with single or ragged separators (runs of spaces and tabs), LF or CRLF.

The writer knows what it wrote: besides the lines it returns how many are valid, which
malformed lines it planted with the reason the parser must give, which cells it planted that
do not fit their integer column (NULL in a kept row), and how many valid rows fall in each
y/m/d/h partition, so tests compare the pipeline against the generator's own account rather
than against the parser under test.

    python -m pipelines.proxy.log_writer /tmp/proxy.log --records 100000 \\
        --start 2016-01-04T09:00:00 --hours 2 --bad field_count=3 --bad invalid_utf8=2 --gzip

prints the counts as JSON. What a log holds: `#Software/#Version/#Date/#Fields` directives at
the top and again every --header-every records (the proxy re-opens its log; 0: none, a
headerless log), quoted fields with spaces (user agents, categories), `-` in empty fields,
and the requested number of malformed lines and unfitting cells of each kind spread through
the file.
"""
from __future__ import annotations

import argparse
import gzip as gzip_module
import io
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipelines.proxy import bluecoat, layouts

# kind -> what the parser must say about such a line (None: depends on the layout)
BAD_KINDS: dict[str, str | None] = {
    "field_count": None,       # four fields short: no layout has that many
    "extra_field": None,       # five fields more
    "invalid_utf8": bluecoat.INVALID_UTF8,
    "unclosed_quote": bluecoat.UNCLOSED_QUOTE,
    "text_after_quote": bluecoat.TEXT_AFTER_QUOTE,
    "bad_date": bluecoat.BAD_DATE,
    "bad_time": bluecoat.BAD_TIME,
}
# kind -> (the integer column left NULL in a kept row, the value written)
NULLED_KINDS: dict[str, tuple[str, str]] = {
    "non_integer": ("scbytes", "12k"),
    "out_of_range": ("csbytes", "3000000000"),
    "huge_transfer": ("scbytes", "3221225472"),     # a 3 GiB download
}
SYSLOG_FORMATS = ("rfc3164", "rfc5424")
_ELFF_OF = {"scbytes": "sc-bytes", "csbytes": "cs-bytes"}

SOFTWARE = "SGOS 6.5.4.4"
HOSTS = ("www.google.com", "mail.yahoo.com", "cdn.jsdelivr.net", "update.microsoft.com",
         "www.bbc.co.uk", "api.github.com", "s3.amazonaws.com", "ocsp.digicert.com",
         "www.example.org", "intranet.corp.local")
PATHS = ("/", "/index.html", "/search", "/images/logo.png", "/api/v1/items", "/js/app.min.js",
         "/download/setup.exe", "/news/world", "/favicon.ico", "-")
QUERIES = ("-", "-", "-", "?q=spot", "?id=42&lang=en", "?utm_source=mail")
EXTENSIONS = {"/index.html": "html", "/images/logo.png": "png", "/js/app.min.js": "js",
              "/download/setup.exe": "exe", "/favicon.ico": "ico"}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/47.0.2526.106 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_2) AppleWebKit/601.3.9 (KHTML, like Gecko) "
    "Version/9.0.2 Safari/601.3.9",
    "Microsoft-CryptoAPI/6.1",
    "Windows-Update-Agent/7.9.9600.17489 Client-Protocol/1.21",
    "curl/7.47.0",
)
CATEGORIES = ("Technology/Internet", "Search Engines/Portals", "News/Media",
              "Web Ads/Analytics;Technology/Internet", "Business/Economy", "unavailable")
METHODS = ("GET", "GET", "GET", "POST", "CONNECT", "HEAD")
ACTIONS = ("TCP_HIT", "TCP_MISS", "TCP_NC_MISS", "TCP_TUNNELED", "TCP_DENIED", "TCP_REFRESH_MISS")
CONTENT_TYPES = ("text/html;%20charset=UTF-8", "image/png", "application/javascript",
                 "application/octet-stream", "application/json", "-")
STATUSES = ("200", "200", "200", "204", "301", "304", "403", "404", "503")
APPS = ("none", "Google Search", "Yahoo Mail", "-")


@dataclass
class LogStats:
    """What a generated log holds: valid rows per partition and planted rejections."""

    records: int = 0                      # data lines (valid + invalid), headers excluded
    valid: int = 0
    invalid: int = 0
    header_lines: int = 0
    per_partition: Counter = field(default_factory=Counter)  # (y, m, d, h) -> valid rows
    reasons: Counter = field(default_factory=Counter)        # reason -> invalid lines
    nulled: Counter = field(default_factory=Counter)         # column -> cells left NULL

    def as_dict(self) -> dict:
        return {"records": self.records, "valid": self.valid, "invalid": self.invalid,
                "header_lines": self.header_lines,
                "per_partition": {"/".join(k): v for k, v in sorted(self.per_partition.items())},
                "reasons": dict(sorted(self.reasons.items())),
                "nulled": dict(sorted(self.nulled.items()))}


def header_lines(when: datetime, fields: tuple[str, ...] = layouts.SPOT) -> list[bytes]:
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    return [f"#Software: {SOFTWARE}".encode(), b"#Version: 1.0",
            f"#Date: {stamp}".encode(), b"#Fields: " + " ".join(fields).encode()]


def quote(value: str) -> str:
    """ELFF quotes a value holding spaces (or one that could look like a quote)."""
    return f'"{value}"' if (" " in value or value == "") else value


def record_values(rng: random.Random, when: datetime) -> dict[str, str]:
    """Field texts (already quoted where ELFF quotes) of one plausible request, by ELFF name
    (lowercase): every name of the well-known layouts."""
    method = rng.choice(METHODS)
    host = rng.choice(HOSTS)
    secure = method == "CONNECT" or rng.random() < 0.4
    path = "-" if method == "CONNECT" else rng.choice(PATHS)
    query = "-" if path == "-" else rng.choice(QUERIES)
    user = rng.choice(("-", "-", "-", "alice", "bob", r"CORP\carol"))
    server = f"{rng.randint(23, 203)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    values = {
        "date": when.strftime("%Y-%m-%d"), "time": when.strftime("%H:%M:%S"),
        "time-taken": "-" if rng.random() < 0.02 else str(rng.randint(0, 60000)),
        "c-ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "cs-username": user, "cs-auth-group": "-" if user == "-" else quote("Domain Users"),
        "x-exception-id": rng.choice(("-", "-", "-", "policy_denied", "dns_unresolved_hostname")),
        "sc-filter-result": rng.choice(("OBSERVED", "PROXIED", "DENIED")),
        "cs-categories": quote(rng.choice(CATEGORIES)),
        "cs(referer)": rng.choice(("-", f"http://{rng.choice(HOSTS)}/")),
        "sc-status": rng.choice(STATUSES), "s-action": rng.choice(ACTIONS), "cs-method": method,
        "rs(content-type)": rng.choice(CONTENT_TYPES),
        "cs-uri-scheme": "tcp" if method == "CONNECT" else ("https" if secure else "http"),
        "cs-host": host, "cs-uri-port": "443" if secure else "80", "cs-uri-path": path,
        "cs-uri-query": query, "cs-uri-extension": EXTENSIONS.get(path, "-"),
        "cs(user-agent)": quote(rng.choice(USER_AGENTS)),
        "s-ip": f"192.168.{rng.randint(0, 3)}.{rng.randint(1, 20)}",
        "sc-bytes": "-" if rng.random() < 0.01 else str(rng.randint(0, 2_000_000)),
        "cs-bytes": str(rng.randint(100, 4000)), "x-virus-id": "-",
        "x-bluecoat-application-name": quote(rng.choice(APPS)),
        "x-bluecoat-application-operation": quote(rng.choice(("none", "Send Email", "-"))),
        "s-hierarchy": rng.choice(("DIRECT", "-")), "s-supplier-name": host,
        "s-supplier-ip": server, "s-supplier-country": quote(rng.choice(("United States", "-"))),
        "cs-threat-risk": str(rng.randint(1, 10)), "s-sitename": "SG-HTTP-Service",
        "x-bluecoat-application-groups": quote(rng.choice(("none", "Mail;Webmail"))),
        "x-bluecoat-transaction-uuid": f"{rng.getrandbits(64):016x}-{rng.getrandbits(64):016x}",
        "x-rs-certificate-hostname": host, "x-icap-error-code": "none",
        "x-rs-certificate-hostname-category": quote(rng.choice(CATEGORIES)),
    }
    values["sc-filter-category"] = values["cs-categories"]   # the older SGOS name
    return values


def record_fields(rng: random.Random, when: datetime,
                  fields: tuple[str, ...] = layouts.SPOT) -> list[str]:
    """One request's field texts in a layout's order (`-` for the names it does not know)."""
    values = record_values(rng, when)
    return [values.get(name.lower(), "-") for name in fields]


def break_fields(kind: str, fields: list[str], layout: tuple[str, ...] = layouts.SPOT) -> bytes:
    """A malformed line (or one with an unfitting cell) of the given kind, built from a valid
    record's fields in that layout."""
    f = list(fields)
    at = {name.lower(): i for i, name in enumerate(layout)}
    if kind == "field_count":
        del f[-4:]
    elif kind == "extra_field":
        f += ["extra"] * 5
    elif kind in NULLED_KINDS:
        column, value = NULLED_KINDS[kind]
        f[at[_ELFF_OF[column]]] = value
    elif kind == "unclosed_quote":
        f[-1] = '"' + f[-1].strip('"')
    elif kind == "text_after_quote":
        ua = at["cs(user-agent)"]
        f[ua] = quote(f[ua].strip('"') + " x") + "y"
    elif kind == "bad_date":
        date = f[at["date"]]
        f[at["date"]] = date[:5] + "13" + date[7:]
    elif kind == "bad_time":
        f[at["time"]] = "24" + f[at["time"]][2:]
    elif kind != "invalid_utf8":
        raise ValueError(f"unknown kind of malformed line '{kind}' (known: {known_kinds()})")
    line = " ".join(f).encode()
    if kind == "invalid_utf8":  # a Latin-1 byte inside the user agent, as from a broken client
        line = line.replace(b"Mozilla", b"Mozilla\xe9", 1) if b"Mozilla" in line \
            else line.replace(b" ", b" \xff", 1)
    return line


def known_kinds() -> str:
    return ", ".join([*BAD_KINDS, *NULLED_KINDS])


def reason_of(kind: str, count: int, declared: bool) -> str:
    """What the parser says of a malformed line of `kind` from a layout of `count` fields,
    read with its layout declared (#Fields) or headerless."""
    reason = BAD_KINDS[kind]
    if reason is not None:
        return reason
    found = count - 4 if kind == "field_count" else count + 5
    return bluecoat.wrong_field_count(found, count if declared else None)


def bad_plan(records: int, bad: dict[str, int], rng: random.Random) -> dict[int, str]:
    """Which record numbers are malformed, and how; spread through the whole log."""
    unknown = [k for k in bad if k not in BAD_KINDS and k not in NULLED_KINDS]
    if unknown:
        raise ValueError(f"unknown kind of malformed line '{unknown[0]}' "
                         f"(known: {known_kinds()})")
    total = sum(bad.values())
    if total > records:
        raise ValueError(f"{total} malformed lines asked for, but only {records} records")
    kinds = [k for k, n in sorted(bad.items()) for _ in range(n)]
    positions = rng.sample(range(records), total)
    return dict(zip(positions, kinds))


def syslog_header(rng: random.Random, when: datetime, kind: str) -> bytes:
    """A syslog header of `kind` for a line logged at `when`, in one of its common shapes."""
    host = rng.choice(("proxy-sg1.corp.example", "10.8.24.10"))
    if kind == "rfc5424":
        data = rng.choice(("-", '[meta sequenceId="%d"]' % rng.randint(1, 9999)))
        return (f"<{rng.choice((13, 134))}>1 {when:%Y-%m-%dT%H:%M:%S}.000Z {host} bluecoat - "
                f"- {data} ").encode()
    shape = rng.randrange(3)
    stamp = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
    if shape == 0:
        return f"<134>{stamp} {host} ProxySG[{rng.randint(100, 9999)}]: ".encode()
    if shape == 1:
        return f"{stamp} {host} ".encode()          # a relay's file: no priority, no tag
    return f"{when:%Y-%m-%dT%H:%M:%S}+00:00 {host} bluecoat: ".encode()   # rsyslog's file


def join(fields: list[str], rng: random.Random, ragged: bool) -> str:
    """Fields joined by one space, or (ragged) by runs of spaces and tabs, as some proxies
    and forwarders write them."""
    if not ragged:
        return " ".join(fields)
    out = rng.choice(("", "", " ", "\t"))
    for i, value in enumerate(fields):
        out += value + (rng.choice((" ", " ", "  ", "\t", " \t ")) if i < len(fields) - 1
                        else rng.choice(("", "", " ", "\t")))
    return out


def iter_lines(records: int, start: datetime, stats: LogStats, *, hours: float = 1,
               seed: int = 0, bad: dict[str, int] | None = None, header_every: int = 5000,
               crlf: bool = False, layout: str = "spot", syslog: str | None = None,
               ragged: bool = False) -> Iterator[bytes]:
    """Lines (without line ends unless crlf, which appends the `\\r`) of a log whose records
    are spread evenly over `hours` from `start`; fills `stats` as it goes. layout: a
    well-known layout's name; header_every 0: no directives (a headerless log); syslog:
    rfc3164 or rfc5424 headers before every line; ragged: runs of spaces and tabs."""
    rng = random.Random(seed)
    fields = layouts.WELL_KNOWN[layout]
    plan = bad_plan(records, bad or {}, rng)
    span = timedelta(hours=hours)
    end_mark = b"\r" if crlf else b""
    declared = header_every > 0
    for n in range(records):
        when = start + span * (n / max(records, 1))
        when = when.replace(microsecond=0)
        prefix = syslog_header(rng, when, syslog) if syslog else b""
        if declared and n % header_every == 0:
            for line in header_lines(when, fields):
                stats.header_lines += 1
                yield prefix + line + end_mark
        values = record_fields(rng, when, fields)
        stats.records += 1
        kind = plan.get(n)
        if kind is None or kind in NULLED_KINDS:
            stats.valid += 1
            stats.per_partition[(f"{when:%Y}", f"{when:%m}", f"{when:%d}", f"{when:%H}")] += 1
            if kind is None:
                yield prefix + join(values, rng, ragged).encode() + end_mark
                continue
            stats.nulled[NULLED_KINDS[kind][0]] += 1
        else:
            stats.invalid += 1
            stats.reasons[reason_of(kind, len(fields), declared)] += 1
        yield prefix + break_fields(kind, values, fields) + end_mark


def generate(records: int, start: datetime, **options) -> tuple[list[bytes], LogStats]:
    """All lines of a log in memory, with its account (see iter_lines for the options)."""
    stats = LogStats()
    return list(iter_lines(records, start, stats, **options)), stats


def write_log(path: str | os.PathLike, records: int, start: datetime, *, gzip: bool = False,
              **options) -> LogStats:
    """Writes a log file (gzip-compressed when asked) and returns its account."""
    stats = LogStats()
    opener = gzip_module.open if gzip else open
    with opener(os.fspath(path), "wb") as out:
        for line in iter_lines(records, start, stats, **options):
            out.write(line + b"\n")
    return stats


def messages(lines: Iterable[bytes], max_bytes: int) -> Iterator[bytes]:
    """Whole lines packed into messages of at most max_bytes (a longer line goes alone), each
    line ended by `\\n`: the unit the collector publishes and the job splits."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        length = len(line) + 1
        if chunk and size + length > max_bytes:
            yield b"".join(chunk)
            chunk, size = [], 0
        chunk.append(line + b"\n")
        size += length
    if chunk:
        yield b"".join(chunk)


def messages_with_layouts(lines: Iterable[bytes], max_bytes: int,
                          fields: str | None = None) -> Iterator[tuple[bytes, str | None]]:
    """(message, its layout header) exactly as the master cuts and labels a log of these
    lines: whole lines, never two layouts in one message (common/lines.py's chunks with the
    proxy collector's #Fields reading). `fields`: pipelines.<name>.fields."""
    from common.lines import Chunk, chunks
    from pipelines.proxy.collector import directive_layout

    data = b"".join(line + b"\n" for line in lines)
    start = layouts.configured(fields)
    for piece in chunks(io.BytesIO(data), max_bytes, layout=start and start.header,
                        marker=b"#Fields:", directive=directive_layout):
        if isinstance(piece, Chunk):
            yield piece.data, piece.layout


def _bad_option(text: str) -> tuple[str, int]:
    kind, _, count = text.partition("=")
    if (kind not in BAD_KINDS and kind not in NULLED_KINDS) or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected KIND=COUNT with KIND one of "
                                         f"{known_kinds()}, got '{text}'")
    return kind, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="file to write")
    parser.add_argument("--records", type=int, default=10000, help="data lines (default 10000)")
    parser.add_argument("--start", type=datetime.fromisoformat,
                        default=datetime(2016, 1, 4, 9), help="first record's time (ISO)")
    parser.add_argument("--hours", type=float, default=1, help="time span of the records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad", type=_bad_option, action="append", default=[],
                        metavar="KIND=COUNT", help="malformed lines and unfitting cells to "
                        "plant: " + known_kinds())
    parser.add_argument("--header-every", type=int, default=5000,
                        help="repeat the directives every N records (0: a headerless log)")
    parser.add_argument("--layout", choices=sorted(layouts.WELL_KNOWN), default="spot")
    parser.add_argument("--syslog", choices=SYSLOG_FORMATS, help="syslog headers")
    parser.add_argument("--ragged", action="store_true",
                        help="runs of spaces and tabs between fields")
    parser.add_argument("--crlf", action="store_true", help="CRLF line ends")
    parser.add_argument("--gzip", action="store_true", help="gzip-compress the file")
    args = parser.parse_args(argv)
    if args.records < 0 or args.header_every < 0:
        parser.error("--records and --header-every must be >= 0")
    try:
        stats = write_log(args.out, args.records, args.start, gzip=args.gzip, hours=args.hours,
                          seed=args.seed, bad=dict(args.bad), header_every=args.header_every,
                          crlf=args.crlf, layout=args.layout, syslog=args.syslog,
                          ragged=args.ragged)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
