"""Health checks of the local stack: each asks its service a real question, with the same
clients the pipelines use (common/): Kafka whether a broker is registered, the metastore
whether its default database is there, HDFS through its HTTP endpoints (JMX, WebHDFS)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from supervise import HOST

CHECK_TIMEOUT_S = 3.0

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with _NO_PROXY.open(url, timeout=CHECK_TIMEOUT_S) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def jmx(port: int, bean: str) -> dict:
    status, body = http_get(f"http://{HOST}:{port}/jmx?qry={bean}")
    if status != 200:
        raise RuntimeError(f"JMX answered HTTP {status}")
    beans = json.loads(body).get("beans") or []
    if not beans:
        raise RuntimeError(f"JMX has no bean {bean}")
    return beans[0]


def kafka_brokers(port: int) -> int:
    """Brokers the cluster lists: a broker is listed only once it is registered and unfenced,
    which takes an active controller; then topics can be created."""
    from common.config import KafkaSettings
    from common.kafka_admin import broker_count

    return broker_count(KafkaSettings(HOST, port), int(CHECK_TIMEOUT_S * 1000))


def metastore_ready(port: int) -> bool:
    """The metastore answers and holds its default database."""
    from common.catalog import Catalog

    with Catalog((f"thrift://{HOST}:{port}",), timeout_s=CHECK_TIMEOUT_S) as catalog:
        return catalog.database_exists("default")
