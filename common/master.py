"""The master of one pipeline: watches collector_path, and hands every complete file to a pool
of collector_processes processes that store and publish it, round robin over the topic's
partitions. A file leaves the collector folder only once stored and acknowledged."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from common.config import IngestConfig, PipelineConfig, load_config
from common.errors import SpotIngestError
from common.kafka_io import Publisher, ensure_topic
from common.plugin import Collector, Published, RejectedFile, load
from common.storage import open_storage
from common.watcher import FileWatcher

log = logging.getLogger("spot.master")

QUARANTINE = ".quarantine"
RETRY_DELAYS = (2, 5, 15, 30, 60)          # seconds between attempts for one file


def make_collector(config: IngestConfig, pipeline: PipelineConfig) -> Collector:
    return load(pipeline.type, "collector")(config, pipeline)


# ------------------------------------------------------------------ inside pool processes

_state: dict = {}


def _init_process(config_path: str, pipeline_name: str, topic: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the master decides when work stops
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from common.cli import setup_logging
    setup_logging()
    _state.update(args=(config_path, pipeline_name, topic))


def _connected() -> dict:
    """This process's collector, storage and producer, made on first use: a broker or
    storage that is down fails the task (retried), never the pool."""
    if "publisher" not in _state:
        config_path, pipeline_name, topic = _state["args"]
        config = load_config(config_path)
        pipeline = config.pipeline(pipeline_name)
        _state.update(collector=make_collector(config, pipeline), storage=open_storage(config))
        _state["publisher"] = Publisher(config.kafka, topic)
    return _state


def _publish(path: str, partition: int) -> Published:
    state = _connected()
    return state["collector"].publish(Path(path), partition, state["storage"],
                                      state["publisher"])


# ------------------------------------------------------------------ the master itself

def set_aside(path: Path, root: Path, reason: str) -> Path:
    """Moves a file that can never be collected to <collector_path>/.quarantine/, with the
    reason beside it."""
    folder = root / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    (folder / f"{path.name}.reason").write_text(reason + "\n")
    return target


class Master:
    def __init__(self, config: IngestConfig, pipeline: PipelineConfig, workers: int, topic: str,
                 settle_seconds: float = 2.0):
        self.config, self.pipeline, self.workers, self.topic = config, pipeline, workers, topic
        self.collector = make_collector(config, pipeline)
        self.settle_seconds = settle_seconds
        self.stopping = threading.Event()
        self._next_partition = 0
        self._attempts: dict[Path, int] = {}
        self.published = 0
        self.failed = 0

    def prepare(self) -> bool:
        """Creates or reuses the topic and the collector folder; True when the topic is new."""
        self.pipeline.collector_path.mkdir(parents=True, exist_ok=True)
        return ensure_topic(self.config.kafka, self.topic, self.workers)

    def stop(self, *_args) -> None:
        self.stopping.set()

    def run(self) -> int:
        root = self.pipeline.collector_path
        watcher = FileWatcher(root, self.collector.accepts, self.settle_seconds)
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self.config.collector_processes, mp_context=ctx,
                                   initializer=_init_process,
                                   initargs=(str(self.config.path.resolve()), self.pipeline.name,
                                             self.topic))
        in_flight: dict[Future, Path] = {}
        watcher.start()
        log.info("%s: watching %s (%d collector processes, %d partitions, topic %s)",
                 self.pipeline.name, root, self.config.collector_processes, self.workers, self.topic)
        try:
            while not self.stopping.is_set():
                busy = set(in_flight.values())
                for path in watcher.ready():
                    if path in busy:
                        continue
                    try:
                        self.collector.check(path)
                    except RejectedFile as exc:
                        target = set_aside(path, root, str(exc))
                        log.error("%s: %s: set aside in %s: %s", self.pipeline.name, path.name,
                                  target.parent, exc)
                        continue
                    partition = self._next_partition
                    self._next_partition = (partition + 1) % self.workers
                    in_flight[pool.submit(_publish, str(path), partition)] = path
                self._collect(in_flight, watcher)
                self.stopping.wait(self.config.ingestion_interval)
        finally:
            watcher.stop()
            if in_flight:
                log.info("%s: stopping: finishing %d file(s) in flight", self.pipeline.name,
                         len(in_flight))
            # Files not started yet stay in the collector folder for the next run.
            pool.shutdown(wait=True, cancel_futures=True)
            self._collect(in_flight, watcher)
        log.info("%s: stopped; %d file(s) published, %d failure(s)", self.pipeline.name,
                 self.published, self.failed)
        return 0

    def _collect(self, in_flight: dict[Future, Path], watcher: FileWatcher) -> None:
        for future in [f for f in in_flight if f.done()]:
            path = in_flight.pop(future)
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is None:
                result: Published = future.result()
                self._attempts.pop(path, None)
                self.published += 1
                log.info("%s: published %s (%d bytes) -> %s, partition %d offset %d",
                         self.pipeline.name, path.name, result.size, result.remote_path,
                         result.partition, result.offset)
                continue
            self.failed += 1
            attempt = self._attempts.get(path, 0)
            self._attempts[path] = attempt + 1
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            reason = str(exc) if isinstance(exc, SpotIngestError) else f"{type(exc).__name__}: {exc}"
            log.error("%s: %s not handed over (attempt %d), kept in place, retry in %d s: %s",
                      self.pipeline.name, path.name, attempt + 1, delay, reason)
            if not self.stopping.is_set():
                watcher.retry(path, delay)
