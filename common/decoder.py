"""One template for the external programs (nfdump, tshark, editcap): an argument list (never
a shell string), an explicit environment, stderr captured, and an error carrying all three."""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Callable

from common.errors import DecodeError

STDERR_KEEP = 4000


def split_options(process_opt: str) -> list[str]:
    """process_opt from the configuration, tokenised like a shell would but never run by one."""
    try:
        return shlex.split(process_opt or "")
    except ValueError as exc:
        raise DecodeError(f"process_opt {process_opt!r} cannot be split into arguments: {exc}") from None


def decoder_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment, with TZ defaulting to UTC (decoders render local times)."""
    env = dict(os.environ)
    env.setdefault("TZ", "UTC")
    if extra:
        env.update(extra)
    return env


def _failure(argv: Sequence[str], code: int, stderr: str) -> DecodeError:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    reason = lines[0] if lines else "no message"
    return DecodeError(f"{os.path.basename(argv[0])} failed (exit code {code}): {reason}")


def run(argv: Sequence[str], env: Mapping[str, str] | None = None,
        timeout: float | None = None) -> str:
    """Runs a program to completion; returns stdout, raises DecodeError on a non-zero exit."""
    try:
        proc = subprocess.run(list(argv), env=dict(env or decoder_env()), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise DecodeError(f"{argv[0]} is not installed (run make setup)") from None
    except subprocess.TimeoutExpired:
        raise DecodeError(f"{os.path.basename(argv[0])} did not finish within {timeout} s") from None
    if proc.returncode != 0:
        raise _failure(argv, proc.returncode, proc.stderr)
    return proc.stdout


@contextmanager
def stream(argv: Sequence[str], env: Mapping[str, str] | None = None,
           stderr_fails: Callable[[str], bool] | None = None) -> Iterator[IO[bytes]]:
    """Yields the program's stdout as a binary stream. On leaving, waits for the program and
    raises DecodeError when it failed, so a truncated output is never taken for a whole one.
    A program that reports errors on stderr but exits 0 (nfdump 1.7 does, on corrupt files)
    counts as failed when stderr_fails(stderr) says so.
    stderr goes to a temporary file, so a chatty program cannot block on a full pipe."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(list(argv), env=dict(env or decoder_env()),
                                    stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL, bufsize=1 << 20)
        except FileNotFoundError:
            raise DecodeError(f"{argv[0]} is not installed (run make setup)") from None
        try:
            yield proc.stdout
        except BaseException:
            # A reader choking on the output of a failed program: the program's error wins.
            try:
                code = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            _check(argv, code, err, stderr_fails)
            raise
        finally:
            proc.stdout.close()
        _check(argv, proc.wait(), err, stderr_fails)


def _check(argv: Sequence[str], code: int, err: IO[bytes],
           stderr_fails: Callable[[str], bool] | None) -> None:
    err.seek(0)
    stderr = err.read()[:STDERR_KEEP].decode("utf-8", "replace")
    if code != 0 or (stderr_fails is not None and stderr_fails(stderr)):
        raise _failure(argv, code, stderr)
