"""DNS pipeline end to end with real captures, editcap, tshark, Kafka, metastore and storage:
master_collector.py and worker.py run as real processes."""
from __future__ import annotations

import collections
import os
import re
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.catalog import Catalog
from common.config import IngestConfig
from common.kafka_admin import ensure_topic
from common.kafka_io import Publisher
from common.messages import FileMessage
from common.schemas import DNS
from common.setup import setup_all
from common.storage import open_storage
from common.worker import Worker
from pipelines.dns import capture_writer as cw
from pipelines.dns.decode import list_pieces, piece_time

from .conftest import unique
from .procs import start_master, start_worker, visible_files, wait_for

PIPELINE = "dns_server_1"
START = datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc)      # across 13:00
RESPONSES, SPREAD, PKT_NUM = 390, 240.0, 100
SPARK_TYPES = {"STRING": "string", "BIGINT": "bigint", "INT": "int", "FLOAT": "float"}


@pytest.fixture(scope="module")
def mix() -> cw.TrafficMix:
    return cw.traffic_mix(RESPONSES, START, SPREAD)


def with_pkt_num(config: IngestConfig, pkt_num: int, **keys) -> IngestConfig:
    import json

    from .conftest import write_config
    from common.config import load_config

    data = json.loads(Path(config.path).read_text())
    data["pipelines"][PIPELINE].update(pkt_num=pkt_num, **keys)
    return load_config(write_config(Path(config.path).parent, data))


def table_rows(config: IngestConfig, tmp: Path) -> dict[str, list[dict]]:
    """Every row in every Parquet file under <app>/dns/hive, by partition folder."""
    storage = open_storage(config)
    out: dict[str, list[dict]] = collections.defaultdict(list)
    root = f"{config.hdfs_app_path}/dns/hive/"
    for path in storage.files_under(root.rstrip("/")):
        if not path.endswith(".parquet") or "/." in path:
            continue
        local = tmp / "read.parquet"
        storage.download(path, local)
        table = pq.read_table(local)
        assert table.schema.equals(DNS.arrow_schema(), check_metadata=False)
        out[path[len(root):].rsplit("/", 1)[0]] += table.to_pylist()
    return out


def key(row: dict) -> tuple:
    return tuple(row[c.name] for c in DNS.columns)


def pieces_by_hour(capture: Path, pkt_num: int, tmp: Path) -> dict[str, int]:
    """Responses per hour folder as editcap itself splits the capture (the stamp of each
    piece's first packet decides its hour), counted by tshark's own filter."""
    folder = tmp / "own-split"
    folder.mkdir()
    subprocess.run(["editcap", "-c", str(pkt_num), str(capture), str(folder / "p_spot.pcap")],
                   check=True, env={**os.environ, "TZ": "UTC"}, capture_output=True)
    counts: dict[str, int] = collections.Counter()
    for piece in list_pieces(str(folder / "p_spot")):
        out = subprocess.run(["tshark", "-r", str(piece), "-n", "-Y", "dns.flags.response == 1",
                              "-T", "fields", "-e", "frame.number"], capture_output=True,
                             check=True).stdout.split()
        when = piece_time(piece.name)
        counts[f"y={when:%Y}/m={when:%m}/d={when:%d}/h={when:%H}"] += len(out)
    return dict(counts)


def all_committed(config: IngestConfig, topic: str, procs=()) -> bool:
    """Every message on the topic is committed by its worker: no lag on any partition. With
    the collector folder empty (a capture leaves only once all its pieces are acknowledged)
    everything published is loaded."""
    from common.status import topic_status

    status = topic_status(config, topic)
    return sum(p.end_offset for p in status.partitions) > 0 and status.lag == 0


@pytest.mark.parametrize("backend, decoder", [("local", None), ("hdfs", None),
                                              ("local", "tshark")])
