"""One error family for the whole project; entry scripts catch it at the edge."""


class SpotIngestError(Exception):
    """Base of every error this project raises on purpose. str(e) is one line for the user."""


class ConfigError(SpotIngestError):
    """Invalid configuration file or command-line arguments."""


class KafkaError(SpotIngestError):
    """Broker unreachable, topic problems, unacknowledged sends."""


class StorageError(SpotIngestError):
    """A storage operation failed; carries the path and the backend's message."""


class CatalogError(SpotIngestError):
    """The Hive Metastore is unreachable or refused an operation."""


class DecodeError(SpotIngestError):
    """An external decoder (nfdump, tshark, editcap) failed on a file."""
