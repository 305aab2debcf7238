"""Kerberos (KRB_AUTH) with a real MIT KDC on loopback: the entry points' kinit, its errors, the
renewal of short tickets, the flow and proxy pipelines end to end through a Kafka node and a
Hive Metastore that accept only SASL/GSSAPI, and WebHDFS storage through a NameNode that
accepts only SPNEGO. Every process runs as it would on a cluster edge node: KRB_AUTH, KEYTABPATH, KRB_USER in its environment, KRB5_CONFIG naming the test
realm's krb5.conf."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.parquet as pq
import pytest

from common.catalog import Catalog
from common.config import KafkaSettings
from common.errors import CatalogError, KafkaError
from common.kafka_admin import ping
from common.layout import HourPartition, partition_dir
from common.messages import stored_name
from common.schemas import FLOW
from common.storage import LocalStorage
from pipelines.flow.netflow_generator import capture, count_flows, synthetic_flows
from pipelines.proxy import log_writer
from tests.integration.conftest import base_config_data, unique, write_config
from tests.integration.procs import REPO, STARTING_S, start_master, start_worker, wait_for
from tests.integration.test_proxy_job import folder_row_count

from .conftest import SHORT_LIFE_S

PIPELINE = "flow_internals"
KRB_VARIABLES = ("KRB_AUTH", "KEYTABPATH", "KRB_USER", "KINITPATH", "KINITOPTS", "KRB5CCNAME",
                 "KRB5_CONFIG")
ENTRY_POINTS = {
    "master_collector.py": ["-t", PIPELINE, "-w", "1", "--check"],
    "worker.py": ["-t", PIPELINE, "-i", "0", "--topic", "SPOT-INGEST-kerberos"],
    "spot_setup.py": [],
    "ingest_status.py": ["-t", PIPELINE],
}


def base_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any Kerberos setting of the person running the tests."""
    env = {k: v for k, v in os.environ.items() if k not in KRB_VARIABLES}
    return {**env, "TZ": "UTC", **extra}


