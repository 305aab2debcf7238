"""Differential: nfdump's pipe and fmt outputs joined (the worker's default) give, for every
record, the same row as nfdump's csv - over every nfcapd file the suite has and files made
here in each shape the join must get right (every protocol number and TCP flags byte,
directions other than 0 and 1, IPv6 address forms, 64-bit counters, flows ending before they
start, tunnels of lines in both halves of a large file)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from common.binary import Binary
from common.layout import HourPartition
from common.messages import FileMessage
from common.schemas import FLOW
from pipelines.flow.decode import SPLIT_MIN_BYTES
from pipelines.flow.joined import probe_flows
from pipelines.flow.netflow_generator import capture, capture_datagrams, synthetic_flows
from pipelines.flow.netflow_v9 import IPFIX, V9Flow, datagrams

from .test_flow_nfcapd_variants import FIXTURES, processor

START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)
IPV6_FORMS = ["::", "::1", "::ffff:10.0.0.1", "::10.0.0.1", "2001:db8::", "fe80::1:0:0:1",
              "1:0:0:1:0:0:0:1", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "::2:3", "1::",
              "2001:db8:0:0:1::", "0:0:1::", "64:ff9b::192.0.2.33"]


def made_files(folder: Path) -> dict[str, Path]:
    shapes = [V9Flow(src, dst, i, 65535 - i, (6, 17, 1, 58, 0, 255)[i % 6], 1 + i, 64 * (1 + i),
                     START + timedelta(seconds=i), duration_ms=(i * 333) - 1000,
                     tcp_flags=i * 37 % 256, tos=i % 256, dst_tos=(i * 3) % 256,
                     out_packets=(2 ** 64 - 1) if i == 3 else i, out_octets=(2 ** 63) if i == 4
                     else i * 99, input_if=2 ** 32 - 1 if i == 5 else i,
                     output_if=2 ** 31 if i == 6 else i, src_as=4294967295 - i, dst_as=i,
                     direction=(0, 1, 2, 255, 1, 0, 7)[i % 7], fwd_status=(i * 64) % 256)
              for i, (src, dst) in enumerate(zip(IPV6_FORMS + ["10.0.0.1", "0.0.0.0"] * 6,
                                                 IPV6_FORMS[::-1] + ["255.255.255.255",
                                                                     "192.168.0.1"] * 6))]
    # v4 and v6 flows cannot share a record: keep the pairs of the same family
    shapes = [f for f in shapes if (":" in f.src_ip) == (":" in f.dst_ip)]
    files = {
        "every protocol and flags byte": capture(probe_flows(START), folder, "nfcapd.probe"),
        "v9 shapes": capture_datagrams(datagrams(shapes), len(shapes), folder, "nfcapd.v9"),
        "ipfix shapes": capture_datagrams(datagrams(shapes, version=IPFIX), len(shapes), folder,
                                          "nfcapd.ipfix"),
        "large, in halves": capture(synthetic_flows(60_000, START, seed=5, spread_seconds=300),
                                    folder, "nfcapd.large"),
    }
    assert files["large, in halves"].stat().st_size >= SPLIT_MIN_BYTES
    return files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    made = made_files(tmp_path_factory.mktemp("modes"))
    for path in sorted(FIXTURES.rglob("nfcapd.*")):
        if "corrupt" not in path.parent.name:
            made[str(path.relative_to(FIXTURES))] = path
    return made


def rows(proc, path: Path) -> pa.Table:
    binary = Binary(FileMessage("flow_internals", path.name, f"/x/{path.name}",
                                path.stat().st_size), HourPartition(2016, 1, 4, 9), path.name)
    [output] = list(proc.decode(path, binary, path.parent))
    table = pa.Table.from_batches(list(output.batches), FLOW.arrow_schema())
    return table.sort_by([(name, "ascending") for name in table.column_names])


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles"])
def test_joined_outputs_equal_csv_for_every_record(files, tmp_path, monkeypatch, tz):
    monkeypatch.setenv("TZ", tz)
    joined = processor(tmp_path / "joined")
    csv = processor(tmp_path / "csv")
    assert joined.joined is not None
    csv.joined = None
    for name, path in files.items():
        expected, got = rows(csv, path), rows(joined, path)
        assert got.num_rows == expected.num_rows, name
        for column in expected.column_names:
            assert got.column(column).equals(expected.column(column)), (name, column)


def test_the_shapes_are_there(files, tmp_path):
    """The files hold what the differential must cover, or it proves less."""
    csv = processor(tmp_path)
    csv.joined = None
    shapes = rows(csv, files["v9 shapes"]).to_pydict()
    assert {0, 1, 2, 255, 7} <= set(shapes["dir"])
    assert {"::", "::1", "::ffff:10.0.0.1", "::10.0.0.1"} <= set(shapes["sip"])
    assert None in shapes["opkt"] and None in shapes["obyt"] and None in shapes["input"]
    ipfix = rows(csv, files["ipfix shapes"]).to_pydict()
    assert max(ipfix["tdur"]) > 1e16                    # a flow that ended before it started
    probe = rows(csv, files["every protocol and flags byte"]).to_pydict()
    assert len(probe["proto"]) == 512 and len(set(probe["flag"])) == 256
    assert len(set(probe["proto"])) == 255     # nfdump 1.7.1 names two protocols alike
