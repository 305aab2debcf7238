"""Proxy worker side: the Spark Structured Streaming job (pipelines/proxy/job.py) over the
whole topic, started through spark-submit with the configuration's spark-streaming settings.
worker.py stays in the foreground while the job runs, passes a stop on to it (the running
micro-batch finishes, or is abandoned uncommitted), and exits with the job's status."""
from __future__ import annotations

import logging
import os
import posixpath
import signal
import subprocess
import threading
from pathlib import Path

from common import kerberos, metrics
from common.errors import ConfigError
from common.plugin import StreamingJob
from pipelines.proxy import job
from pipelines.proxy.submit import connector_jars, spark_env, spark_submit_argv

log = logging.getLogger("spot.worker")


class ProxyJob(StreamingJob):
    def job_options(self, topic: str) -> job.JobOptions:
        config, pipeline = self.config, self.pipeline
        storage_uri = config.hdfs.filesystem_uri if config.hdfs.enabled else "file://"
        # a checkpoint holds one topic's offsets: one folder per topic
        base = pipeline.checkpoint_path or posixpath.join(
            config.hdfs_app_path, "proxy", "stage", pipeline.name, "checkpoints")
        if base.startswith("/"):                       # a path on the table's storage
            base = storage_uri + base
        checkpoint = posixpath.join(base, topic)
        return job.JobOptions(
            bootstrap=config.kafka.bootstrap, topic=topic, pipeline=pipeline.name,
            dbname=config.dbname, app_path=config.hdfs_app_path, storage_uri=storage_uri,
            metastore=config.hive.metastore_uris,
            batch_seconds=config.spark_streaming.spark_batch_size,
            checkpoint=checkpoint,
            kafka_security_protocol=config.kafka.security_protocol,
            kafka_sasl_service_name=config.kafka.sasl_kerberos_service_name,
            metastore_sasl_service=config.hive.kerberos_service_name if config.hive.sasl else None,
            worker_id=self.worker_id,
            metrics_port=metrics.port_of(config, pipeline.name, 1 + self.worker_id),
            metrics_host=config.metrics.host)

    def submit_argv(self, topic: str, parallel: int) -> list[str]:
        """spark-submit's argument list: the master (spark-streaming.spark_master, else
        local[-p]), driver memory, executors, their memory and cores; with Kerberos on,
        KRB_USER and KEYTABPATH as --principal and --keytab."""
        settings = self.config.spark_streaming
        try:
            jars = connector_jars()
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from None
        conf = {"spark.executor.instances": str(settings.spark_exec),
                "spark.executor.memory": settings.spark_executor_memory,
                "spark.executor.cores": str(settings.spark_executor_cores)}
        login = kerberos.settings_from_environment()
        return spark_submit_argv(job.to_argv(self.job_options(topic)),
                                 master=settings.spark_master or f"local[{parallel}]",
                                 driver_memory=settings.driver_memory, jars=jars, conf=conf,
                                 principal=login and login.principal,
                                 keytab=login and login.keytab)

    def run(self, topic: str, parallel: int, stopping: threading.Event) -> int:
        argv = self.submit_argv(topic, parallel)
        if not Path(argv[0]).exists():
            raise ConfigError(f"{argv[0]} is missing: pyspark is not installed (run make setup)")
        master = argv[argv.index("--master") + 1]
        log.info("%s: starting the proxy job on %s (batches every %d s)", self.pipeline.name,
                 master, self.config.spark_streaming.spark_batch_size)
        # a session of its own: one stop, passed on by us, not a second one from the terminal
        proc = subprocess.Popen(argv, env=spark_env(master=master), stdin=subprocess.DEVNULL,
                                start_new_session=True)
        asked = False
        while proc.poll() is None:
            if stopping.wait(0.5) and not asked:
                log.info("%s: stopping the proxy job (the running batch finishes)",
                         self.pipeline.name)
                os.killpg(proc.pid, signal.SIGTERM)
                asked = True
        code = proc.wait()
        if asked and code in (128 + signal.SIGTERM, -signal.SIGTERM):
            # stopped while Spark was still starting: nothing was read, nothing is lost
            log.info("%s: the proxy job stopped before it had started", self.pipeline.name)
            code = 0
        log.info("%s: the proxy job exited with %d", self.pipeline.name, code)
        return code


PROCESSOR = ProxyJob
