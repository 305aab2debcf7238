"""Processes killed or interrupted at any moment: every row arrives exactly once.

A kill only proves something when work was in flight at that moment; each test checks
that it was (a scratch folder in use, a decoder running, files stored but still waiting in
the collector folder) and reports where the kills landed.
"""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from common.config import load_config
from common.kafka_admin import ensure_topic
from common.setup import setup_all
from common.storage import open_storage
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import start_master, start_worker, visible_files, wait_for

from .harness import (PIPELINE, assert_exactly_once, committed, decoders_of,
                      numbered_capture, rng, wait_until)
from .test_environment import publish


def make_files(folder: Path, count: int, flows: int, first_id: int = 1,
               skip: int = 0) -> tuple[list[Path], set[int]]:
    """`count` real nfcapd files of `flows` numbered flows each, all in hour 09 of
    2016-01-04, made two at a time; `skip` names are left out (for a second batch)."""
    names = [f"nfcapd.2016010409{m:02d}{s:02d}" for m in range(60) for s in range(0, 60, 5)]
    jobs = [(names[skip + i], first_id + i * flows) for i in range(count)]
    with ThreadPoolExecutor(2) as pool:
        made = list(pool.map(lambda job: numbered_capture(folder, job[0], flows, job[1]), jobs))
    ids = set().union(*(i for _, i in made))
    return [p for p, _ in made], ids


def fresh_config(tmp_path: Path, **top):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_rel"), tmp_path)
    data.update(top)
    config = load_config(write_config(tmp_path, data))
    list(setup_all(config))
    return config


STAGES = ("fetch", "decode", "write", "between")


def scratch_stage(staging: Path, worker_id: int) -> str:
    """Where a worker is in a file, from its scratch folder: 'fetch' (the binary arriving),
    'decode' (fetched, nfdump running, no Parquet yet), 'write' (Parquet being written,
    uploaded, its partition registered), 'between' (no scratch: committing, or polling)."""
    try:
        folders = [p for p in staging.iterdir() if p.name.startswith(f"{PIPELINE}-w{worker_id}-")]
        names = set(os.listdir(folders[0])) if folders else None
    except OSError:                       # removed while looking
        return "between"
    if names is None:
        return "between"
    if any(n.startswith("out-") for n in names):
        return "write"
    return "decode" if "input" in names else "fetch"


def kill_in_stage(worker, staging: Path, worker_id: int, target: str) -> str:
    """Kills the worker with SIGKILL when it is in `target` (or after 3 s, wherever it is);
    returns the stage it was in."""
    done_before = worker.log().count(" rows in ")
    deadline = time.monotonic() + 3
    stage = scratch_stage(staging, worker_id)
    while time.monotonic() < deadline:
        stage = scratch_stage(staging, worker_id)
        if stage == target and (target != "between" or worker.log().count(" rows in ") > done_before):
            break
        time.sleep(0.002)
    worker.kill()
    with open(worker.log_path, "a") as log:
        log.write(f"---- killed here ({stage})\n")
    return stage


