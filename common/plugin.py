"""The faces every pipeline (pipelines/<type>/) shows to the shared mechanics:

- a Collector (pipelines/<type>/collector.py): which files it takes and how one file is
  handed over (stored and published, as one message or several);
- on the worker side (pipelines/<type>/worker.py), either a Processor, which turns one
  message into table rows (flow, dns), or a StreamingJob, a long-running job that reads the
  whole topic itself (proxy).

common/master.py and common/worker.py drive them and know nothing else of the pipeline.
The binary-file versions of the first two (flow, dns) live in common/binary.py.
"""
from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from common.config import IngestConfig, PipelineConfig
from common.errors import ConfigError, SpotIngestError
from common.kafka_io import Message, Publisher
from common.storage import Storage
from common.watcher import matches_supported


class RejectedFile(SpotIngestError):
    """A collected file that can never be handed over (e.g. no time stamp in its name)."""


@dataclass(frozen=True)
class Collected:
    """A complete file found under collector_path."""
    path: Path
    relative: str          # its path relative to collector_path, '/'-separated

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Partitions:
    """Where the messages of one file go: the first to `first`, the next ones round robin."""
    first: int
    count: int

    def of(self, index: int) -> int:
        return (self.first + index) % self.count


@dataclass(frozen=True)
class Published:
    """One message a collector published."""
    name: str
    remote_path: str | None
    partition: int
    offset: int
    size: int
    upload_seconds: float = 0.0


@dataclass(frozen=True)
class Processed:
    """What a processor reports after one message."""
    name: str
    rows: int
    outputs: tuple[str, ...] = ()
    quarantined: str | None = None


class Collector(ABC):
    source: str  # flow, dns, proxy: the storage folder and the table

    def __init__(self, config: IngestConfig, pipeline: PipelineConfig):
        self.config, self.pipeline = config, pipeline

    def accepts(self, name: str) -> bool:
        """Whether a file name is one to collect (supported_files; in-progress names excluded)."""
        return matches_supported(name, self.pipeline.supported_files)

    def check_environment(self) -> None:
        """Raises ConfigError when this machine cannot collect (a tool missing): at start."""

    def check(self, item: Collected) -> None:
        """Raises RejectedFile when the file can never be handed over."""

    @abstractmethod
    def publish(self, item: Collected, partitions: Partitions, storage: Storage,
                publisher: Publisher) -> list[Published]:
        """Stores and publishes one file; removes it locally only once all is confirmed."""


class Processor(ABC):
    """Turns one message into rows in place. Raises on a failure that may pass (retried);
    returns a quarantined result for a file that can never be read."""

    def __init__(self, config: IngestConfig, pipeline: PipelineConfig, worker_id: int,
                 storage: Storage, catalog_factory):
        self.config, self.pipeline, self.worker_id = config, pipeline, worker_id
        self.storage, self.catalog_factory = storage, catalog_factory

    def start(self) -> None:
        """At worker start: raises ConfigError when this machine cannot do the work (decoder
        missing, options refused), and cleans what an earlier run left behind."""

    @abstractmethod
    def process(self, message: Message) -> Processed:
        ...

    @abstractmethod
    def give_up(self, message: Message, reason: str) -> Processed:
        """A message that failed too often: set its file aside with the reason."""


class StreamingJob(ABC):
    """A worker that is one long-running job over the whole topic (proxy)."""

    def __init__(self, config: IngestConfig, pipeline: PipelineConfig, worker_id: int):
        self.config, self.pipeline, self.worker_id = config, pipeline, worker_id

    @abstractmethod
    def run(self, topic: str, parallel: int, stopping: threading.Event) -> int:
        """Runs until the job ends or `stopping` is set; returns the exit code."""


def load(kind: str, face: str):
    """pipelines/<kind>/<face>.py's entry class: COLLECTOR (face 'collector') or PROCESSOR
    (face 'worker', a Processor or a StreamingJob)."""
    module_name = f"pipelines.{kind}.{face}"
    try:
        module = importlib.import_module(module_name)
        return getattr(module, "COLLECTOR" if face == "collector" else "PROCESSOR")
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"pipeline type '{kind}' has no {face} ({module_name} "
                              "is not installed)") from None
        raise ConfigError(f"cannot load {module_name}: {exc}") from None
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise ConfigError(f"cannot load {module_name}: {type(exc).__name__}: {exc}") from None
