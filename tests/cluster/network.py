"""The test cluster's hosts: one Linux network namespace per host, as root.

Each host has one interface (eth0) with its own address in 198.18.0.0/24 (the range RFC 2544
sets aside for test networks), plugged into a bridge that lives in a namespace of its own:
nothing is added to the machine's own network (no interface, no address, no route), and no
host has a route anywhere but to the others. Each host also has its own loopback, its own
name, the cluster's /etc/hosts, and a local disk no other host sees (tests/cluster/hostexec.py):
a process that reaches for 127.0.0.1 finds only its own host, and a file written on one host's
disk is not on another's.

Namespaces are named spotc<pid>-<host> after the pytest process that made them; destroy()
kills every process inside them and deletes them (the veths and the bridge go with them), and
cleanup_leftovers() does the same for the namespaces of a run whose process is gone (killed
before its clean-up). Nothing else on the machine is touched.
"""
from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.procs import Proc

HOSTEXEC = Path(__file__).resolve().parent / "hostexec.py"
REPO = Path(__file__).resolve().parents[2]
SUBNET = ipaddress.ip_network("198.18.0.0/24")
PREFIX = "spotc"
_OURS = re.compile(rf"^{PREFIX}(\d+)-")
# What a process on a host inherits from the test process: nothing host-specific (no
# SPARK_LOCAL_IP, HADOOP_CONF_DIR, KRB5CCNAME... that tests elsewhere may have set).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "JAVA_HOME", "USER", "LOGNAME", "SHELL")


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def netns_names() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def processes_in(netns: str) -> list[int]:
    """Pids whose network namespace is this one (by the namespace's inode)."""
    try:
        inode = os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return []
    mark = f"net:[{inode}]"
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if os.readlink(proc / "ns" / "net") == mark:
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_and_delete(names: list[str], timeout: float = 30) -> None:
    """SIGKILL every process inside these namespaces, then delete them."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for name in names for pid in processes_in(name) if _alive(pid)]
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {left} still alive in {names}")
        time.sleep(0.2)
    for name in names:
        if name in netns_names():
            ip("netns", "delete", name)


def cleanup_leftovers() -> list[str]:
    """Namespaces of earlier runs whose pytest process is gone: their processes killed, the
    namespaces deleted. Returns their names."""
    stale = [n for n in netns_names()
             if (m := _OURS.match(n)) and not _alive(int(m.group(1)))]
    if stale:
        kill_and_delete(stale)
    return stale


class HostProc(Proc):
    """A process on a host (the same interface as tests/integration/procs.Proc)."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str], cwd: Path):
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env, start_new_session=True)


@dataclass
class Host:
    name: str
    address: str
    netns: str
    network: "Network" = field(repr=False)

    @property
    def disk(self) -> Path:
        """The host's local disk as the test process sees it."""
        return self.network.base / "disks" / self.name

    def local(self, *parts: str) -> Path:
        """A path on the host's local disk as processes on the host see it."""
        return self.network.mount_point.joinpath(*parts)

    def outside(self, local: Path) -> Path:
        """Where the test process finds a path of this host's local disk."""
        return self.disk / Path(local).relative_to(self.network.mount_point)

    def argv(self, command: list[str]) -> list[str]:
        return [sys.executable, str(HOSTEXEC), self.netns, self.name,
                str(self.network.hosts_file), str(self.disk), str(self.network.mount_point),
                "--", *command]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        return {**base, "TZ": "UTC", **(extra or {})}

    def start(self, command: list[str], log: Path, env: dict[str, str] | None = None,
              cwd: Path = REPO) -> HostProc:
        return HostProc(self.argv(command), log, self.env(env), cwd)

    def run(self, command: list[str], timeout: float = 300, env: dict[str, str] | None = None,
            check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
        done = subprocess.run(self.argv(command), cwd=cwd, env=self.env(env), text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise RuntimeError(f"on {self.name}: {' '.join(command)} exited with "
                               f"{done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done


class Network:
    """Hosts on one bridge. create() makes them; destroy() removes all of it."""

    def __init__(self, base: Path, names: list[str]):
        self.base = base
        self.mount_point = base / "local"
        self.hosts_file = base / "hosts"
        self.prefix = f"{PREFIX}{os.getpid()}"
        self.switch = f"{self.prefix}-switch"
        addresses = list(SUBNET.hosts())[10:]
        self.hosts = {name: Host(name, str(addresses[i]), f"{self.prefix}-{name}", self)
                      for i, name in enumerate(names)}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def namespaces(self) -> list[str]:
        return [h.netns for h in self.hosts.values()] + [self.switch]

    def create(self) -> "Network":
        self.mount_point.mkdir(parents=True, exist_ok=True)
        self.hosts_file.write_text("127.0.0.1 localhost\n" + "".join(
            f"{h.address} {h.name}\n" for h in self.hosts.values()))
        try:
            ip("netns", "add", self.switch)
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "br0", "up")
            for i, host in enumerate(self.hosts.values()):
                (host.disk / "tmp").mkdir(parents=True, exist_ok=True)
                ip("netns", "add", host.netns)
                ip("-n", host.netns, "link", "set", "lo", "up")
                port = f"h{i:02d}"
                ip("link", "add", "eth0", "netns", host.netns, "type", "veth",
                   "peer", "name", port, "netns", self.switch)
                ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
                ip("-n", host.netns, "addr", "add", f"{host.address}/{SUBNET.prefixlen}",
                   "dev", "eth0")
                ip("-n", host.netns, "link", "set", "eth0", "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def destroy(self) -> None:
        kill_and_delete([n for n in self.namespaces() if n in netns_names()])
