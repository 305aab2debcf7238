"""A test-only HDFS NameNode (the Hadoop jars the local stack runs, services/stack.py) with
Kerberos security: RPC and WebHDFS on free loopback ports, WebHDFS behind SPNEGO with the
principal HTTP/localhost@REALM. No DataNode: WebHDFS's namespace operations (mkdirs, list,
status, rename, delete) are all the NameNode's, and a secure DataNode would need TLS or
privileged ports."""
from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .jvm import TestService

from . import jvm
from .kdc import Realm, free_port

REPO = Path(__file__).resolve().parents[2]
HEAP = "256m"
START_TIMEOUT_S = 90
MAIN = "org.apache.hadoop.hdfs.server.namenode.NameNode"


def _property(name: str, value: str) -> str:
    return f"  <property><name>{name}</name><value>{value}</value></property>\n"


def _site(**properties: str) -> str:
    return ("<?xml version=\"1.0\"?>\n<configuration>\n"
            + "".join(_property(k, v) for k, v in properties.items()) + "</configuration>\n")


class SpnegoNameNode(TestService):
    def __init__(self, folder: Path, realm: Realm):
        self.folder, self.realm = Path(folder), realm
        self.rpc_port = self.http_port = 0
        self.proc: subprocess.Popen | None = None
        self.log = self.folder / "namenode.log"

    @property
    def url(self) -> str:
        # SPNEGO asks for HTTP/<the URL's host>: localhost, as the principal says
        return f"http://localhost:{self.http_port}"

    def _java(self, conf: Path) -> list[str]:
        # the Maven jars lack the webapps/ folders HttpServer2 insists on: the stack's are empty
        classpath = [str(conf), str(REPO / "services" / "conf" / "hadoop-webapps"),
                     f"{jvm.jars('hadoop')}/*"]
        log4j = REPO / "services" / "conf" / "hadoop" / "log4j.properties"
        return [*jvm.java(HEAP, self.folder, self.realm.krb5_conf, *jvm.JAVA17_OPENS,
                          f"-Dhadoop.log.dir={self.folder}", f"-Dhadoop.home.dir={self.folder}",
                          f"-Dlog4j.configuration=file:{log4j}"),
                "-cp", os.pathsep.join(classpath)]

    def start(self) -> "SpnegoNameNode":
        conf = self.folder / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        nn_keytab = self.realm.add_principal("nn/localhost")
        http_keytab = self.realm.add_principal("HTTP/localhost")
        self.rpc_port, self.http_port = free_port(), free_port()
        while self.http_port == self.rpc_port:
            self.http_port = free_port()
        (conf / "core-site.xml").write_text(_site(**{
            "fs.defaultFS": f"hdfs://localhost:{self.rpc_port}",
            "hadoop.tmp.dir": str(self.folder / "tmp"),
            "hadoop.security.authentication": "kerberos",
            "hadoop.security.authorization": "false",
            # SPNEGO on the HTTP server, WebHDFS included
            "hadoop.http.filter.initializers":
                "org.apache.hadoop.security.AuthenticationFilterInitializer",
            "hadoop.http.authentication.type": "kerberos",
            "hadoop.http.authentication.simple.anonymous.allowed": "false",
            "hadoop.http.authentication.kerberos.principal": self.realm.principal("HTTP/localhost"),
            "hadoop.http.authentication.kerberos.keytab": str(http_keytab)}))
        (conf / "hdfs-site.xml").write_text(_site(**{
            "dfs.namenode.name.dir": f"file://{self.folder / 'name'}",
            "dfs.namenode.rpc-address": f"localhost:{self.rpc_port}",
            "dfs.namenode.http-address": f"localhost:{self.http_port}",
            "dfs.namenode.https-address": f"localhost:{free_port()}",
            "dfs.namenode.secondary.http-address": f"localhost:{free_port()}",
            "dfs.permissions.enabled": "false",
            "dfs.webhdfs.enabled": "true",
            "dfs.block.access.token.enable": "true",
            "dfs.namenode.safemode.threshold-pct": "0",
            "dfs.namenode.safemode.min.datanodes": "0",
            "dfs.namenode.safemode.extension": "0",
            "dfs.namenode.kerberos.principal": self.realm.principal("nn/localhost"),
            "dfs.namenode.keytab.file": str(nn_keytab),
            "dfs.web.authentication.kerberos.principal": self.realm.principal("HTTP/localhost"),
            "dfs.web.authentication.kerberos.keytab": str(http_keytab)}))
        env = {**os.environ, "HADOOP_CONF_DIR": str(conf)}
        with open(self.log, "ab") as out:
            formatted = subprocess.run([*self._java(conf), MAIN, "-format", "-nonInteractive",
                                        "-force"], cwd=self.folder, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, timeout=120)
            if formatted.returncode != 0:
                raise RuntimeError(f"formatting the Kerberized NameNode failed: {self._tail()}")
            self.proc = subprocess.Popen([*self._java(conf), MAIN], cwd=self.folder, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Kerberized NameNode exited with {self.proc.returncode}:"
                                   f" {self._tail()}")
            if self._answers_401():
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Kerberized NameNode does not answer at {self.url}: "
                           f"{self._tail()}")

    def _answers_401(self) -> bool:
        """Up, and refusing a request without SPNEGO (what it is for)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            opener.open(f"{self.url}/webhdfs/v1/?op=GETFILESTATUS", timeout=3)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False
        return False


