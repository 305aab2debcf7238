"""`make demo` in a reduced size: every pipeline's counts as printed, sessions stopped."""
from __future__ import annotations

import subprocess
import sys

from .procs import REPO


def test_the_demo_in_a_reduced_size(kafka_up, metastore_up):
    proc = subprocess.run([sys.executable, "-m", "pipelines.demo", "--small", "--stop"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "  flow: 8,000 rows (expected 8,000)\n" in out
    assert "  dns: 3,000 rows (expected 3,000)\n" in out
    assert "  proxy: 2,960 rows (expected 2,960); 40 lines rejected (expected 40), with their " \
           "reasons under " in out
    for hour, flows in ((9, 4000), (10, 4000)):
        assert f"  y=2016  m=1  d=4  h={hour}  flows={flows}\n" in out
    assert out.count(": exit status 0") == 3 + 3 + 2      # every window of three sessions
    assert "== demo done in " in out
