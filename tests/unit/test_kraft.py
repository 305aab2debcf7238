"""The KRaft cluster id the stack and the test clusters format their Kafka storage with."""
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

from kraft import cluster_id, encoded  # noqa: E402

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
