"""The JVMs of the Kerberized test services: the same jars and flags the local stack runs its
services with (services/stack.py), plus the test realm's krb5.conf."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JARS = REPO / ".cache" / "jars"

from services.supervise import JAVA17_OPENS, JVM_COMMON  # noqa: E402,F401 (the stack's own)


def java(heap: str, folder: Path, krb5_conf: Path, *extra: str) -> list[str]:
    home = os.environ.get("JAVA_HOME")
    binary = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not binary or not Path(binary).exists():
        raise RuntimeError("no java: install a Java 17 runtime (make setup)")
    return [binary, f"-Xmx{heap}", *JVM_COMMON, f"-Djava.io.tmpdir={folder}",
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


class TestService:
    """A test-only server process: its log, and a stop that waits for it."""
    log: Path
    proc = None

    def _tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
