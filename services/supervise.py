"""Process supervision for the local stack: where each service keeps its pid file and log,
how a JVM is launched detached and marked as ours, and how a pid or a port is told to be ours,
a foreign process's, or nobody's."""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var" / "stack"
LOGS = STATE / "logs"
PIDS = STATE / "pids"

HOST = "127.0.0.1"
LOG_TAIL_LINES = 30

# Every JVM carries these two markers: they tell our processes from foreign ones and from
# unrelated processes that happen to reuse a pid.
MARK_SERVICE = "-Dspot.stack.service="
MARK_HOME = "-Dspot.stack.home="

# The stack's services are small and long-lived on a small machine. C2, HotSpot's optimizing
# compiler, cost more CPU than the services' own work: in make test on 2 cores its threads
# took 452 of the 808 CPU-s every JVM had used (56%). C1 alone compiles at a tenth of that
# cost, and none of these services is CPU-bound on the stack's volumes.
C1_ONLY = "-XX:TieredStopAtLevel=1"
JVM_COMMON = ["-XX:+UseSerialGC", C1_ONLY, "-Djava.net.preferIPv4Stack=true",
              "-Djava.awt.headless=true"]
# Java 17 closes the JDK internals that Hadoop 3.4 and Hive 2.3 reach into; without
# java.lang opened, for example, every WebHDFS call fails inside JAXB with a 500.
# (The same list Spark passes to its own JVMs.)
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


class StackError(Exception):
    """A failure with a message meant for the user (one line, plus an optional log tail)."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log


def java_bin() -> str:
    import shutil

    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise StackError("no java found: install a Java 17 runtime or set JAVA_HOME")
    return found


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:  # a zombie nobody reaped yet is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def port_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound (as the JVMs do, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def socket_address(field: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """An address column of /proc/net/tcp or tcp6 ("0100007F:2383": 127.0.0.1, port 9091): the
    address is hex of 32-bit words, each in the machine's (little-endian) byte order."""
    address, port = field.rsplit(":", 1)
    raw = bytes.fromhex(address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words), int(port, 16)


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """127.0.0.0/8, ::1, or 127.x mapped into IPv6 (::ffff:127.0.0.1)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def listening_sockets(text: str) -> dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """The TCP sockets in LISTEN state of one /proc/net/tcp or tcp6 table: socket inode ->
    (local address, port)."""
    out = {}
    for row in text.splitlines()[1:]:
        cols = row.split()
        if len(cols) > 9 and cols[3] == "0A":
            out[cols[9]] = socket_address(cols[1])
    return out


def listeners() -> dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """Every listening TCP socket of this network namespace (IPv4 and IPv6)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            found.update(listening_sockets(Path(table).read_text()))
        except OSError:
            continue
    return found


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets a process holds open (empty when it is not ours to see)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    except OSError:
        pass
    return inodes


def port_owner(port: int) -> int | None:
    """Best effort (Linux): the pid listening on a TCP port, when this user can see it."""
    inodes = {inode for inode, (_, p) in listeners().items() if p == port}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and socket_inodes(int(proc.name)) & inodes:
            return int(proc.name)
    return None


class Service:
    name = ""
    address = ""
    ports: tuple[int, ...] = ()
    main_class = ""

    def __init__(self) -> None:
        self.pid_file = PIDS / f"{self.name}.pid"
        self.log = LOGS / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    # -- to be provided by each service
    def prepare(self) -> None:
        """Renders the config (cheap, main thread)."""

    def initialize(self) -> None:
        """One-off work before the first start, e.g. formatting storage (may be slow)."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path:
        return STATE

    def check(self) -> str | None:
        """None when healthy, else why not."""
        raise NotImplementedError

    # -- common machinery
    def markers(self) -> list[str]:
        return [f"{MARK_SERVICE}{self.name}", f"{MARK_HOME}{STATE}"]

    def is_ours(self, pid: int) -> bool:
        cmd = proc_cmdline(pid)
        if cmd is None:  # no /proc: trust the pid file
            return pid_alive(pid)
        return all(m in cmd for m in self.markers()) and pid_alive(pid)

    def live_pid(self) -> int | None:
        """The pid from our pid file when that process is alive and ours, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self.is_ours(pid) else None

    def healthy(self) -> tuple[bool, str]:
        try:
            why = self.check()
        except Exception as e:  # any failure to get a protocol answer means "not answering"
            why = f"{type(e).__name__}: {e}".strip()
        return why is None, why or "ok"

    def run_tool(self, argv: list[str], what: str) -> None:
        """Runs a one-off JVM (e.g. a storage format), output appended to the service log."""
        with open(self.log, "ab") as out:
            out.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {what}\n".encode())
            out.flush()
            rc = subprocess.run(argv, cwd=self.cwd(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT).returncode
        if rc != 0:
            raise StackError(f"{self.name}: {what} failed (exit {rc})", self.log)

    def launch(self) -> int:
        if self.log.exists():  # keep the previous run's log next to the new one
            os.replace(self.log, self.log.with_suffix(".log.1"))
        self.initialize()
        with open(self.log, "ab") as out:
            out.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.command(), cwd=self.cwd(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=self.env())
        self.pid_file.write_text(f"{self.proc.pid}\n")
        return self.proc.pid

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def exited(self, pid: int) -> int | None:
        """The exit code if the process died (None while it runs)."""
        if self.proc is not None and self.proc.pid == pid:
            return self.proc.poll()
        return None if pid_alive(pid) else -1

    def jvm(self, heap: str, classpath: list[str], *extra: str) -> list[str]:
        return [java_bin(), f"-Xmx{heap}", *JVM_COMMON, f"-Djava.io.tmpdir={STATE / 'tmp'}",
                *self.markers(), *extra, "-cp", os.pathsep.join(classpath)]


