"""Proxy layouts by name (pipelines/proxy/layouts.py, elff.py) on literal lines: the name
table, syslog headers, #Fields directives, and the hand-written fixtures of each layout and
form (tests/fixtures/proxy/) read as the master cuts and labels them."""
from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from common.lines import Chunk, chunks
from pipelines.proxy import bluecoat, elff, layouts, log_writer
from pipelines.proxy.bluecoat import Rejected, Row
from pipelines.proxy.collector import directive_layout

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "proxy"
# per fixture: lines in the file, rows, rejected lines by reason, cells left NULL by column
ACCOUNTS = {
    "sgos6_main.log": (11, 5, {}, {}),
    "sgos5_legacy_main.log": (7, 3, {}, {}),
    "bcreportermain_v1.log": (9, 3, {"wrong field count: 39 (expected 42)": 1},
                              {"scbytes": 1}),
    "bcreportersslv1.log": (6, 2, {}, {}),
    "spot_headerless_crlf.log": (6, 4, {"text after a closing quote": 1,
                                        "unparseable date": 1},
                                 {"scbytes": 1, "duration": 1}),
    "syslog_rfc3164_main.log": (9, 4, {"wrong field count: 1 (expected 25)": 1}, {}),
    "syslog_rfc5424_spot.log": (4, 4, {}, {}),
    "format_change.log": (13, 4, {"wrong field count: 25 (expected 29)": 1}, {}),
    "custom_ragged.log": (7, 3, {"wrong field count: 5 (expected 6)": 1,
                                 "unparseable date": 1}, {"csbytes": 1}),
}