def test_dns_end_to_end(backend, decoder, request, mix, spark, tmp_path):
    """dnsdecode cuts and decodes (the default), or editcap and tshark (decoder tshark)."""
    keys = {"decoder": decoder} if decoder else {}
    config = with_pkt_num(request.getfixturevalue(f"{backend}_config"), PKT_NUM, **keys)
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    capture = cw.write_pcap(tmp_path / "dns-mix.pcap", mix.packets)
    expected_hours = pieces_by_hour(capture, PKT_NUM, tmp_path)
    assert len(expected_hours) == 2                                # the pieces cross 13:00
    state: dict = {}

    def done() -> bool:
        return not visible_files(collector) and all_committed(config, state["topic"],
                                                              state["procs"])

    topic = unique("SPOT-INGEST-dns")
    state["topic"] = topic
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "(created, 2 partitions)" in master.log(), 60, "the topic", [master])
    workers = [start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)]
    procs = state["procs"] = [master, *workers]
    try:
        os.replace(capture, collector / capture.name)
        wait_for(done, 180, "every piece loaded", procs)
        assert not any(Path(config.pipeline(PIPELINE).pcap_split_staging).iterdir())
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0]
    assert all(f"decoder {decoder or 'dnsdecode'}" in w.log() for w in workers)

    # rows: exactly the oracle's, each once; hours as editcap stamped the pieces
    rows = table_rows(config, tmp_path)
    got = [row for part in rows.values() for row in part]
    assert len(got) == RESPONSES
    assert collections.Counter(map(key, got)) == collections.Counter(map(key, mix.rows))
    assert {part: len(r) for part, r in rows.items()} == expected_hours
    pieces = re.findall(r"published dns-mix\.pcap \[piece (\d+)\] .* partition (\d) offset",
                        master.log())
    assert len(pieces) == -(-len(mix.packets) // PKT_NUM)         # every piece, once
    for worker_id, worker in enumerate(workers):                  # round robin, own partition
        done_pieces = re.findall(rf"worker-{worker_id}: dns-mix\.pcap \[piece (\d+)\]: \d+ rows",
                                 worker.log())
        assert sorted(done_pieces) == sorted(i for i, p in pieces if int(p) == worker_id)
        assert done_pieces

    # through Spark SQL and the metastore, with the table's types
    db = config.dbname
    spark.catalog.refreshTable(f"{db}.dns")
    assert [(f.name, f.dataType.simpleString()) for f in spark.table(f"{db}.dns").schema] == \
        [(c.name, SPARK_TYPES[c.hive_type]) for c in DNS.columns + DNS.partition_columns]
    per_hour = {r[0]: r[1] for r in spark.sql(
        f"SELECT h, count(*) FROM {db}.dns WHERE y = 2016 AND m = 1 AND d = 4 GROUP BY h").collect()}
    assert per_hour == {int(part[-2:]): n for part, n in expected_hours.items()}
    nx = spark.sql(f"SELECT dns_qry_name, dns_qry_type, dns_qry_class, dns_a FROM {db}.dns "
                   "WHERE dns_qry_rcode = 3").collect()
    assert len(nx) == RESPONSES // len(cw.KINDS)
    assert all(r.dns_qry_name and r.dns_a == "" and r.dns_qry_class == "0x0001" for r in nx)
    with Catalog(config.hive.metastore_uris) as catalog:
        assert [v for v, _ in catalog.list_partitions(db, "dns")] == \
            [["2016", "1", "4", "12"], ["2016", "1", "4", "13"]]


def test_frame_time_matches_tshark_4_0s_own_frame_time(mix, tmp_path):
    """frame_time is built from frame.time_epoch; tshark 4.0 prints frame.time itself: the
    two must agree (without the comma) in UTC and in a zone with summer time."""
    from pipelines.dns.decode import dns_batches, tshark_argv
    from tests.integration.test_dns_tshark import SEED_OPT

    capture = cw.write_pcap(tmp_path / "m.pcap", mix.packets[:60])
    for tz in ("UTC", "America/Los_Angeles"):
        env = {**os.environ, "TZ": tz}
        own = subprocess.run(["tshark", "-r", str(capture), "-n", "-T", "fields", "-e",
                              "frame.time", "dns.flags.response == 1"], env=env,
                             capture_output=True, text=True, check=True).stdout.splitlines()
        proc = subprocess.Popen(tshark_argv(str(capture), SEED_OPT), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
        ours = [t for b in dns_batches(proc.stdout, tz) for t in b.column("frame_time").to_pylist()]
        proc.wait()
        assert len(ours) == len(own) > 10
        assert ours == [line.replace(",", "", 1) for line in own]


def test_pcapng_truncated_and_not_a_capture(local_config, mix, tmp_path):
    """A pcapng capture loads whole; a capture cut in the middle of a packet keeps the rows
    before the cut (and says so); a file named .pcap that is no capture is set aside in the
    collector's quarantine with editcap's message."""
    config = with_pkt_num(local_config, 10_000)
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    first = cw.traffic_mix(50, START, 30.0, seed=1)
    second = cw.traffic_mix(80, START.replace(hour=14), 30.0, seed=2)
    cw.write_pcapng(tmp_path / "a.pcapng", first.packets)
    whole = cw.write_pcap(tmp_path / "b.pcap", second.packets).read_bytes()
    cut_at = len(whole) - 20                              # the middle of the last packet
    (tmp_path / "b.pcap").write_bytes(whole[:cut_at])
    (tmp_path / "c.pcap").write_bytes(b"this is not a capture\n" * 10)
    for name in ("a.pcapng", "b.pcap", "c.pcap"):
        os.replace(tmp_path / name, collector / name)
    quarantine = collector / ".quarantine"

    def done() -> bool:
        return (quarantine / "c.pcap").exists() and not any(
            p.is_file() for p in visible_files(collector)) and all_committed(config, state[0], state[1])

    state = []
    topic = unique("SPOT-INGEST-dns")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    state += [topic, [master, worker]]
    try:
        wait_for(done, 120, "two captures loaded, one set aside", [master, worker])
    finally:
        assert [master.stop(), worker.stop()] == [0, 0]
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    expected = first.rows + cw.expected_rows(second.packets[:-1])   # the last packet was cut
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, expected))
    assert "appears to have been cut short in the middle of a packet; the packets before the " \
           "cut are kept" in master.log()
    assert (quarantine / "c.pcap.reason").read_text() == (
        f"c.pcap: dnsdecode cannot read it: dnsdecode: The file \"{collector / 'c.pcap'}\" isn't "
        "a capture file in a format dnsdecode understands.\n")


