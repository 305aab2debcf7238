"""After `make services`, the embedded stack listens on loopback only. Read from /proc/net/tcp
and /proc/net/tcp6: every listening socket of the stack's processes (the ports each service
declares, and any other one a JVM opened, such as the DataNode's internal HTTP port), not a
list of expected ports."""
from __future__ import annotations

import sys

from .procs import REPO

sys.path.insert(0, str(REPO / "services"))

import stack  # noqa: E402
from supervise import is_loopback, listeners, port_owner, socket_inodes  # noqa: E402


def stack_listeners() -> list[tuple[str, int, object, int]]:
    """(service, pid, address, port) of every socket the stack's processes listen on."""
    sockets = listeners()
    found = []
    for service in stack.services():
        owners = {port: port_owner(port) for port in service.ports}
        missing = [port for port, pid in owners.items() if pid is None]
        assert not missing, f"{service.name}: nothing listens on port(s) {missing}"
        for pid in sorted(set(owners.values())):
            for inode in socket_inodes(pid):
                if inode in sockets:
                    address, port = sockets[inode]
                    found.append((service.name, pid, address, port))
    return found


def test_every_port_of_the_embedded_stack_listens_on_loopback_only(kafka_up, metastore_up,
                                                                   hdfs_up):
    found = stack_listeners()
    declared = {(name, port): str(address) for name, _, address, port in found}
    assert {(s.name, port): declared.get((s.name, port)) for s in stack.services()
            for port in s.ports} == {(s.name, port): "127.0.0.1" for s in stack.services()
                                     for port in s.ports}
    beyond = [f"{name} (pid {pid}) listens on {address} port {port}"
              for name, pid, address, port in found if not is_loopback(address)]
    assert beyond == []
