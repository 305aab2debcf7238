"""Realistic Blue Coat ProxySG access logs (ELFF "main") for tests, benchmarks and demos.

The writer knows what it wrote: besides the lines it returns how many are valid, which
malformed lines it planted with the reason the parser must give, and how many valid rows
fall in each y/m/d/h partition, so tests compare the pipeline against the generator's own
account rather than against the parser under test.

    python -m pipelines.proxy.log_writer /tmp/proxy.log --records 100000 \\
        --start 2016-01-04T09:00:00 --hours 2 --bad field_count=3 --bad invalid_utf8=2 --gzip

prints the counts as JSON. What a log holds: `#Software/#Version/#Date/#Fields` headers at
the top and again every --header-every records (the proxy re-opens its log), quoted fields
with spaces (user agents, categories), `-` in empty fields, optional CRLF line ends, and the
requested number of malformed lines of each kind spread through the file.
"""
from __future__ import annotations

import argparse
import gzip as gzip_module
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipelines.proxy import bluecoat

# kind -> what the parser must say about such a line
BAD_KINDS: dict[str, str] = {
    "field_count": bluecoat.wrong_field_count(bluecoat.FIELD_COUNT - 1),
    "extra_field": bluecoat.wrong_field_count(bluecoat.FIELD_COUNT + 1),
    "non_integer": bluecoat.non_integer("scbytes"),
    "out_of_range": bluecoat.out_of_int_range("csbytes"),
    "invalid_utf8": bluecoat.INVALID_UTF8,
    "unclosed_quote": bluecoat.UNCLOSED_QUOTE,
    "text_after_quote": bluecoat.TEXT_AFTER_QUOTE,
    "bad_date": bluecoat.BAD_DATE,
    "bad_time": bluecoat.BAD_TIME,
}

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

    def as_dict(self) -> dict:
        return {"records": self.records, "valid": self.valid, "invalid": self.invalid,
                "header_lines": self.header_lines,
                "per_partition": {"/".join(k): v for k, v in sorted(self.per_partition.items())},
                "reasons": dict(sorted(self.reasons.items()))}


def header_lines(when: datetime) -> list[bytes]:
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    return [f"#Software: {SOFTWARE}".encode(), b"#Version: 1.0",
            f"#Date: {stamp}".encode(), b"#Fields: " + " ".join(bluecoat.FIELDS).encode()]


def quote(value: str) -> str:
    """ELFF quotes a value holding spaces (or one that could look like a quote)."""
    return f'"{value}"' if (" " in value or value == "") else value


def record_fields(rng: random.Random, when: datetime) -> list[str]:
    """27 field texts (already quoted where ELFF quotes) of one plausible request."""
    method = rng.choice(METHODS)
    host = rng.choice(HOSTS)
    secure = method == "CONNECT" or rng.random() < 0.4
    path = "-" if method == "CONNECT" else rng.choice(PATHS)
    query = "-" if path == "-" else rng.choice(QUERIES)
    ext = EXTENSIONS.get(path, "-")
    user = rng.choice(("-", "-", "-", "alice", "bob", r"CORP\carol"))
    return [
        when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S"),
        "-" if rng.random() < 0.02 else str(rng.randint(0, 60000)),
        f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        user, "-" if user == "-" else quote("Domain Users"),
        rng.choice(("-", "-", "-", "policy_denied", "dns_unresolved_hostname")),
        rng.choice(("OBSERVED", "PROXIED", "DENIED")),
        quote(rng.choice(CATEGORIES)),
        rng.choice(("-", f"http://{rng.choice(HOSTS)}/")),
        rng.choice(STATUSES), rng.choice(ACTIONS), method, rng.choice(CONTENT_TYPES),
        "tcp" if method == "CONNECT" else ("https" if secure else "http"), host,
        "443" if secure else "80", path, query, ext, quote(rng.choice(USER_AGENTS)),
        f"192.168.{rng.randint(0, 3)}.{rng.randint(1, 20)}",
        "-" if rng.random() < 0.01 else str(rng.randint(0, 2_000_000)),
        str(rng.randint(100, 4000)), "-",
        quote(rng.choice(APPS)), quote(rng.choice(("none", "Send Email", "-"))),
    ]