def test_a_capture_still_being_written_is_not_taken_until_closed(local_config, tmp_path):
    """tcpdump's way: the capture is written in place under its final name and stays open,
    with pauses longer than the settle period; the master takes it only once it is closed."""
    config = with_pkt_num(local_config, 10_000, settle_seconds=1)
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    traffic = cw.traffic_mix(60, START, 30.0, seed=3)
    data = b"".join(cw.pcap_bytes(traffic.packets))
    topic = unique("SPOT-INGEST-dns")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", [master])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    target = collector / "live.pcap"
    try:
        with open(target, "wb") as out:                 # as tcpdump: open, write, pause
            for part in (data[: len(data) // 3], data[len(data) // 3: 2 * len(data) // 3]):
                out.write(part)
                out.flush()
                time.sleep(3.5)                          # quiet far longer than settle_seconds
                assert target.exists() and "published" not in master.log()
            out.write(data[2 * len(data) // 3:])
        wait_for(lambda: not target.exists() and all_committed(config, topic, [master, worker]),
                 60, "the closed capture to be loaded", [master, worker])
    finally:
        assert [master.stop(), worker.stop()] == [0, 0]
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, traffic.rows))


def test_a_piece_delivered_twice_leaves_one_copy(local_config, mix, tmp_path):
    config = with_pkt_num(local_config, PKT_NUM)
    list(setup_all(config))
    piece = cw.write_pcap(tmp_path / "x_spot_00000_20160104125800.pcap", mix.packets[:PKT_NUM])
    remote = (f"{config.hdfs_app_path}/dns/binary/20160104/12/{PIPELINE}/"
              f"x_spot_00000_20160104125800.pcap")
    open_storage(config).upload(piece, remote)
    topic = unique("SPOT-INGEST-dns")
    ensure_topic(config.kafka, topic, 1)
    publisher = Publisher(config.kafka, topic)
    try:
        for _ in range(2):
            publisher.send(FileMessage(PIPELINE, "x.pcap [piece 0]", remote,
                                       piece.stat().st_size).encode(), 0)
    finally:
        publisher.close()
    worker = Worker(config, config.pipeline(PIPELINE), 0, topic)
    assert worker.run(idle_exit_seconds=3) == 0
    expected = cw.expected_rows(mix.packets[:PKT_NUM])
    assert (worker.processed, worker.rows) == (2, 2 * len(expected))
    rows = table_rows(config, tmp_path)
    assert list(rows) == ["y=2016/m=01/d=04/h=12"]
    assert collections.Counter(map(key, rows["y=2016/m=01/d=04/h=12"])) == \
        collections.Counter(map(key, expected))


def test_master_killed_between_pieces_and_restarted(local_config, tmp_path):
    """The capture stays until every piece is acknowledged; a restarted master splits it
    again and publishes every piece; pieces published twice are loaded once."""
    config = with_pkt_num(local_config, 20)
    list(setup_all(config))
    collector = config.pipeline(PIPELINE).collector_path
    traffic = cw.traffic_mix(600, START, 120.0, seed=5)
    capture = cw.write_pcap(tmp_path / "big.pcap", traffic.packets)
    binary = Path(config.hdfs_app_path, "dns", "binary", "20160104", "12", PIPELINE)
    topic = unique("SPOT-INGEST-dns")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    wait_for(lambda: "(created, 2 partitions)" in master.log(), 60, "the topic", [master])
    os.replace(capture, collector / capture.name)
    wait_for(lambda: binary.exists() and len(os.listdir(binary)) >= 5, 60, "some pieces stored",
             [master], interval=0.005)
    master.kill(group=True)
    stored_at_kill = len(os.listdir(binary))
    assert (collector / "big.pcap").exists()             # not all pieces were acknowledged
    pieces = -(-len(traffic.packets) // 20)
    assert 5 <= stored_at_kill < pieces, stored_at_kill

    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    workers = [start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)]
    procs = [master, *workers]
    try:
        wait_for(lambda: not (collector / "big.pcap").exists() and
                 all_committed(config, topic, procs), 180, "every piece loaded", procs)
    finally:
        assert [p.stop() for p in procs] == [0, 0, 0]
    rows = [r for part in table_rows(config, tmp_path).values() for r in part]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, traffic.rows))


