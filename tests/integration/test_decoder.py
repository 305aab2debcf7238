"""The decoder template with real programs: own session, and whose fault each ending is."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from common import decoder
from common.errors import DecodeError, DecoderUnavailable

PY = sys.executable


def test_a_decoder_runs_in_a_session_of_its_own():
    """Ctrl-C in a terminal signals the foreground process group: never the decoder's."""
    out, _ = decoder.run([PY, "-c", "import os; print(os.getsid(0), os.getpgid(0))"])
    sid, pgid = map(int, out.split())
    assert sid != os.getsid(0) and pgid != os.getpgid(0)
    with decoder.stream([PY, "-c", "import os; print(os.getsid(0))"]) as stdout:
        assert int(stdout.read()) != os.getsid(0)


def test_a_decoder_killed_by_a_signal_is_the_machines_fault():
    kill_self = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(DecoderUnavailable) as info:
        decoder.run([PY, "-c", kill_self])
    assert str(info.value) == f"{os.path.basename(PY)} was killed by SIGKILL"
    with pytest.raises(DecoderUnavailable) as info:
        with decoder.stream([PY, "-c", "import sys; sys.stdout.write('a,b\\n'); "
                             "sys.stdout.flush(); " + kill_self]) as stdout:
            stdout.read()
    assert str(info.value) == f"{os.path.basename(PY)} was killed by SIGKILL"


def test_a_missing_decoder_is_the_machines_fault():
    with pytest.raises(DecoderUnavailable) as info:
        decoder.run(["nfdump-not-installed", "-r", "x"])
    assert str(info.value) == "nfdump-not-installed is not installed or not on PATH (run make setup)"
    with pytest.raises(DecoderUnavailable):
        with decoder.stream(["nfdump-not-installed"]):
            pass


def test_a_failing_decoder_is_the_files_fault():
    with pytest.raises(DecodeError) as info:
        with decoder.stream([PY, "-c", "import sys; print('bad magic', file=sys.stderr); "
                             "sys.exit(3)"]) as stdout:
            stdout.read()
    assert str(info.value) == f"{os.path.basename(PY)} failed (exit code 3): bad magic"
    with pytest.raises(DecodeError) as info:       # exit 0, but an error on stderr (nfdump 1.7)
        decoder.run([PY, "-c", "import sys; print('Open file: bad magic', file=sys.stderr)"],
                    stderr_fails=lambda err: "bad magic" in err)
    assert str(info.value) == f"{os.path.basename(PY)} failed (exit code 0): Open file: bad magic"


def test_a_reader_error_while_the_decoder_runs_stops_it_and_stands():
    """The reader chokes while the program still writes: the program is stopped at once and
    the reader's error is what the caller sees (not a timeout, not a kill)."""
    started = time.monotonic()
    with pytest.raises(DecodeError) as info:
        with decoder.stream(["yes", "x,y"]) as stdout:
            stdout.read(1000)
            raise DecodeError("reader: unexpected columns")
    assert str(info.value) == "reader: unexpected columns"
    assert time.monotonic() - started < 5
    assert not decoder._running


def test_abandon_all_stops_running_decoders():
    errors = []

    def decode():
        try:
            with decoder.stream(["sleep", "60"]) as stdout:
                stdout.read()
        except DecoderUnavailable as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=decode)
    thread.start()
    deadline = time.monotonic() + 5
    while not decoder._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert decoder.abandon_all() == 1
    thread.join(10)
    assert errors == ["sleep was killed by SIGKILL"]


def test_a_decoder_spinning_without_reading_or_writing_is_stopped(monkeypatch):
    """nfdump loops for ever on some damaged bzip2 blocks; without a watch the worker would
    wait for ever. A program busy on the CPU that neither reads nor writes for STALL_S is
    stopped: not the machine's fault (no endless retry), not surely the file's (no instant
    quarantine): DecoderStalled, retried max_attempts times."""
    from common.errors import DecoderStalled, is_machine_fault

    monkeypatch.setattr(decoder, "STALL_S", 2.0)
    spin = [PY, "-c", "import sys; sys.stdout.write('started\\n'); sys.stdout.flush()\n"
                      "while True: pass"]
    name = os.path.basename(PY)
    with pytest.raises(DecoderStalled) as info:
        decoder.run(spin)
    assert str(info.value) == (f"{name} kept the CPU busy without reading or writing anything "
                               "for 2 s: stopped")
    assert not is_machine_fault(info.value) and not isinstance(info.value, DecodeError)
    with pytest.raises(DecoderStalled):
        with decoder.stream(spin) as stdout:
            assert stdout.readline() == b"started\n"
            stdout.read()


def test_a_decoder_that_waits_or_keeps_writing_is_left_alone(monkeypatch):
    monkeypatch.setattr(decoder, "STALL_S", 1.0)
    out, _ = decoder.run([PY, "-c", "import time; time.sleep(4); print('slept')"])
    assert out == "slept\n"                             # no CPU used: waiting, not stuck
    slow = "import sys, time\nfor n in range(8):\n    print(n, flush=True); time.sleep(0.5)"
    with decoder.stream([PY, "-c", slow]) as stdout:
        assert stdout.read().split() == [str(n).encode() for n in range(8)]
