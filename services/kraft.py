"""KRaft storage: the cluster id every Kafka node of one cluster is formatted with."""

from __future__ import annotations

import base64
import uuid
from typing import Callable


def encoded(drawn: uuid.UUID) -> str:
    """A UUID as Kafka writes a cluster id: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(drawn.bytes).rstrip(b"=").decode()


def cluster_id(draw: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A fresh KRaft cluster id. One draw in 64 encodes to a string that begins with "-",
    which the storage tool's command line (`format -t ID`) takes for an option and refuses:
    those are drawn again."""
    while True:
        made = encoded(draw())
        if not made.startswith("-"):
            return made