def test_workers_killed_at_random_points_lose_and_double_nothing(tmp_path, kafka_up,
                                                                metastore_up):
    """Two workers, each killed with SIGKILL ten times, each time at a stage drawn at random
    (fetch, decode, Parquet write and placement, between files), and restarted. One runs at
    a time while its kill is aimed, so that the other does not use up the work meanwhile."""
    config = fresh_config(tmp_path)
    staging = Path(config.pipeline(PIPELINE).local_staging)
    files, ids = make_files(tmp_path / "made", 64, 30_000)    # enough work for every kill
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 2)
    for partition in (0, 1):
        publish(config, topic, [(p, p.name) for p in files[partition::2]], partition)

    random = rng(20161104)
    stages: list[tuple[str, str]] = []
    workers = {}
    try:
        for _ in range(10):
            for i in (0, 1):
                worker = workers[i] = start_worker(config.path, PIPELINE, i, topic, tmp_path)
                wait_for(lambda: worker.log().count("reading SPOT-INGEST") > worker.log().count(
                    "killed here"), 60, f"worker {i} to start", [worker], interval=0.01)
                target = random.choice(STAGES)
                stages.append((target, kill_in_stage(worker, staging, i, target)))
        workers = {i: start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)}
        wait_for(lambda: committed(config, topic, 0) == 32 and committed(config, topic, 1) == 32,
                 300, "every file to be committed", list(workers.values()))
    finally:
        codes = [w.stop() for w in workers.values()]
    assert codes == [0, 0]
    hit = [got for _, got in stages]
    print(f"20 kills, by stage: { {s: hit.count(s) for s in STAGES} }")
    assert len(stages) == 20
    assert sum(1 for want, got in stages if want == got) >= 15, stages
    assert len(hit) - hit.count("between") >= 10, stages     # a file in flight at most kills
    assert_exactly_once(config, ids, tmp_path)
    storage = open_storage(config)
    assert not storage.exists(f"{config.hdfs_app_path}/flow/quarantine/{PIPELINE}")
    assert not list(staging.glob(f"{PIPELINE}-w*"))     # restarts cleaned every scratch


def test_master_killed_while_uploading_and_publishing(tmp_path, kafka_up, metastore_up):
    config = fresh_config(tmp_path, collector_processes=2)
    collector = config.pipeline(PIPELINE).collector_path
    files, ids = make_files(tmp_path / "made", 120, 200)
    for path in files:
        path.rename(collector / path.name)
    topic = unique("SPOT-INGEST-flow")
    storage = open_storage(config)
    binary = Path(config.hdfs_app_path, "flow", "binary", "20160104", "09", PIPELINE)
    random = rng(7)
    caught: list[int] = []             # files stored but not yet removed at each kill
    for round_ in range(6):
        before = stored_now(binary)
        master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
        wait_for(lambda: len(stored_now(binary)) > len(before), 60, "the master to store a file",
                 [master], interval=0.002)
        time.sleep(random.uniform(0, 0.1))
        master.kill(group=round_ % 2 == 0)             # the master alone, or with its pool
        left = {p.name for p in visible_files(collector)}
        stored = stored_now(binary)
        caught.append(len(left & stored) + sum(1 for n in stored if n.startswith(".")))
        if not left:
            break
    print(f"files mid-upload or stored but still in the collector at each kill: {caught}")
    assert any(caught), caught                          # some kills hit a file mid-hand-over

    master = start_master(config.path, PIPELINE, 2, topic, tmp_path)
    workers = [start_worker(config.path, PIPELINE, i, topic, tmp_path) for i in (0, 1)]
    procs = [master, *workers]
    try:
        wait_for(lambda: not visible_files(collector), 120,
                 "every file handed over", procs)
        wait_for(lambda: _all_placed(storage, config, files), 120, "every file in the table",
                 procs)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0]
    assert_exactly_once(config, ids, tmp_path)


def pool_processes(master) -> list[psutil.Process]:
    """The master's collector processes (spawned Python processes; not its resource tracker)."""
    try:
        children = psutil.Process(master.popen.pid).children()
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def test_pool_processes_leave_when_the_master_is_killed_as_they_start(tmp_path, kafka_up,
                                                                     metastore_up):
    """SIGKILL to the master alone while its collector processes are still starting: they
    must leave by themselves, not live on as orphans holding a Kafka producer."""
    config = fresh_config(tmp_path, collector_processes=2)
    collector = config.pipeline(PIPELINE).collector_path
    files, _ = make_files(tmp_path / "made", 4, 200)
    for path in files:
        path.rename(collector / path.name)
    master = start_master(config.path, PIPELINE, 2, unique("SPOT-INGEST-flow"), tmp_path)
    pool = wait_until(lambda: pool_processes(master) or None, 60,
                      "the master's first collector process", interval=0.002)
    # still starting: a spawned process imports for a good part of a second before its
    # initializer runs
    assert all(p.create_time() > time.time() - 1 for p in pool)
    master.kill()
    try:
        wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                   for p in pool), 20, "the collector processes to leave")
    finally:
        for p in pool:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


