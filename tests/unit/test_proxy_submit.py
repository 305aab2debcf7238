"""The proxy job's environment per Spark master (pipelines/proxy/submit.py): loopback only for
a local master; a cluster master's driver must advertise its host's own address."""
from pipelines.proxy.submit import is_local, spark_env


def test_only_local_masters_are_local():
    assert [is_local(m) for m in ("local", "local[2]", "local[*]", "local[2,3]",
                                  "local-cluster[2,1,512]", "yarn", "spark://spark-master:7077",
                                  "k8s://https://api:6443")] == \
        [True, True, True, True, True, False, False, False]


def test_spark_local_ip_is_set_for_local_masters_only():
    assert spark_env({}, master="local[2]")["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert "SPARK_LOCAL_IP" not in spark_env({}, master="yarn")
    assert "SPARK_LOCAL_IP" not in spark_env({}, master="spark://spark-master:7077")
    # an operator's own choice stays
    assert spark_env({"SPARK_LOCAL_IP": "198.18.0.24"}, master="yarn")["SPARK_LOCAL_IP"] == \
        "198.18.0.24"
    assert spark_env({"SPARK_LOCAL_IP": "198.18.0.24"}, master="local[1]")["SPARK_LOCAL_IP"] == \
        "198.18.0.24"
