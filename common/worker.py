"""A worker bound to one partition: takes messages in order, lets the pipeline's processor
turn each into rows (up to `parallel` at once), and commits offsets strictly in order, each
only after its rows are in place.

Failures are told apart (common/errors.py):
- a message that is not for us (BadMessage) is logged, skipped and committed;
- a file that can never be read is quarantined by the processor and committed;
- a fault of the machine (a service down, a decoder missing or killed, a full disk) is
  retried from the failed message, with a growing delay, for as long as it lasts: it never
  costs the file anything;
- anything else is retried too, but at most max_attempts times per message: then the file is
  set aside with the reason and the partition moves on.

Stopping: the first Ctrl-C, SIGTERM or SIGHUP stops taking messages and finishes what is in
flight (committing it); a second one abandons it (decoders killed, nothing in flight
committed: those messages come again on the next start).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from common import decoder, logs, metrics
from common.catalog import Catalog
from common.config import IngestConfig, PipelineConfig
from common.errors import KafkaError, describe, is_machine_fault
from common.kafka_io import Message, PartitionConsumer
from common.messages import BadMessage
from common.parallel import leave_signals_to_main_thread
from common.plugin import Processed, Processor, StreamingJob, load
from common.storage import open_storage

log = logging.getLogger("spot.worker")

RETRY_DELAYS = (2, 5, 15, 30, 60)
HEARTBEAT_S = 15       # a worker re-commits its offset this often, idle or busy: "active"


def commit_metadata(worker_id: int, metrics_address: str | None = None) -> str:
    """Who committed, and when (and where its metrics are): ingest_status tells an active
    worker from a stopped one."""
    data = {"worker": worker_id, "host": socket.gethostname(), "pid": os.getpid(),
            "at": round(time.time(), 3)}
    if metrics_address:
        data["metrics"] = metrics_address
    return json.dumps(data, separators=(",", ":"))


def make_processor(config: IngestConfig, pipeline: PipelineConfig, worker_id: int) -> Processor:
    def catalog_factory() -> Catalog:
        return Catalog(config.hive.metastore_uris)

    return load(pipeline.type, "worker")(config, pipeline, worker_id, open_storage(config),
                                         catalog_factory)


class Worker:
    def __init__(self, config: IngestConfig, pipeline: PipelineConfig, worker_id: int,
                 topic: str, parallel: int = 1):
        self.config, self.pipeline, self.worker_id = config, pipeline, worker_id
        self.topic, self.parallel = topic, parallel
        self.processor = make_processor(config, pipeline, worker_id)
        self.stopping = threading.Event()
        self.abandoning = threading.Event()
        self.processed = 0
        self.rows = 0
        self.quarantined = 0
        self.tag = f"{pipeline.name} worker-{worker_id}"
        self._attempts: dict[int, int] = {}
        self._last_commit = 0.0
        self._next_offset = 0          # every message before it is done and committed
        self._commit_lock = threading.Lock()
        self._beats_done = threading.Event()
        self.metrics_address: str | None = None
        labels = (pipeline.name, str(worker_id))
        self._processed = metrics.MESSAGES_PROCESSED.labels(*labels)
        self._ingested = metrics.FILES_INGESTED.labels(*labels)
        self._quarantined_files = metrics.FILES_QUARANTINED.labels(*labels)
        self._rows_written = metrics.ROWS_WRITTEN.labels(*labels)

    def stop(self, *_args) -> None:
        """First call: finish what is in flight. Second call: abandon it."""
        if self.stopping.is_set():
            self.abandoning.set()
        self.stopping.set()

    def _handle(self, message: Message) -> Processed | None:
        try:
            return self.processor.process(message)
        except BadMessage as exc:
            log.error("%s: skipping message at offset %d: %s", self.tag, message.offset, exc)
            return None

    def run(self, idle_exit_seconds: float | None = None) -> int:
        self.processor.start()
        try:
            consumer = PartitionConsumer(self.config.kafka, self.topic, self.worker_id,
                                         wait_for_topic_s=None, stopping=self.stopping)
        except KafkaError:
            if self.stopping.is_set():
                log.info("%s: stopped while waiting for %s partition %d", self.tag,
                         self.topic, self.worker_id)
                return 0
            raise
        self._lag = metrics.CONSUMER_LAG.labels(self.pipeline.name, self.topic,
                                                str(self.worker_id))
        self._next_offset = consumer.position()
        beat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        beat.start()
        log.info("%s: reading %s partition %d from offset %d (up to %d file(s) at once)",
                 self.tag, self.topic, self.worker_id, self._next_offset, self.parallel)
        pending: deque[tuple[Message, Future, float]] = deque()
        failures = 0
        idle_since = time.monotonic()
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="decode",
                                initializer=leave_signals_to_main_thread) as pool:
            try:
                while not self.abandoning.is_set():
                    if self.stopping.is_set() and not pending:
                        break
                    room = self.parallel - len(pending)
                    if room > 0 and not self.stopping.is_set():
                        for message in consumer.poll(timeout_ms=200 if pending else 1000,
                                                     max_records=room):
                            pending.append((message, pool.submit(self._handle, message),
                                            time.monotonic()))
                        self._update_lag(consumer)
                    if not pending:
                        if idle_exit_seconds is not None and \
                                time.monotonic() - idle_since > idle_exit_seconds:
                            break
                        continue
                    wait([pending[0][1]], timeout=0.5, return_when=FIRST_COMPLETED)
                    while pending and pending[0][1].done() and not self.abandoning.is_set():
                        message, future, started = pending.popleft()
                        exc = future.exception()
                        if exc is not None:
                            failures += 1
                            result = self._failed(message, exc, failures)
                            if result is None:
                                self._retry_from(consumer, message, pending, failures)
                                break
                        else:
                            result = future.result()
                        failures = 0
                        self._attempts.pop(message.offset, None)
                        self._done(message, result, time.monotonic() - started)
                        self._commit(consumer, message.offset)
                        idle_since = time.monotonic()
            finally:
                if self.abandoning.is_set() and pending:
                    killed = decoder.abandon_all()
                    log.info("%s: abandoning %d message(s) in flight (%d decoder(s) stopped); "
                             "they come again on the next start", self.tag, len(pending), killed)
                for _, future, _ in pending:
                    future.cancel()
                self._beats_done.set()
                beat.join()
                consumer.close()
        log.info("%s: stopped; %d message(s), %d row(s), %d quarantined", self.tag,
                 self.processed, self.rows, self.quarantined)
        return 0

    def _failed(self, message: Message, exc: BaseException, failures: int) -> Processed | None:
        """Logs a failure; returns the quarantined result once a message has failed too often
        for reasons other than the machine's, else None (retry)."""
        reason = describe(exc)
        if self.stopping.is_set():
            log.error("%s: offset %d not done (%s); not committed, it comes again on the next "
                      "start", self.tag, message.offset, reason)
            return None
        metrics.RETRIES.labels(self.pipeline.name, "worker",
                               "machine" if is_machine_fault(exc) else "other").inc()
        if is_machine_fault(exc):
            delay = RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)]
            log.error("%s: offset %d not done, not the file's fault (%s); not committed, "
                      "retry in %d s", self.tag, message.offset, reason, delay)
            return None
        attempts = self._attempts.get(message.offset, 0) + 1
        self._attempts[message.offset] = attempts
        limit = self.pipeline.max_attempts
        if attempts < limit:
            delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
            log.error("%s: offset %d failed (attempt %d of %d), not committed, retry in %d s: %s",
                      self.tag, message.offset, attempts, limit, delay, reason)
            return None
        log.error("%s: offset %d failed %d times, giving up on it: %s", self.tag,
                  message.offset, attempts, reason)
        try:
            return self.processor.give_up(message, f"failed {attempts} times: {reason}")
        except Exception as second:  # noqa: BLE001 - cannot set it aside now: retry later
            log.error("%s: offset %d cannot be set aside now: %s", self.tag, message.offset,
                      describe(second))
            return None

    def _done(self, message: Message, result: Processed | None, seconds: float) -> None:
        self.processed += 1
        self._processed.inc()
        if result is None:
            return
        if result.quarantined:
            self.quarantined += 1
            self._quarantined_files.inc()
            log.error("%s: %s quarantined at %s: offset %d committed, going on", self.tag,
                      result.name, result.quarantined, message.offset)
            return
        self.rows += result.rows
        self._ingested.inc()
        self._rows_written.inc(result.rows)
        log.info("%s: %s: %d rows in %.2f s (offset %d)", self.tag, result.name, result.rows,
                 seconds, message.offset)

    def _commit(self, consumer: PartitionConsumer, offset: int) -> None:
        """Commits, retrying while the broker is away. Stopping before it succeeds only means
        the message comes again, and reprocessing it replaces the same rows."""
        attempt = 0
        while True:
            try:
                with self._commit_lock:
                    consumer.commit(offset, commit_metadata(self.worker_id,
                                                            self.metrics_address))
                    self._last_commit = time.monotonic()
                    self._next_offset = offset + 1
                self._update_lag(consumer)
                return
            except KafkaError as exc:
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                attempt += 1
                log.error("%s: %s; retry in %d s", self.tag, exc, delay)
                if self.abandoning.wait(delay):
                    return

    def _update_lag(self, consumer: PartitionConsumer) -> None:
        end = consumer.highwater()
        if end is not None:
            self._lag.set(max(0, end - self._next_offset))

    def _beat(self) -> None:
        """A timer of its own, so a worker busy on one long file, or waiting to retry, still
        shows as active: when nothing was committed for HEARTBEAT_S, the last commit is made
        again (same offset, fresh metadata) through a connection of its own (a consumer is
        not shared between threads; the lock keeps it from racing a real commit)."""
        leave_signals_to_main_thread()
        committer = None
        try:
            while not self._beats_done.wait(1):
                if time.monotonic() - self._last_commit < HEARTBEAT_S:
                    continue
                try:
                    if committer is None:
                        committer = PartitionConsumer(self.config.kafka, self.topic,
                                                      self.worker_id)
                    with self._commit_lock:
                        committer.commit(self._next_offset - 1,
                                         commit_metadata(self.worker_id, self.metrics_address))
                        self._last_commit = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - best effort: the next one may succeed
                    self._last_commit = time.monotonic()
                    log.debug("%s: heartbeat commit failed: %s", self.tag, describe(exc))
        finally:
            if committer is not None:
                committer.close()

    def _retry_from(self, consumer: PartitionConsumer, message: Message,
                    pending: deque, failures: int) -> None:
        """Waits for the messages behind the failed one, then re-reads from it."""
        for _, future, _ in pending:
            future.cancel()
        wait([f for _, f, _ in pending])
        pending.clear()
        consumer.seek(message.offset)
        if not self.stopping.is_set():
            self.stopping.wait(RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)])


def run_worker(config: IngestConfig, pipeline: PipelineConfig, worker_id: int, topic: str,
               parallel: int, stopper) -> int:
    """worker.py's body: a per-message Worker, or the pipeline's long-running job.
    `stopper(callback)` installs the stop signals."""
    logs.set_context(role=f"worker-{worker_id}")
    face = load(pipeline.type, "worker")
    if isinstance(face, type) and issubclass(face, StreamingJob):
        job = face(config, pipeline, worker_id)
        stopping = threading.Event()
        stopper(lambda *_: stopping.set())
        return job.run(topic, parallel, stopping)
    worker = Worker(config, pipeline, worker_id, topic, parallel)
    stopper(worker.stop)
    worker.metrics_address = metrics.serve(config, pipeline.name, 1 + worker_id)
    return worker.run()
