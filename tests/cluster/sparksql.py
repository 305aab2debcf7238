"""Rows and distinct rows of the project's tables through Spark SQL and the metastore, as an
analyst on a host of the cluster reads them (a local Spark session; the table and partition
locations the metastore holds must resolve from that host). Prints one JSON object.

    python -m tests.cluster.sparksql thrift://metastore:9083 DBNAME TABLE [TABLE...]
"""
from __future__ import annotations

import json
import sys
import tempfile


def main(argv: list[str]) -> int:
    from pyspark.sql import SparkSession

    metastore, db, tables = argv[0], argv[1], argv[2:]
    warehouse = tempfile.mkdtemp(prefix="spark-warehouse-")
    spark = (SparkSession.builder.master("local[1]").appName("spot-ingest-cluster-read")
             .config("spark.driver.memory", "512m")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.warehouse.dir", warehouse)
             .config("spark.hadoop.hive.metastore.uris", metastore)
             .enableHiveSupport().getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    counts = {}
    try:
        for table in tables:
            rows = spark.sql(f"SELECT COUNT(*) FROM {db}.{table}").collect()[0][0]
            distinct = spark.sql(f"SELECT COUNT(*) FROM (SELECT DISTINCT * FROM {db}.{table})") \
                .collect()[0][0]
            partitions = spark.sql(f"SHOW PARTITIONS {db}.{table}").count()
            counts[table] = {"rows": rows, "distinct": distinct, "partitions": partitions}
    finally:
        spark.stop()
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
