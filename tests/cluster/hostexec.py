#!/usr/bin/env python3
"""Runs a command on one host of the test cluster (tests/cluster/network.py), as root:

    hostexec.py NETNS HOSTNAME HOSTS_FILE DISK MOUNT_POINT -- COMMAND [ARG...]

The process enters the host's network namespace (its own interface and address, its own
loopback), then gets a UTS namespace with the host's name and a mount namespace in which
/etc/hosts is the cluster's (every host's name and address, as a cluster's DNS would give)
and MOUNT_POINT shows DISK: the host's own local disk, which no other host sees. Then it
becomes COMMAND (exec): signals sent to this pid reach the command itself. What the command
starts (JVMs, containers, executors) inherits all of it.

Standard library only: it runs before anything of the project is imported.
"""
from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter(netns: str, hostname: str, hosts_file: str, disk: str, mount_point: str) -> None:
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"entering network namespace {netns}")
    finally:
        os.close(fd)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    _check(_libc.mount(hosts_file.encode(), b"/etc/hosts", None, MS_BIND, None),
           f"mounting {hosts_file} on /etc/hosts")
    _check(_libc.mount(disk.encode(), mount_point.encode(), None, MS_BIND | MS_REC, None),
           f"mounting {disk} on {mount_point}")
    name = hostname.encode()
    _check(_libc.sethostname(name, len(name)), f"naming the host {hostname}")


def main(argv: list[str]) -> int:
    if len(argv) < 7 or argv[5] != "--":
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    enter(*argv[:5])
    os.execvp(argv[6], argv[6:])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
