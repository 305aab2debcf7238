"""The test harness's reading of a child's command line (tests/integration/procs.py)."""
import subprocess
import time

import psutil
import pytest

from tests.integration.procs import command_line


def test_a_zombie_child_has_no_command_line_instead_of_an_error():
    child = subprocess.Popen(["true"])           # exits at once; not reaped until wait()
    try:
        process = psutil.Process(child.pid)
        deadline = time.monotonic() + 10
        while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.status() == psutil.STATUS_ZOMBIE
        with pytest.raises(psutil.ZombieProcess):
            process.cmdline()                    # what failed the proxy job's test under load
        assert command_line(process) == []
    finally:
        child.wait()


def test_a_live_child_has_its_command_line():
    child = subprocess.Popen(["sleep", "30"])
    try:
        process = psutil.Process(child.pid)
        # until the kernel has finished the exec, the child reads as python or empty (seen
        # under load: []); its name becomes "sleep" once its new command line is in place
        deadline = time.monotonic() + 10
        while process.name() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert command_line(process) == ["sleep", "30"]
    finally:
        child.kill()
        child.wait()
