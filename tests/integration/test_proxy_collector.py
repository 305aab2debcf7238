"""The proxy master: logs (plain, gzip) published as messages of whole lines, never larger
than message_size, every line exactly once even when the master is killed part way."""
from __future__ import annotations

import collections
import gzip
import json
import os
import random
import time
from datetime import datetime, timezone
from pathlib import Path

from common.config import load_config
from pipelines.proxy.log_writer import write_log

from .conftest import base_config_data, unique, write_config
from .procs import start_master, visible_files, wait_for

PIPELINE = "proxy_bluecoat"
START = datetime(2016, 1, 4, 9, tzinfo=timezone.utc)


def proxy_config(tmp_path: Path, message_size: int):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_it"), tmp_path)
    data["kafka"]["message_size"] = message_size
    return load_config(write_config(tmp_path, data))


def topic_messages(config, topic: str, partitions: int) -> dict[int, list]:
    """Every committed message of each partition, as the job reads them (read_committed:
    a send a killed master left open is aborted by the next one, never read)."""
    from kafka import KafkaConsumer, TopicPartition

    out = {}
    for partition in range(partitions):
        tp = TopicPartition(topic, partition)
        consumer = KafkaConsumer(bootstrap_servers=config.kafka.bootstrap, group_id=None,
                                 isolation_level="read_committed", enable_auto_commit=False,
                                 max_partition_fetch_bytes=config.kafka.message_size + 4096)
        try:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            got = []
            while consumer.position(tp) < end:
                got += consumer.poll(timeout_ms=2000).get(tp, [])
            out[partition] = got
        finally:
            consumer.close()
    return out


def file_lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.splitlines(keepends=True)


def test_logs_become_messages_of_whole_lines(tmp_path, kafka_up):
    config = proxy_config(tmp_path, 4000)
    collector = config.pipeline(PIPELINE).collector_path
    plain, zipped = tmp_path / "access.log", tmp_path / "older.log.gz"
    write_log(plain, 3000, START, hours=2)
    write_log(zipped, 2000, START, hours=1, gzip=True)
    long_line = b"2016-01-04 09:00:00 " + b"x" * 5000 + b"\n"
    with open(plain, "ab") as out:                       # a line no message can hold
        out.write(long_line)
        out.write(b"2016-01-04 09:59:59 last line without its newline")
    expected = file_lines(plain) + file_lines(zipped)
    expected.remove(long_line)
    topic = unique("SPOT-INGEST-proxy")
    master = start_master(config.path, PIPELINE, 3, topic, tmp_path)
    try:
        wait_for(lambda: "(created, 3 partitions)" in master.log(), 60, "the topic", [master])
        for path in (plain, zipped):
            os.replace(path, collector / path.name)
        wait_for(lambda: not visible_files(collector), 120,
                 "both logs handed over", [master])
    finally:
        assert master.stop() == 0
    messages = topic_messages(config, topic, 3)
    values = [m.value for part in messages.values() for m in part]
    assert all(len(v) <= 4000 for v in values)
    assert all(v.endswith(b"\n") for v in values if not v.endswith(b"newline"))
    assert all(len(part) > 10 for part in messages.values())      # spread over partitions
    got = [line for v in values for line in v.splitlines(keepends=True)]
    assert collections.Counter(got) == collections.Counter(expected)
    quarantine = collector / ".quarantine"
    (aside,) = [p for p in quarantine.iterdir() if not p.name.endswith(".reason")]
    assert aside.read_bytes() == long_line
    reason = (quarantine / f"{aside.name}.reason").read_text()
    assert reason.startswith("access.log: the line at byte ") and reason.endswith(
        f"is {len(long_line)} bytes, longer than kafka.message_size (4000); set aside, not sent\n")
    assert not (collector / ".progress").exists() or not any((collector / ".progress").iterdir())


