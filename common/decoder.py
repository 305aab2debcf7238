"""One template for the external programs (nfdump, tshark, editcap): an argument list (never
a shell string), an explicit environment, stderr captured, and an error carrying all three.

Every program runs in a session of its own: Ctrl-C in a terminal, `tmux kill-session` or a
closed terminal signal the foreground process group, and that must reach our process only
(which then finishes or abandons its work cleanly), never the decoder under it.

How a run ends decides whose fault it is:
- the program is not installed, or died of a signal: DecoderUnavailable (the machine's fault,
  retried, the file is never set aside for it);
- the program exited non-zero or reported an error: DecodeError (the file's fault);
- our own reader failed on the output while the program still ran: the program is stopped
  and the reader's error stands.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.errors import ConfigError, DecodeError, DecoderStalled, DecoderUnavailable

STDERR_KEEP = 4000
STALL_S = 120.0          # spinning this long without reading or writing: stopped
_WATCH_EVERY_S = 5.0

_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
_stalled: set[int] = set()      # pids the watch stopped


class _Watch(threading.Thread):
    """Stops a program that keeps the CPU busy while it neither reads nor writes a byte for
    `stall_s` (a decoder looping on a damaged block would hold its worker for ever). A
    program waiting, on a full pipe or on its input, uses no CPU and is left alone."""

    def __init__(self, proc: subprocess.Popen, stall_s: float):
        super().__init__(name=f"watch-{proc.pid}", daemon=True)
        self.proc, self.stall_s = proc, stall_s
        self.every = min(_WATCH_EVERY_S, stall_s / 4)

    def run(self) -> None:
        import psutil

        from common.parallel import leave_signals_to_main_thread

        leave_signals_to_main_thread()
        try:
            watched = psutil.Process(self.proc.pid)
            last_io, since, cpu_then = None, time.monotonic(), None
            while self.proc.poll() is None:
                time.sleep(self.every)
                io = watched.io_counters()
                cpu = sum(watched.cpu_times()[:2])
                now = time.monotonic()
                if (io.read_chars, io.write_chars) != last_io:
                    last_io, since, cpu_then = (io.read_chars, io.write_chars), now, cpu
                elif now - since >= self.stall_s and cpu - cpu_then >= 0.5 * (now - since):
                    _stalled.add(self.proc.pid)
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    return
        except (psutil.Error, ProcessLookupError, PermissionError):
            return              # it ended meanwhile


def split_options(process_opt: str) -> list[str]:
    """process_opt from the configuration, tokenised like a shell would but never run by one."""
    try:
        return shlex.split(process_opt or "")
    except ValueError as exc:
        raise ConfigError(f"process_opt {process_opt!r} cannot be split into arguments: "
                          f"{exc}") from None


def worker_timezone() -> str:
    """The zone times are rendered in: the process's TZ (the launcher sets it), UTC when unset.
    An unknown zone is refused at start, not discovered file by file."""
    tz = (os.environ.get("TZ") or "UTC").lstrip(":")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TZ={tz!r} is not a time zone known to this machine "
                          "(use a name such as UTC or Europe/Paris)") from None
    return tz


def decoder_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment, with TZ defaulting to UTC (decoders render local times)."""
    env = dict(os.environ)
    env.setdefault("TZ", "UTC")
    if extra:
        env.update(extra)
    return env


def program(argv: Sequence[str]) -> str:
    return os.path.basename(argv[0])


def _missing(argv: Sequence[str]) -> DecoderUnavailable:
    return DecoderUnavailable(f"{argv[0]} is not installed or not on PATH (run make setup)")


def _signalled(argv: Sequence[str], code: int) -> DecoderUnavailable:
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return DecoderUnavailable(f"{program(argv)} was killed by {name}")


Judge = Callable[[int, str], "Exception | None"]


def failed_if(stderr_fails: Callable[[str], bool] | None) -> Judge:
    """The usual judgement: a non-zero exit, or an error on stderr when stderr_fails says
    so (nfdump 1.7 exits 0 on corrupt files), is the file's fault."""
    def judge(code: int, stderr: str) -> Exception | None:
        if code != 0 or (stderr_fails is not None and stderr_fails(stderr)):
            return DecodeError(f"failed (exit code {code}): {first_line(stderr)}")
        return None
    return judge


