"""The proxy job's position, told to Kafka for monitoring: Spark's Kafka source never
commits consumer-group offsets, so ingest_status (common/status.py) would show the whole topic
as lag and the job as not active. After every finished (committed) batch the job commits that
batch's end offsets to the group named after the topic (group id = topic, as the flow and dns
workers do), with the workers' commit metadata ({"worker", "host", "pid", "at"}, plus this
run's totals: rows, rejected lines, cells left NULL by column), and commits them again every
RECOMMIT_S while it runs, so that an idle job shows active. For monitoring only: Spark's
checkpoint stays the truth of where the job resumes, and nothing reads these offsets back.
"""
from __future__ import annotations

import json
import logging
import threading

from pipelines.proxy.options import JobOptions

log = logging.getLogger("spot-ingest.proxy")

RECOMMIT_S = 15
_COMMIT_TIMEOUT_MS = 10000


def end_offsets(progress, topic: str) -> dict[int, int] | None:
    """{partition: next offset} after a batch, from a streaming query's progress (its JSON:
    pyspark's StreamingQueryProgress turns the offsets into their Python repr)."""
    if progress is not None and hasattr(progress, "json"):
        progress = json.loads(progress.json)
    for source in (progress or {}).get("sources") or []:
        end = source.get("endOffset")
        if isinstance(end, str):
            try:
                end = json.loads(end)
            except ValueError:
                continue
        if isinstance(end, dict) and isinstance(end.get(topic), dict):
            return {int(p): int(o) for p, o in end[topic].items()}
    return None


def checkpoint_offsets(text: str | None, topic: str) -> dict[int, int] | None:
    """The offsets a checkpoint's offsets/<batch> file records for the topic (its last line,
    the sources' offsets as JSON)."""
    if not text:
        return None
    try:
        sources = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    if not isinstance(sources, dict) or not isinstance(sources.get(topic), dict):
        return None
    return {int(p): int(o) for p, o in sources[topic].items()}


def last_committed(files, checkpoint: str, topic: str) -> dict[int, int] | None:
    """The end offsets of the last batch the checkpoint holds as committed (None: none)."""
    done = [int(p.rsplit("/", 1)[1]) for p in files.glob(checkpoint.rstrip("/") + "/commits/*")
            if p.rsplit("/", 1)[1].isdigit()]
    if not done:
        return None
    return checkpoint_offsets(files.read_text(f"{checkpoint.rstrip('/')}/offsets/{max(done)}"),
                              topic)


class GroupCommits:
    """Commits the job's position on a thread of its own (a broker that does not answer never
    delays a batch or a stop): offer() after each batch, and the timer in between."""

    def __init__(self, opts: JobOptions, totals: dict | None = None,
                 metrics_address: str | None = None):
        self.opts, self.totals = opts, totals if totals is not None else {}
        self.metrics_address = metrics_address
        self._offsets: dict[int, int] | None = None
        self._fresh = threading.Event()
        self._stop = threading.Event()
        self._consumer = None
        self._thread = threading.Thread(target=self._run, name="group-commits", daemon=True)
        self._committed: dict[int, int] | None = None
        self.commits = 0

    def start(self, initial: dict[int, int] | None = None) -> "GroupCommits":
        if initial:
            self.offer(initial)
        self._thread.start()
        return self

    def offer(self, offsets: dict[int, int] | None) -> None:
        """The end offsets of a finished batch (ignored when they are no news)."""
        if offsets and offsets != self._offsets:
            self._offsets = dict(offsets)
            self._fresh.set()

    def stop(self) -> None:
        """Stops the timer; the last batch's offsets are committed if they were not yet."""
        self._stop.set()
        self._fresh.set()
        self._thread.join(timeout=_COMMIT_TIMEOUT_MS / 1000 + 5)
        if self._offsets is not None and self._offsets != self._committed:
            try:
                self._commit(self._offsets)
            except Exception as exc:  # noqa: BLE001 - monitoring only
                log.warning("%s: the job's last position was not committed to group %s: %s",
                            self.opts.pipeline, self.opts.topic, exc)
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:  # noqa: BLE001 - closing a client that already failed
                pass

    def _run(self) -> None:
        last_error = None
        while not self._stop.is_set():
            self._fresh.wait(RECOMMIT_S)
            self._fresh.clear()
            if self._stop.is_set() or self._offsets is None:
                continue
            try:
                self._commit(self._offsets)
                if last_error is not None:
                    log.info("%s: the job's position is committed to group %s again",
                             self.opts.pipeline, self.opts.topic)
                last_error = None
            except Exception as exc:  # noqa: BLE001 - monitoring only: said once, retried
                message = f"{type(exc).__name__}: {exc}"
                if message != last_error:
                    log.warning("%s: cannot commit the job's position to group %s (monitoring "
                                "only; retried): %s", self.opts.pipeline, self.opts.topic, message)
                last_error = message
                self._discard()

    def _commit(self, offsets: dict[int, int]) -> None:
        from kafka.structs import OffsetAndMetadata, TopicPartition

        consumer = self._connect()
        metadata = self.metadata()
        consumer.commit({TopicPartition(self.opts.topic, p): OffsetAndMetadata(o, metadata, -1)
                         for p, o in sorted(offsets.items())}, timeout_ms=_COMMIT_TIMEOUT_MS)
        self._committed = dict(offsets)
        self.commits += 1

    def metadata(self) -> str:
        """The workers' commit metadata, and this run's totals."""
        from common.worker import commit_metadata

        data = json.loads(commit_metadata(self.opts.worker_id, self.metrics_address))
        data.update(self.totals)
        return json.dumps(data, separators=(",", ":"))

    def _connect(self):
        from kafka import KafkaConsumer

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.opts.bootstrap, group_id=self.opts.topic,
                client_id=f"spot-ingest-proxy-job-{self.opts.worker_id}",
                enable_auto_commit=False, request_timeout_ms=30000,
                bootstrap_timeout_ms=15000, **security(self.opts))
        return self._consumer

    def _discard(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception:  # noqa: BLE001
                pass


def security(opts: JobOptions) -> dict[str, str]:
    """kafka-python's settings for the job's --kafka-security-protocol (SASL: Kerberos with
    the ticket cache of the environment, as the JVM side uses)."""
    if opts.kafka_security_protocol == "PLAINTEXT":
        return {}
    return {"security_protocol": opts.kafka_security_protocol, "sasl_mechanism": "GSSAPI",
            "sasl_kerberos_service_name": opts.kafka_sasl_service_name}


def watch(query, commits: GroupCommits, topic: str, stop: threading.Event,
          every_s: float = 1.0) -> threading.Thread:
    """Offers the end offsets of every batch the query finishes, as it reports them."""
    def run() -> None:
        seen = None
        while not stop.wait(every_s):
            try:
                progress = query.lastProgress
            except Exception:  # noqa: BLE001 - the query is stopping
                return
            if progress and progress.get("batchId") != seen:
                seen = progress.get("batchId")
                commits.offer(end_offsets(progress, topic))

    thread = threading.Thread(target=run, name="progress-watch", daemon=True)
    thread.start()
    return thread