def test_master_killed_part_way_resumes_without_loss_or_repeat(tmp_path, kafka_up):
    """SIGKILL (the master and its pool) at random moments while a log is being published:
    after each restart it goes on from its recorded progress; in the end every line is on the
    topic exactly once. Messages of 8 kB: each is a transaction of its own, and 6,000 of
    2 kB took over 120 s on a loaded machine."""
    config = proxy_config(tmp_path, 8000)
    collector = config.pipeline(PIPELINE).collector_path
    log = tmp_path / "big.log"
    write_log(log, 40_000, START, hours=3)
    expected = file_lines(log)
    topic = unique("SPOT-INGEST-proxy")
    os.replace(log, collector / log.name)
    rng = random.Random(3)
    progress = collector / ".progress"
    kills = []

    def recorded() -> tuple[int, bool] | None:
        try:
            state = json.loads(next(progress.glob("*.json")).read_text())
        except (StopIteration, ValueError, OSError):
            return None
        return state["offset"], state["pending"] is not None

    for round_ in range(5):
        before = recorded()
        master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
        wait_for(lambda: (now := recorded()) is not None and now[0] != (before or (-1,))[0], 60,
                 "this master to make progress", [master], interval=0.005)
        time.sleep(rng.uniform(0, 0.3))
        if not (collector / "big.log").exists():
            master.stop()
            break
        master.kill(group=True)
        kills.append(recorded())
    print(f"killed at (byte offset, a send pending): {kills}")
    assert len(kills) >= 3 and len({offset for offset, _ in kills}) == len(kills)
    assert any(pending for _, pending in kills)          # some kills came between send and ack
    assert master.log().count("resuming at byte") >= 1
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    try:
        wait_for(lambda: not (collector / "big.log").exists(), 300, "the rest", [master])
    finally:
        assert master.stop() == 0
    got = [line for part in topic_messages(config, topic, 2).values() for m in part
           for line in m.value.splitlines(keepends=True)]
    assert len(got) == len(expected)
    assert collections.Counter(got) == collections.Counter(expected)


def test_damaged_gzip_logs_are_set_aside_after_their_readable_lines(tmp_path, kafka_up):
    """A .log.gz whose CRC is wrong (gzip.BadGzipFile, an OSError) and one cut short (an
    EOFError): the lines read before the damage are on the topic once, the file is set aside
    at once with the decompressor's words, never retried."""
    config = proxy_config(tmp_path, 4000)
    collector = config.pipeline(PIPELINE).collector_path
    whole = tmp_path / "whole.log"
    write_log(whole, 3000, START, hours=1)
    content = whole.read_bytes()
    bad_crc = bytearray(gzip.compress(content))
    bad_crc[-8] ^= 0xFF
    (tmp_path / "crc.log.gz").write_bytes(bytes(bad_crc))
    packed = gzip.compress(content)
    (tmp_path / "cut.log.gz").write_bytes(packed[:len(packed) // 2])
    topic = unique("SPOT-INGEST-proxy")
    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    quarantine = collector / ".quarantine"
    try:
        wait_for(lambda: "(created, 2 partitions)" in master.log(), 60, "the topic", [master])
        for name in ("crc.log.gz", "cut.log.gz"):
            os.replace(tmp_path / name, collector / name)
        wait_for(lambda: quarantine.is_dir() and {"crc.log.gz", "cut.log.gz"} <= {
            p.name for p in quarantine.iterdir()}, 120, "both files set aside", [master])
    finally:
        assert master.stop() == 0
    reasons = {name: (quarantine / f"{name}.reason").read_text() for name in
               ("crc.log.gz", "cut.log.gz")}
    assert reasons["crc.log.gz"].startswith("crc.log.gz: damaged gzip data after ")
    assert "CRC check failed" in reasons["crc.log.gz"]
    assert "Compressed file ended before the end-of-stream marker" in reasons["cut.log.gz"]
    assert "retry in" not in master.log() and "failed 1 times" not in master.log()
    got = collections.Counter(line for part in topic_messages(config, topic, 2).values()
                              for m in part for line in m.value.splitlines(keepends=True))
    expected = collections.Counter(content.splitlines(keepends=True))
    assert sum(got.values()) > len(content.splitlines()) // 2   # the cut one's first half too
    assert got - expected - expected == collections.Counter()    # each line at most twice:
    assert max(got.values()) <= 2                                # once per file
    assert not any((collector / ".progress").glob("*.json"))


def test_long_lines_of_files_with_the_same_name_are_all_kept(tmp_path, kafka_up):
    config = proxy_config(tmp_path, 4000)
    collector = config.pipeline(PIPELINE).collector_path
    topic = unique("SPOT-INGEST-proxy")
    master = start_master(config.path, PIPELINE, 1, topic, tmp_path)
    quarantine = collector / ".quarantine"
    firsts = [b"2016-01-04 09:00:00 " + bytes([65 + n]) * 6000 + b"\n" for n in range(2)]
    try:
        wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", [master])
        for first in firsts:
            (tmp_path / "access.log").write_bytes(first + b"2016-01-04 09:00:01 short\n")
            os.replace(tmp_path / "access.log", collector / "access.log")
            wait_for(lambda: not (collector / "access.log").exists(), 60, "the log", [master])
    finally:
        assert master.stop() == 0
    kept = sorted(p.name for p in quarantine.iterdir())
    assert kept == ["access.log@0", "access.log@0.1", "access.log@0.1.reason",
                    "access.log@0.reason"]
    assert [(quarantine / n).read_bytes() for n in ("access.log@0", "access.log@0.1")] == firsts
