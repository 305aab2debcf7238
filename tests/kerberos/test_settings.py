"""The Kerberos settings without a KDC: configuration keys and their one-line errors, the
environment switch, and what each client is built with when Kerberos is on or off."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from common import catalog, kerberos
from common.config import HiveSettings, KafkaSettings, parse_config
from common.errors import ConfigError
from common.kafka_io import security_options
from common.storage import WebHdfsStorage
from pipelines.proxy import job
from pipelines.proxy.submit import JOB, spark_submit_argv

BASE = {
    "dbname": "spot", "hdfs_app_path": "store", "collector_processes": 1,
    "kafka": {"kafka_server": "127.0.0.1", "kafka_port": 9092},
    "pipelines": {"flow_internals": {"type": "flow", "collector_path": "collector/flow",
                                     "local_staging": "/tmp/"}},
}


def parsed(**sections):
    data = copy.deepcopy(BASE)
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_config(data, Path("CONF"))


def error_of(**sections) -> str:
    with pytest.raises(ConfigError) as info:
        parsed(**sections)
    return str(info.value).replace(str(Path("CONF")), "CONF")


def test_defaults_keep_every_client_as_before():
    config = parsed()
    assert (config.kafka.security_protocol, config.kafka.sasl_kerberos_service_name) == \
        ("PLAINTEXT", "kafka")
    assert (config.hive.sasl, config.hive.kerberos_service_name) == (False, "hive")
    assert security_options(config.kafka) == {}


def test_kerberos_keys():
    config = parsed(kafka={"security_protocol": "SASL_SSL",
                           "sasl_kerberos_service_name": "kafka-prod"},
                    hive={"sasl": "true", "kerberos_service_name": "hive-prod"})
    assert security_options(config.kafka) == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI",
        "sasl_kerberos_service_name": "kafka-prod"}
    assert config.hive == HiveSettings(metastore_uris=("thrift://127.0.0.1:9083",), sasl=True,
                                       kerberos_service_name="hive-prod")


@pytest.mark.parametrize("sections, message", [
    ({"kafka": {"security_protocol": "SSL"}},
     "CONF: key 'kafka.security_protocol': expected one of PLAINTEXT, SASL_PLAINTEXT, "
     "SASL_SSL, got \"SSL\""),
    ({"kafka": {"sasl_kerberos_service_name": 5}},
     "CONF: key 'kafka.sasl_kerberos_service_name': expected a Kerberos service name, got 5"),
    ({"hive": {"sasl": "yes"}}, "CONF: key 'hive.sasl': expected true or false, got \"yes\""),
    ({"hive": {"kerberos_service_name": " "}},
     "CONF: key 'hive.kerberos_service_name': expected a Kerberos service name, got \" \""),
    ({"hive": {"kerberos": True}},
     "CONF: unknown key 'hive.kerberos' (known here: metastore_uris, sasl, "
     "kerberos_service_name)"),
])
def test_bad_values_are_one_line(sections, message):
    assert error_of(**sections) == message


@pytest.mark.parametrize("value, on", [("", False), ("false", False), ("FALSE", False),
                                       ("0", False), (" ", False), ("1", True), ("true", True),
                                       ("yes", True)])
def test_krb_auth_switch(value, on):
    assert kerberos.enabled({"KRB_AUTH": value}) is on
    assert kerberos.enabled({}) is False


def test_settings_from_environment():
    env = {"KRB_AUTH": "true", "KEYTABPATH": "/etc/spot.keytab", "KRB_USER": "spot@REALM",
           "KINITOPTS": "-l '8h' -V", "KINITPATH": "/usr/local/bin/kinit"}
    settings = kerberos.settings_from_environment(env)
    assert settings.argv() == ["/usr/local/bin/kinit", "-l", "8h", "-V", "-kt",
                               "/etc/spot.keytab", "spot@REALM"]
    assert kerberos.settings_from_environment({**env, "KINITPATH": ""}).argv()[0] == "kinit"
    assert kerberos.settings_from_environment({**env, "KRB_AUTH": "0"}) is None
    with pytest.raises(kerberos.KerberosError) as info:
        kerberos.settings_from_environment({**env, "KINITOPTS": "-l '8h"})
    assert str(info.value) == "KINITOPTS: cannot split \"-l '8h\": No closing quotation"


def test_renewal_comes_before_the_end_and_never_in_a_tight_loop():
    assert kerberos.renew_delay(36000) == 28800
    assert kerberos.renew_delay(30) == 24
    assert kerberos.renew_delay(2) == kerberos.MIN_DELAY_S
    assert kerberos.retry_delay(36000) == kerberos.RETRY_S
    assert kerberos.retry_delay(0) == kerberos.MIN_DELAY_S


def test_hive_sasl_sets_the_metastore_transport_of_the_process(monkeypatch):
    monkeypatch.delenv("KRB_AUTH", raising=False)
    monkeypatch.setattr(catalog, "_sasl_service", None)
    kerberos.configure(parsed(hive={"sasl": True, "kerberos_service_name": "hms"}))
    assert catalog.Catalog(["thrift://h:9083"]).sasl_service == "hms"
    kerberos.configure(parsed())
    assert catalog.Catalog(["thrift://h:9083"]).sasl_service is None
    assert catalog.Catalog(["thrift://h:9083"], sasl_service="hive").sasl_service == "hive"


def test_webhdfs_uses_spnego_only_with_kerberos():
    from hdfs import InsecureClient
    from hdfs.ext.kerberos import KerberosClient

    plain = WebHdfsStorage("http://nn:9870", "spot", "hdfs://nn:8020")
    secure = WebHdfsStorage("http://nn:9870", "spot", "hdfs://nn:8020", kerberos=True)
    assert type(plain.client) is InsecureClient
    assert type(secure.client) is KerberosClient


def test_spark_submit_gets_principal_and_keytab_and_the_job_the_sasl_options():
    argv = spark_submit_argv(["--topic", "t"], jars=[], principal="spot@REALM",
                             keytab="/etc/spot.keytab", spark_submit="spark-submit")
    assert argv[-7:] == ["--principal", "spot@REALM", "--keytab", "/etc/spot.keytab",
                         str(JOB), "--topic", "t"]
    assert "--principal" not in spark_submit_argv([], jars=[], spark_submit="spark-submit")

    plain = job.JobOptions(bootstrap="b:9092", topic="t", pipeline="p", dbname="d",
                           app_path="/a")
    assert "--kafka-security-protocol" not in job.to_argv(plain)
    assert job.kafka_security(plain) == {}
    secure = job.JobOptions(bootstrap="b:9092", topic="t", pipeline="p", dbname="d",
                            app_path="/a", kafka_security_protocol="SASL_PLAINTEXT",
                            kafka_sasl_service_name="kafka", metastore_sasl_service="hive")
    assert job.parse_args(job.to_argv(secure)) == secure
    assert job.kafka_security(secure) == {
        "kafka.security.protocol": "SASL_PLAINTEXT", "kafka.sasl.mechanism": "GSSAPI",
        "kafka.sasl.kerberos.service.name": "kafka",
        "kafka.sasl.jaas.config":
            "com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;"}


def test_kafka_settings_default_is_plaintext():
    assert security_options(KafkaSettings("h", 9092)) == {}


def test_proxy_worker_submits_with_kerberos(monkeypatch, tmp_path):
    """The proxy worker's spark-submit line: --principal/--keytab from KRB_USER/KEYTABPATH,
    the SASL options of kafka.* and hive.* for the job."""
    from pipelines.proxy.worker import ProxyJob

    data = copy.deepcopy(BASE)
    data["kafka"].update(security_protocol="SASL_PLAINTEXT", sasl_kerberos_service_name="kfk")
    data["hive"] = {"sasl": True}
    data["pipelines"]["proxy_bluecoat"] = {"type": "proxy", "collector_path": "c/proxy",
                                           "local_staging": "/tmp/"}
    config = parse_config(data, tmp_path / "conf.json")
    proxy = ProxyJob(config, config.pipeline("proxy_bluecoat"), 0)
    monkeypatch.setenv("KRB_AUTH", "true")
    monkeypatch.setenv("KEYTABPATH", "/etc/spot.keytab")
    monkeypatch.setenv("KRB_USER", "spot@REALM")
    argv = proxy.submit_argv("SPOT-INGEST-proxy_bluecoat_x", 2)
    at = argv.index("--principal")
    assert argv[at:at + 4] == ["--principal", "spot@REALM", "--keytab", "/etc/spot.keytab"]
    options = job.parse_args(argv[argv.index(str(JOB)) + 1:])
    assert (options.kafka_security_protocol, options.kafka_sasl_service_name,
            options.metastore_sasl_service) == ("SASL_PLAINTEXT", "kfk", "hive")
    monkeypatch.setenv("KRB_AUTH", "false")
    assert "--principal" not in proxy.submit_argv("SPOT-INGEST-proxy_bluecoat_x", 2)
