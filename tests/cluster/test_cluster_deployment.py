"""A cluster deployment, proven on one machine.

- Master and workers as separate "hosts": separate processes with separate configuration
  files (their own local_staging and pcap_split_staging), sharing nothing but Kafka, HDFS
  (WebHDFS) and the metastore; flow, dns and proxy, exact counts.
- A replicated Kafka: three KRaft brokers, topics with replication factor 3 and
  min.insync.replicas 2; one broker killed with SIGKILL mid-run and brought back.
- The proxy job on a Spark standalone cluster (spark://...) instead of local[*].
"""
from __future__ import annotations

import collections
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from common.config import load_config
from common.setup import setup_all
from common.storage import open_storage
from pipelines.dns import capture_writer as cw
from pipelines.proxy import bluecoat, log_writer
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import start_master, start_worker, wait_for
from tests.integration.test_dns_pipeline import all_committed, key, table_rows
from tests.integration.test_proxy_job import folder_row_count, folder_rows
from tests.reliability.harness import assert_exactly_once, numbered_capture

WEBHDFS = "http://127.0.0.1:9870"


def host_configs(tmp_path: Path, **kafka) -> tuple[Path, Path]:
    """Two configuration files, as a collector host and a worker host would hold them: the
    same Kafka, HDFS and metastore, their own local folders."""
    app, db = "/" + unique("spot_cluster"), unique("spot_cluster")
    paths = []
    for host in ("collector-host", "worker-host"):
        root = tmp_path / host
        data = base_config_data(app, db, root)
        data["hdfs"] = {"namenode_url": WEBHDFS, "user": "spot"}
        data["kafka"].update(kafka)
        data["kafka"]["message_size"] = 100_000
        data["spark-streaming"]["spark_batch_size"] = 2
        data["pipelines"]["dns_server_1"]["pkt_num"] = 200
        paths.append(write_config(root, data))
    return paths[0], paths[1]


def test_master_and_workers_on_separate_hosts(tmp_path, kafka_up, metastore_up, hdfs_up):
    collector_conf, worker_conf = host_configs(tmp_path)
    master_config, worker_config = load_config(collector_conf), load_config(worker_conf)
    assert master_config.pipeline("flow_internals").local_staging != \
        worker_config.pipeline("flow_internals").local_staging
    list(setup_all(worker_config))
    procs = []
    try:
        # flow
        flow_topic = unique("SPOT-INGEST-flow_internals")
        procs.append(start_master(collector_conf, "flow_internals", 2, flow_topic,
                                  tmp_path / "collector-host"))
        wait_for(lambda: "created, 2 partitions" in procs[-1].log(), 60, "the flow topic", procs)
        procs += [start_worker(worker_conf, "flow_internals", i, flow_topic,
                               tmp_path / "worker-host") for i in (0, 1)]
        ids: set[int] = set()
        for n in range(4):
            made, made_ids = numbered_capture(tmp_path / "made", f"nfcapd.20160104{9 + n % 2:02d}{n:02d}",
                                              2000, 1 + n * 10_000)
            ids |= made_ids
            os.replace(made, master_config.pipeline("flow_internals").collector_path / made.name)
        # dns
        dns_topic = unique("SPOT-INGEST-dns_server_1")
        procs.append(start_master(collector_conf, "dns_server_1", 2, dns_topic,
                                  tmp_path / "collector-host" / "dns"))
        wait_for(lambda: "created, 2 partitions" in procs[-1].log(), 60, "the dns topic", procs)
        procs += [start_worker(worker_conf, "dns_server_1", i, dns_topic,
                               tmp_path / "worker-host" / "dns") for i in (0, 1)]
        traffic = cw.traffic_mix(300, datetime(2016, 1, 4, 12, 58, tzinfo=timezone.utc), 240.0)
        capture = cw.write_pcap(tmp_path / "made" / "dns.pcap", traffic.packets)
        os.replace(capture, master_config.pipeline("dns_server_1").collector_path / "dns.pcap")
        # proxy
        proxy_topic = unique("SPOT-INGEST-proxy_bluecoat")
        procs.append(start_master(collector_conf, "proxy_bluecoat", 2, proxy_topic,
                                  tmp_path / "collector-host" / "proxy"))
        wait_for(lambda: "created, 2 partitions" in procs[-1].log(), 60, "the proxy topic", procs)
        procs.append(start_worker(worker_conf, "proxy_bluecoat", 0, proxy_topic,
                                  tmp_path / "worker-host" / "proxy", parallel=2))
        log = tmp_path / "made" / "access.log"
        stats = log_writer.write_log(log, 3000, datetime(2016, 1, 4, 9, tzinfo=timezone.utc),
                                     hours=2, bad={"field_count": 2})
        expected_proxy = collections.Counter(
            tuple(r) for r in map(bluecoat.parse_line, log.read_bytes().split(b"\n"))
            if isinstance(r, bluecoat.Row))
        os.replace(log, master_config.pipeline("proxy_bluecoat").collector_path / "access.log")

        storage = open_storage(worker_config)
        wait_for(lambda: all_committed(worker_config, flow_topic)
                 and all_committed(worker_config, dns_topic)
                 and not (master_config.pipeline("dns_server_1").collector_path / "dns.pcap").exists()
                 and folder_row_count(storage, worker_config.hdfs_app_path, tmp_path) == stats.valid,
                 300, "every pipeline loaded", procs, interval=2)
    finally:
        codes = [p.stop(timeout=180) for p in procs]
    assert codes == [0] * len(procs)
    assert_exactly_once(worker_config, ids, tmp_path)
    rows = [r for part in table_rows(worker_config, tmp_path).values() for r in part]
    assert collections.Counter(map(key, rows)) == collections.Counter(map(key, traffic.rows))
    proxy_rows, _ = folder_rows(storage, worker_config.hdfs_app_path, tmp_path)
    assert proxy_rows == expected_proxy
    # nothing of the worker host's was needed on the collector host, and the other way round
    assert not (tmp_path / "collector-host" / "staging" / "flow_internals").exists() or \
        not any((tmp_path / "collector-host" / "staging" / "flow_internals").iterdir())


