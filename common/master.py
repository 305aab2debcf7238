"""The master of one pipeline: watches collector_path, and hands every complete file to a pool
of collector_processes processes that store and publish it, round robin over the topic's
partitions. A file leaves the collector folder only once stored and acknowledged.

The master keeps going through what it can survive: a pool process that dies (the pool is
replaced and its files retried), a file it cannot move aside, a publish that fails (the file
stays and is retried). It stops with one clear line when it cannot go on (its folder is gone).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from common import logs, metrics, topics
from common.config import IngestConfig, PipelineConfig, load_config
from common.errors import ConfigError, SpotIngestError, describe, is_machine_fault
from common.folder_lock import FolderLock
from common.kafka_io import Publisher
from common.messages import stored_name
from common.plugin import Collected, Collector, Partitions, Published, RejectedFile, load
from common.storage import open_storage
from common.topics import TopicPlan
from common.watcher import FileWatcher

log = logging.getLogger("spot.master")

QUARANTINE = ".quarantine"
RETRY_DELAYS = (2, 5, 15, 30, 60)          # seconds between attempts for one file
MAX_ERRORS_IN_A_ROW = 20                   # then the master exits non-zero with the last one
MIN_TURN_S = 0.05                          # the loop's shortest turn, however many events
PROGRESS_EVERY_S = 30                      # a progress line while a backlog drains


def make_collector(config: IngestConfig, pipeline: PipelineConfig) -> Collector:
    return load(pipeline.type, "collector")(config, pipeline)


# ------------------------------------------------------------------ inside pool processes

_state: dict = {}


def _init_process(master_pid: int, config_path: str, pipeline_name: str, topic: str,
                  log_config: str | None, log_level: str | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the master decides when work stops
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logs.configure(log_config, log_level, "collector")
    logs.set_context(pipeline=pipeline_name)
    _state.update(args=(config_path, pipeline_name, topic))
    threading.Thread(target=_exit_with_master, args=(master_pid,), daemon=True,
                     name="master-watch").start()


def _exit_with_master(master_pid: int) -> None:
    """A master killed with SIGKILL cannot stop its pool: each process leaves by itself.
    A file it was handing over stays in the collector folder unless it was acknowledged.
    The master's pid comes from the master: a process still starting when the master died
    already has another parent, and must leave at once."""
    while os.getppid() == master_pid:
        time.sleep(1)
    os._exit(0)


def _connected() -> dict:
    """This process's collector, storage and producer, made on first use: a broker or
    storage that is down fails the task (retried), never the pool."""
    if "publisher" not in _state:
        config_path, pipeline_name, topic = _state["args"]
        config = load_config(config_path)
        pipeline = config.pipeline(pipeline_name)
        _state.update(collector=make_collector(config, pipeline), storage=open_storage(config),
                      publisher=Publisher(config.kafka, topic))
    return _state


def _publish(item: Collected, partitions: Partitions) -> list[Published]:
    state = _connected()
    return state["collector"].publish(item, partitions, state["storage"], state["publisher"])


# ------------------------------------------------------------------ the master itself

def free_name(folder: Path, name: str) -> str:
    """`name`, or `name.1`, `name.2`, ... : the first one not taken in folder (with its
    .reason), so a second file set aside under one name never replaces the first."""
    candidate, n = name, 0
    while (folder / candidate).exists() or (folder / f"{candidate}.reason").exists():
        n += 1
        candidate = f"{name}.{n}"
    return candidate


def set_aside(item: Collected, root: Path, reason: str) -> Path:
    """Moves a file that can never be collected to <collector_path>/.quarantine/, named after
    its relative path (files of the same name in two sub-folders stay apart; one set aside
    earlier under the same name is kept), with the reason beside it."""
    folder = root / QUARANTINE
    folder.mkdir(exist_ok=True)
    name = free_name(folder, stored_name(item.relative))
    target = folder / name
    (folder / f"{name}.reason").write_text(f"{item.relative}: {reason}\n", errors="replace")
    os.replace(item.path, target)
    return target


def turn_wait(since_turn_started: float) -> float:
    """How long the loop waits before its next turn once woken: nothing when the last turn
    began MIN_TURN_S ago or more (a file after a quiet spell is taken at once), else the
    rest of MIN_TURN_S (a burst of events is taken in turns of at least MIN_TURN_S)."""
    return max(0.0, MIN_TURN_S - since_turn_started)


class Master:
    def __init__(self, config: IngestConfig, pipeline: PipelineConfig, workers: int, topic: str):
        self.config, self.pipeline, self.workers, self.topic = config, pipeline, workers, topic
        self.collector = make_collector(config, pipeline)
        self.stopping = threading.Event()
        self._next_partition = 0
        self._attempts: dict[Path, int] = {}
        self.published = 0
        self.failed = 0
        self.pool_restarts = 0
        self._root = pipeline.collector_path
        self.lock = FolderLock(self._root, pipeline.name)
        # set by the watcher's events and finished hand-overs: the loop acts at once rather
        # than at its next poll (a file renamed in is published within milliseconds)
        self._wake = threading.Event()

    def check(self) -> None:
        """The collector folder (created when configured relative), that no other master
        watches it, and the tools."""
        self._root = self.config.collector_folder(self.pipeline.name)
        self.lock = FolderLock(self._root, self.pipeline.name)
        self.lock.probe()
        self.collector.check_environment()

    def check_services(self) -> None:
        """Kafka and the metastore answer (what `--check` and the launcher ask before
        starting anything); one line naming the one that does not."""
        from common.catalog import Catalog
        from common.errors import CatalogError, KafkaError
        from common.kafka_admin import ping

        hint = " (make services starts the local stack)"
        try:
            ping(self.config.kafka)
        except KafkaError as exc:
            raise KafkaError(f"{exc}{hint}") from None
        try:
            with Catalog(self.config.hive.metastore_uris, timeout_s=5):
                pass
        except CatalogError:
            raise CatalogError(f"the Hive Metastore does not answer at "
                               f"{', '.join(self.config.hive.metastore_uris)}{hint}") from None

    def prepare(self) -> TopicPlan:
        """check(), then takes the collector folder for the life of this process, creates,
        grows or reuses the topic and fits the workers to it (common/topics.py), hands on
        what topics of the earlier version left unread, and serves the metrics."""
        self.check()
        self.lock.acquire(topic=self.topic, workers=self.workers)
        storage = open_storage(self.config)
        if self.pipeline.type == "proxy":        # refused before anything is created
            topics.refuse_unread_legacy_proxy(self.config, self.pipeline, storage)
        plan = topics.prepare_topic(self.config, self.pipeline, self.topic, self.workers)
        self.workers = plan.publish_over
        if self.pipeline.type != "proxy":
            topics.drain_legacy(self.config, self.pipeline, self.topic, self.workers, storage)
        address = metrics.serve(self.config, self.pipeline.name, 0)
        if address:
            self.lock.update(metrics=address)
        return plan

    def stop(self, *_args) -> None:
        self.stopping.set()
        self._wake.set()

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.config.collector_processes, mp_context=ctx,
                                   initializer=_init_process,
                                   initargs=(os.getpid(), str(self.config.path.resolve()),
                                             self.pipeline.name,
                                             self.topic, logs.applied_config(),
                                             logging.getLevelName(logging.getLogger().level)))

    def run(self) -> int:
        root = self._root
        watcher = FileWatcher(root, self.collector.accepts, self.pipeline.settle_seconds,
                              rescan_seconds=self.pipeline.rescan_seconds,
                              on_event=self._wake.set)
        self.pool = self._new_pool()
        in_flight: dict[Future, Collected] = {}
        watcher.start()
        log.info("%s: watching %s (%d collector processes, %d partitions, topic %s)",
                 self.pipeline.name, root, self.config.collector_processes, self.workers, self.topic)
        last_progress, published_before = time.monotonic(), 0
        errors_in_a_row = 0
        try:
            while not self.stopping.is_set():
                turn_started = time.monotonic()
                if not root.is_dir():
                    raise ConfigError(f"collector folder {root} has disappeared; stopping")
                try:
                    try:
                        self._submit_ready(watcher, in_flight)
                    except BrokenProcessPool:
                        self._replace_pool(in_flight, watcher)
                    self._collect(in_flight, watcher)
                    errors_in_a_row = 0
                except (ConfigError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # noqa: BLE001 - the master must outlive one bad turn
                    errors_in_a_row += 1
                    log.error("%s: unexpected error (%d in a row): %s", self.pipeline.name,
                              errors_in_a_row, describe(exc))
                    if errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
                        raise SpotIngestError(f"{self.pipeline.name}: stopping after "
                                              f"{errors_in_a_row} errors in a row; last: "
                                              f"{describe(exc)}") from None
                    self.stopping.wait(RETRY_DELAYS[0])
                if time.monotonic() - last_progress >= PROGRESS_EVERY_S and \
                        (in_flight or watcher.pending()):
                    rate = (self.published - published_before) / (time.monotonic() - last_progress)
                    log.info("%s: progress: %d published (%.1f files/s), %d in flight, %d waiting",
                             self.pipeline.name, self.published, rate, len(in_flight),
                             watcher.pending())
                    last_progress, published_before = time.monotonic(), self.published
                self._wake.wait(self.config.ingestion_interval)
                self._wake.clear()
                self.stopping.wait(turn_wait(time.monotonic() - turn_started))
        finally:
            watcher.stop()
            if in_flight:
                log.info("%s: stopping: finishing %d file(s) in flight", self.pipeline.name,
                         len(in_flight))
            # Files not started yet stay in the collector folder for the next run.
            self.pool.shutdown(wait=True, cancel_futures=True)
            self._collect(in_flight, watcher)
            self.lock.release()
        log.info("%s: stopped; %d file(s) published, %d failure(s)", self.pipeline.name,
                 self.published, self.failed)
        return 0

    def _submit_ready(self, watcher: FileWatcher, in_flight: dict[Future, Collected]) -> None:
        busy = {item.path for item in in_flight.values()}
        for path in watcher.ready():
            if path in busy:
                continue
            item = Collected(path, path.relative_to(self._root).as_posix())
            try:
                self.collector.check(item)
            except RejectedFile as exc:
                self._set_aside(item, str(exc), watcher)
                continue
            partitions = Partitions(self._next_partition, self.workers)
            try:
                future = self.pool.submit(_publish, item, partitions)
                future.add_done_callback(lambda _: self._wake.set())
                in_flight[future] = item
                metrics.FILES_DETECTED.labels(self.pipeline.name).inc()
            except BrokenProcessPool:
                watcher.retry(path, 0)
                raise
            self._next_partition = (self._next_partition + 1) % self.workers

    def _set_aside(self, item: Collected, reason: str, watcher: FileWatcher) -> None:
        try:
            target = set_aside(item, self._root, reason)
        except OSError as exc:
            log.error("%s: %s cannot be collected (%s) and cannot be set aside either: %s; "
                      "retry in 60 s", self.pipeline.name, item.relative, reason, describe(exc))
            watcher.retry(item.path, 60)
            return
        metrics.FILES_SET_ASIDE.labels(self.pipeline.name).inc()
        log.error("%s: %s: set aside in %s: %s", self.pipeline.name, item.relative,
                  target.parent, reason)

    def _replace_pool(self, in_flight: dict[Future, Collected], watcher: FileWatcher,
                      lost: list[Collected] = ()) -> None:
        """A pool process died (killed, out of memory): every file the pool held is retried by
        a new pool. A file that was published before the death may be published again; its
        worker output replaces itself."""
        self.pool_restarts += 1
        retried = [*lost, *in_flight.values()]
        log.error("%s: a collector process died; starting a new pool (restart %d), "
                  "retrying %d file(s) it held", self.pipeline.name, self.pool_restarts,
                  len(retried))
        for item in retried:
            watcher.retry(item.path, 0)
        in_flight.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def _collect(self, in_flight: dict[Future, Collected], watcher: FileWatcher) -> None:
        broken: list[Collected] = []
        for future in [f for f in in_flight if f.done()]:
            item = in_flight.pop(future)
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is None:
                self._attempts.pop(item.path, None)
                self.published += 1
                metrics.FILES_PUBLISHED.labels(self.pipeline.name).inc()
                for result in future.result():
                    metrics.MESSAGES_PUBLISHED.labels(self.pipeline.name).inc()
                    if result.remote_path:
                        metrics.UPLOAD_SECONDS.labels(self.pipeline.name, "master").observe(
                            result.upload_seconds)
                    stored = f" -> {result.remote_path}" if result.remote_path else ""
                    log.info("%s: published %s (%d bytes)%s, partition %d offset %d",
                             self.pipeline.name, result.name, result.size, stored,
                             result.partition, result.offset)
                continue
            if isinstance(exc, BrokenProcessPool):
                broken.append(item)
                continue
            if isinstance(exc, RejectedFile):   # found out while preparing (e.g. not a capture)
                self._set_aside(item, str(exc), watcher)
                continue
            self.failed += 1
            machine = is_machine_fault(exc)
            metrics.RETRIES.labels(self.pipeline.name, "master",
                                   "machine" if machine else "other").inc()
            attempt = self._attempts.get(item.path, 0)
            self._attempts[item.path] = attempt + 1
            if not machine and attempt + 1 >= self.pipeline.max_attempts:
                # not the machine's fault and never going to work: the folder must move on
                self._attempts.pop(item.path, None)
                self._set_aside(item, f"failed {attempt + 1} times: {describe(exc)}", watcher)
                continue
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            log.error("%s: %s not handed over (attempt %d), kept in place, retry in %d s: %s",
                      self.pipeline.name, item.relative, attempt + 1, delay, describe(exc))
            if not self.stopping.is_set():
                watcher.retry(item.path, delay)
        if broken and not self.stopping.is_set():
            self._replace_pool(in_flight, watcher, broken)
