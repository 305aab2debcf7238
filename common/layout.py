"""Storage layout under hdfs_app_path (SPEC.md): where binaries, table data and scratch go."""
from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime

from common.schemas import TableSchema

SOURCES = ("flow", "dns", "proxy")
SUBFOLDERS = ("binary", "hive", "stage")


@dataclass(frozen=True, order=True)
class HourPartition:
    """One y/m/d/h partition of a table."""

    y: int
    m: int
    d: int
    h: int

    @classmethod
    def of(cls, when: datetime) -> "HourPartition":
        return cls(when.year, when.month, when.day, when.hour)

    def check(self) -> "HourPartition":
        """Raises ValueError unless this is a real hour of the calendar."""
        datetime(self.y, self.m, self.d, self.h)
        return self

    def folder(self) -> str:
        """Zero-padded folder, the path Spot's models read without the metastore."""
        return f"y={self.y:04d}/m={self.m:02d}/d={self.d:02d}/h={self.h:02d}"

    def values(self, table: TableSchema) -> list[str]:
        """Values registered in the metastore: integers for flow and dns, padded strings for proxy."""
        if table.partitions_are_strings:
            return [f"{self.y:04d}", f"{self.m:02d}", f"{self.d:02d}", f"{self.h:02d}"]
        return [str(self.y), str(self.m), str(self.d), str(self.h)]


def source_root(app_path: str, source: str) -> str:
    return posixpath.join(app_path, source)


def table_root(app_path: str, source: str) -> str:
    return posixpath.join(app_path, source, "hive")


def binary_root(app_path: str, source: str) -> str:
    return posixpath.join(app_path, source, "binary")


def binary_path(app_path: str, source: str, pipeline: str, part: HourPartition,
                name: str) -> str:
    """<src>/binary/YYYYMMDD/HH/<pipeline>/<stored name>: the hour is the collector's
    decision (from the file's name or content) and travels with the path."""
    return posixpath.join(binary_root(app_path, source), f"{part.y:04d}{part.m:02d}{part.d:02d}",
                          f"{part.h:02d}", pipeline, name)


def quarantine_dir(app_path: str, source: str, pipeline: str) -> str:
    return posixpath.join(app_path, source, "quarantine", pipeline)


def partition_dir(app_path: str, source: str, part: HourPartition) -> str:
    return posixpath.join(table_root(app_path, source), part.folder())


def setup_folders(app_path: str) -> list[str]:
    """Every folder spot_setup creates: <app>/{flow,dns,proxy}/{binary,hive,stage}."""
    return [posixpath.join(app_path, s, sub) for s in SOURCES for sub in SUBFOLDERS]


def checkpoint_dir(app_path: str, pipeline: str, checkpoint_path: str | None,
                   topic: str) -> str:
    """The proxy job's checkpoint of one topic: <checkpoint_path>/<topic>, by default
    <app>/proxy/stage/<pipeline>/checkpoints/<topic>. A checkpoint holds the offsets of one
    topic, so each topic has its own."""
    base = checkpoint_path or posixpath.join(app_path, "proxy", "stage", pipeline, "checkpoints")
    return posixpath.join(base, topic)
