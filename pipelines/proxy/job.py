"""Proxy pipeline, worker side: a Spark Structured Streaming job from Kafka to the `proxy` table.

Run it with spark-submit (pipelines/proxy/submit.py builds the whole command line, with the
Kafka connector jars and the JIT flag the parse needs to run at full speed):

    spark-submit --master local[2] --driver-memory 1g --jars <spark-sql-kafka-0-10 and deps> \\
        --driver-java-options -XX:-DontCompileHugeMethods \\
        --conf spark.executor.extraJavaOptions=-XX:-DontCompileHugeMethods \\
        pipelines/proxy/job.py --bootstrap 127.0.0.1:9092 --topic SPOT-INGEST-proxy_bluecoat_x \\
        --pipeline proxy_bluecoat --dbname spot --app-path /user/spot \\
        --storage-uri hdfs://127.0.0.1:8020 --metastore thrift://127.0.0.1:9083 --batch-seconds 10

Arguments (options.py; `--help` prints them):
  --bootstrap HOST:PORT[,...]   Kafka bootstrap servers                                (required)
  --topic TOPIC                 topic to read, every partition                         (required)
  --pipeline NAME               pipeline name: names output files, stage/rejected folders (required)
  --dbname DB                   Hive database holding the `proxy` table                 (required)
  --app-path PATH               hdfs_app_path, absolute                                 (required)
  --storage-uri URI             filesystem of app-path: file:// (default) or hdfs://host:port
  --metastore URIS              thrift://host:port[,...]      (default thrift://127.0.0.1:9083)
  --batch-seconds N             micro-batch interval, seconds                      (default 30)
  --checkpoint URI              default <storage-uri><app-path>/proxy/stage/<pipeline>/checkpoint;
                                one checkpoint per topic: a new topic needs a new checkpoint
  --starting-offsets WHERE      earliest (default) or latest; only for a new checkpoint
  --max-offsets-per-trigger N   messages per micro-batch at most (default 50 per second of
                                batch interval: a backlog drains at full speed on 2 cores)
  --stop-timeout S              seconds a stop waits for the running batch to finish (default 120)
  --log-level LEVEL             Spark's log level                                (default WARN)
  --kafka-security-protocol P   PLAINTEXT (default), SASL_PLAINTEXT or SASL_SSL: SASL is Kerberos
                                (GSSAPI) with the ticket cache of the environment (KRB5CCNAME)
  --kafka-sasl-service-name N   the brokers' Kerberos service name               (default kafka)
  --metastore-sasl-service N    the metastore's Kerberos service name: a SASL transport (hive.sasl)
  --worker-id N                 worker.py's -i, named in the job's commits of its position (0)
  --metrics-port N              Prometheus metrics of the job (spot_rows_written_total,
  --metrics-host H              spot_cells_nulled_total) on H:N (0: a free port, named in the
                                commits; default off; host 127.0.0.1)
The driver's Python must import this repository (the job puts its root on sys.path) and find
pyarrow, hmsclient, thrift and kafka-python (PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON = the
project's venv).

The parts, each readable alone:
  layouts.py, elff.py  the ELFF layouts, the name table, the line grammar (shared with the
                       reference parser bluecoat.py and with the master)
  parse.py             the parse inside the JVM: messages -> lines -> records or rejections
  batches.py           one micro-batch: stage, place files, register partitions, then commit
  query.py             the session, the Kafka source (read_committed, with headers), stopping
  progress.py          the job's position committed to the group = topic, for ingest_status
One log line per batch: batch id, rows, rejected, partitions, seconds (and the cells left
NULL, by column, when there are any).

Stopping: SIGTERM, SIGINT or SIGHUP (to the JVM that spark-submit runs, to this Python
driver, or to both through their process group) lets the running batch finish (up to
--stop-timeout), stops the query and exits 0; a batch that had not started is abandoned
uncommitted and replayed next time. A signal during start-up, before the session exists,
ends the JVM at once (nothing was read yet). A failing query exits 1 with one line, the
last on stderr; bad arguments exit 2.
"""
from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: import the repo
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.errors import SpotIngestError  # noqa: E402
from pipelines.proxy.batches import first_line, rejected_root  # noqa: E402,F401
from pipelines.proxy.options import (JobOptions, parse_args, stage_root,  # noqa: E402,F401
                                     to_argv)
from pipelines.proxy.query import catch_python_signals, kafka_security, run  # noqa: E402,F401

_EXIT_FAILED = 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    catch_python_signals(stop)
    try:
        run(opts, stop)
        return 0
    except SpotIngestError as exc:
        message = str(exc)
    except Exception as exc:  # Spark/py4j errors: one line, not a JVM stack trace
        message = first_line(exc)
    print(f"error: proxy job {opts.pipeline}: {message}", file=sys.stderr, flush=True)
    return _EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
