"""A throwaway MIT Kerberos realm on loopback, from Debian's krb5-kdc and krb5-admin-server:
kdc.conf and krb5.conf in a folder of its own (KRB5_KDC_PROFILE, KRB5_CONFIG: nothing in /etc
is read or written), a database made with kdb5_util, principals and keytabs made with
kadmin.local, and krb5kdc listening on a free 127.0.0.1 port (UDP and TCP).

    realm = Realm(folder).start()
    keytab = realm.add_principal("spot")          # spot@SPOT.TEST, -randkey, keytab beside
    subprocess.run([...], env={**os.environ, **realm.env()})
    realm.stop()
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .jvm import TestService

START_TIMEOUT_S = 20
ENCTYPES = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"   # MIT and Java 17 alike


class RealmError(RuntimeError):
    pass


def free_port(udp_too: bool = False) -> int:
    """A port that 127.0.0.1 can bind now (for TCP, and UDP when asked)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RealmError("no free loopback port")


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise RealmError(f"{name} is not installed: run services/install-tools.sh "
                         "(krb5-user, krb5-kdc, krb5-admin-server)")
    return found


class Realm(TestService):
    def __init__(self, folder: Path, name: str = "SPOT.TEST"):
        self.folder, self.name = Path(folder), name
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.krb5_conf = self.folder / "krb5.conf"
        self.kdc_conf = self.folder / "kdc.conf"
        self.log = self.folder / "krb5kdc.log"

    def env(self) -> dict[str, str]:
        """What a client process needs to use the realm."""
        return {"KRB5_CONFIG": str(self.krb5_conf)}

    def _admin_env(self) -> dict[str, str]:
        return {**os.environ, "KRB5_CONFIG": str(self.krb5_conf),
                "KRB5_KDC_PROFILE": str(self.kdc_conf)}

    def start(self) -> "Realm":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port(udp_too=True)
        self._write_config()
        self._run([tool("kdb5_util"), "create", "-s", "-r", self.name, "-P", "spot-test-master"],
                  "creating the realm database")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([tool("krb5kdc"), "-n", "-r", self.name],
                                         env=self._admin_env(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RealmError(f"krb5kdc exited with {self.proc.returncode}: {self._tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RealmError(f"krb5kdc does not answer on 127.0.0.1:{self.port}: {self._tail()}")

    def _write_config(self) -> None:
        d, realm, port = self.folder, self.name, self.port
        self.kdc_conf.write_text(f"""\
[kdcdefaults]
 kdc_listen = 127.0.0.1:{port}
 kdc_tcp_listen = 127.0.0.1:{port}

[realms]
 {realm} = {{
  database_name = {d}/principal
  key_stash_file = {d}/stash
  acl_file = {d}/kadm5.acl
  max_life = 10h 0m 0s
  max_renewable_life = 0
  supported_enctypes = {' '.join(e + ':normal' for e in ENCTYPES.split())}
  kdc_listen = 127.0.0.1:{port}
  kdc_tcp_listen = 127.0.0.1:{port}
 }}

[logging]
 kdc = FILE:{d}/kdc-events.log
""")
        # rdns and dns_canonicalize_hostname off: on loopback a service is asked for by the name
        # (or address) the client was given, kafka/127.0.0.1, never by what DNS makes of it.
        self.krb5_conf.write_text(f"""\
[libdefaults]
 default_realm = {realm}
 dns_lookup_realm = false
 dns_lookup_kdc = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
 default_tkt_enctypes = {ENCTYPES}
 default_tgs_enctypes = {ENCTYPES}
 permitted_enctypes = {ENCTYPES}
 default_ccache_name = FILE:{d}/krb5cc_default

[realms]
 {realm} = {{
  kdc = 127.0.0.1:{port}
 }}

[domain_realm]
 127.0.0.1 = {realm}
 localhost = {realm}
""")

    def principal(self, name: str) -> str:
        return name if "@" in name else f"{name}@{self.name}"

    def add_principal(self, name: str, maxlife: str | None = None) -> Path:
        """A principal with a random key, and a keytab holding it (folder/<name>.keytab)."""
        principal = self.principal(name)
        life = f' -maxlife "{maxlife}"' if maxlife else ""
        self.kadmin(f"addprinc -randkey{life} {principal}")
        return self.export_keytab(name)

    def export_keytab(self, name: str, keytab: Path | None = None) -> Path:
        """ktadd gives the principal a new random key (kvno + 1) and writes it to keytab:
        keytabs exported before no longer work."""
        principal = self.principal(name)
        keytab = keytab or self.folder / (principal.split("@")[0].replace("/", "_") + ".keytab")
        keytab.unlink(missing_ok=True)
        self.kadmin(f"ktadd -k {keytab} {principal}")
        return keytab

    def kadmin(self, query: str) -> str:
        """One kadmin.local request (its own command language: an argument, not a shell)."""
        done = self._run([tool("kadmin.local"), "-r", self.name, "-q", query], query)
        # kadmin.local exits 0 whatever happened: anything on stderr but its chatter is a failure
        trouble = [line for line in done.stderr.splitlines() if line.strip() and not
                   line.startswith(("No policy specified", "Authenticating as"))]
        if trouble:
            raise RealmError(f"{query}: {' '.join(trouble)}")
        return done.stdout

    def _run(self, argv: list[str], what: str) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, env=self._admin_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RealmError(f"{what}: exit {done.returncode}: {done.stderr.strip()}")
        return done


