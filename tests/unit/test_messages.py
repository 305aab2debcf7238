"""File messages: encoding, stored names, and a worker's refusal of anything outside its own
pipeline's binary folder."""
from __future__ import annotations

import os

import pytest

from common.config import parse_config
from common.kafka_io import Message
from common.layout import HourPartition
from common.messages import BadMessage, FileMessage, confined_partition, stored_name
from common.storage import LocalStorage
from pipelines.flow.worker import FlowProcessor

APP = "/user/spot"
CONF = {"dbname": "spot", "hdfs_app_path": "/user//spot/", "collector_processes": 1,
        "hdfs": {"namenode_url": "http://nn:9870"},
        "kafka": {"kafka_server": "h", "kafka_port": 9092},
        "pipelines": {"flow_internals": {"type": "flow", "collector_path": "c",
                                         "local_staging": "t"}}}
OWN = "/user/spot/flow/binary/20160104/09/flow_internals/"


@pytest.fixture
def processor(tmp_path):
    config = parse_config(CONF, tmp_path / "conf.json")
    return FlowProcessor(config, config.pipeline("flow_internals"), 0, storage=LocalStorage(),
                         catalog_factory=None)


def message(value: bytes) -> Message:
    return Message(partition=0, offset=7, key=None, value=value)


def test_roundtrip():
    msg = FileMessage("flow_internals", "nfcapd.201601040900", OWN + "nfcapd.201601040900", 42)
    assert msg.encode() == (b'{"pipeline":"flow_internals","name":"nfcapd.201601040900","path":'
                            b'"/user/spot/flow/binary/20160104/09/flow_internals/nfcapd.201601040900",'
                            b'"size":42}')
    assert FileMessage.decode(msg.encode()) == msg


def test_hostile_names_survive_the_roundtrip():
    name = "a b/'q\"$(touch X)`x`;\n-\u00e9\udcff"
    msg = FileMessage("flow_internals", name, OWN + stored_name(name), 1)
    assert FileMessage.decode(msg.encode()) == msg


def test_plain_names_are_kept_and_others_made_unique_and_safe():
    assert stored_name("nfcapd.201601040900") == "nfcapd.201601040900"
    assert stored_name("dns_1.pcap") == "dns_1.pcap"
    a, b = stored_name("router1/nfcapd.201601040900"), stored_name("router2/nfcapd.201601040900")
    assert a == "router1_nfcapd.201601040900-" + a[-12:] and len(a) == 40
    assert a != b and b.startswith("router2_nfcapd.201601040900-")
    assert stored_name("router1/nfcapd.201601040900") == a          # stable: redelivery replaces
    assert stored_name("router1_nfcapd.201601040900") == "router1_nfcapd.201601040900"
    hostile = stored_name("nfcapd.2016 $(touch X);`id`\n\u00e9")
    assert hostile.startswith("nfcapd.2016_touch_X_id-") and len(hostile) == 35
    assert stored_name("-nfcapd.201601040900").startswith("nfcapd.201601040900-")
    assert stored_name(".hidden") != ".hidden" and not stored_name(".hidden").startswith(".")
    assert stored_name("\u00e9\u00e9") .startswith("file-")


def test_accepts_its_own_binary_folder(processor):
    msg = FileMessage("flow_internals", "nfcapd.2016; rm -rf x", OWN + "nfcapd.2016_rm_-rf_x-0", 1)
    binary = processor.binary(message(msg.encode()))
    assert (binary.message, binary.partition, binary.stored) == \
        (msg, HourPartition(2016, 1, 4, 9), "nfcapd.2016_rm_-rf_x-0")


@pytest.mark.parametrize("path", [
    "/etc/passwd",
    "/user/spot/flow/binary/../../../etc/passwd",
    "/user/spot/flow/binary/20160104/09/flow_internals/../../../../../../etc/passwd",
    "/user/spot/dns/binary/20160104/09/flow_internals/x.pcap",                 # another source
    "/user/spot/flow/binary/20160104/09/flow_externals/nfcapd.201601040900",    # another pipeline
    "/user/spot/flow/binary/20160104/09/flow_internals/a/b",                   # deeper
    "/user/spot/flow/binary/20160104/flow_internals/nfcapd.1",                 # shallower
    "/user/spot/flow/binary/2016010/09/flow_internals/nfcapd.1",
    "/user/spot/flow/binary/20160104/09/flow_internals/.nfcapd.1._tmp_x",      # a temporary
    "/user/spot/flow/binary/20160104/09/flow_internals/",
    "/user//spot/flow/binary/20160104/09/flow_internals/nfcapd.1",
    "",
])
def test_refuses_paths_outside_its_own_binary_folder(processor, path):
    with pytest.raises(BadMessage) as info:
        processor.binary(message(FileMessage("flow_internals", "n", path, 1).encode()))
    assert str(info.value) == ("refusing path outside /user/spot/flow/binary/YYYYMMDD/HH/"
                               f"flow_internals/: {path!r}")


def test_refuses_an_impossible_hour():
    with pytest.raises(BadMessage) as info:
        confined_partition("/a/flow/binary/20161304/09/p/n", "/a", "flow", "p")
    assert str(info.value) == "refusing path with an impossible date: '/a/flow/binary/20161304/09/p/n'"


def test_refuses_a_link_out_of_the_binary_folder(tmp_path):
    app = tmp_path / "spot"
    folder = app / "flow" / "binary" / "20160104" / "09" / "f"
    folder.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("x")
    os.symlink(secret, folder / "nfcapd.201601040900")
    (folder / "nfcapd.201601040905").write_text("y")
    storage = LocalStorage()
    root = str(app / "flow" / "binary")
    assert not storage.confined(str(folder / "nfcapd.201601040900"), root)
    assert storage.confined(str(folder / "nfcapd.201601040905"), root)


def test_refuses_other_pipelines_and_garbage(processor):
    other = FileMessage("flow_externals", "nfcapd.1",
                        "/user/spot/flow/binary/20160104/09/flow_externals/nfcapd.1", 1)
    with pytest.raises(BadMessage) as info:
        processor.binary(message(other.encode()))
    assert str(info.value) == ("message for pipeline 'flow_externals', this worker runs "
                               "'flow_internals': /user/spot/flow/binary/20160104/09/"
                               "flow_externals/nfcapd.1")


@pytest.mark.parametrize("raw, why", [
    (b"/user/spot/flow/binary/x", "not a file message (JSONDecodeError): '/user/spot/flow/binary/x'"),
    (b"", "not a file message (JSONDecodeError): ''"),
    (None, "not a file message (TypeError): ''"),
    (b"[1, 2]", "not a file message (TypeError): '[1, 2]'"),
    (b'{"pipeline": "p"}', "not a file message (KeyError): '{\"pipeline\": \"p\"}'"),
    (b'{"pipeline":"p","name":"n","path":"/x","size":"12"}',
     "not a file message (TypeError): '{\"pipeline\":\"p\",\"name\":\"n\",\"path\":\"/x\",\"size\":\"12\"}'"),
    (b'{"pipeline":"p","name":["n"],"path":"/x","size":1}',
     "not a file message (TypeError): '{\"pipeline\":\"p\",\"name\":[\"n\"],\"path\":\"/x\",\"size\":1}'"),
    (b"\xff\xfe", "not a file message (JSONDecodeError): '\ufffd\ufffd'"),
])
def test_invalid_messages(raw, why):
    with pytest.raises(BadMessage) as info:
        FileMessage.decode(raw)
    assert str(info.value) == why