def stored_now(folder: Path) -> set[str]:
    """Names in the binary folder: stored files, and hidden temporaries of uploads."""
    return set(os.listdir(folder)) if folder.exists() else set()


def _all_placed(storage, config, files: list[Path]) -> bool:
    folder = f"{config.hdfs_app_path}/flow/hive/y=2016/m=01/d=04/h=09"
    return storage.exists(folder) and \
        set(storage.list(folder)) >= {f"{PIPELINE}-{p.name}.parquet" for p in files}


@pytest.mark.parametrize("how", ["SIGINT", "SIGHUP"])
def test_ctrl_c_or_hangup_during_a_decode_finishes_the_file(how, tmp_path, kafka_up,
                                                            metastore_up):
    """The signal goes to the worker's whole process group, as Ctrl-C in its terminal or a
    closed terminal does. The decoder is not in that group: it finishes, the worker commits
    the file and exits 0; a restart loads the rest."""
    config = fresh_config(tmp_path)
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    big, big_ids = numbered_capture(tmp_path, "nfcapd.201601040900", 400_000, 10_000_000)
    small, small_ids = make_files(tmp_path / "small", 3, 1000)
    publish(config, topic, [(big, big.name)] + [(p, p.name) for p in small])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    nfdump = wait_until(lambda: (decoders_of(worker.popen.pid) or [None])[0], 60,
                        "nfdump decoding the big file", interval=0.01)
    worker.signal_group(getattr(signal, how))
    assert worker.wait(timeout=120) == 0
    assert not nfdump.is_running() or nfdump.status() == "zombie"
    assert committed(config, topic, 0) == 1              # the file in flight, and no more
    log = worker.log()
    assert "nfcapd.201601040900: 400000 rows" in log and "quarantined at" not in log
    assert_exactly_once(config, big_ids, tmp_path)

    again = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    try:
        wait_for(lambda: committed(config, topic, 0) == 4, 60, "the rest", [again])
    finally:
        assert again.stop() == 0
    assert_exactly_once(config, big_ids | small_ids, tmp_path)


def test_a_second_ctrl_c_abandons_the_file_without_committing_it(tmp_path, kafka_up,
                                                                 metastore_up):
    config = fresh_config(tmp_path)
    topic = unique("SPOT-INGEST-flow")
    ensure_topic(config.kafka, topic, 1)
    big, ids = numbered_capture(tmp_path, "nfcapd.201601040900", 400_000, 10_000_000)
    publish(config, topic, [(big, big.name)])
    worker = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    # a file this large is decoded by two nfdump processes, one per half of its records
    nfdumps = wait_until(lambda: (lambda d: d if len(d) == 2 else None)(
        decoders_of(worker.popen.pid)), 60, "two nfdumps decoding the big file", interval=0.01)
    worker.signal_group(signal.SIGINT)
    time.sleep(0.2)
    worker.signal_group(signal.SIGINT)
    assert worker.wait(timeout=60) == 0
    assert committed(config, topic, 0) in (None, 0), worker.log()   # a heartbeat commits 0
    assert "abandoning 1 message(s) in flight (2 decoder(s) stopped)" in worker.log()
    wait_until(lambda: all(not p.is_running() or p.status() == "zombie" for p in nfdumps), 10,
               "the decoders to be gone")
    again = start_worker(config.path, PIPELINE, 0, topic, tmp_path)
    try:
        wait_for(lambda: committed(config, topic, 0) == 1, 120, "the file", [again])
    finally:
        assert again.stop() == 0
    assert_exactly_once(config, ids, tmp_path)