def first_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def _outcome(argv: Sequence[str], code: int, stderr: str, judge: Judge,
             pid: int | None = None) -> Exception | None:
    """A program our watch stopped stalled; any other signal is the machine's fault;
    anything else is the judge's call. The program's name leads every message."""
    if pid is not None and pid in _stalled:
        _stalled.discard(pid)
        return DecoderStalled(f"{program(argv)} kept the CPU busy without reading or writing "
                              f"anything for {STALL_S:.0f} s: stopped")
    if code < 0:
        return _signalled(argv, code)
    error = judge(code, stderr)
    if error is not None and not str(error).startswith(program(argv)):
        error = type(error)(f"{program(argv)} {error}")
    return error


def _spawn(argv: Sequence[str], env: Mapping[str, str] | None, **kwargs) -> subprocess.Popen:
    try:
        proc = subprocess.Popen(list(argv), env=dict(env or decoder_env()),
                                stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
    except FileNotFoundError:
        raise _missing(argv) from None
    except PermissionError as exc:
        raise DecoderUnavailable(f"{argv[0]} cannot be run: {exc.strerror}") from None
    with _running_lock:
        _running.add(proc)
    _Watch(proc, STALL_S).start()
    return proc


def _forget(proc: subprocess.Popen) -> None:
    with _running_lock:
        _running.discard(proc)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def abandon_all() -> int:
    """Kills every decoder this process runs (a second stop request: leave now, commit
    nothing in flight). Returns how many were running."""
    with _running_lock:
        procs = [p for p in _running if p.poll() is None]
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(procs)


def run(argv: Sequence[str], env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stderr_fails: Callable[[str], bool] | None = None,
        judge: Judge | None = None) -> tuple[str, str]:
    """Runs a program to completion; returns (stdout, stderr). Raises what `judge` (by
    default failed_if(stderr_fails)) makes of its ending, DecoderUnavailable when it is
    missing, killed or hung past `timeout`."""
    proc = _spawn(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  errors="replace")
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise DecoderUnavailable(f"{program(argv)} did not finish within {timeout} s") from None
    except BaseException:
        _kill(proc)
        raise
    finally:
        _forget(proc)
    error = _outcome(argv, proc.returncode, stderr, judge or failed_if(stderr_fails), proc.pid)
    if error is not None:
        raise error
    return stdout, stderr


@contextmanager
def stream(argv: Sequence[str], env: Mapping[str, str] | None = None,
           stderr_fails: Callable[[str], bool] | None = None,
           judge: Judge | None = None) -> Iterator[IO[bytes]]:
    """Yields the program's stdout as a binary stream. On leaving, waits for the program and
    raises when it failed, so a truncated output is never taken for a whole one. A program
    that reports errors on stderr but exits 0 (nfdump 1.7 does, on corrupt files) counts as
    failed when stderr_fails(stderr) says so. stderr goes to a temporary file, so a chatty
    program cannot block on a full pipe."""
    judge = judge or failed_if(stderr_fails)
    with tempfile.TemporaryFile() as err:
        proc = _spawn(argv, env, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20)
        try:
            try:
                yield proc.stdout
            except BaseException:
                exited_by_itself = proc.poll() is not None
                if not exited_by_itself:
                    try:  # the program may just be finishing its last lines
                        proc.wait(timeout=0.5)
                        exited_by_itself = True
                    except subprocess.TimeoutExpired:
                        _kill(proc)
                if exited_by_itself:
                    # a reader choking on the output of a failed program: the program's error
                    error = _outcome(argv, proc.returncode, _stderr(err), judge, proc.pid)
                    if error is not None:
                        raise error from None
                raise
            finally:
                proc.stdout.close()
            code = proc.wait()
        finally:
            if proc.poll() is None:
                _kill(proc)
            _forget(proc)
        error = _outcome(argv, code, _stderr(err), judge, proc.pid)
        if error is not None:
            raise error


def _stderr(err: IO[bytes]) -> str:
    err.seek(0)
    return err.read()[:STDERR_KEEP].decode("utf-8", "replace")
