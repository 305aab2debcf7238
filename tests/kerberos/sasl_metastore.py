"""A second, test-only Hive Metastore (2.3, the jars inside pyspark, as services/stack.py runs
it, tests/kerberos/jvm.py) that accepts only SASL/GSSAPI: hive.metastore.sasl.enabled with the principal
hive/127.0.0.1@REALM and its keytab, Hadoop security set to kerberos, its own Derby database,
on a free loopback port."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .jvm import TestService

from . import jvm
from .kdc import Realm, free_port

REPO = Path(__file__).resolve().parents[2]
HEAP = "384m"
START_TIMEOUT_S = 120

# A Catalog over SASL, in a process of its own with the client's ticket cache: the metastore
# is ready once it lists its databases.
_READY_CHECK = """
import sys, time
from common.catalog import Catalog
from common.errors import CatalogError
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        with Catalog([sys.argv[1]], timeout_s=10, sasl_service="hive") as catalog:
            if catalog.database_exists("default"):
                sys.exit(0)
    except CatalogError as exc:
        if time.monotonic() > deadline:
            sys.exit(str(exc))
    time.sleep(1)
"""


def _property(name: str, value: str) -> str:
    return f"  <property><name>{name}</name><value>{value}</value></property>\n"


class SaslMetastore(TestService):
    def __init__(self, folder: Path, realm: Realm):
        self.folder, self.realm = Path(folder), realm
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log = self.folder / "metastore.log"

    @property
    def uri(self) -> str:
        return f"thrift://127.0.0.1:{self.port}"

    def start(self, client_env: dict[str, str]) -> "SaslMetastore":
        conf = self.folder / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        keytab = self.realm.add_principal("hive/127.0.0.1")
        self.port = free_port()
        d = self.folder
        (conf / "hive-site.xml").write_text(
            "<?xml version=\"1.0\"?>\n<configuration>\n"
            + _property("javax.jdo.option.ConnectionURL",
                        f"jdbc:derby:;databaseName={d}/metastore_db;create=true")
            + _property("javax.jdo.option.ConnectionDriverName",
                        "org.apache.derby.jdbc.EmbeddedDriver")
            + _property("datanucleus.connectionPoolingType", "HikariCP")
            + _property("datanucleus.schema.autoCreateAll", "true")
            + _property("hive.metastore.schema.verification", "false")
            + _property("hive.metastore.schema.verification.record.version", "false")
            + _property("hive.metastore.warehouse.dir", f"file://{d}/warehouse")
            + _property("hive.metastore.uris", "")
            + _property("fs.defaultFS", "file:///")
            + _property("hive.metastore.server.min.threads", "4")
            + _property("hive.metastore.sasl.enabled", "true")
            + _property("hive.metastore.kerberos.principal",
                        self.realm.principal("hive/127.0.0.1"))
            + _property("hive.metastore.kerberos.keytab.file", str(keytab))
            + "</configuration>\n")
        (conf / "core-site.xml").write_text(
            "<?xml version=\"1.0\"?>\n<configuration>\n"
            + _property("hadoop.security.authentication", "kerberos")
            + _property("hadoop.security.authorization", "false")
            + "</configuration>\n")
        log4j = REPO / "services" / "conf" / "metastore" / "hive-log4j2.properties"
        argv = [*jvm.java(HEAP, d, self.realm.krb5_conf, *jvm.JAVA17_OPENS,
                          f"-Dlog4j2.configurationFile={log4j}",
                          f"-Dlog4j.configurationFile={log4j}",
                          f"-Dderby.stream.error.file={d / 'derby.log'}", f"-Dhive.log.dir={d}"),
                "-cp", os.pathsep.join([str(conf), f"{jvm.pyspark_jars()}/*"]),
                "org.apache.hadoop.hive.metastore.HiveMetaStore", "-p", str(self.port)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=d, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "HADOOP_CONF_DIR": str(conf)})
        check = subprocess.run([sys.executable, "-c", _READY_CHECK, self.uri,
                                str(START_TIMEOUT_S)], cwd=REPO, capture_output=True, text=True,
                               env={**os.environ, **client_env}, timeout=START_TIMEOUT_S + 30)
        if check.returncode != 0:
            self.stop()
            raise RuntimeError(f"the SASL metastore does not answer at {self.uri}: "
                               f"{check.stderr.strip()[-500:]}\n{self._tail()}")
        return self


