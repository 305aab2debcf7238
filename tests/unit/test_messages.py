"""File messages: encoding, and a worker's refusal of anything outside its binary folder."""
from __future__ import annotations


import pytest

from common.config import parse_config
from common.kafka_io import Message
from common.plugin import BadMessage, FileMessage
from pipelines.flow.worker import FlowProcessor

CONF = {"dbname": "spot", "hdfs_app_path": "/user/spot", "collector_processes": 1,
        "hdfs": {"namenode_url": "http://nn:9870"},
        "kafka": {"kafka_server": "h", "kafka_port": 9092},
        "pipelines": {"flow_internals": {"type": "flow", "collector_path": "c",
                                         "local_staging": "t"}}}


@pytest.fixture
def processor(tmp_path):
    config = parse_config(CONF, tmp_path / "conf.json")
    return FlowProcessor(config, config.pipeline("flow_internals"), 0, storage=None,
                         catalog_factory=None)


def message(value: bytes) -> Message:
    return Message(partition=0, offset=7, key=None, value=value)


def test_roundtrip():
    msg = FileMessage("flow_internals", "nfcapd.201601040900",
                      "/user/spot/flow/binary/20160104/09/flow_internals/nfcapd.201601040900", 42)
    assert msg.encode() == (b'{"pipeline":"flow_internals","name":"nfcapd.201601040900","path":'
                            b'"/user/spot/flow/binary/20160104/09/flow_internals/nfcapd.201601040900",'
                            b'"size":42}')
    assert FileMessage.decode(msg.encode()) == msg


def test_accepts_its_own_binary_folder(processor):
    msg = FileMessage("flow_internals", "nfcapd.2016; rm -rf x",
                      "/user/spot/flow/binary/20160104/09/flow_internals/nfcapd.2016; rm -rf x", 1)
    assert processor.binary_message(message(msg.encode()), "flow") == msg


@pytest.mark.parametrize("path, name, why", [
    ("/etc/passwd", "passwd", "refusing path outside /user/spot/flow/binary/: '/etc/passwd'"),
    ("/user/spot/flow/binary/../../../etc/passwd", "passwd",
     "refusing path outside /user/spot/flow/binary/: '/user/spot/flow/binary/../../../etc/passwd'"),
    ("/user/spot/dns/binary/20160104/09/x.pcap", "x.pcap",
     "refusing path outside /user/spot/flow/binary/: '/user/spot/dns/binary/20160104/09/x.pcap'"),
    ("/user/spot/flow/binary/20160104/09/f/a", "b",
     "refusing path outside /user/spot/flow/binary/: '/user/spot/flow/binary/20160104/09/f/a'"),
])
def test_refuses_paths_outside_the_binary_folder(processor, path, name, why):
    with pytest.raises(BadMessage) as info:
        processor.binary_message(message(FileMessage("flow_internals", name, path, 1).encode()), "flow")
    assert str(info.value) == why


def test_refuses_other_pipelines_and_garbage(processor):
    other = FileMessage("flow_externals", "nfcapd.1",
                        "/user/spot/flow/binary/20160104/09/flow_externals/nfcapd.1", 1)
    with pytest.raises(BadMessage) as info:
        processor.binary_message(message(other.encode()), "flow")
    assert str(info.value) == ("message for pipeline 'flow_externals', this worker runs "
                               "'flow_internals': /user/spot/flow/binary/20160104/09/"
                               "flow_externals/nfcapd.1")
    with pytest.raises(BadMessage) as info:
        processor.binary_message(message(b"/user/spot/flow/binary/x"), "flow")
    assert str(info.value) == ("not a file message (JSONDecodeError): "
                               "'/user/spot/flow/binary/x'")
