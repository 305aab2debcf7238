"""Prometheus metrics of masters and workers, served on the port the configuration sets
(`metrics.port` or `pipelines.<name>.metrics_port`; off when unset): the master on that
port, worker N on port + 1 + N; 0 gives every process a free port of its own, which the
master's lock file and the workers' commits publish for ingest_status."""
from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from common.config import IngestConfig

log = logging.getLogger(__name__)

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

FILES_DETECTED = Counter("spot_files_detected", "Complete files the master took",
                         ["pipeline"])
FILES_PUBLISHED = Counter("spot_files_published", "Files stored and acknowledged",
                          ["pipeline"])
MESSAGES_PUBLISHED = Counter("spot_messages_published", "Messages acknowledged by the broker",
                             ["pipeline"])
FILES_SET_ASIDE = Counter("spot_files_set_aside", "Files the master set aside", ["pipeline"])
MESSAGES_PROCESSED = Counter("spot_messages_processed", "Messages a worker committed",
                             ["pipeline", "worker"])
FILES_INGESTED = Counter("spot_files_ingested", "Files whose rows are in place",
                         ["pipeline", "worker"])
FILES_QUARANTINED = Counter("spot_files_quarantined", "Files a worker set aside",
                            ["pipeline", "worker"])
ROWS_WRITTEN = Counter("spot_rows_written", "Rows placed in the table", ["pipeline", "worker"])
RETRIES = Counter("spot_retries", "Failures retried, by cause", ["pipeline", "role", "cause"])
DECODE_SECONDS = Histogram("spot_decode_seconds", "Decoding a file into Parquet (decoder, "
                           "Arrow, Parquet write)", ["pipeline"], buckets=_SECONDS)
UPLOAD_SECONDS = Histogram("spot_upload_seconds", "Storing a file (master: the binary; "
                           "worker: its Parquet outputs)", ["pipeline", "role"], buckets=_SECONDS)
REGISTER_SECONDS = Histogram("spot_register_seconds", "Registering a partition in the "
                             "metastore", ["pipeline"], buckets=_SECONDS)
CELLS_NULLED = Counter("spot_cells_nulled", "Values that did not fit their column (an integer "
                       "out of range, text in a number column), stored as NULL; the row is kept",
                       ["pipeline", "column"])
CONSUMER_LAG = Gauge("spot_consumer_lag", "Messages of its partition a worker has not "
                     "committed yet", ["pipeline", "topic", "partition"])


def port_of(config: IngestConfig, pipeline: str, offset: int) -> int | None:
    """The metrics port of a process: pipelines.<name>.metrics_port, else metrics.port, plus
    `offset` (master 0, worker N 1 + N); 0 means any free port; None: metrics are off."""
    base = config.pipeline(pipeline).metrics_port
    base = config.metrics.port if base is None else base
    if base is None:
        return None
    return base + offset if base else 0


def serve(config: IngestConfig, pipeline: str, offset: int) -> str | None:
    """Starts the metrics endpoint of this process; returns its address (host:port), None
    when metrics are off (port_of). A port in use is one clear error."""
    port = port_of(config, pipeline, offset)
    return None if port is None else listen(config.metrics.host, port)


def listen(host: str, port: int) -> str:
    """Serves this process's metrics on host:port (0: a free port); returns host:port."""
    from common.errors import ConfigError

    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError(f"metrics: cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc} (another pipeline on this host? give each "
                          "its own pipelines.<name>.metrics_port, or set metrics.port to 0)") \
            from None
    address = f"{host}:{server.server_port}"
    log.info("metrics on http://%s/metrics", address)
    return address