def test_dns_worker_refuses_a_process_opt_lacking_a_field(local_config, tmp_path):
    import subprocess
    import sys

    config = with_pkt_num(local_config, PKT_NUM, process_opt="-T fields -e frame.len -e ip.src "
                          "-e ip.dst -e dns.resp.name -e dns.resp.type -e dns.flags.rcode -e dns.a")
    proc = subprocess.run([sys.executable, "worker.py", "-c", str(config.path), "-t", PIPELINE,
                           "-i", "0", "--topic", "T"], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (
        1, "error: process_opt lacks -e dns.resp.class: the dns table's dns_qry_class column "
           "comes from it\n")


def _load_one_piece(config: IngestConfig, piece: Path, tmp_path: Path) -> Worker:
    """Publishes one stored piece and runs a worker in this process until it is idle."""
    remote = f"{config.hdfs_app_path}/dns/binary/20160104/12/{PIPELINE}/{piece.name}"
    open_storage(config).upload(piece, remote)
    topic = unique("SPOT-INGEST-dns")
    ensure_topic(config.kafka, topic, 1)
    publisher = Publisher(config.kafka, topic)
    try:
        publisher.send(FileMessage(PIPELINE, f"{piece.name} [piece 0]", remote,
                                   piece.stat().st_size).encode(), 0)
    finally:
        publisher.close()
    worker = Worker(config, config.pipeline(PIPELINE), 0, topic)
    assert worker.run(idle_exit_seconds=3) == 0
    return worker


@pytest.mark.parametrize("decoder, used", [(None, "dnsdecode"), ("tshark", "tshark")])
def test_a_dns_pipeline_without_process_opt_works(decoder, used, local_config, mix, tmp_path,
                                                  caplog):
    """No process_opt (the minimal configuration): dnsdecode, or tshark with Spot's options."""
    keys = {"process_opt": ""} if decoder is None else {"process_opt": "", "decoder": decoder}
    config = with_pkt_num(local_config, PKT_NUM, **keys)
    list(setup_all(config))
    piece = cw.write_pcap(tmp_path / "m_spot_00000_20160104125800.pcap", mix.packets[:PKT_NUM])
    with caplog.at_level("INFO"):
        worker = _load_one_piece(config, piece, tmp_path)
    assert f"{PIPELINE} worker-0: decoder {used}" in caplog.text
    expected = cw.expected_rows(mix.packets[:PKT_NUM])
    assert (worker.processed, worker.rows) == (1, len(expected))
    rows = table_rows(config, tmp_path)["y=2016/m=01/d=04/h=12"]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, expected))


