"""`make demo` in a reduced size: every pipeline's counts as printed; then the commands it
prints, pasted into a new shell (another folder, an empty environment, the bare python3):
the status of each pipeline, watched until Ctrl-C, and the stop of each session."""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .procs import REPO, wait_for


def pasted(command: str, **kwargs) -> subprocess.Popen:
    """A printed command as a new shell runs it: from /, with an environment that has only
    PATH and HOME, and python3 the bare interpreter (not the venv's)."""
    bare = Path(sys.base_prefix) / "bin"
    env = {"PATH": f"{bare}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    return subprocess.Popen(shlex.split(command), cwd="/", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def test_the_demo_in_a_reduced_size_and_the_commands_it_prints(kafka_up, metastore_up):
    proc = subprocess.run([sys.executable, "-m", "pipelines.demo", "--small"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    out = proc.stdout
    try:
        assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
        assert "  flow: 8,000 rows (expected 8,000)\n" in out
        assert "  dns: 3,000 rows (expected 3,000)\n" in out
        # 10 of the 40 planted faults are a non-number in scbytes: a NULL cell, the row kept
        assert "  proxy: 2,970 rows (expected 2,970); 30 lines rejected (expected 30), with " \
               "their reasons under " in out
        for hour, flows in ((9, 4000), (10, 4000)):
            assert f"  y=2016  m=1  d=4  h={hour}  flows={flows}\n" in out
        assert "== demo done in " in out
        watches = re.findall(r"^  (\S+): watch   (.+)$", out, re.M)
        stops = re.findall(r"^ +stop    (.+)$", out, re.M)
        assert [p for p, _ in watches] == ["flow_internals", "dns_server_1", "proxy_bluecoat"]
        assert len(stops) == 3
        for pipeline, command in watches:
            watch = pasted(command, start_new_session=True)
            seen: list[str] = []
            reader = threading.Thread(target=lambda: [seen.append(line) for line in watch.stdout],
                                      daemon=True)
            reader.start()
            title = f"topic SPOT-INGEST-spot-{pipeline} (lag 0)"
            try:
                wait_for(lambda: title in "".join(seen) or watch.poll() is not None, 120,
                         f"the status of {pipeline}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; it printed: {''.join(seen)[-2000:]!r}") from None
            os.killpg(watch.pid, signal.SIGINT)                 # Ctrl-C
            assert watch.wait(60) == 0, "".join(seen)
            reader.join(60)
            assert title in "".join(seen), "".join(seen)
    finally:
        for command in re.findall(r"^ +stop    (.+)$", out, re.M):
            stop = pasted(command)
            said, _ = stop.communicate(timeout=400)
            assert stop.returncode == 0, said
            assert said.count(": exit status 0") >= 2 and said.rstrip().endswith("closed"), said
