"""One large nfcapd file decoded by two real nfdump processes over complementary halves of its
records: the same rows as one nfdump, each exactly once; errors and early stops of either half."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from common import decoder
from common.binary import Binary
from common.config import parse_config
from common.errors import DecodeError
from common.layout import HourPartition
from common.messages import FileMessage
from common.storage import LocalStorage
from pipelines.flow.decode import HALVES, SPLIT_MIN_BYTES
from pipelines.flow.joined import DIRECTIONS, FMT, ODD_DIRECTIONS
from pipelines.flow.netflow_generator import capture, synthetic_flows
from pipelines.flow.worker import FlowProcessor

FLOWS = 60_000
NAME = "nfcapd.201601040900"


@pytest.fixture(scope="module")
def large_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("halves")
    path = capture(synthetic_flows(FLOWS, datetime(2016, 1, 4, 9, tzinfo=timezone.utc), seed=3,
                                   spread_seconds=300), folder, NAME)
    assert path.stat().st_size >= SPLIT_MIN_BYTES
    return path


def processor(tmp_path: Path, decoders: int, process_opt: str = "") -> FlowProcessor:
    conf = {"dbname": "spot", "hdfs_app_path": str(tmp_path / "app"), "collector_processes": 1,
            "kafka": {"kafka_server": "127.0.0.1", "kafka_port": 9092},
            "pipelines": {"flow_internals": {
                "type": "flow", "collector_path": str(tmp_path), "decoders": decoders,
                "local_staging": str(tmp_path / f"staging-{decoders}"),
                "process_opt": process_opt}}}
    config = parse_config(conf, tmp_path / "conf.json")
    proc = FlowProcessor(config, config.pipeline("flow_internals"), 0, storage=LocalStorage(),
                         catalog_factory=None)
    proc.start()
    return proc


@pytest.fixture
def decoded_argvs(monkeypatch) -> list[list[str]]:
    """The argument list of every decoder stream the worker opens (the real one runs)."""
    seen: list[list[str]] = []
    real = decoder.stream

    def recording(argv, *args, **kwargs):
        seen.append(list(argv))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(decoder, "stream", recording)
    return seen


def decode(proc: FlowProcessor, path: Path):
    binary = Binary(FileMessage("flow_internals", NAME, f"/x/{NAME}", path.stat().st_size),
                    HourPartition(2016, 1, 4, 9), NAME)
    [output] = list(proc.decode(path, binary, path.parent))
    return output


def rows(output) -> pa.Table:
    table = pa.Table.from_batches(list(output.batches))
    return table.sort_by([(name, "ascending") for name in table.column_names])


def nfdump_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == "nfdump"]


def csv_processor(tmp_path: Path, decoders: int) -> FlowProcessor:
    proc = processor(tmp_path, decoders)
    proc.joined = None          # nfdump's csv, as with a process_opt
    return proc


def test_two_halves_give_the_same_rows_as_one_nfdump_each_once(large_file, tmp_path,
                                                               decoded_argvs):
    whole = rows(decode(csv_processor(tmp_path, 1), large_file))
    assert [a[-1] for a in decoded_argvs] == ["csv"]
    decoded_argvs.clear()
    halves = rows(decode(csv_processor(tmp_path, 2), large_file))
    assert [a[-1] for a in decoded_argvs] == list(HALVES)
    assert whole.num_rows == halves.num_rows == FLOWS
    assert halves.equals(whole)


def test_joined_outputs_read_a_large_file_whole(large_file, tmp_path, decoded_argvs):
    """The worker's default: pipe and fmt (each filtered to the usual directions) keep two
    nfdumps busy already, so no halves; csv reads the odd directions."""
    whole = rows(decode(csv_processor(tmp_path, 1), large_file))
    decoded_argvs.clear()
    joined = rows(decode(processor(tmp_path, 2), large_file))
    assert sorted((a[a.index("-o") + 1], a[-1]) for a in decoded_argvs) == sorted(
        [("pipe", DIRECTIONS), (FMT, DIRECTIONS), ("csv", ODD_DIRECTIONS)])
    assert joined.num_rows == FLOWS
    assert joined.equals(whole)


def test_each_half_holds_part_of_the_records(large_file):
    env = decoder.decoder_env({"TZ": "UTC"})
    counts = []
    for half in HALVES:
        out, _ = decoder.run(["nfdump", "-r", str(large_file), "-q", "-o", "csv", half], env)
        counts.append(len(out.splitlines()))
    assert sum(counts) == FLOWS
    assert min(counts) > FLOWS // 3, counts


def test_a_process_opt_keeps_one_nfdump(large_file, tmp_path, decoded_argvs):
    output = decode(processor(tmp_path, 2, "any"), large_file)
    assert rows(output).num_rows == FLOWS
    assert [a[-1] for a in decoded_argvs] == ["any"]


@pytest.mark.parametrize("mode", ["csv halves", "joined"])
def test_a_truncated_file_fails_in_both_halves_with_nfdumps_message(mode, large_file, tmp_path):
    truncated = tmp_path / NAME
    data = large_file.read_bytes()
    truncated.write_bytes(data[:len(data) * 3 // 4])
    assert truncated.stat().st_size >= SPLIT_MIN_BYTES
    with pytest.raises(DecodeError, match=r"^nfdump failed \(exit code 0\): "):
        rows(decode(csv_processor(tmp_path, 2) if mode == "csv halves" else
                    processor(tmp_path, 2), truncated))
    assert nfdump_children() == []


def test_a_decode_stopped_after_its_first_rows_stops_both_nfdumps(large_file, tmp_path,
                                                                 decoded_argvs):
    proc = csv_processor(tmp_path, 2)
    proc_batches = iter(decode(proc, large_file).batches)
    first = next(proc_batches)
    assert first.num_rows > 0
    assert len(decoded_argvs) == 2
    proc_batches.close()
    assert nfdump_children() == []
