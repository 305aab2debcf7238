"""The first import of every entry point, before anything slow.

1. Stop requests are never lost nor fatal during start-up. Loading pyarrow, pydantic and the
   Kafka client takes about a second on two cores; a Ctrl-C, SIGTERM or SIGHUP arriving then
   (a launcher stopping a session it has just started) used to kill the process or make it
   exit 130. From here on such a signal is held, and handed to the process's stop handler as
   soon as common.cli.stop_on_signals installs it: the process then stops cleanly (exit 0),
   having started nothing it must finish.
2. The project's virtualenv is entered: `python3 ingest_status.py ...`, pasted into a new
   shell, runs with the packages `make setup` installed (.venv beside the scripts), by
   re-executing itself with .venv/bin/python. Stop signals stay blocked across that exec, so
   one sent meanwhile waits for the new process. SPOT_INGEST_NO_VENV=1 (or a missing .venv,
   as on a host whose packages are installed system-wide) keeps the current interpreter.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"

_held: list[int] = []


def _hold(signum, _frame) -> None:
    _held.append(signum)


def held() -> list[int]:
    """The stop signals received so far and not yet handed on."""
    return list(_held)


def hand_over(stop) -> None:
    """Installs `stop` (a signal handler) for the stop signals, then calls it once for each
    signal held since start-up."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    while _held:
        stop(_held.pop(0), None)


def default_handlers() -> None:
    """For short-lived tools (status, setup): Python's own handling again (Ctrl-C raises
    KeyboardInterrupt, SIGTERM and SIGHUP end the process), and what was held meanwhile is
    delivered now."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    while _held:
        signal.raise_signal(_held.pop(0))


def ignore_from_now() -> None:
    """The process has finished its work and is exiting: a stop signal arriving now (a second
    one, sent while it was leaving) must not kill it and turn its exit status into a signal's
    (the interpreter restores the default handlers while it shuts down)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _in_venv() -> bool:
    try:
        return Path(sys.prefix).resolve() == VENV.resolve()
    except OSError:
        return False


def _enter_venv() -> None:
    python = VENV / "bin" / "python"
    if os.environ.get("SPOT_INGEST_NO_VENV") or _in_venv() or not os.access(python, os.X_OK):
        return
    if _held:                      # stopped before anything started
        sys.exit(0)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    os.execv(python, [str(python), *sys.orig_argv[1:]])


def start() -> None:
    """Called by each entry script first thing (common/__init__.py imports nothing)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _hold)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)   # blocked across a re-exec
    _enter_venv()

