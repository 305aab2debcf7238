"""The spark-submit command line of the proxy job, built as an argument list (never a shell
string), for launchers and tests.

    python -m pipelines.proxy.submit [--master local[2]] [--driver-memory 1g] -- <job.py arguments>

replaces itself (exec) with spark-submit, so signals sent to this process reach the job's JVM,
which turns SIGTERM/SIGINT/SIGHUP into a clean stop (see job.py).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "pipelines" / "proxy" / "job.py"
CONNECTOR_JARS = REPO / ".cache" / "jars" / "spark"
# The job's parse is one generated Java method larger than HotSpot's 8000-byte limit for JIT
# compilation: without this flag it runs interpreted, about twice as slow (where the rows are
# parsed: the driver in local mode, the executors on a cluster).
JIT_OPTIONS = "-XX:-DontCompileHugeMethods"
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def artifact_of(jar_name: str) -> str:
    """`kafka-clients-3.9.1.jar` -> `kafka-clients`."""
    match = _VERSIONED_JAR.match(jar_name)
    return match.group("artifact") if match else jar_name


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def connector_jars(jars_dir: Path = CONNECTOR_JARS, spark_jars: Path | None = None) -> list[Path]:
    """The Kafka source's jars, minus those Spark already ships (scala-library...), whose
    second copy on the classpath would only invite version clashes."""
    spark_jars = spark_jars or spark_home() / "jars"
    shipped = {artifact_of(p.name) for p in spark_jars.glob("*.jar")}
    jars = sorted(p for p in jars_dir.glob("*.jar") if artifact_of(p.name) not in shipped)
    if not any(p.name.startswith("spark-sql-kafka-0-10") for p in jars):
        raise FileNotFoundError(f"no spark-sql-kafka-0-10 jar in {jars_dir}: run `make jars`")
    return jars


def spark_submit_argv(job_args: list[str], *, master: str = "local[2]",
                      driver_memory: str = "1g", jars: list[Path] | None = None,
                      conf: dict[str, str] | None = None,
                      spark_submit: str | None = None,
                      principal: str | None = None, keytab: str | None = None) -> list[str]:
    """spark-submit ... job.py <job_args>. Cluster settings (executors, memory, YARN) go in
    conf or master; the defaults are one modest local JVM. principal and keytab (Kerberos on)
    let Spark log in and renew its own Hadoop credentials for as long as the job runs."""
    spark_submit = spark_submit or str(Path(sys.executable).parent / "spark-submit")
    settings = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
                "spark.executor.extraJavaOptions": JIT_OPTIONS, **(conf or {})}
    argv = [spark_submit, "--master", master, "--driver-memory", driver_memory,
            "--driver-java-options", JIT_OPTIONS,
            "--jars", ",".join(str(p) for p in (jars if jars is not None else connector_jars()))]
    for key, value in settings.items():
        argv += ["--conf", f"{key}={value}"]
    if principal and keytab:
        argv += ["--principal", principal, "--keytab", keytab]
    return argv + [str(JOB), *job_args]


def is_local(master: str) -> bool:
    """local, local[N], local[N,F], local-cluster[...]: every executor inside this machine."""
    return master == "local" or master.startswith(("local[", "local-cluster["))


def spark_env(base: dict[str, str] | None = None, master: str = "local[2]") -> dict[str, str]:
    """The driver's Python is this interpreter (the venv with pyarrow, hmsclient). A local
    master keeps the job's JVM on loopback (SPARK_LOCAL_IP=127.0.0.1, unless set). Any other
    (yarn, spark://...) gets nothing of the sort: its executors run on other hosts and connect
    back to the address the driver advertises, which must be this host's own (Spark takes it
    from the host's name; SPARK_LOCAL_IP in the environment still overrides it)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if is_local(master):
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        own, job_args = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    else:
        own, job_args = [], argv
    parser = argparse.ArgumentParser(prog="python -m pipelines.proxy.submit",
                                     description="Runs the proxy job through spark-submit.")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="1g")
    args = parser.parse_args(own)
    try:
        command = spark_submit_argv(job_args, master=args.master,
                                    driver_memory=args.driver_memory)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.execve(command[0], command, spark_env(master=args.master))
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
