"""The KRaft cluster id the stack and the test clusters format their Kafka storage with."""
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

from kraft import cluster_id, encoded, replicated_node_properties  # noqa: E402

# 0xF8 as the first byte: its top six bits are 62, "-" in URL-safe base64.
DASHED = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
PLAIN = uuid.UUID("7e3a0c52-9b1d-4f6e-8a2b-1c0d9e8f7a6b")


def test_an_id_is_the_uuid_in_url_safe_base64_without_padding():
    assert encoded(PLAIN) == "fjoMUpsdT26KKxwNno96aw"
    assert encoded(DASHED) == "-AAAAAAAAAAAAAAAAAAAAA"


def test_an_id_that_the_storage_tool_would_take_for_an_option_is_drawn_again():
    draws = iter([DASHED, DASHED, PLAIN])
    assert cluster_id(lambda: next(draws)) == "fjoMUpsdT26KKxwNno96aw"


def test_fresh_ids_never_begin_with_a_dash():
    assert not any(cluster_id().startswith("-") for _ in range(2000))


def test_a_replicated_node_listens_on_its_host_and_keeps_three_replicas():
    text = replicated_node_properties(2, "1@a:9093,2@b:9093,3@c:9093", "b", 9092, 9093, "/d")
    lines = text.splitlines()
    assert lines[:5] == ["process.roles=broker,controller", "node.id=2",
                         "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093",
                         "listeners=PLAINTEXT://b:9092,CONTROLLER://b:9093",
                         "advertised.listeners=PLAINTEXT://b:9092"]
    assert {"log.dirs=/d", "metadata.log.dir=/d", "default.replication.factor=3",
            "min.insync.replicas=2", "transaction.state.log.min.isr=2",
            "auto.create.topics.enable=false"} <= set(lines)
    assert len(lines) == len({line.split("=")[0] for line in lines}) == 25
