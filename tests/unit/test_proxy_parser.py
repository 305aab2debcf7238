"""The Blue Coat reference parser (pipelines/proxy/bluecoat.py) on literal log lines."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime

import pytest

from common.schemas import PROXY
from pipelines.proxy import bluecoat, layouts, log_writer
from pipelines.proxy.bluecoat import Rejected, Row, nulled_cells, parse_line, parse_message

LINE = ('2016-01-04 09:05:07 134 10.114.33.101 alice "Domain Users" policy_denied OBSERVED '
        '"Technology/Internet;Web Ads/Analytics" http://www.google.com/ 200 TCP_NC_MISS GET '
        'text/html;%20charset=UTF-8 http www.example.com 80 /index.html ?q=spot&x=1 html '
        '"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36" 192.168.1.1 1520 410 '
        'EICAR "Google Search" "Send Email"')
EMPTY_LINE = ("2016-12-31 23:59:59 - 10.0.0.9 - - - DENIED - - 403 TCP_DENIED CONNECT - tcp "
              "blocked.example.net 443 - - - - 192.168.1.2 - - - - -")


def fields_of(line: str) -> list[str]:
    return bluecoat.split_fields(line)


def with_field(position: int, text: str, line: str = LINE) -> str:
    """LINE with one field replaced by `text` (written as it should appear in the log)."""
    fields = [f'"{f}"' if " " in f else f for f in fields_of(line)]
    fields[position] = text
    return " ".join(fields)


def row(line) -> Row:
    result = parse_line(line)
    assert isinstance(result, Row), result
    return result


def reason(line) -> str:
    result = parse_line(line)
    assert isinstance(result, Rejected), result
    return result.reason


def test_every_column_of_a_full_line():
    assert row(LINE)._asdict() == {
        "p_date": "2016-01-04", "p_time": "09:05:07", "clientip": "10.114.33.101",
        "host": "www.example.com", "reqmethod": "GET",
        "useragent": "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36",
        "resconttype": "text/html;%20charset=UTF-8", "duration": 134, "username": "alice",
        "authgroup": "Domain Users", "exceptionid": "policy_denied", "filterresult": "OBSERVED",
        "webcat": "Technology/Internet;Web Ads/Analytics", "referer": "http://www.google.com/",
        "respcode": "200", "action": "TCP_NC_MISS", "urischeme": "http", "uriport": "80",
        "uripath": "/index.html", "uriquery": "?q=spot&x=1", "uriextension": "html",
        "serverip": "192.168.1.1", "scbytes": 1520, "csbytes": 410, "virusid": "EICAR",
        "bcappname": "Google Search", "bcappoper": "Send Email",
        "fulluri": "www.example.com/index.html?q=spot&x=1",
        "y": "2016", "m": "01", "d": "04", "h": "09"}


def test_row_holds_the_table_columns_in_order_then_the_partitions():
    assert list(Row._fields) == PROXY.column_names + ["y", "m", "d", "h"]
    assert list(bluecoat.table_values(row(LINE))) == PROXY.column_names
    assert sorted(bluecoat.COLUMN_FIELDS.values()) == list(range(bluecoat.FIELD_COUNT))
    assert bluecoat.INT_COLUMNS == ("duration", "scbytes", "csbytes")


def test_dashes_are_empty_strings_and_null_integers():
    r = row(EMPTY_LINE)
    assert (r.duration, r.scbytes, r.csbytes) == (None, None, None)
    assert (r.username, r.authgroup, r.webcat, r.referer, r.resconttype, r.uripath,
            r.uriquery, r.uriextension, r.useragent, r.virusid, r.bcappname,
            r.bcappoper) == ("",) * 12
    assert r.fulluri == "blocked.example.net"  # path and query only when not '-'
    assert (r.y, r.m, r.d, r.h) == ("2016", "12", "31", "23")


def test_fulluri_takes_path_and_query_only_when_present():
    assert row(with_field(18, "-")).fulluri == "www.example.com/index.html"
    assert row(with_field(17, "-")).fulluri == "www.example.com?q=spot&x=1"
    assert row(with_field(15, "-")).fulluri == "/index.html?q=spot&x=1"


def test_quoted_fields_lose_their_quotes_and_keep_inner_text():
    assert row(with_field(20, '"a  b\tc"')).useragent == "a  b\tc"  # spaces and tab kept
    assert row(with_field(20, '""')).useragent == ""
    assert row(with_field(20, '"-"')).useragent == ""  # `-` means empty, quoted or not
    assert row(with_field(20, '"C:\\dir\\"')).useragent == "C:\\dir\\"  # no escape inside
    assert row(with_field(9, '"http://x/?a=b c"')).referer == "http://x/?a=b c"


def test_a_quote_inside_an_unquoted_field_is_an_ordinary_character():
    assert row(with_field(17, '/say"hi"')).uripath == '/say"hi"'


def test_missing_and_extra_fields_of_a_headerless_line():
    assert reason(" ".join(LINE.split(" ")[:5])) == \
        "wrong field count: 5 (expected 25, 26, 27, 40 or 42)"
    assert reason(LINE + " extra") == "wrong field count: 28 (expected 25, 26, 27, 40 or 42)"
    assert reason("x") == "wrong field count: 1 (expected 25, 26, 27, 40 or 42)"
    # 26 fields are the legacy main layout's count: a headerless line of 26 fields is read in
    # that layout (sc-status is its fifth field), not rejected; #Fields or
    # pipelines.<name>.fields say otherwise
    assert row(LINE.rsplit(' "Send Email"', 1)[0]).respcode == "alice"


def test_a_declared_layout_wants_its_own_field_count():
    spot = layouts.layout(layouts.SPOT)
    assert parse_line(LINE, spot) == parse_line(LINE)
    assert parse_line(LINE + " extra", spot) == Rejected("wrong field count: 28 (expected 27)",
                                                         (LINE + " extra").encode())
    short = LINE.rsplit(' "Send Email"', 1)[0]
    assert parse_line(short, spot).reason == "wrong field count: 26 (expected 27)"
    assert parse_line("2016-01-04 09:05:07 a", layouts.layout(("date", "c-ip", "time"))) \
        .reason == "unparseable time"
    assert parse_line("1 2 3", layouts.layout(("c-ip", "cs-host", "sc-status"))).reason == \
        "the layout has no date and time fields"


def test_runs_of_spaces_and_tabs_outside_quotes_are_one_separator():
    """As the original framework collapsed them; inside quotes they are data."""
    ragged = LINE.replace(" ", "  ").replace(' "Domain  Users"', '\t"Domain Users"')
    ragged = ragged.replace('"Mozilla/5.0  (Windows', '"Mozilla/5.0 (Windows')
    assert row(ragged).authgroup == "Domain Users" and row(ragged).duration == 134
    assert row(" \t" + LINE + " \t ") == row(LINE)              # leading, trailing
    assert row(LINE.replace(" ", "\t").replace('"Domain\tUsers"', '"Domain Users"')) \
        .authgroup == "Domain Users"
    assert row(with_field(20, '"a  b\tc"')).useragent == "a  b\tc"  # quoted: kept as is
    assert parse_line(" \t ") is None and parse_line("\t") is None   # blank lines: no record


def test_a_value_that_does_not_fit_its_column_is_null_and_the_row_stays():
    for position, text, column in ((2, "12ms", "duration"), (22, "1.5", "scbytes"),
                                   (23, "+7", "csbytes"), (22, "١٢", "scbytes"),
                                   (23, "2147483648", "csbytes"), (22, "3221225472", "scbytes"),
                                   (22, "-2147483649", "scbytes")):
        line = with_field(position, text)
        assert getattr(row(line), column) is None, (text, column)
        assert nulled_cells(line) == (column,)
        assert row(line)._replace(**{column: 1}) == row(with_field(position, "1"))
    assert row(with_field(23, "2147483647")).csbytes == 2147483647
    assert row(with_field(2, "-2147483648")).duration == -2147483648
    assert row(with_field(22, "007")).scbytes == 7
    assert nulled_cells(with_field(23, "x", with_field(2, "y"))) == ("duration", "csbytes")
    assert nulled_cells(LINE) == () and nulled_cells(with_field(22, "-")) == ()


def test_dates_and_times():
    assert reason(with_field(0, "2016-13-04")) == "unparseable date"
    assert reason(with_field(0, "2015-02-29")) == "unparseable date"
    assert reason(with_field(0, "2016-1-4")) == "unparseable date"
    assert reason(with_field(0, "-")) == "unparseable date"
    assert row(with_field(0, "2016-02-29")).d == "29"
    assert reason(with_field(1, "24:00:00")) == "unparseable time"
    assert reason(with_field(1, "9:05:07")) == "unparseable time"
    assert row(with_field(1, "09:05:07.250")).p_time == "09:05:07"   # fractions: HH:MM:SS
    assert reason(with_field(1, "09:05:07.")) == "unparseable time"
    # checked after the field count, before the integers
    assert reason(with_field(0, "x", with_field(2, "y"))) == "unparseable date"


def test_crlf_and_line_ends():
    assert row(LINE.encode() + b"\r") == row(LINE)
    assert row(LINE.encode() + b"\r\n") == row(LINE)
    assert row(LINE.encode() + b"\r\r\n") == row(LINE)
    assert row(LINE.encode() + b"\n") == row(LINE)
    assert parse_line(b"\r") is None
    # a CR inside a line is data
    assert row(with_field(17, "/a\rb")).uripath == "/a\rb"


def test_header_and_empty_lines_are_skipped():
    for line in (b"#Software: SGOS 6.5.4.4", b"#Version: 1.0", b"#Date: 2016-01-04 09:00:00",
                 b"#Fields: date time time-taken c-ip", b"#Remark: \xff not utf-8", b"",
                 b"#\r", "#Fields: date"):
        assert parse_line(line) is None
    assert reason(b" #Fields: x") == \
        "wrong field count: 2 (expected 25, 26, 27, 40 or 42)"  # not a directive


def test_invalid_utf8():
    bad = LINE.encode().replace(b"alice", b"al\xe9ce")
    result = parse_line(bad + b"\r\n")
    assert result == Rejected("invalid UTF-8", bad)
    assert reason(b"\xc0\x80" + LINE.encode()) == "invalid UTF-8"  # overlong
    assert reason(LINE.encode().replace(b"alice", b"\xed\xa0\x80")) == "invalid UTF-8"
    assert reason(LINE.encode().replace(b"alice", b"\xf4\x90\x80\x80")) == "invalid UTF-8"
    # checked first: an invalid byte wins over every other fault
    assert reason(b"\xff x") == "invalid UTF-8"
    # str lines: surrogate escapes come back as their bytes
    assert reason(bad.decode("utf-8", "surrogateescape")) == "invalid UTF-8"
    assert row(LINE.replace("alice", "ålïcé 😀".replace(" ", "_"))).username == "ålïcé_😀"


def test_unclosed_quote_and_text_after_a_closing_quote():
    assert reason(LINE[:-1]) == "unclosed quote"  # last field's closing quote lost
    assert reason(with_field(20, '"Mozilla/5.0 (X11)')) == "text after a closing quote"
    assert reason('2016-01-04 "abc') == "unclosed quote"
    assert reason('"') == "unclosed quote"
    assert reason(with_field(20, '"Mozilla"x')) == "text after a closing quote"
    assert reason(with_field(20, '"Mozilla"\t"x"')) is not None      # a tab separates
    assert row(with_field(20, '"Mozilla"\t')).useragent == "Mozilla"
    # quoting is checked before the field count
    assert reason('a "b c') == "unclosed quote"


def test_parse_message_splits_lines_and_skips_headers():
    data = (b"#Software: SGOS 6.5.4.4\r\n#Fields: date time\r\n" + LINE.encode() + b"\r\n\r\n"
            + b"bad line\n" + EMPTY_LINE.encode() + b"\n")
    results = list(parse_message(data))
    assert [type(r).__name__ for r in results] == ["Row", "Rejected", "Row"]
    assert results[1] == Rejected("wrong field count: 2 (expected 25, 26, 27, 40 or 42)",
                                  b"bad line")


# --------------------------------------------------------------------------- log writer

def parsed_as_published(lines: list[bytes], fields=None) -> list:
    """Every result of a log's lines, cut and labelled as the master publishes them."""
    return [r for message, layout in log_writer.messages_with_layouts(lines, 20_000, fields)
            for r in (bluecoat.parse_line(line, layouts.from_header(layout))
                      for line in bluecoat.split_lines(message)[:-1])]


