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


def replicated_node_properties(node_id: int, voters: str, host: str, port: int,
                               controller_port: int, data: str) -> str:
    """server.properties of one node of a three-replica KRaft cluster (broker and
    controller): listening on host:port, its controller on host:controller_port, `voters`
    as controller.quorum.voters says them (`1@host:port,...`), its logs and metadata in
    `data`; topics, offsets and transactions kept on three replicas, two in sync; modest
    threads for a shared machine."""
    return f"""process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
metadata.log.dir={data}
offsets.topic.replication.factor=3
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
default.replication.factor=3
min.insync.replicas=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=2097152
replica.fetch.max.bytes=2097152
num.network.threads=1
num.io.threads=2
num.recovery.threads.per.data.dir=1
"""
