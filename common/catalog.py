"""The Hive Metastore, spoken to over thrift (no JVM per call): database, tables, partitions.

Table definitions come from common.schemas; partition folders from common.layout.
"""
from __future__ import annotations

import functools
import logging
import time
from urllib.parse import urlparse

from common.errors import CatalogError
from common.layout import HourPartition
from common.schemas import TableSchema

log = logging.getLogger(__name__)

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def _thrift():
    from hmsclient.genthrift.hive_metastore import ttypes
    return ttypes


# How this process reaches a metastore that needs Kerberos (hive.sasl): its service name, for a
# SASL/GSSAPI transport; None for a plain socket. Set once at start by common.kerberos.configure
# (Catalog's callers hand it URIs only).
_sasl_service: str | None = None


def use_sasl(service: str | None) -> None:
    global _sasl_service
    _sasl_service = service


class _PureSasl:
    """pure-sasl's client in the shape thrift_sasl's transport expects (Cyrus sasl's)."""

    def __init__(self, host: str, service: str):
        from puresasl.client import SASLClient

        self.sasl = SASLClient(host, service=service, mechanism="GSSAPI")
        self.error = ""

    def _attempt(self, fn, *args):
        try:
            return True, fn(*args)
        except Exception as exc:  # noqa: BLE001 - pure-sasl and kerberos raise their own types
            self.error = _gss_message(exc)
            return False, None

    def start(self, mechanism: str):
        ok, response = self._attempt(self.sasl.process)
        return ok, mechanism, response

    def step(self, challenge: bytes):
        return self._attempt(self.sasl.process, challenge)

    def encode(self, data: bytes):
        return self._attempt(self.sasl.wrap, data)

    def decode(self, data: bytes):
        return self._attempt(self.sasl.unwrap, data)

    def getError(self) -> str:  # noqa: N802 - the name thrift_sasl calls
        return self.error


def _gss_message(exc: Exception) -> str:
    """kerberos.GSSError carries ((major text, code), (minor text, code)): the texts."""
    parts = [a[0] if isinstance(a, tuple) and a else a for a in exc.args]
    return ": ".join(str(p) for p in parts if p) or type(exc).__name__


