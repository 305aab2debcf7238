"""What spot_setup.py does, as a function the demo and the tests call too."""
from __future__ import annotations

from collections.abc import Iterator

from common.catalog import Catalog
from common.config import IngestConfig
from common.layout import setup_folders, table_root
from common.schemas import TABLES
from common.storage import open_storage


def setup_all(config: IngestConfig) -> Iterator[str]:
    """Creates storage folders, database and tables; yields one line per thing, saying
    whether it was created or already existed."""
    storage = open_storage(config)
    yield f"storage: {storage.describe()} under {config.hdfs_app_path}"
    for folder in setup_folders(config.hdfs_app_path):
        existed = storage.exists(folder)
        if not existed:
            storage.mkdirs(folder)
        yield f"folder {folder}: {'exists' if existed else 'created'}"

    with Catalog(config.hive.metastore_uris) as catalog:
        created = catalog.ensure_database(config.dbname)
        yield f"database {config.dbname}: {'created' if created else 'exists'} ({catalog.uri})"
        for schema in TABLES.values():
            location = storage.uri(table_root(config.hdfs_app_path, schema.name))
            created = catalog.ensure_table(config.dbname, schema, location)
            yield f"table {config.dbname}.{schema.name}: {'created' if created else 'exists'} " \
                  f"at {location}"