@pytest.mark.parametrize("layout", sorted(layouts.WELL_KNOWN))
@pytest.mark.parametrize("form", ["directives", "headerless", "rfc3164", "rfc5424", "ragged"])
def test_log_writer_account_matches_the_parser(layout, form):
    bad = {kind: 2 for kind in [*log_writer.BAD_KINDS, *log_writer.NULLED_KINDS]}
    options = {"headerless": {"header_every": 0}, "rfc3164": {"syslog": "rfc3164"},
               "rfc5424": {"syslog": "rfc5424"}, "ragged": {"ragged": True}}.get(form, {})
    lines, stats = log_writer.generate(1500, datetime(2016, 1, 4, 9, 30), hours=2, seed=5,
                                       bad=bad, header_every=options.pop("header_every", 700),
                                       crlf=True, layout=layout, **options)
    results = parsed_as_published(lines)
    rows = [r for r in results if isinstance(r, Row)]
    rejected = [r for r in results if isinstance(r, Rejected)]
    assert results.count(None) == stats.header_lines == (0 if form == "headerless" else 4 * 3)
    planted = 2 * len(log_writer.BAD_KINDS)
    assert (len(rows), len(rejected)) == (stats.valid, stats.invalid) == (1500 - planted, planted)
    assert Counter(r.reason for r in rejected) == stats.reasons
    assert len(stats.reasons) == len(log_writer.BAD_KINDS)
    nulled = Counter(c for line in lines for c in bluecoat.nulled_cells(
        line, None if form == "headerless" else layouts.layout(layouts.WELL_KNOWN[layout])))
    assert nulled == stats.nulled == {"scbytes": 4, "csbytes": 2}
    assert Counter((r.y, r.m, r.d, r.h) for r in rows) == stats.per_partition
    assert sorted(stats.per_partition) == [("2016", "01", "04", h) for h in ("09", "10", "11")]
    assert any(r.useragent.count(" ") > 2 for r in rows)  # quoted user agents
    assert all(line.endswith(b"\r") for line in lines)