def test_a_process_opt_only_tshark_implements_goes_to_tshark(local_config, mix, tmp_path,
                                                             caplog):
    from pipelines.dns.fast import SEED_PROCESS_OPT

    config = with_pkt_num(local_config, PKT_NUM, process_opt=SEED_PROCESS_OPT + " -e udp.srcport")
    list(setup_all(config))
    piece = cw.write_pcap(tmp_path / "t_spot_00000_20160104125800.pcap", mix.packets[:PKT_NUM])
    with caplog.at_level("INFO"):
        worker = _load_one_piece(config, piece, tmp_path)
    lines = [r.getMessage() for r in caplog.records if "decoding with tshark" in r.getMessage()]
    assert lines == [f"{PIPELINE} worker-0: decoding with tshark: process_opt asks for fields "
                     "udp.srcport, which only tshark implements"]
    assert worker.rows == len(cw.expected_rows(mix.packets[:PKT_NUM]))


def test_a_link_type_dnsdecode_does_not_read_is_decoded_by_tshark(local_config, tmp_path,
                                                                  caplog):
    """An 802.11 capture: dnsdecode stops before any row, tshark decodes the piece, one log
    line says so."""
    from pipelines.dns import capture_shapes as cs

    config = with_pkt_num(local_config, PKT_NUM)
    list(setup_all(config))
    frames = [cs.wifi_frame(cs.udp_ip(cs.simple_response(f"w{i}.example.com", "192.0.2.150"))[1])
              for i in range(5)]
    piece = tmp_path / "w_spot_00000_20160104125800.pcap"
    piece.write_bytes(cs.pcap_file(frames))
    with caplog.at_level("INFO"):
        worker = _load_one_piece(config, piece, tmp_path)
    assert worker.rows == 5
    lines = [r.getMessage() for r in caplog.records if "decoding it with tshark" in r.getMessage()]
    assert len(lines) == 1 and "holds link type 105, which dnsdecode does not read" in lines[0]
    rows = table_rows(config, tmp_path)["y=2016/m=01/d=04/h=12"]
    assert sorted(r["dns_qry_name"] for r in rows) == [f"w{i}.example.com" for i in range(5)]
    assert {r["dns_a"] for r in rows} == {"192.0.2.150"}
