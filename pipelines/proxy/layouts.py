"""Blue Coat ProxySG access-log layouts (ELFF `#Fields:` lists) and the name table that maps
their fields to the proxy table's columns. Pure data and small functions: the reference parser
(bluecoat.py), the master (collector.py) and the Spark job (parse.py) all read them here.

A layout is the ordered tuple of a log's ELFF field names. Where it comes from, per line:

1. the `#Fields:` directive in force where the line was read (the master sends it with the
   lines, as the Kafka header HEADER; a message never holds lines of two layouts);
2. else the layout that `pipelines.<name>.fields` names (the master sends it the same way);
3. else, for a headerless log, the well-known layout with the line's field count (Spot's
   own layout for 27 fields, as before).

The name table (NAMES) gives, for each column, the ELFF names it is taken from, in order of
preference: the same field is written differently by SGOS versions and formats (older SGOS
write `sc-filter-category` where newer ones write `cs-categories`, Cloud SWG writes
`cs-userdn`, `cs-auth-groups`, `cs-referer`, `cs-user-agent`, `rs-content-type`). Names are
compared without regard to case. A column none of whose names is in the layout is NULL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

HEADER = "elff-fields"     # Kafka header of a message: its lines' layout, names joined by " "

SPOT = (  # Spot's own layout: headerless logs of 27 fields, by position (SPEC.md)
    "date", "time", "time-taken", "c-ip", "cs-username", "cs-auth-group", "x-exception-id",
    "sc-filter-result", "cs-categories", "cs(Referer)", "sc-status", "s-action", "cs-method",
    "rs(Content-Type)", "cs-uri-scheme", "cs-host", "cs-uri-port", "cs-uri-path",
    "cs-uri-query", "cs-uri-extension", "cs(User-Agent)", "s-ip", "sc-bytes", "cs-bytes",
    "x-virus-id", "x-bluecoat-application-name", "x-bluecoat-application-operation",
)
# The reserved formats of SGOS, as their #Fields lines name them.
MAIN = (  # "main", SGOS 6 and later
    "date", "time", "time-taken", "c-ip", "sc-status", "s-action", "sc-bytes", "cs-bytes",
    "cs-method", "cs-uri-scheme", "cs-host", "cs-uri-port", "cs-uri-path", "cs-uri-query",
    "cs-username", "cs-auth-group", "s-hierarchy", "s-supplier-name", "rs(Content-Type)",
    "cs(Referer)", "cs(User-Agent)", "sc-filter-result", "cs-categories", "x-virus-id", "s-ip",
)
LEGACY_MAIN = (  # "main" of SGOS 3 to 5
    "date", "time", "time-taken", "c-ip", "sc-status", "s-action", "sc-bytes", "cs-bytes",
    "cs-method", "cs-uri-scheme", "cs-host", "cs-uri-path", "cs-uri-query", "cs-username",
    "s-hierarchy", "s-supplier-name", "rs(Content-Type)", "cs(User-Agent)", "sc-filter-result",
    "sc-filter-category", "x-virus-id", "s-ip", "s-sitename", "x-virus-details",
    "x-icap-error-code", "x-icap-error-details",
)
BCREPORTERMAIN_V1 = (  # Blue Coat Reporter's main format, SGOS 6.5 and later
    "date", "time", "time-taken", "c-ip", "cs-username", "cs-auth-group", "s-supplier-name",
    "s-supplier-ip", "s-supplier-country", "s-supplier-failures", "x-exception-id",
    "sc-filter-result", "cs-categories", "cs(Referer)", "sc-status", "s-action", "cs-method",
    "rs(Content-Type)", "cs-uri-scheme", "cs-host", "cs-uri-port", "cs-uri-path",
    "cs-uri-query", "cs-uri-extension", "cs(User-Agent)", "s-ip", "sc-bytes", "cs-bytes",
    "x-virus-id", "cs-threat-source", "cs-threat-id", "rs-threat-source", "rs-threat-id",
    "x-bluecoat-application-name", "x-bluecoat-application-operation",
    "x-bluecoat-application-groups", "cs-threat-risk",
    "x-bluecoat-access-security-policy-action", "x-bluecoat-access-security-policy-reason",
    "x-bluecoat-transaction-uuid", "x-icap-reqmod-header(X-ICAP-Metadata)",
    "x-icap-respmod-header(X-ICAP-Metadata)",
)
BCREPORTERSSLV1 = (  # Blue Coat Reporter's SSL format: no referer, path nor query
    "date", "time", "time-taken", "c-ip", "cs-username", "cs-auth-group", "s-supplier-name",
    "s-supplier-ip", "s-supplier-country", "s-supplier-failures", "x-exception-id",
    "sc-filter-result", "cs-categories", "sc-status", "s-action", "cs-method",
    "rs(Content-Type)", "cs-uri-scheme", "cs-host", "cs-uri-port", "cs-uri-extension",
    "cs(User-Agent)", "s-ip", "sc-bytes", "cs-bytes", "x-virus-id", "cs-threat-source",
    "cs-threat-id", "rs-threat-source", "rs-threat-id", "x-rs-certificate-observed-errors",
    "x-cs-ocsp-error", "x-rs-ocsp-error", "x-rs-connection-negotiated-cipher-strength",
    "x-rs-certificate-hostname", "x-rs-certificate-hostname-category", "cs-threat-risk",
    "x-rs-certificate-hostname-threat-risk", "x-bluecoat-access-security-policy-action",
    "x-bluecoat-access-security-policy-reason",
)
WELL_KNOWN: dict[str, tuple[str, ...]] = {   # names pipelines.<name>.fields accepts
    "spot": SPOT, "main": MAIN, "legacy_main": LEGACY_MAIN,
    "bcreportermain_v1": BCREPORTERMAIN_V1, "bcreportersslv1": BCREPORTERSSLV1,
}

NAMES: dict[str, tuple[str, ...]] = {  # column -> ELFF names, preferred first (lowercase)
    "p_date": ("date",),
    "p_time": ("time",),
    "clientip": ("c-ip",),
    "host": ("cs-host",),
    "reqmethod": ("cs-method",),
    "useragent": ("cs(user-agent)", "cs-user-agent"),
    "resconttype": ("rs(content-type)", "rs-content-type"),
    "duration": ("time-taken",),
    "username": ("cs-username", "cs-userdn"),
    "authgroup": ("cs-auth-group", "cs-auth-groups"),
    "exceptionid": ("x-exception-id",),
    "filterresult": ("sc-filter-result",),
    "webcat": ("cs-categories", "sc-filter-category"),
    "referer": ("cs(referer)", "cs-referer"),
    "respcode": ("sc-status",),
    "action": ("s-action",),
    "urischeme": ("cs-uri-scheme",),
    "uriport": ("cs-uri-port",),
    "uripath": ("cs-uri-path",),
    "uriquery": ("cs-uri-query",),
    "uriextension": ("cs-uri-extension",),
    "serverip": ("s-ip",),
    "scbytes": ("sc-bytes",),
    "csbytes": ("cs-bytes",),
    "virusid": ("x-virus-id",),
    "bcappname": ("x-bluecoat-application-name",),
    "bcappoper": ("x-bluecoat-application-operation",),
}
URI_PARTS = ("host", "uripath", "uriquery")   # fulluri = host + path + query
_SEPARATORS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Layout:
    """One layout: its field names, and where each column's field is (0-based)."""
    fields: tuple[str, ...]
    positions: tuple[tuple[str, int], ...]       # (column, position) for the columns it has

    @property
    def count(self) -> int:
        return len(self.fields)

    def position(self, column: str) -> int | None:
        return dict(self.positions).get(column)

    @property
    def has_date_and_time(self) -> bool:
        columns = dict(self.positions)
        return "p_date" in columns and "p_time" in columns

    @property
    def header(self) -> str:
        """The Kafka header value that carries this layout."""
        return " ".join(self.fields)