def test_each_layout_gives_every_column_it_has():
    """A generated record in each layout: the columns its names map to hold the values
    written under those names; the others are NULL."""
    import random

    for name, fields in layouts.WELL_KNOWN.items():
        values = log_writer.record_values(random.Random(7), datetime(2016, 1, 4, 9, 5, 7))
        line = " ".join(values.get(f.lower(), "-") for f in fields)
        result = parse_line(line, layouts.layout(fields))
        assert isinstance(result, Row), (name, result)
        have = dict(layouts.layout(fields).positions)
        for column, names in layouts.NAMES.items():
            got = getattr(result, column)
            if column not in have:
                assert got is None, (name, column)
            else:
                text = values[fields[have[column]].lower()].strip('"')
                expected = int(text) if column in bluecoat.INT_COLUMNS and text != "-" else (
                    None if column in bluecoat.INT_COLUMNS else bluecoat.clean(text))
                assert got == expected, (name, column, got, expected)


def test_log_writer_file_plain_and_gzip(tmp_path):
    plain = log_writer.write_log(tmp_path / "a.log", 500, datetime(2016, 1, 4), seed=1,
                                 bad={"invalid_utf8": 3})
    zipped = log_writer.write_log(tmp_path / "a.log.gz", 500, datetime(2016, 1, 4), seed=1,
                                  bad={"invalid_utf8": 3}, gzip=True)
    assert plain.as_dict() == zipped.as_dict()
    zipped_bytes = (tmp_path / "a.log.gz").read_bytes()
    assert (tmp_path / "a.log").read_bytes() == gzip.decompress(zipped_bytes)
    results = list(parse_message((tmp_path / "a.log").read_bytes()))
    assert sum(isinstance(r, Row) for r in results) == plain.valid == 497


def test_messages_pack_whole_lines():
    lines = [b"a" * 10, b"b" * 10, b"c" * 30, b"d" * 5]
    packed = list(log_writer.messages(lines, 25))
    assert packed == [b"a" * 10 + b"\n" + b"b" * 10 + b"\n", b"c" * 30 + b"\n", b"d" * 5 + b"\n"]
    assert b"".join(packed).split(b"\n")[:-1] == lines


def test_log_writer_cli(tmp_path, capsys):
    out = tmp_path / "x.log"
    assert log_writer.main([str(out), "--records", "50", "--bad", "bad_date=2", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["valid"], report["invalid"], report["reasons"]) == \
        (48, 2, {"unparseable date": 2})
    with pytest.raises(SystemExit):
        log_writer.main([str(out), "--bad", "nonsense=1"])
