"""The JVMs of the Kerberized test services: the same jars and flags the local stack runs its
services with (services/stack.py), plus the test realm's krb5.conf."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JARS = REPO / ".cache" / "jars"

# Java 17 closes JDK internals that Hadoop 3.4 and Hive 2.3 reach into (JAXB in WebHDFS, the
# Kerberos configuration in Hadoop's KerberosUtil): the list services/stack.py passes too.
JAVA17_OPENS = [
    "-XX:+IgnoreUnrecognizedVMOptions",
    *(f"--add-opens=java.base/{pkg}=ALL-UNNAMED" for pkg in (
        "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio",
        "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "jdk.internal.ref",
        "sun.nio.ch", "sun.nio.cs", "sun.security.action", "sun.util.calendar")),
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Djdk.reflect.useDirectMethodHandle=false",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


def java(heap: str, folder: Path, krb5_conf: Path, *extra: str) -> list[str]:
    home = os.environ.get("JAVA_HOME")
    binary = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not binary or not Path(binary).exists():
        raise RuntimeError("no java: install a Java 17 runtime (make setup)")
    return [binary, f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
            "-Djava.awt.headless=true", f"-Djava.io.tmpdir={folder}",
            f"-Djava.security.krb5.conf={krb5_conf}", *extra]


def jars(component: str) -> Path:
    """.cache/jars/<component> (kafka, hadoop), fetched by `make jars`."""
    path = JARS / component
    if not any(path.glob("*.jar")):
        raise RuntimeError(f"no {component} jars in {path}: run `make jars`")
    return path


def pyspark_jars() -> Path:
    """The jars inside pyspark, which hold Hive Metastore 2.3."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed (make setup)")
    return Path(list(spec.submodule_search_locations)[0]) / "jars"
