"""Cluster tests: the shared local stack plus test-only clusters started here."""
import pytest

from tests.integration.conftest import (hdfs_config, hdfs_up, kafka_up,  # noqa: F401
                                        local_config, metastore_up, spark)

from .clusters import KafkaCluster, SparkStandalone


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory):
    cluster = KafkaCluster(tmp_path_factory.mktemp("kafka-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def spark_standalone(tmp_path_factory):
    cluster = SparkStandalone(tmp_path_factory.mktemp("spark-standalone")).start()
    yield cluster
    cluster.stop()
