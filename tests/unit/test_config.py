"""Configuration validation: every error is one exact line naming file, key and expectation."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import (DEFAULT_CONFIG, HiveSettings, SparkStreamingSettings, load_config,
                           parse_config, resolve_config_path)
from common.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

VALID = {
    "dbname": "spot",
    "hdfs_app_path": "store",
    "collector_processes": 2,
    "ingestion_interval": 1,
    "kafka": {"kafka_server": "127.0.0.1", "kafka_port": "9092",
              "zookeper_server": "zk", "zookeper_port": "2181", "message_size": 900000},
    "pipelines": {
        "flow_internals": {"type": "flow", "collector_path": "collector/flow",
                           "local_staging": "/tmp/"},
        "dns_server_1": {"type": "dns", "collector_path": "collector/dns",
                         "local_staging": "staging", "pkt_num": "650000",
                         "pcap_split_staging": "/tmp"},
    },
}


def write(tmp_path: Path, data, name: str = "conf.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def error_of(tmp_path: Path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(path), "CONF")


def variant(**changes):
    data = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        target = data
        for k in keys[:-1]:
            target = target[k]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return data


DELETE = object()


def test_valid_configuration_loads_with_defaults_and_resolved_paths(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.dbname == "spot"
    assert config.hdfs_app_path == str(tmp_path / "store")
    assert config.kafka.bootstrap == "127.0.0.1:9092"
    assert config.kafka.replication_factor == 1
    assert config.hdfs.enabled is False
    assert config.hive == HiveSettings(("thrift://127.0.0.1:9083",))
    flow = config.pipeline("flow_internals")
    assert flow.collector_path == tmp_path / "collector" / "flow"
    assert flow.local_staging == Path("/tmp")
    assert flow.supported_files == ("nfcapd.",)
    dns = config.pipeline("dns_server_1")
    assert dns.pkt_num == 650000
    assert dns.supported_files == (".pcap", ".pcapng")
    assert dns.local_staging == tmp_path / "staging"


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value) == f"{missing}: cannot read configuration: No such file or directory"


def test_invalid_json_gives_line_and_column(tmp_path):
    text = '{\n  "dbname": "spot",\n  "kafka": {\n}'
    assert error_of(tmp_path, text) == \
        "CONF: invalid JSON at line 4 column 2: Expecting ',' delimiter"


def test_top_level_must_be_an_object(tmp_path):
    assert error_of(tmp_path, "[1, 2]") == \
        "CONF: the top level: expected a JSON object, got a list"


@pytest.mark.parametrize("key", ["dbname", "hdfs_app_path", "collector_processes", "kafka",
                                 "pipelines"])
def test_missing_required_top_level_key(tmp_path, key):
    assert error_of(tmp_path, variant(**{key: DELETE})) == f"CONF: missing required key '{key}'"


def test_missing_required_nested_key(tmp_path):
    assert error_of(tmp_path, variant(kafka__kafka_server=DELETE)) == \
        "CONF: missing required key 'kafka.kafka_server'"
    assert error_of(tmp_path, variant(pipelines__flow_internals__local_staging=DELETE)) == \
        "CONF: missing required key 'pipelines.flow_internals.local_staging'"


def test_wrong_types(tmp_path):
    assert error_of(tmp_path, variant(collector_processes="many")) == \
        "CONF: key 'collector_processes': expected a positive integer, got \"many\""
    assert error_of(tmp_path, variant(kafka__kafka_port=True)) == \
        "CONF: key 'kafka.kafka_port': expected a port number (1-65535), got true"
    assert error_of(tmp_path, variant(kafka="localhost:9092")) == \
        "CONF: key 'kafka': expected a JSON object, got \"localhost:9092\""
    assert error_of(tmp_path, variant(pipelines__flow_internals__supported_files=[1])) == \
        "CONF: key 'pipelines.flow_internals.supported_files': expected a list of file name " \
        "prefixes or suffixes, got a list"
    assert error_of(tmp_path, variant(dbname="spot db")) == \
        "CONF: key 'dbname': expected a Hive database name (letters, digits, _), got \"spot db\""


def test_unknown_pipeline_type(tmp_path):
    assert error_of(tmp_path, variant(pipelines__flow_internals__type="netflow")) == \
        "CONF: key 'pipelines.flow_internals.type': expected one of flow, dns, proxy, " \
        "got \"netflow\""


def test_unknown_key_is_rejected(tmp_path):
    assert error_of(tmp_path, variant(pipelines__flow_internals__colector_path="x")) == \
        "CONF: unknown key 'pipelines.flow_internals.colector_path' (known here: type, " \
        "collector_path, local_staging, supported_files, process_opt, pkt_num, " \
        "pcap_split_staging, parser, fields, decoders, decoder, max_attempts, " \
        "settle_seconds, rescan_seconds, checkpoint_path, metrics_port, topic)"


def test_decoders_is_one_or_two(tmp_path):
    assert error_of(tmp_path, variant(pipelines__flow_internals__decoders=3)) == \
        "CONF: key 'pipelines.flow_internals.decoders': expected 1 or 2, got 3"
    assert load_config(write(tmp_path, variant(pipelines__flow_internals__decoders="1"))) \
        .pipelines["flow_internals"].decoders == 1


def test_pipeline_name_must_be_lowercase_without_spaces(tmp_path):
    data = variant()
    data["pipelines"]["Flow Internals"] = data["pipelines"].pop("flow_internals")
    assert error_of(tmp_path, data) == \
        "CONF: pipeline name 'Flow Internals' must be lowercase without spaces " \
        "(e.g. flow_internals)"


def test_pipeline_not_in_file_lists_configured_ones(tmp_path):
    path = write(tmp_path, VALID)
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        config.pipeline("flow_externals")
    assert str(info.value) == f"{path}: no pipeline 'flow_externals' in 'pipelines' " \
                              "(configured: dns_server_1, flow_internals)"


@pytest.mark.parametrize("value, shown", [(0, "0"), (-3, "-3")])
def test_non_positive_worker_counts(tmp_path, value, shown):
    assert error_of(tmp_path, variant(collector_processes=value)) == \
        f"CONF: key 'collector_processes': expected a positive integer, got {shown}"


def test_absolute_collector_path_must_exist_for_the_master_of_that_pipeline(tmp_path):
    data = variant(pipelines__dns_server_1__collector_path="/nonexistent/flows")
    path = write(tmp_path, data)
    config = load_config(path)                  # other pipelines are not held up by it
    assert config.collector_folder("flow_internals") == tmp_path / "collector" / "flow"
    with pytest.raises(ConfigError) as info:
        config.collector_folder("dns_server_1")
    assert str(info.value) == f"{path}: key 'pipelines.dns_server_1.collector_path': folder " \
                              "'/nonexistent/flows' does not exist"


def test_relative_collector_path_is_created_on_demand(tmp_path):
    config = load_config(write(tmp_path, VALID))
    folder = config.pipeline("flow_internals").collector_path
    assert folder == tmp_path / "collector" / "flow" and not folder.exists()
    assert config.collector_folder("flow_internals") == folder
    assert folder.is_dir()


def test_hdfs_app_path_is_normalised_once(tmp_path):
    data = variant(hdfs={"namenode_url": "http://nn:9870"}, hdfs_app_path="//user//spot/./x/../")
    assert load_config(write(tmp_path, data)).hdfs_app_path == "/user/spot"


def test_the_seeds_own_example_is_accepted(tmp_path):
    """The user's document's example, its spark-streaming values empty strings, its local
    staging /tmp/; only the placeholders that name hosts and folders are filled in."""
    (tmp_path / "flows").mkdir()
    seed = {
        "dbname": "spot", "hdfs_app_path": "/user/spot", "collector_processes": 5,
        "ingestion_interval": 1,
        "spark-streaming": {"driver_memory": "", "spark_exec": "", "spark_executor_memory": "",
                            "spark_executor_cores": "", "spark_batch_size": ""},
        "kafka": {"kafka_server": "127.0.0.1", "kafka_port": "9092", "zookeper_server": "zk",
                  "zookeper_port": "2181", "message_size": 900000},
        "pipelines": {
            "flow_internals": {"type": "flow", "collector_path": str(tmp_path / "flows"),
                               "local_staging": "/tmp/", "process_opt": ""},
            "dns_server_1": {"type": "dns", "collector_path": "/path_to_dns_collector",
                             "local_staging": "/tmp/", "pkt_num": "650000",
                             "pcap_split_staging": "/tmp", "process_opt": "-E separator=, -E "
                             "header=y -E occurrence=f -T fields -e frame.time -e frame.time_epoch"
                             " -e frame.len -e ip.src -e ip.dst -e dns.resp.name -e dns.resp.type"
                             " -e dns.resp.class -e dns.flags.rcode -e dns.a 'dns.flags.response"
                             " == 1'"}}}
    config = load_config(write(tmp_path, seed))
    assert config.spark_streaming == SparkStreamingSettings()
    assert (config.kafka.port, config.pipeline("dns_server_1").pkt_num) == (9092, 650000)
    assert config.collector_folder("flow_internals") == tmp_path / "flows"


def test_optional_pipeline_keys(tmp_path):
    config = load_config(write(tmp_path, VALID))
    flow = config.pipeline("flow_internals")
    assert (flow.max_attempts, flow.settle_seconds, flow.rescan_seconds) == (5, 2.0, 30.0)
    assert (config.kafka.retention_hours, config.kafka.min_insync_replicas) == (168, 1)
    data = variant(pipelines__flow_internals__max_attempts=3,
                   pipelines__flow_internals__settle_seconds=0,
                   kafka__replication_factor=3, kafka__retention_hours=24)
    config = load_config(write(tmp_path, data))
    assert (config.pipeline("flow_internals").max_attempts,
            config.pipeline("flow_internals").settle_seconds) == (3, 0.0)
    assert (config.kafka.retention_hours, config.kafka.min_insync_replicas) == (24, 2)
    assert error_of(tmp_path, variant(pipelines__flow_internals__max_attempts=0)) == \
        "CONF: key 'pipelines.flow_internals.max_attempts': expected a positive integer, got 0"


def test_zookeeper_keys_are_accepted_and_ignored(tmp_path):
    config = load_config(write(tmp_path, variant(kafka__zookeper_server=DELETE,
                                                 kafka__zookeper_port=DELETE)))
    assert config.kafka.port == 9092


def test_hdfs_backend_requires_absolute_app_path(tmp_path):
    data = variant(hdfs={"namenode_url": "http://127.0.0.1:9870", "user": "spot"})
    assert error_of(tmp_path, data) == \
        "CONF: key 'hdfs_app_path': expected an absolute HDFS path when hdfs.namenode_url is " \
        "set, got \"store\""
    data["hdfs_app_path"] = "/user/spot"
    config = load_config(write(tmp_path, data))
    assert config.hdfs_app_path == "/user/spot"
    assert config.hdfs.filesystem_uri == "hdfs://127.0.0.1:8020"
    assert config.hdfs.user == "spot"


def test_metastore_uris_list_and_bad_value(tmp_path):
    config = load_config(write(tmp_path, variant(hive={"metastore_uris": "thrift://a:9083,thrift://b:9083"})))
    assert config.hive.metastore_uris == ("thrift://a:9083", "thrift://b:9083")
    assert error_of(tmp_path, variant(hive={"metastore_uris": "http://a:9083"})) == \
        "CONF: key 'hive.metastore_uris': expected thrift://host:port (a string, " \
        "comma-separated, or a list), got \"http://a:9083\""


def test_replication_factor_must_be_positive(tmp_path):
    assert error_of(tmp_path, variant(kafka__replication_factor=0)) == \
        "CONF: key 'kafka.replication_factor': expected a positive integer, got 0"


def test_config_path_resolution(monkeypatch):
    monkeypatch.delenv("SPOT_INGEST_CONF", raising=False)
    assert resolve_config_path(None) == DEFAULT_CONFIG
    monkeypatch.setenv("SPOT_INGEST_CONF", "/etc/spot/ingest.json")
    assert resolve_config_path(None) == Path("/etc/spot/ingest.json")
    assert resolve_config_path("mine.json") == Path("mine.json")


def test_shipped_configuration_is_valid():
    config = parse_config(json.loads((REPO / "ingest_conf.json").read_text()),
                          REPO / "ingest_conf.json")
    assert sorted(config.pipelines) == ["dns_server_1", "flow_externals", "flow_internals",
                                        "proxy_bluecoat"]
    assert {p.type for p in config.pipelines.values()} == {"flow", "dns", "proxy"}
    assert config.hdfs_app_path == str(REPO / "var" / "spot")


def test_entry_point_reports_bad_config_in_one_line_exit_1(tmp_path):
    bad = write(tmp_path, variant(pipelines__flow_internals__type="netflow"))
    proc = subprocess.run([sys.executable, str(REPO / "spot_setup.py"), "-c", str(bad)],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (f"error: {bad}: key 'pipelines.flow_internals.type': expected one of "
                           "flow, dns, proxy, got \"netflow\"\n")


@pytest.mark.parametrize("argv, message", [
    (["master_collector.py", "-t", "flow_internals", "-w", "0"],
     "master_collector.py: error: argument -w/--workers: expected a positive integer, got 0\n"),
    (["master_collector.py", "-t", "flow_internals", "-w", "four"],
     "master_collector.py: error: argument -w/--workers: expected a positive integer, got 'four'\n"),
    (["worker.py", "-t", "flow_internals", "-i", "-1", "--topic", "T"],
     "worker.py: error: argument -i/--id: expected an integer >= 0, got -1\n"),
    (["worker.py", "-t", "flow_internals", "-i", "0", "-top", "T", "-p", "0"],
     "worker.py: error: argument -p/--parallel: expected a positive integer, got 0\n"),
    (["worker.py", "-t", "flow_internals"],
     "worker.py: error: the following arguments are required: -i/--id\n"),
    (["master_collector.py", "-t", "flow_internals", "-w", "2", "-id", "bad topic", "--check"],
     "error: invalid topic name 'bad topic': use 1-249 characters among letters, digits, "
     "'.', '_' and '-'\n"),
    (["master_collector.py", "-t", "dns_server_9", "-w", "2", "--check"],
     f"error: {REPO / 'ingest_conf.json'}: no pipeline 'dns_server_9' in 'pipelines' "
     "(configured: dns_server_1, flow_externals, flow_internals, proxy_bluecoat)\n"),
])
def test_bad_arguments_are_one_line_exit_1(argv, message, monkeypatch):
    monkeypatch.delenv("SPOT_INGEST_CONF", raising=False)
    proc = subprocess.run([sys.executable, str(REPO / argv[0]), *argv[1:]], capture_output=True,
                          text=True, cwd=REPO)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", message)


def test_kafka_server_may_list_a_cluster(tmp_path):
    config = load_config(write(tmp_path, variant(kafka__kafka_server="10.0.0.1, 10.0.0.2:19092")))
    assert config.kafka.bootstrap == "10.0.0.1:9092,10.0.0.2:19092"
    assert error_of(tmp_path, variant(kafka__kafka_server="a b")) == \
        "CONF: key 'kafka.kafka_server': expected a host name, or several as " \
        "host[:port],host[:port], got \"a b\""


def test_the_readme_key_table_is_the_declarations_own():
    from common.config import key_table, key_table_markdown

    readme = (REPO / "README.md").read_text()
    assert key_table_markdown() in readme
    keys = [k for k, _, _ in key_table()]
    assert "kafka.retention_hours" in keys and "pipelines.<name>.max_attempts" in keys
    assert "kafka.zookeper_server" not in keys            # legacy, accepted and ignored
    assert ("metrics.host", "127.0.0.1", "the address the endpoints listen on") in key_table()


PROXY_PIPELINE = {"type": "proxy", "collector_path": "collector/proxy",
                  "local_staging": "staging"}


def proxy_variant(**changes):
    """VALID with a proxy pipeline, its keys changed (pipelines__proxy_bluecoat__KEY=...)."""
    data = variant()
    data["pipelines"]["proxy_bluecoat"] = dict(PROXY_PIPELINE, **{
        k.split("__")[-1]: v for k, v in changes.items()})
    return data


def test_the_proxy_parser_is_bluecoat_and_nothing_else(tmp_path):
    config = load_config(write(tmp_path, proxy_variant()))
    assert config.pipelines["proxy_bluecoat"].parser == "bluecoat.py"
    assert load_config(write(tmp_path, proxy_variant(pipelines__proxy_bluecoat__parser="bluecoat"))) \
        .pipelines["proxy_bluecoat"].parser == "bluecoat"
    assert error_of(tmp_path, proxy_variant(pipelines__proxy_bluecoat__parser="squid.py")) == \
        "CONF: key 'pipelines.proxy_bluecoat.parser': expected bluecoat.py, the proxy parser " \
        "(layouts: #Fields directives, or fields), got \"squid.py\""


def test_the_layout_of_headerless_proxy_logs(tmp_path):
    pipelines = load_config(write(tmp_path, proxy_variant())).pipelines
    assert pipelines["proxy_bluecoat"].fields is None
    for value, kept in (("main", "main"), (" date time c-ip ", "date time c-ip"),
                        (["date", "time", "c-ip"], ("date", "time", "c-ip"))):
        config = load_config(write(tmp_path, proxy_variant(pipelines__proxy_bluecoat__fields=value)))
        assert config.pipelines["proxy_bluecoat"].fields == kept
    for bad in (["date"], ["date", "a b"], [], 7):
        assert error_of(tmp_path, proxy_variant(pipelines__proxy_bluecoat__fields=bad)).startswith(
            "CONF: key 'pipelines.proxy_bluecoat.fields': expected a layout name (spot, main, "
            "legacy_main, bcreportermain_v1, bcreportersslv1) or a list of ELFF field names, "
            "got ")


def test_the_proxy_master_refuses_a_layout_without_date_and_time(tmp_path):
    from pipelines.proxy.collector import ProxyCollector

    config = load_config(write(tmp_path, proxy_variant(
        pipelines__proxy_bluecoat__fields="mainframe")))
    with pytest.raises(ConfigError) as info:
        ProxyCollector(config, config.pipeline("proxy_bluecoat")).check_environment()
    assert str(info.value) == (
        "pipelines.proxy_bluecoat.fields: expected one of spot, main, legacy_main, "
        "bcreportermain_v1, bcreportersslv1 or ELFF field names including date and time, "
        "got 'mainframe'")
    config = load_config(write(tmp_path, proxy_variant(
        pipelines__proxy_bluecoat__fields=["date", "time", "cs-host"])))
    ProxyCollector(config, config.pipeline("proxy_bluecoat")).check_environment()