def test_a_replicated_kafka_survives_a_broker_killed_mid_run(kafka_cluster, tmp_path,
                                                             metastore_up):
    data = base_config_data(str(tmp_path / "spot"), unique("spot_cluster"), tmp_path)
    data["kafka"].update(kafka_server=kafka_cluster.bootstrap, replication_factor=3)
    config = load_config(write_config(tmp_path, data))
    list(setup_all(config))
    collector = config.pipeline("flow_internals").collector_path
    topic = unique("SPOT-INGEST-flow_internals")
    master = start_master(config.path, "flow_internals", 2, topic, tmp_path)
    wait_for(lambda: "created, 2 partitions" in master.log(), 60, "the topic", [master])
    workers = [start_worker(config.path, "flow_internals", i, topic, tmp_path) for i in (0, 1)]
    procs = [master, *workers]
    ids: set[int] = set()
    try:
        assert kafka_cluster.in_sync(topic) == (3, 3)
        for n in range(12):
            made, made_ids = numbered_capture(tmp_path / "made", f"nfcapd.2016010409{n:02d}",
                                              3000, 1 + n * 10_000)
            ids |= made_ids
            os.replace(made, collector / made.name)
            if n == 5:                      # mid-run: files in flight, a broker dies
                time.sleep(1)
                kafka_cluster.kill_node(2)
            time.sleep(0.3)
        wait_for(lambda: kafka_cluster.in_sync(topic)[1] == 2, 60,   # it really is gone
                 "the dead broker to leave the in-sync replicas", procs)
        kafka_cluster.start_node(2)
        wait_for(lambda: all_committed(config, topic) and not any(collector.iterdir()), 240,
                 "every file loaded", procs, interval=2)
        kafka_cluster.wait_in_sync(topic, 3)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0, 0]
    assert_exactly_once(config, ids, tmp_path)
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    assert described["topic"][topic]["min.insync.replicas"]["value"] == "2"


def test_the_proxy_job_on_a_spark_standalone_cluster(spark_standalone, tmp_path, kafka_up,
                                                     metastore_up, hdfs_up):
    collector_conf, worker_conf = host_configs(tmp_path)
    data = json.loads(worker_conf.read_text())
    data["spark-streaming"].update(spark_master=spark_standalone.url, spark_exec=1,
                                   spark_executor_memory="512m", spark_executor_cores=2)
    worker_conf.write_text(json.dumps(data))
    master_config, worker_config = load_config(collector_conf), load_config(worker_conf)
    list(setup_all(worker_config))
    topic = unique("SPOT-INGEST-proxy_bluecoat")
    master = start_master(collector_conf, "proxy_bluecoat", 2, topic, tmp_path)
    wait_for(lambda: "created, 2 partitions" in master.log(), 60, "the topic", [master])
    worker = start_worker(worker_conf, "proxy_bluecoat", 0, topic, tmp_path, parallel=2)
    log = tmp_path / "access.log"
    stats = log_writer.write_log(log, 4000, datetime(2016, 1, 4, 9, tzinfo=timezone.utc),
                                 hours=1, bad={"non_integer": 3})
    expected = collections.Counter(tuple(r) for r in map(bluecoat.parse_line,
                                                           log.read_bytes().split(b"\n"))
                                   if isinstance(r, bluecoat.Row))
    storage = open_storage(worker_config)
    try:
        os.replace(log, master_config.pipeline("proxy_bluecoat").collector_path / "access.log")
        wait_for(lambda: folder_row_count(storage, worker_config.hdfs_app_path, tmp_path)
                 == stats.valid, 300, "every valid line", [master, worker], interval=2)
    finally:
        codes = [master.stop(), worker.stop(timeout=180)]
    assert codes == [0, 0]
    assert f"starting the proxy job on {spark_standalone.url}" in worker.log()
    rows, _ = folder_rows(storage, worker_config.hdfs_app_path, tmp_path)
    assert rows == expected
    # the executors ran on the standalone worker, not in the driver
    apps = list((spark_standalone.folder / "work").iterdir())
    assert apps and any((app / "0" / "stderr").exists() for app in apps)
