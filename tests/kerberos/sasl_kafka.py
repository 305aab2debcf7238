"""A second, test-only Kafka node that speaks SASL/GSSAPI only: one KRaft broker + controller on
free loopback ports, from the jars the local stack runs (.cache/jars/kafka, tests/kerberos/jvm.py),
with a JAAS file naming its principal kafka/localhost@REALM and keytab. The controller
listener stays PLAINTEXT on loopback (the node talks to itself there); clients have only the
SASL_PLAINTEXT listener.

Why localhost and not 127.0.0.1: a client asks the KDC for kafka/<the broker's host name>.
kafka-python takes the name it was given; Java's client (Spark's Kafka source) takes
InetAddress.getHostName(), which turns a bare 127.0.0.1 into `localhost` by a reverse lookup.
Advertised as `localhost` (bound to 127.0.0.1), both ask for kafka/localhost."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services import kraft

from .jvm import TestService

from . import jvm
from .kdc import Realm, free_port

REPO = Path(__file__).resolve().parents[2]
LOG4J = REPO / "services" / "conf" / "kafka" / "log4j2.properties"
HEAP = "256m"
START_TIMEOUT_S = 90

# Asks the broker for its cluster through a SASL client, as a separate process with the
# client's own ticket cache: the broker is ready once it lists itself.
_READY_CHECK = """
import sys, time
from kafka import KafkaAdminClient
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], security_protocol="SASL_PLAINTEXT",
                                 sasl_mechanism="GSSAPI", sasl_kerberos_service_name="kafka",
                                 request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        try:
            if admin.describe_cluster().get("brokers"):
                sys.exit(0)
        finally:
            admin.close()
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"{type(exc).__name__}: {exc}")
    time.sleep(0.5)
"""


class SaslKafka(TestService):
    def __init__(self, folder: Path, realm: Realm):
        self.folder, self.realm = Path(folder), realm
        self.port = self.controller_port = 0
        self.proc: subprocess.Popen | None = None
        self.log = self.folder / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.port}"

    def _java(self) -> list[str]:
        return [*jvm.java(HEAP, self.folder, self.realm.krb5_conf,
                          f"-Djava.security.auth.login.config={self.folder / 'jaas.conf'}",
                          f"-Dlog4j2.configurationFile={LOG4J}"),
                "-cp", f"{jvm.jars('kafka')}/*"]

    def start(self, client_env: dict[str, str]) -> "SaslKafka":
        """Formats and starts the node; returns once a SASL client (client_env: KRB5_CONFIG,
        KRB5CCNAME holding a ticket) is answered."""
        self.folder.mkdir(parents=True, exist_ok=True)
        keytab = self.realm.add_principal("kafka/localhost")
        principal = self.realm.principal("kafka/localhost")
        self.port, self.controller_port = free_port(), free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        (self.folder / "jaas.conf").write_text(f"""\
KafkaServer {{
  com.sun.security.auth.module.Krb5LoginModule required
  useKeyTab=true storeKey=true keyTab="{keytab}" principal="{principal}";
}};
""")
        properties = self.folder / "server.properties"
        properties.write_text(f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{self.controller_port}
listeners=SASL_PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=SASL_PLAINTEXT://localhost:{self.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=GSSAPI
sasl.mechanism.inter.broker.protocol=GSSAPI
sasl.kerberos.service.name=kafka
log.dirs={self.folder / 'data'}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=2097152
num.network.threads=2
num.io.threads=2
""")
        cluster_id = kraft.cluster_id()
        with open(self.log, "ab") as out:
            formatted = subprocess.run([*self._java(), "kafka.tools.StorageTool", "format",
                                        "-t", cluster_id, "-c", str(properties)],
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, timeout=120)
            if formatted.returncode != 0:
                raise RuntimeError(f"formatting the SASL Kafka node failed: {self._tail()}")
            self.proc = subprocess.Popen([*self._java(), "kafka.Kafka", str(properties)],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        check = subprocess.run([sys.executable, "-c", _READY_CHECK, self.bootstrap,
                                str(START_TIMEOUT_S)], cwd=REPO, capture_output=True, text=True,
                               env={**os.environ, **client_env}, timeout=START_TIMEOUT_S + 30)
        if check.returncode != 0:
            self.stop()
            raise RuntimeError(f"the SASL Kafka node does not answer at {self.bootstrap}: "
                               f"{check.stderr.strip()[-500:]}\n{self._tail()}")
        return self


