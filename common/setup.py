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
    folders = setup_folders(config.hdfs_app_path)
    total, done = len(folders) + 1 + len(TABLES), 0
    yield f"storage: {storage.describe()} under {config.hdfs_app_path}"
    for folder in folders:
        existed = storage.exists(folder)
        if not existed:
            storage.mkdirs(folder)
        done += 1
        yield f"[{done}/{total}] folder {folder}: {'exists' if existed else 'created'}"

    with Catalog(config.hive.metastore_uris) as catalog:
        created = catalog.ensure_database(config.dbname)
        done += 1
        yield (f"[{done}/{total}] database {config.dbname}: "
               f"{'created' if created else 'exists'} ({catalog.uri})")
        for schema in TABLES.values():
            location = storage.uri(table_root(config.hdfs_app_path, schema.name))
            created = catalog.ensure_table(config.dbname, schema, location)
            done += 1
            yield f"[{done}/{total}] table {config.dbname}.{schema.name}: " \
                  f"{'created' if created else 'exists'} at {location}"
