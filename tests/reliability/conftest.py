"""The fault suite runs against the same real stack as the integration tests."""
from tests.integration.conftest import (hdfs_config, hdfs_up, kafka_up,  # noqa: F401
                                        local_config, metastore_up, spark)
