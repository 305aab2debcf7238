"""The proxy job's streaming query: one modest Spark session, the Kafka source over every
partition of the topic (read_committed: the master sends every message in a transaction of
its own; with its headers, which carry each message's layout), foreachBatch with the batch
writer (batches.py), the job's position committed for monitoring (progress.py), and the stop
protocol: TERM, INT or HUP reaching the JVM or this Python driver let the running batch finish
(up to --stop-timeout), then the query stops; a batch that had not started is left
uncommitted and replayed next time."""
from __future__ import annotations

import logging
import signal
import threading
import time

from common.errors import SpotIngestError
from pipelines.proxy import progress
from pipelines.proxy.batches import BatchWriter, HadoopFiles, first_line
from pipelines.proxy.options import JobOptions

log = logging.getLogger("spot-ingest.proxy")


def build_session(opts: JobOptions):
    """One modest session: no UI, few shuffle partitions (the only shuffle gathers rejected
    lines), no _SUCCESS markers in the stage."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(f"spot-ingest proxy {opts.pipeline}")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.parquet.compression.codec", "snappy")
             .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
             # Kafka's DataSource V2 stream fails the query right after replaying an
             # uncommitted batch on restart (NPE in its progress metrics, SPARK-55271, Spark
             # 4.1): the V1 source reads the same offsets and checkpoint without that hole.
             .config("spark.sql.streaming.disabledV2MicroBatchReaders",
                     "org.apache.spark.sql.kafka010.KafkaSourceProvider")
             .getOrCreate())
    spark.sparkContext.setLogLevel(opts.log_level)
    return spark


def kafka_security(opts: JobOptions) -> dict[str, str]:
    """The Kafka source's options for SASL: Kerberos from the ticket cache the worker keeps
    fresh (KRB5CCNAME, common.kerberos); none for PLAINTEXT."""
    if opts.kafka_security_protocol == "PLAINTEXT":
        return {}
    return {"kafka.security.protocol": opts.kafka_security_protocol,
            "kafka.sasl.mechanism": "GSSAPI",
            "kafka.sasl.kerberos.service.name": opts.kafka_sasl_service_name,
            "kafka.sasl.jaas.config":
                "com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;"}


def start_query(spark, opts: JobOptions, writer: BatchWriter):
    """Every partition of the topic, at most max_offsets messages a batch, data loss fatal;
    only committed messages (aborted transactions of a retried send are never read)."""
    source = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", opts.bootstrap)
              .option("subscribe", opts.topic)
              .option("startingOffsets", opts.starting_offsets)
              .option("maxOffsetsPerTrigger", str(opts.max_offsets))
              .option("failOnDataLoss", "true")
              .option("includeHeaders", "true")
              .option("kafka.isolation.level", "read_committed")
              .options(**kafka_security(opts))
              .load())
    return (source.writeStream.queryName(f"proxy-{opts.pipeline}")
            .foreachBatch(writer)
            .option("checkpointLocation", opts.checkpoint_uri)
            .trigger(processingTime=f"{opts.batch_seconds} seconds")
            .start())


class _JvmSignalHandler:
    """sun.misc.SignalHandler implemented in Python (py4j): spark-submit's JVM is the process
    a launcher signals; without this it would shut Spark down under the running batch."""

    def __init__(self, stop: threading.Event):
        self.stop = stop

    def handle(self, sig) -> None:
        log.info("received SIG%s: stopping after the running batch", sig.getName())
        self.stop.set()

    class Java:
        implements = ["sun.misc.SignalHandler"]


def catch_python_signals(stop: threading.Event) -> None:
    """TERM, INT and HUP reaching this Python driver (a launcher signalling the whole process
    group, Ctrl-C in a terminal) ask for a stop; installed first thing, before Spark starts."""
    def on_signal(signum, _frame):
        log.info("received %s: stopping after the running batch", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)


def catch_jvm_signals(spark, stop: threading.Event) -> object:
    """The same three signals reaching spark-submit's JVM; returns the handler, which must
    stay referenced. Until this runs (JVM and session start-up) the JVM's own handler exits."""
    from pyspark.java_gateway import ensure_callback_server_started

    ensure_callback_server_started(spark.sparkContext._gateway)
    handler = _JvmSignalHandler(stop)
    jvm = spark._jvm
    for name in ("TERM", "INT", "HUP"):
        jvm.sun.misc.Signal.handle(jvm.sun.misc.Signal(name), handler)
    return handler


class JobFailed(SpotIngestError):
    """The query ended with an error; str() is the one line to print."""


def run(opts: JobOptions, stop: threading.Event) -> None:
    """Runs until stopped (returns) or failed (raises JobFailed). Spark is stopped before
    returning, so the caller's last word really is the last line on stderr."""
    address = None
    if opts.metrics_port is not None:
        from common import metrics
        address = metrics.listen(opts.metrics_host, opts.metrics_port)
    spark = build_session(opts)
    commits = query = None
    watching = threading.Event()
    try:
        handler = catch_jvm_signals(spark, stop)  # noqa: F841 (kept alive until exit)
        files = HadoopFiles(spark, opts.app_uri)
        writer = BatchWriter(spark, opts, files, stop)
        if stop.is_set():
            return
        commits = progress.GroupCommits(opts, writer.totals, address).start(
            progress.last_committed(files, opts.checkpoint_uri, opts.topic))
        query = start_query(spark, opts, writer)
        writer.query_id = query.id
        writer.started.set()
        progress.watch(query, commits, opts.topic, watching)
        log.info("%s started: topic %s, query %s, checkpoint %s, batches every %d s",
                 opts.pipeline, opts.topic, query.id, opts.checkpoint_uri, opts.batch_seconds)
        failure = wait(query, stop)
        if stop.is_set():
            stop_gracefully(query, writer, opts.stop_timeout)
            if writer.error:
                log.warning("%s: the batch in flight failed while stopping (it stays "
                            "uncommitted): %s", opts.pipeline, writer.error)
            log.info("%s stopped after %d batches", opts.pipeline, writer.batches)
            return
        raise JobFailed(f"query failed: {writer.error or failure}")
    finally:
        watching.set()
        if commits is not None:
            if query is not None:
                commits.offer(progress.end_offsets(query.lastProgress, opts.topic))
            commits.stop()
        spark.stop()


def wait(query, stop: threading.Event) -> str | None:
    """Until a stop is asked (None) or the query ends (its error, one line)."""
    from pyspark.errors import StreamingQueryException

    while not stop.is_set():
        try:
            if query.awaitTermination(1):
                return "the query stopped"
        except StreamingQueryException as exc:
            return first_line(exc)
    return None


def stop_gracefully(query, writer: BatchWriter, timeout: float) -> None:
    """Lets the running batch finish: its moves (the writer's lock), then Spark's commit of it
    (the trigger ends), then stops the query. A batch that starts meanwhile raises
    StopRequested and stays uncommitted; past the timeout the batch in flight is abandoned
    uncommitted, which a replay at the next start repairs."""
    deadline = time.monotonic() + timeout
    if writer.lock.acquire(timeout=timeout):
        writer.lock.release()
        while query.isActive and query.status.get("isTriggerActive") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        log.warning("the running batch did not finish within %.0f s: abandoning it", timeout)
    query.stop()