class Catalog:
    """A connection to the first metastore of `uris` that answers. Use as a context manager.
    sasl_service: the metastore's Kerberos service name for a SASL/GSSAPI transport (default:
    the process's hive.sasl setting, see use_sasl); unset, a plain socket."""

    def __init__(self, uris: tuple[str, ...] | list[str], timeout_s: float = 60,
                 sasl_service: str | None = None):
        self.uris, self.timeout_s = tuple(uris), timeout_s
        self.sasl_service = sasl_service or _sasl_service
        self.client = None
        self.uri = None

    def __enter__(self) -> "Catalog":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        from hmsclient import hmsclient
        from thrift.protocol import TBinaryProtocol
        from thrift.transport import TSocket, TTransport

        errors = []
        for uri in self.uris:
            parsed = urlparse(uri)
            sock = TSocket.TSocket(parsed.hostname, parsed.port or 9083)
            sock.setTimeout(int(self.timeout_s * 1000))
            if self.sasl_service:
                from thrift_sasl import TSaslClientTransport

                transport = TSaslClientTransport(
                    functools.partial(_PureSasl, parsed.hostname, self.sasl_service), "GSSAPI",
                    sock)
            else:
                transport = TTransport.TBufferedTransport(sock)
            try:
                transport.open()
            except TTransport.TTransportException as exc:
                errors.append(f"{uri}: {exc}")
                continue
            self.client = hmsclient.HMSClient(iprot=TBinaryProtocol.TBinaryProtocol(transport))
            self.uri = uri
            return
        raise CatalogError("cannot reach the Hive Metastore (" + "; ".join(errors) + ")")

    def close(self) -> None:
        if self.client is not None:
            self.client._oprot.trans.close()
            self.client = None

    def _call(self, what: str, fn, *args):
        from thrift.Thrift import TException
        from thrift.transport.TTransport import TTransportException

        if self.client is None:
            raise CatalogError(f"{what}: catalog is not open")
        try:
            return fn(*args)
        except TTransportException as exc:
            raise CatalogError(f"{what}: lost the Hive Metastore at {self.uri}: {exc}") from None
        except TException as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise CatalogError(f"{what}: {type(exc).__name__}: {message}") from None

    # ------------------------------------------------------------------ databases

    def database_exists(self, name: str) -> bool:
        return name in self._call("list databases", self.client.get_all_databases)

    def ensure_database(self, name: str) -> bool:
        """Creates the database; True when it was created, False when it was there."""
        t = _thrift()
        if self.database_exists(name):
            return False
        try:
            self._call(f"create database {name}", self.client.create_database,
                       t.Database(name=name, description="spot-ingest", parameters={}))
        except CatalogError as exc:
            if "AlreadyExists" in str(exc):
                return False
            raise
        return True

    # ------------------------------------------------------------------ tables

    def _storage_descriptor(self, schema: TableSchema, location: str):
        t = _thrift()
        return t.StorageDescriptor(
            cols=[t.FieldSchema(c.name, c.hive_type.lower(), None) for c in schema.columns],
            location=location,
            inputFormat=PARQUET_INPUT,
            outputFormat=PARQUET_OUTPUT,
            compressed=False,
            numBuckets=-1,
            serdeInfo=t.SerDeInfo(name=None, serializationLib=PARQUET_SERDE,
                                  parameters={"serialization.format": "1"}),
            bucketCols=[], sortCols=[], parameters={},
        )

    def table_exists(self, db: str, table: str) -> bool:
        return table in self._call(f"list tables of {db}", self.client.get_all_tables, db)

    def get_table(self, db: str, table: str):
        return self._call(f"read table {db}.{table}", self.client.get_table, db, table)

    def ensure_table(self, db: str, schema: TableSchema, location: str) -> bool:
        """Creates the EXTERNAL Parquet table; True when created. An existing table must have
        the declared columns, or the call fails saying how they differ."""
        t = _thrift()
        if self.table_exists(db, schema.name):
            self._check_columns(db, schema)
            return False
        table = t.Table(
            tableName=schema.name, dbName=db, owner="spot-ingest",
            createTime=int(time.time()), lastAccessTime=0, retention=0,
            sd=self._storage_descriptor(schema, location),
            partitionKeys=[t.FieldSchema(c.name, c.hive_type.lower(), None)
                           for c in schema.partition_columns],
            parameters={"EXTERNAL": "TRUE"},
            tableType="EXTERNAL_TABLE",
        )
        try:
            self._call(f"create table {db}.{schema.name}", self.client.create_table, table)
        except CatalogError as exc:
            if "AlreadyExists" in str(exc):
                return False
            raise
        return True

    def table_columns(self, db: str, table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(columns, partition columns) as (name, hive type) pairs."""
        tbl = self.get_table(db, table)
        return ([(c.name, c.type) for c in tbl.sd.cols],
                [(c.name, c.type) for c in tbl.partitionKeys])

    def _check_columns(self, db: str, schema: TableSchema) -> None:
        cols, parts = self.table_columns(db, schema.name)
        want = [(c.name, c.hive_type.lower()) for c in schema.columns]
        want_parts = [(c.name, c.hive_type.lower()) for c in schema.partition_columns]
        if [(n, ty.lower()) for n, ty in cols] != want or \
                [(n, ty.lower()) for n, ty in parts] != want_parts:
            raise CatalogError(f"table {db}.{schema.name} exists with other columns than the "
                               f"declared schema; drop it or rename it (found: "
                               f"{', '.join(f'{n} {ty}' for n, ty in cols)})")

    # ------------------------------------------------------------------ partitions

    def add_partition(self, db: str, schema: TableSchema, part: HourPartition,
                      location: str) -> bool:
        """Registers the partition with its folder as location; True when added, False when it
        was already registered (idempotent)."""
        t = _thrift()
        values = part.values(schema)
        sd = self._storage_descriptor(schema, location)  # same columns as the table's
        partition = t.Partition(values=values, dbName=db, tableName=schema.name,
                                createTime=int(time.time()), lastAccessTime=0, sd=sd,
                                parameters={})
        request = t.AddPartitionsRequest(dbName=db, tblName=schema.name, parts=[partition],
                                         ifNotExists=True, needResult=True)
        result = self._call(f"add partition {db}.{schema.name} {values}",
                            self.client.add_partitions_req, request)
        return bool(result.partitions)

    def list_partitions(self, db: str, table: str) -> list[tuple[list[str], str]]:
        """(values, location) of every partition, sorted by values."""
        parts = self._call(f"list partitions of {db}.{table}", self.client.get_partitions,
                           db, table, -1)
        return sorted(((list(p.values), p.sd.location) for p in parts),
                      key=lambda vl: [v.zfill(4) for v in vl[0]])
