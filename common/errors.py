"""One error family for the whole project; entry scripts catch it at the edge.

Two kinds of failure must never be confused (DESIGN.md, delivery guarantees):

- the file's fault (DecodeError): the file can never be read; it is set aside with the
  reason and its message committed;
- the machine's fault (TransientError and its subclasses): a service that does not answer,
  a decoder that is missing or was killed by a signal, a full disk. The work is retried and
  the file is never set aside for it.
"""
import errno


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


class StorageRefused(StorageError):
    """The storage refused one path for a reason of that path, not of the machine: permission
    denied, no such file, not a folder, a name it does not accept. Retrying cannot help, so it
    counts against max_attempts like any other fault of the file (a subclass of StorageError
    so every `except StorageError` still sees it)."""


class CatalogError(TransientError):
    """The Hive Metastore is unreachable or refused an operation."""


class DecoderUnavailable(TransientError):
    """A decoder that is not installed, was killed by a signal, or was stopped by us."""


class DecoderStalled(SpotIngestError):
    """A decoder that spun without reading or writing anything for long (nfdump does on some
    damaged bzip2 blocks): stopped. Whose fault is not certain, so it is retried
    max_attempts times, then the file is set aside."""


class DecodeError(SpotIngestError):
    """An external decoder (nfdump, tshark, editcap) cannot read a file: the file's fault."""


def describe(exc: BaseException) -> str:
    """One line for a log: our own errors speak for themselves, others carry their type."""
    if isinstance(exc, SpotIngestError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# errno values that speak of the machine (a disk, memory, a descriptor table, the network),
# never of one file: a full or read-only disk, an I/O error, a lost connection.
MACHINE_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE,
    errno.ENFILE, errno.ENOBUFS, errno.EAGAIN, errno.EBUSY, errno.ETXTBSY, errno.ENODEV,
    errno.ENXIO, errno.ESTALE, errno.EINTR, errno.EPIPE, errno.ECONNREFUSED,
    errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
    errno.EHOSTDOWN, errno.ENETUNREACH, errno.ENETDOWN, errno.ENETRESET, errno.ENOTCONN,
    errno.ENOLCK, errno.EREMOTEIO,
})


def is_machine_fault(exc: BaseException) -> bool:
    """Faults of the machine or a service, never the file's: retried without a limit.

    Our own TransientErrors (a service down, a decoder killed) and MemoryError are; of the
    OSErrors only those whose errno speaks of the machine (MACHINE_ERRNOS). An OSError about
    the file itself - a corrupt gzip stream (BadGzipFile has no errno), permission denied or
    no such file on one path - is not: it is retried max_attempts times, then set aside. So is
    a StorageRefused (the storage refusing one path)."""
    if isinstance(exc, StorageRefused):
        return False
    if isinstance(exc, (TransientError, MemoryError)):
        return True
    if isinstance(exc, OSError):
        return exc.errno in MACHINE_ERRNOS
    return False
