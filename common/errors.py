"""One error family for the whole project; entry scripts catch it at the edge.

Two kinds of failure must never be confused (DESIGN.md, delivery guarantees):

- the file's fault (DecodeError): the file can never be read; it is set aside with the
  reason and its message committed;
- the machine's fault (TransientError and its subclasses): a service that does not answer,
  a decoder that is missing or was killed by a signal, a full disk. The work is retried and
  the file is never set aside for it.
"""


class SpotIngestError(Exception):
    """Base of every error this project raises on purpose. str(e) is one line for the user."""


class ConfigError(SpotIngestError):
    """Invalid configuration file or command-line arguments, or an environment (decoder,
    options, time zone) a process cannot run with: found at start, the process exits 1."""


class TransientError(SpotIngestError):
    """A fault of the machine or of a service, not of the file: retried, never quarantined."""


class KafkaError(TransientError):
    """Broker unreachable, topic problems, unacknowledged sends."""


class StorageError(TransientError):
    """A storage operation failed; carries the path and the backend's message."""


class CatalogError(TransientError):
    """The Hive Metastore is unreachable or refused an operation."""


class DecoderUnavailable(TransientError):
    """A decoder that is not installed, was killed by a signal, or was stopped by us."""


class DecodeError(SpotIngestError):
    """An external decoder (nfdump, tshark, editcap) cannot read a file: the file's fault."""


def describe(exc: BaseException) -> str:
    """One line for a log: our own errors speak for themselves, others carry their type."""
    if isinstance(exc, SpotIngestError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def is_machine_fault(exc: BaseException) -> bool:
    """Faults of the machine or a service, never the file's: retried without a limit.
    OSError covers a full or read-only disk and lost connections."""
    return isinstance(exc, (TransientError, OSError, MemoryError))
