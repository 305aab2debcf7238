"""A worker bound to one partition: takes messages in order, lets the pipeline's processor
turn each into rows (up to `parallel` at once), and commits offsets strictly in order, each
only after its rows are in place. A transient failure re-reads from the failed message."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait, FIRST_COMPLETED

from common.catalog import Catalog
from common.config import IngestConfig, PipelineConfig
from common.errors import KafkaError, SpotIngestError
from common.kafka_io import Message, PartitionConsumer
from common.plugin import BadMessage, Processed, Processor, load
from common.storage import open_storage

log = logging.getLogger("spot.worker")

RETRY_DELAYS = (2, 5, 15, 30, 60)
TOPIC_WAIT_S = 60      # a worker started just before its master waits for the topic


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
        self.processed = 0
        self.rows = 0
        self.tag = f"{pipeline.name} worker-{worker_id}"

    def stop(self, *_args) -> None:
        self.stopping.set()

    def _handle(self, message: Message) -> Processed | None:
        try:
            return self.processor.process(message)
        except BadMessage as exc:
            log.error("%s: skipping message at offset %d: %s", self.tag, message.offset, exc)
            return None

    def run(self, idle_exit_seconds: float | None = None) -> int:
        consumer = PartitionConsumer(self.config.kafka, self.topic, self.worker_id,
                                     wait_for_topic_s=TOPIC_WAIT_S)
        log.info("%s: reading %s partition %d (up to %d file(s) at once)", self.tag,
                 self.topic, self.worker_id, self.parallel)
        pending: deque[tuple[Message, Future, float]] = deque()
        failures = 0
        idle_since = time.monotonic()
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="decode") as pool:
            try:
                while not self.stopping.is_set():
                    room = self.parallel - len(pending)
                    if room > 0:
                        for message in consumer.poll(timeout_ms=200 if pending else 1000,
                                                     max_records=room):
                            pending.append((message, pool.submit(self._handle, message),
                                            time.monotonic()))
                    if not pending:
                        if idle_exit_seconds is not None and \
                                time.monotonic() - idle_since > idle_exit_seconds:
                            break
                        continue
                    wait([pending[0][1]], timeout=0.5, return_when=FIRST_COMPLETED)
                    while pending and pending[0][1].done():
                        message, future, started = pending.popleft()
                        exc = future.exception()
                        if exc is not None:
                            failures += 1
                            self._retry_from(consumer, message, pending, exc, failures)
                            break
                        failures = 0
                        self._done(message, future.result(), time.monotonic() - started)
                        self._commit(consumer, message.offset)
                        idle_since = time.monotonic()
            finally:
                for _, future, _ in pending:
                    future.cancel()
                consumer.close()
        log.info("%s: stopped; %d message(s), %d row(s)", self.tag, self.processed, self.rows)
        return 0

    def _done(self, message: Message, result: Processed | None, seconds: float) -> None:
        self.processed += 1
        if result is None:
            return
        if result.quarantined:
            log.error("%s: %s quarantined at %s: offset %d committed, going on", self.tag,
                      result.name, result.quarantined, message.offset)
            return
        self.rows += result.rows
        log.info("%s: %s: %d rows in %.2f s (offset %d)", self.tag, result.name, result.rows,
                 seconds, message.offset)

    def _commit(self, consumer: PartitionConsumer, offset: int) -> None:
        """Commits, retrying while the broker is away. Stopping before it succeeds only means
        the message comes again, and reprocessing it replaces the same rows."""
        attempt = 0
        while True:
            try:
                consumer.commit(offset)
                return
            except KafkaError as exc:
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                attempt += 1
                log.error("%s: %s; retry in %d s", self.tag, exc, delay)
                if self.stopping.wait(delay):
                    return

    def _retry_from(self, consumer: PartitionConsumer, message: Message,
                    pending: deque, exc: BaseException, failures: int) -> None:
        """Waits for the messages behind the failed one, then re-reads from it."""
        for _, future, _ in pending:
            future.cancel()
        wait([f for _, f, _ in pending])
        pending.clear()
        delay = RETRY_DELAYS[min(failures - 1, len(RETRY_DELAYS) - 1)]
        reason = str(exc) if isinstance(exc, SpotIngestError) else f"{type(exc).__name__}: {exc}"
        log.error("%s: offset %d failed (attempt %d), not committed, retry in %d s: %s",
                  self.tag, message.offset, failures, delay, reason)
        consumer.seek(message.offset)
        self.stopping.wait(delay)