def run_entry(script: str, args: list[str], env: dict[str, str],
              timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], cwd=REPO, env=base_env(**env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def local_config(tmp_path: Path) -> Path:
    """Local storage under tmp_path, a database of its own, the stack's Kafka and metastore."""
    data = base_config_data(str(tmp_path / "spot"), unique("spot_krb"), tmp_path)
    return write_config(tmp_path, data)


def cache_of(pid: int) -> Path:
    """The private credential cache of process pid (common.kerberos.private_cache)."""
    return Path(tempfile.gettempdir()) / f"krb5cc_spot_{pid}"


def klist(cache: Path) -> str:
    done = subprocess.run(["klist", "-c", f"FILE:{cache}"], env=base_env(LC_ALL="C"),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tgt_times(cache: Path, realm: str) -> tuple[datetime, datetime]:
    """(valid starting, expires) of the cache's TGT, from klist (C locale)."""
    for line in klist(cache).splitlines():
        if line.rstrip().endswith(f"krbtgt/{realm}@{realm}"):
            parts = line.split()
            return (datetime.strptime(" ".join(parts[0:2]), "%m/%d/%y %H:%M:%S"),
                    datetime.strptime(" ".join(parts[2:4]), "%m/%d/%y %H:%M:%S"))
    raise AssertionError(f"no TGT in {cache}:\n{klist(cache)}")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("script", sorted(ENTRY_POINTS))
def test_missing_variables_are_named_in_one_line(script, tmp_path):
    config = local_config(tmp_path)
    done = run_entry(script, ["-c", str(config), *ENTRY_POINTS[script]], {"KRB_AUTH": "1"})
    assert (done.returncode, done.stdout, done.stderr) == \
        (1, "", "error: KRB_AUTH is set but KEYTABPATH, KRB_USER are not\n")


def test_one_missing_variable(principals, tmp_path):
    env = {**principals.env("spot"), "KRB_USER": ""}
    done = run_entry("spot_setup.py", ["-c", str(local_config(tmp_path))], env)
    assert (done.returncode, done.stdout, done.stderr) == \
        (1, "", "error: KRB_AUTH is set but KRB_USER is not\n")


@pytest.mark.parametrize("user, keytab, message", [
    ("spot", "other",
     "kinit: Keytab contains no suitable keys for spot@SPOT.TEST while getting initial "
     "credentials"),
    ("rotated", "rotated",                      # its key was changed after this keytab's
     "kinit: Password incorrect while getting initial credentials"),
], ids=["keytab-of-another-principal", "rotated-key"])
def test_wrong_keytab_stops_with_kinits_message(principals, tmp_path, user, keytab, message):
    done = run_entry("spot_setup.py", ["-c", str(local_config(tmp_path))],
                     principals.env(user, keytab=keytab))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {message}\n")


def test_kinit_refusing_an_option_says_why(principals, tmp_path):
    env = {**principals.env("spot"), "KINITOPTS": "-l '5 fortnights'"}
    done = run_entry("spot_setup.py", ["-c", str(local_config(tmp_path))], env)
    assert (done.returncode, done.stdout, done.stderr) == \
        (1, "", "error: Bad lifetime value 5 fortnights\n")


def test_kinit_program_missing(principals, tmp_path):
    env = {**principals.env("spot"), "KINITPATH": "/nonexistent/kinit"}
    done = run_entry("spot_setup.py", ["-c", str(local_config(tmp_path))], env)
    assert (done.returncode, done.stdout, done.stderr) == \
        (1, "", "error: cannot run '/nonexistent/kinit' (KINITPATH): no such program\n")


def test_metastore_over_sasl_asks_the_kdc_for_the_hive_service(principals, tmp_path,
                                                                 metastore_up):
    """hive.sasl: the metastore is reached through SASL/GSSAPI, which needs a ticket for
    hive/<its host>; the realm has no hive/localhost (the stack's metastore is not Kerberized),
    so the KDC's answer, one line, shows the transport in use."""
    data = base_config_data(str(tmp_path / "spot"), unique("spot_krb"), tmp_path)
    data["hive"] = {"metastore_uris": "thrift://localhost:9083", "sasl": True}
    done = run_entry("spot_setup.py", ["-c", str(write_config(tmp_path, data))],
                     principals.env("spot"))
    error = done.stderr.splitlines()[-1]           # after the login's log line
    assert done.returncode == 1 and done.stdout.startswith("storage: ")
    assert error.startswith("error: cannot reach the Hive Metastore (thrift://localhost:9083: "
                            "Could not start SASL: ")
    assert error.endswith("Server hive/localhost@SPOT.TEST not found in Kerberos database)")


# --------------------------------------------------------------------------- login


def test_setup_logs_in_and_succeeds(principals, tmp_path, metastore_up):
    done = run_entry("spot_setup.py", ["-c", str(local_config(tmp_path))], principals.env())
    assert done.returncode == 0, done.stderr
    assert "database spot_krb_" in done.stdout and "table " in done.stdout


def test_master_holds_a_tgt_in_its_own_cache(principals, tmp_path, kafka_up, metastore_up):
    """KINITOPTS reach kinit as options (split like a shell, never run by one): the ticket
    lives 5 minutes instead of the realm's 10 hours. The cache goes when the process ends."""
    config = local_config(tmp_path)
    env = {**base_env(**principals.env()), "KINITOPTS": "-l '5m'"}
    master = start_master(config, PIPELINE, 1, unique("SPOT-INGEST-krb"), tmp_path, env)
    try:
        wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the master's topic line",
                 [master])
        cache = cache_of(master.popen.pid)
        listing = klist(cache)
        assert "Default principal: spot@SPOT.TEST" in listing
        start, end = tgt_times(cache, "SPOT.TEST")
        assert (end - start).total_seconds() == 300
    finally:
        code = master.stop()
    assert code == 0, master.log()[-2000:]
    assert not cache.exists()


def test_short_ticket_is_renewed_before_it_ends(principals, tmp_path):
    """A principal whose tickets live SHORT_LIFE_S; the module's login in a process that runs
    past the first ticket's end: the renewal thread replaces it before it expires."""
    runs_s = SHORT_LIFE_S + 12
    code = ("import sys, time\n"
            "from common import kerberos\n"
            "renewal = kerberos.login(kerberos.settings_from_environment())\n"
            "print(renewal.cache, flush=True)\n"
            "time.sleep(float(sys.argv[1]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(runs_s)], cwd=REPO,
                            env=base_env(**principals.env("short")), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        cache = Path(proc.stdout.readline().strip().removeprefix("FILE:"))
        assert cache == cache_of(proc.pid), proc.stderr.read()
        first_start, first_end = tgt_times(cache, "SPOT.TEST")
        assert (first_end - first_start).total_seconds() == SHORT_LIFE_S
        ends, valid_after_first_end = {first_end}, False
        while proc.poll() is None:
            now = datetime.now(timezone.utc).replace(tzinfo=None)   # klist runs with TZ=UTC
            valid = subprocess.run(["klist", "-s", "-c", f"FILE:{cache}"],
                                   env=base_env()).returncode == 0
            try:
                if valid:
                    ends.add(tgt_times(cache, "SPOT.TEST")[1])
                    valid_after_first_end = valid_after_first_end or now > first_end
            except AssertionError:
                if proc.poll() is None:        # else it ended and removed its cache meanwhile
                    raise
            time.sleep(1)
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert max(ends) > first_end, f"the ticket was not renewed: {sorted(ends)}"
    assert valid_after_first_end, "no valid ticket seen after the first one ended"
    assert not cache.exists()


# --------------------------------------------------------------------------- end to end


def partitions_of(metastore_uri: str, dbname: str, table: str, env: dict[str, str]) -> list:
    """[values, location] of a table's partitions, read over SASL in a process with the tests'
    own ticket."""
    code = ("import json, sys\n"
            "from common.catalog import Catalog\n"
            "with Catalog([sys.argv[1]], sasl_service='hive') as catalog:\n"
            "    print(json.dumps(catalog.list_partitions(sys.argv[2], sys.argv[3])))\n")
    done = subprocess.run([sys.executable, "-c", code, metastore_uri, dbname, table], cwd=REPO,
                          env=base_env(**env), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_flow_end_to_end_with_kafka_and_metastore_kerberized(principals, sasl_kafka,
                                                             sasl_metastore, client_env,
                                                             tmp_path):
    """spot_setup.py, master_collector.py and worker.py with KRB_AUTH, through a broker and a
    metastore that accept only SASL/GSSAPI: every row of one nfcapd file lands in the table's
    Parquet, and its partition is registered."""
    host, port = sasl_kafka.bootstrap.split(":")
    with pytest.raises(KafkaError):                 # a PLAINTEXT client is not let in
        ping(KafkaSettings(host, int(port)), timeout_ms=3000)
    with pytest.raises(CatalogError):               # nor a plain thrift one
        with Catalog([sasl_metastore.uri], timeout_s=5) as catalog:
            catalog.database_exists("default")
    data = base_config_data(str(tmp_path / "spot"), unique("spot_krb"), tmp_path)
    data["kafka"].update(kafka_server=host, kafka_port=int(port),
                         security_protocol="SASL_PLAINTEXT")
    data["hive"] = {"metastore_uris": sasl_metastore.uri, "sasl": True}
    config = write_config(tmp_path, data)
    env = principals.env("spot")
    done = run_entry("spot_setup.py", ["-c", str(config)], env)
    assert done.returncode == 0, done.stderr
    assert f"] database {data['dbname']}: created ({sasl_metastore.uri})" in done.stdout

    flows, name = 1234, "nfcapd.201601041500"
    start = datetime(2016, 1, 4, 15, 0, tzinfo=timezone.utc)
    nfcapd = capture(synthetic_flows(flows, start, seed=7, spread_seconds=240),
                     tmp_path / "nfcapd", name)
    assert count_flows(nfcapd) == flows

    topic = unique("SPOT-INGEST-krb")
    master = start_master(config, PIPELINE, 1, topic, tmp_path, base_env(**env))
    worker = start_worker(config, PIPELINE, 0, topic, tmp_path, env=base_env(**env))
    procs = [master, worker]
    part = HourPartition(2016, 1, 4, 15)
    folder = partition_dir(data["hdfs_app_path"], "flow", part)
    output = Path(f"{folder}/{PIPELINE}-{stored_name(name)}.parquet")
    try:
        wait_for(lambda: f"topic {topic} (created, 1 partitions)" in master.log(), 60,
                 "the master's topic line", procs)
        collector = tmp_path / "collector" / PIPELINE
        (collector / f".{name}").write_bytes(nfcapd.read_bytes())
        (collector / f".{name}").rename(collector / name)      # as nfcapd closes a file
        wait_for(output.exists, 120, "the file's rows in the table", procs)
        wait_for(lambda: partitions_of(sasl_metastore.uri, data["dbname"], "flow", client_env), 60,
                 "the partition's registration", procs, interval=1)
        # each process its own cache, each with a TGT for spot and a ticket for the broker
        caches = [cache_of(p.popen.pid) for p in procs]
        for cache in caches:
            listing = klist(cache)
            assert "Default principal: spot@SPOT.TEST" in listing
            assert "krbtgt/SPOT.TEST@SPOT.TEST" in listing
            assert "kafka/localhost@SPOT.TEST" in listing
        assert "hive/127.0.0.1@SPOT.TEST" in klist(caches[1])    # the worker registered
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0], "\n".join(p.log()[-2000:] for p in procs)
    assert pq.read_metadata(output).num_rows == flows
    assert pq.read_table(output).num_rows == flows
    partitions = partitions_of(sasl_metastore.uri, data["dbname"], "flow", client_env)
    assert [urlparse(location).path for _, location in partitions] == [folder]
    assert partitions[0][0] == part.values(FLOW)
    assert not any(cache.exists() for cache in caches)


@pytest.mark.timeout(1800)
def test_proxy_job_reads_kafka_and_registers_over_sasl(principals, sasl_kafka, sasl_metastore,
                                                       client_env, tmp_path):
    """worker.py's Spark job with Kerberos on: spark-submit with --principal/--keytab, the
    Kafka source over SASL/GSSAPI with the worker's ticket cache, partitions registered over
    SASL. (The JVM reads krb5.conf from java.security.krb5.conf, /etc/krb5.conf on a cluster
    host: here the test realm's, through JDK_JAVA_OPTIONS.)"""
    host, port = sasl_kafka.bootstrap.split(":")
    data = base_config_data(str(tmp_path / "spot"), unique("spot_krb"), tmp_path)
    data["kafka"].update(kafka_server=host, kafka_port=int(port),
                         security_protocol="SASL_PLAINTEXT", message_size=50_000)
    data["hive"] = {"metastore_uris": sasl_metastore.uri, "sasl": True}
    data["spark-streaming"]["spark_batch_size"] = 2
    config = write_config(tmp_path, data)
    env = base_env(**principals.env("spot"),
                   JDK_JAVA_OPTIONS=f"-Djava.security.krb5.conf={principals.realm.krb5_conf}")
    done = run_entry("spot_setup.py", ["-c", str(config)], env)
    assert done.returncode == 0, done.stderr

    pipeline = "proxy_bluecoat"
    log = tmp_path / "access.log"
    stats = log_writer.write_log(log, 2000, datetime(2016, 1, 4, 9, tzinfo=timezone.utc),
                                 hours=2)
    topic = unique(f"SPOT-INGEST-{pipeline}")
    master = start_master(config, pipeline, 1, topic, tmp_path, env)
    worker = start_worker(config, pipeline, 0, topic, tmp_path, parallel=1, env=env)
    procs = [master, worker]
    storage = LocalStorage()
    try:
        wait_for(lambda: "(created, 1 partitions)" in master.log(), 60, "the topic", procs)
        log.rename(tmp_path / "collector" / pipeline / log.name)
        wait_for(lambda: folder_row_count(storage, data["hdfs_app_path"], tmp_path) ==
                 stats.valid, STARTING_S, "every line in the table folders", procs,
                 interval=2)
    finally:
        codes = [p.stop(180) for p in procs]
    assert codes == [0, 0], "\n".join(p.log()[-3000:] for p in procs)
    assert stats.valid == 2000
    partitions = partitions_of(sasl_metastore.uri, data["dbname"], "proxy", client_env)
    assert sorted(tuple(v) for v, _ in partitions) == sorted(stats.per_partition)


STORAGE_CHECK = """
import argparse, json, sys
from common.cli import config_from_args
from common.errors import StorageError
from common.storage import open_storage

config = config_from_args(argparse.Namespace(config=sys.argv[1], log_config=None,
                                             log_level="WARNING"), "test")
storage = open_storage(config)
try:
    storage.mkdirs(sys.argv[2] + "/flow/binary")
    storage.rename(sys.argv[2] + "/flow/binary", sys.argv[2] + "/flow/placed")
    print(json.dumps([storage.describe(), storage.list(sys.argv[2] + "/flow"),
                      storage.exists(sys.argv[2] + "/flow/binary")]))
except StorageError as exc:
    print(json.dumps(str(exc)))
"""


def test_webhdfs_with_spnego(principals, spnego_namenode, tmp_path):
    """hdfs.namenode_url with Kerberos on: WebHDFS requests authenticate by SPNEGO with the
    process's ticket (the NameNode refuses anything else: without KRB_AUTH the same calls are
    refused). Namespace operations only: the test NameNode has no DataNode."""
    data = base_config_data("/spot", unique("spot_krb"), tmp_path)
    data["hdfs"] = {"namenode_url": spnego_namenode.url}
    config = write_config(tmp_path, data)
    root = "/" + unique("spot_krb")

    def run(env: dict[str, str]):
        done = subprocess.run([sys.executable, "-c", STORAGE_CHECK, str(config), root],
                              cwd=REPO, env=base_env(**env), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert run(principals.env("spot")) == [f"WebHDFS {spnego_namenode.url}", ["placed"], False]
    assert run(principals.realm.env()) == \
        f"mkdirs {root}/flow/binary: Authentication failure. Check your credentials."