@lru_cache(maxsize=256)
def layout(fields: tuple[str, ...]) -> Layout:
    lowered = [f.lower() for f in fields]
    positions = []
    for column, names in NAMES.items():
        found = next((lowered.index(n) for n in names if n in lowered), None)
        if found is not None:
            positions.append((column, found))
    return Layout(tuple(fields), tuple(positions))


def from_header(value: bytes | str | None) -> Layout | None:
    """The layout a message's HEADER names (None: no header, a headerless log)."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    names = tuple(n for n in _SEPARATORS.split(text.strip()) if n)
    return layout(names) if names else None


BY_COUNT: dict[int, Layout] = {len(f): layout(f) for f in WELL_KNOWN.values()}
KNOWN_COUNTS = ", ".join(str(n) for n in sorted(BY_COUNT)[:-1]) + f" or {max(BY_COUNT)}"
assert len(BY_COUNT) == len(WELL_KNOWN), "well-known layouts must differ in field count"


def configured(value: str | tuple[str, ...] | None) -> Layout | None:
    """pipelines.<name>.fields: a well-known layout's name, or the ELFF names themselves
    (a list, or one string as a #Fields line writes them); None when unset."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() in WELL_KNOWN:
            return layout(WELL_KNOWN[value.lower()])
        value = tuple(n for n in _SEPARATORS.split(value.strip()) if n)
    return layout(tuple(value))


def check_fields(value: object) -> tuple[str, ...] | str:
    """What pipelines.<name>.fields accepts (raises ValueError otherwise): a well-known
    layout's name, or ELFF field names (a list or a space-separated string) that include
    `date` and `time`."""
    if isinstance(value, str) and value.strip().lower() in WELL_KNOWN:
        return value.strip().lower()
    if isinstance(value, str):
        names = tuple(n for n in _SEPARATORS.split(value.strip()) if n)
    elif isinstance(value, (list, tuple)) and all(isinstance(n, str) and n for n in value):
        names = tuple(value)
    else:
        raise ValueError("not a layout")
    if len(names) < 2 or not layout(names).has_date_and_time or any(
            _SEPARATORS.search(n) for n in names):
        raise ValueError("not a layout")
    return names
