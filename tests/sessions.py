"""`make test`: every test, in three pytest sessions, so that the two cores are busy while
tests wait on services.

- `apart` and `main` run at the same time. `apart` holds the tests that bring services of
  their own or only read the local stack: the namespace cluster suite (hosts of its own),
  the Kerberos suite (its own KDC, broker, metastore and NameNode), the three-node Kafka of
  the exactly-once tests, the proxy job's own tests, the bench smoke run and the DNS
  decoders' differential tests. `main` holds everything else, among them every test that
  opens tmux sessions (the launcher, the lifecycle tests, the demo: they compare the
  session list before and after).
- `outages` runs last, alone: it stops and starts the local stack's services, which would
  fail every test that uses them meanwhile.

`apart` writes to var/log/test-apart.log while `main` writes to the terminal; its log is
printed once both are done. The exit status is 0 only when every session passed.

    python tests/sessions.py [pytest arguments for every session]
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "var" / "log" / "test-apart.log"

APART = (
    "tests/cluster",
    "tests/kerberos",
    "tests/integration/test_proxy_exactly_once.py",
    "tests/integration/test_proxy_job.py",
    "tests/integration/test_bench_smoke.py",
    "tests/integration/test_dns_fast.py",
)
OUTAGES = (
    "tests/reliability/test_outages.py",
    "tests/integration/test_stack.py",
)


def command(paths: tuple[str, ...], ignored: tuple[str, ...], extra: list[str]) -> list[str]:
    """One pytest session over these paths, without the ignored ones."""
    return [sys.executable, "-m", "pytest", *extra, "--durations=30",
            *(f"--ignore={p}" for p in ignored), *paths]


def plan(extra: list[str]) -> dict[str, list[str]]:
    """The three sessions' command lines."""
    return {"apart": command(APART, (), extra + ["-p", "no:cacheprovider"]),
            "main": command(("tests",), APART + OUTAGES, extra),
            "outages": command(OUTAGES, (), extra + ["-p", "no:cacheprovider"])}


def missing(paths: tuple[str, ...]) -> list[str]:
    return [p for p in paths if not (REPO / p).exists()]


def main(extra: list[str]) -> int:
    gone = missing(APART + OUTAGES)
    if gone:
        print(f"error: tests/sessions.py names paths that do not exist: {', '.join(gone)}",
              file=sys.stderr)
        return 2
    commands = plan(extra)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    took: dict[str, float] = {}
    codes: dict[str, int] = {}
    started = time.monotonic()
    with open(LOG, "wb") as log:
        apart = subprocess.Popen(commands["apart"], cwd=REPO, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT)
        print(f"tests: session apart runs alongside, its output in {LOG.relative_to(REPO)}",
              flush=True)
        codes["main"] = subprocess.run(commands["main"], cwd=REPO).returncode
        took["main"] = time.monotonic() - started
        codes["apart"] = apart.wait()
        took["apart"] = time.monotonic() - started
    print(f"\n======== session apart ({LOG.relative_to(REPO)}) ========", flush=True)
    sys.stdout.buffer.write(LOG.read_bytes())
    print("\n======== session outages ========", flush=True)
    began = time.monotonic()
    codes["outages"] = subprocess.run(commands["outages"], cwd=REPO).returncode
    took["outages"] = time.monotonic() - began
    print(f"\ntests: {summary(codes, took)}; {time.monotonic() - started:.0f} s in all",
          flush=True)
    return 0 if all(code == 0 for code in codes.values()) else 1


def summary(codes: dict[str, int], took: dict[str, float]) -> str:
    """One line: each session's outcome and time."""
    return ", ".join(f"{name} {'passed' if codes[name] == 0 else f'FAILED (exit {codes[name]})'}"
                     f" in {took[name]:.0f} s" for name in ("main", "apart", "outages"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