def break_fields(kind: str, fields: list[str]) -> bytes:
    """A malformed line of the given kind, built from a valid record's fields."""
    f = list(fields)
    if kind == "field_count":
        f.pop()
    elif kind == "extra_field":
        f.append("extra")
    elif kind == "non_integer":
        f[22] = "12k"
    elif kind == "out_of_range":
        f[23] = "3000000000"
    elif kind == "unclosed_quote":
        f[26] = '"' + f[26].strip('"')
    elif kind == "text_after_quote":
        f[20] = quote(f[20].strip('"') + " x") + "y"
    elif kind == "bad_date":
        f[0] = f[0][:5] + "13" + f[0][7:]
    elif kind == "bad_time":
        f[1] = "24" + f[1][2:]
    elif kind != "invalid_utf8":
        raise ValueError(f"unknown kind of malformed line '{kind}' "
                         f"(known: {', '.join(BAD_KINDS)})")
    line = " ".join(f).encode()
    if kind == "invalid_utf8":  # a Latin-1 byte inside the user agent, as from a broken client
        line = line.replace(b"Mozilla", b"Mozilla\xe9", 1) if b"Mozilla" in line \
            else line.replace(b" ", b" \xff", 1)
    return line


def bad_plan(records: int, bad: dict[str, int], rng: random.Random) -> dict[int, str]:
    """Which record numbers are malformed, and how; spread through the whole log."""
    unknown = [k for k in bad if k not in BAD_KINDS]
    if unknown:
        raise ValueError(f"unknown kind of malformed line '{unknown[0]}' "
                         f"(known: {', '.join(BAD_KINDS)})")
    total = sum(bad.values())
    if total > records:
        raise ValueError(f"{total} malformed lines asked for, but only {records} records")
    kinds = [k for k, n in sorted(bad.items()) for _ in range(n)]
    positions = rng.sample(range(records), total)
    return dict(zip(positions, kinds))


def iter_lines(records: int, start: datetime, stats: LogStats, *, hours: float = 1,
               seed: int = 0, bad: dict[str, int] | None = None, header_every: int = 5000,
               crlf: bool = False) -> Iterator[bytes]:
    """Lines (without line ends unless crlf, which appends the `\\r`) of a log whose records
    are spread evenly over `hours` from `start`; fills `stats` as it goes."""
    rng = random.Random(seed)
    plan = bad_plan(records, bad or {}, rng)
    span = timedelta(hours=hours)
    end_mark = b"\r" if crlf else b""
    for n in range(records):
        when = start + span * (n / max(records, 1))
        when = when.replace(microsecond=0)
        if n % header_every == 0:
            for line in header_lines(when):
                stats.header_lines += 1
                yield line + end_mark
        fields = record_fields(rng, when)
        stats.records += 1
        kind = plan.get(n)
        if kind is None:
            stats.valid += 1
            stats.per_partition[(f"{when:%Y}", f"{when:%m}", f"{when:%d}", f"{when:%H}")] += 1
            yield " ".join(fields).encode() + end_mark
        else:
            stats.invalid += 1
            stats.reasons[BAD_KINDS[kind]] += 1
            yield break_fields(kind, fields) + end_mark


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


def _bad_option(text: str) -> tuple[str, int]:
    kind, _, count = text.partition("=")
    if kind not in BAD_KINDS or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected KIND=COUNT with KIND one of "
                                         f"{', '.join(BAD_KINDS)}, got '{text}'")
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
                        metavar="KIND=COUNT", help="malformed lines to plant: "
                        + ", ".join(BAD_KINDS))
    parser.add_argument("--header-every", type=int, default=5000,
                        help="repeat the headers every N records")
    parser.add_argument("--crlf", action="store_true", help="CRLF line ends")
    parser.add_argument("--gzip", action="store_true", help="gzip-compress the file")
    args = parser.parse_args(argv)
    if args.records < 0 or args.header_every <= 0:
        parser.error("--records must be >= 0 and --header-every > 0")
    try:
        stats = write_log(args.out, args.records, args.start, gzip=args.gzip, hours=args.hours,
                          seed=args.seed, bad=dict(args.bad), header_every=args.header_every,
                          crlf=args.crlf)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