def fixture_lines(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def results(name: str, message_size: int = 900_000) -> list[tuple[Row | Rejected, tuple]]:
    """Every row (with its nulled columns) and rejection of a fixture, as published."""
    out = []
    for message, header in log_writer.messages_with_layouts(fixture_lines(name), message_size):
        for line in bluecoat.split_lines(message)[:-1]:
            result, nulled = bluecoat.parse(line, layouts.from_header(header))
            if result is not None:
                out.append((result, nulled))
    return out


def test_every_fixture_is_accounted_for():
    assert sorted(p.name for p in FIXTURES.glob("*.log")) == sorted(ACCOUNTS)


@pytest.mark.parametrize("name", sorted(ACCOUNTS))
@pytest.mark.parametrize("message_size", [900_000, 1200])
def test_each_fixture_gives_its_rows_rejections_and_nulled_cells(name, message_size):
    lines, rows, rejected, nulled = ACCOUNTS[name]
    assert len(fixture_lines(name)) == lines
    got = results(name, message_size)
    assert sum(isinstance(r, Row) for r, _ in got) == rows
    assert Counter(r.reason for r, _ in got if isinstance(r, Rejected)) == rejected
    assert Counter(c for _, cells in got for c in cells) == nulled


def row_at(name: str, n: int) -> dict:
    return [r for r, _ in results(name) if isinstance(r, Row)][n]._asdict()


def test_sgos6_main_by_name():
    row = row_at("sgos6_main.log", 0)
    assert (row["clientip"], row["host"], row["uripath"], row["uriquery"], row["webcat"],
            row["referer"], row["respcode"], row["action"], row["serverip"], row["scbytes"],
            row["csbytes"], row["duration"]) == (
        "10.40.17.23", "news.example.org", "/world/today.html", "?edition=int", "News/Media",
        "http://www.example.org/", "200", "TCP_NC_MISS", "10.40.7.2", 18342, 691, 211)
    # main has no exception id, extension nor application fields: NULL, not ""
    assert (row["exceptionid"], row["uriextension"], row["bcappname"], row["bcappoper"]) == \
        (None,) * 4
    assert row["username"] == "" and row["fulluri"] == \
        "news.example.org/world/today.html?edition=int"
    tunnel = row_at("sgos6_main.log", 2)
    assert (tunnel["username"], tunnel["authgroup"], tunnel["reqmethod"], tunnel["fulluri"]) \
        == ("jdoe", "CORP\\Mail Users", "CONNECT", "mail.example.com/")


def test_legacy_main_takes_webcat_from_sc_filter_category():
    row = row_at("sgos5_legacy_main.log", 0)
    assert (row["webcat"], row["username"], row["filterresult"], row["uriport"],
            row["referer"], row["authgroup"]) == (
        "Business/Economy", "asmith", "PROXIED", None, None, None)
    assert row_at("sgos5_legacy_main.log", 1)["webcat"] == "none"


def test_reporter_layouts():
    row = row_at("bcreportermain_v1.log", 0)       # `-  200`: two spaces, as ProxySG writes
    assert (row["respcode"], row["referer"], row["urischeme"], row["uriextension"],
            row["bcappname"], row["authgroup"]) == (
        "200", "https://www.example.com/", "https", "pdf", "none", "Sales Team")
    huge = row_at("bcreportermain_v1.log", 2)       # a 3 GiB download keeps its row
    assert (huge["scbytes"], huge["csbytes"], huge["uripath"]) == \
        (None, 402, "/share/backup-2017-05.zip")
    ssl = row_at("bcreportersslv1.log", 1)
    assert (ssl["exceptionid"], ssl["respcode"], ssl["uripath"], ssl["uriquery"],
            ssl["referer"], ssl["fulluri"]) == (
        "authentication_redirect_to_virtual_host", "307", None, None, None,
        "track.example.biz")


def test_headerless_spot_layout_with_crlf():
    row = row_at("spot_headerless_crlf.log", 0)
    assert (row["username"], row["authgroup"], row["webcat"], row["bcappname"],
            row["bcappoper"], row["uriquery"]) == (
        "alice", "Domain Users", "Technology/Internet;Web Ads/Analytics", "Example Search",
        "Send Email", "?q=spot&x=1")
    iso = row_at("spot_headerless_crlf.log", 2)
    assert (iso["scbytes"], iso["csbytes"], iso["duration"]) == (None, 377, 901044)
    assert row_at("spot_headerless_crlf.log", 3)["duration"] is None   # "12ms"


def test_through_syslog():
    rows = [r for r, _ in results("syslog_rfc3164_main.log") if isinstance(r, Row)]
    assert [r.p_time for r in rows] == ["14:00:03", "14:00:04", "14:00:09", "14:00:11"]
    assert {r.serverip for r in rows} == {"10.40.7.2"}
    rows = [r for r, _ in results("syslog_rfc5424_spot.log") if isinstance(r, Row)]
    assert [r.clientip for r in rows] == ["10.114.33.101", "10.114.33.102", "10.114.33.103",
                                          "10.114.33.104"]
    assert rows[1].bcappname == "Example Search"   # structured data with ] and \" inside


def test_a_format_changed_mid_file():
    row = row_at("format_change.log", 2)
    assert (row["username"], row["authgroup"], row["referer"], row["resconttype"],
            row["useragent"], row["bcappname"], row["duration"]) == (
        "CN=Jane Doe,OU=Staff,DC=corp,DC=example", "CORP\\Staff;CORP\\VPN", "",
        "application/json", "Mozilla/5.0 (X11; Linux x86_64; rv:45.0) Gecko/20100101 "
        "Firefox/45.0", "Example API", 22)
    assert row_at("format_change.log", 3)["referer"] == "https://api.example.io/"


def test_a_custom_layout_with_tabs_and_runs_of_spaces():
    rows = [r for r, _ in results("custom_ragged.log") if isinstance(r, Row)]
    assert [(r.clientip, r.respcode, r.csbytes, r.d) for r in rows] == [
        ("10.0.0.5", "200", 1234, "29"), ("10.0.0.6", "404", None, "29"),
        ("10.0.0.7", "200", None, "01")]
    assert rows[0].reqmethod is None and rows[0].fulluri == "www.example.com"


# --------------------------------------------------------------------------- the master's cut

def test_a_message_never_holds_two_layouts():
    data = (FIXTURES / "format_change.log").read_bytes()
    pieces = list(chunks(io.BytesIO(data), 100_000, marker=b"#Fields:",
                         directive=directive_layout))
    # the #Software, #Version, #Date lines just above a #Fields go with it
    assert [(p.data.count(b"\n"), p.layout and len(p.layout.split())) for p in pieces] == [
        (6, 25), (7, 29)]
    assert b"".join(p.data for p in pieces) == data
    assert pieces[1].data.startswith(b"#Software: SGOS 7.3.6.1\n#Version: 1.0\n#Date: ")
    # resumed at a recorded offset with the layout in force there
    rest = list(chunks(io.BytesIO(data), 100_000, pieces[0].end, pieces[0].layout,
                       b"#Fields:", directive_layout))
    assert rest == pieces[1:]
    # a #Fields line in the middle of a run of data: the run ends right before it
    mixed = b"2016-01-04 09:00:00 a\n#Fields: date time c-ip\n2016-01-04 09:00:01 b\n"
    assert [(p.data, p.layout) for p in chunks(io.BytesIO(mixed), 1000, marker=b"#Fields:",
                                                directive=directive_layout)] == [
        (b"2016-01-04 09:00:00 a\n", None),
        (b"#Fields: date time c-ip\n2016-01-04 09:00:01 b\n", "date time c-ip")]


def test_directives_behind_syslog_headers_are_read():
    pieces = [p for p in chunks(io.BytesIO((FIXTURES / "syslog_rfc3164_main.log").read_bytes()),
                                100_000, marker=b"#Fields:", directive=directive_layout)
              if isinstance(p, Chunk)]
    assert [p.layout for p in pieces] == [None, " ".join(layouts.MAIN)]


def test_configured_fields_label_lines_before_any_directive():
    lines = fixture_lines("spot_headerless_crlf.log")
    (message, header), = log_writer.messages_with_layouts(lines, 100_000, "spot")
    assert header == " ".join(layouts.SPOT)
    assert [h for _, h in log_writer.messages_with_layouts(lines, 100_000)] == [None]


# --------------------------------------------------------------------------- the pieces

def test_syslog_headers():
    record = "2016-01-04 09:05:07 134 10.0.0.1"
    for header in ("<134>Jan  4 09:05:07 sg1 ProxySG[2231]: ", "<13>Jan 14 09:05:07 sg1 ",
                   "Jan  4 09:05:07 10.8.24.10 ", "Jan  4 09:05:07 sg1 bluecoat: ",
                   "2016-01-04T09:05:07.482+01:00 sg1 ProxySG: ",
                   "2016-01-04T09:05:07Z sg1 ", "<134>1 2016-01-04T09:05:07.221Z sg1 bc - - - ",
                   "<134>1 - - - - - - ", '<14>1 2016-01-04T09:05:07Z h a 12 m [x k="]"][y] ',
                   "<134>1 2016-01-04T09:05:07Z h a - - - \ufeff"):
        assert elff.strip_syslog(header + record) == record, header
    for text in (record, "Jan  4 2016 " + record, "<134>" + record, "jan  4 09:05:07 h x"):
        assert elff.strip_syslog(text) == text, text


def test_directive_fields():
    assert elff.directive_fields(b"#Fields: date time  c-ip\tcs-host\r\n") == \
        ("date", "time", "c-ip", "cs-host")
    assert elff.directive_fields(b"Aug 18 12:30:46 10.8.24.10 #Fields: date time") == \
        ("date", "time")
    for line in (b"#Fields:", b"#Fields:   ", b"#Software: SGOS 6.5", b" #Fields: date",
                 b"2016-01-04 #Fields: date"):
        assert elff.directive_fields(line) is None, line


def test_the_name_table():
    cloud = layouts.layout(("date", "time", "CS-USERDN", "cs-auth-groups", "cs-referer",
                            "cs-user-agent", "rs-content-type", "cs-username"))
    assert dict(cloud.positions) == {"p_date": 0, "p_time": 1, "username": 7, "authgroup": 3,
                                     "referer": 4, "useragent": 5, "resconttype": 6}
    assert layouts.layout(("date", "time", "sc-filter-category", "cs-categories")) \
        .position("webcat") == 3                    # the preferred name wins
    assert set(layouts.NAMES) == {c.name for c in bluecoat.PROXY.columns} - {"fulluri"}
    assert {n: len(f) for n, f in layouts.WELL_KNOWN.items()} == {
        "spot": 27, "main": 25, "legacy_main": 26, "bcreportermain_v1": 42,
        "bcreportersslv1": 40}
    assert layouts.KNOWN_COUNTS == "25, 26, 27, 40 or 42"
    assert bluecoat.COLUMN_FIELDS["bcappoper"] == 26 and bluecoat.FIELD_COUNT == 27


def test_configured_layouts():
    assert layouts.configured(None) is None
    assert layouts.configured("MAIN").fields == layouts.MAIN
    assert layouts.configured("date time  c-ip").fields == ("date", "time", "c-ip")
    assert layouts.configured(("date", "time")).count == 2
    assert layouts.check_fields("bcreportersslv1") == "bcreportersslv1"
    assert layouts.check_fields(["date", "time", "c-ip"]) == ("date", "time", "c-ip")
    for bad in ("mainframe", "date c-ip", ["date"], ["date", "time x"], 3, [1, 2]):
        with pytest.raises(ValueError):
            layouts.check_fields(bad)
    assert layouts.from_header(b"date  time c-ip") == layouts.layout(("date", "time", "c-ip"))
    assert layouts.from_header(None) is None and layouts.from_header(b" ") is None
