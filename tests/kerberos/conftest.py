"""Kerberos fixtures, shared by this folder's tests and stopped after them: one MIT realm on
loopback (tests/kerberos/kdc.py), its principals and keytabs, a Kafka node and a Hive Metastore
that accept only SASL/GSSAPI, a NameNode whose WebHDFS takes only SPNEGO. A KDC or service
that does not come up fails the tests that need it; nothing skips. The tests that need a plain
Kafka or metastore use the local stack's (make test starts it)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import kafka_up, metastore_up  # noqa: F401

from .kdc import Realm, RealmError
from .sasl_kafka import SaslKafka
from .sasl_metastore import SaslMetastore
from .spnego_namenode import SpnegoNameNode

SHORT_LIFE_S = 30     # the ticket lifetime of the `short` principal (renewal test)


@dataclass(frozen=True)
class Principals:
    realm: Realm
    keytabs: dict[str, Path]          # spot, other, short, rotated (stale: rotated since)

    def principal(self, name: str) -> str:
        return self.realm.principal(name)

    def env(self, name: str = "spot", keytab: str | None = None) -> dict[str, str]:
        """The environment of a process that logs in as `name` (with another's keytab when
        `keytab` names one)."""
        return {**self.realm.env(), "KRB_AUTH": "true", "KRB_USER": self.principal(name),
                "KEYTABPATH": str(self.keytabs[keytab or name])}


@pytest.fixture(scope="package")
def realm(tmp_path_factory) -> Realm:
    kdc = Realm(tmp_path_factory.mktemp("realm"))
    try:
        kdc.start()
    except RealmError as exc:
        pytest.fail(f"the test KDC does not start: {exc}", pytrace=False)
    yield kdc
    kdc.stop()


@pytest.fixture(scope="package")
def principals(realm) -> Principals:
    keytabs = {"spot": realm.add_principal("spot"),
               "other": realm.add_principal("other"),
               "short": realm.add_principal("short", maxlife=f"{SHORT_LIFE_S} seconds"),
               "rotated": realm.add_principal("rotated")}
    realm.export_keytab("rotated", realm.folder / "rotated-new.keytab")  # the old one is stale
    return Principals(realm, keytabs)


@pytest.fixture(scope="package")
def client_env(realm, principals) -> dict[str, str]:
    """The environment of the tests' own client processes: a ticket for spot in a cache of
    their own (health checks, reading the SASL metastore back)."""
    cache = realm.folder / "krb5cc_test_client"
    env = {**realm.env(), "KRB5CCNAME": f"FILE:{cache}"}
    subprocess.run(["kinit", "-kt", str(principals.keytabs["spot"]), principals.principal("spot")],
                   env={**os.environ, **env}, check=True, capture_output=True)
    return env


@pytest.fixture(scope="package")
def sasl_kafka(realm, client_env, tmp_path_factory) -> SaslKafka:
    broker = SaslKafka(tmp_path_factory.mktemp("sasl-kafka"), realm)
    try:
        broker.start(client_env)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield broker
    broker.stop()


@pytest.fixture(scope="package")
def sasl_metastore(realm, client_env, tmp_path_factory) -> SaslMetastore:
    metastore = SaslMetastore(tmp_path_factory.mktemp("sasl-metastore"), realm)
    try:
        metastore.start(client_env)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield metastore
    metastore.stop()


@pytest.fixture(scope="package")
def spnego_namenode(realm, tmp_path_factory) -> SpnegoNameNode:
    namenode = SpnegoNameNode(tmp_path_factory.mktemp("spnego-namenode"), realm)
    try:
        namenode.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield namenode
    namenode.stop()
