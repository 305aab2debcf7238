"""The reference for the pipeline's "two workers over one": the decode work of the capture's
pieces alone (dnsdecode columns -> Arrow -> Parquet, the calls a worker makes, without Kafka, storage,
the metastore or a master) in one process, against the same pieces shared by two processes
started together, in the same run.

One process already keeps more than one core busy: dnsdecode runs in its own process beside
the Python that reads its output. On two cores a second process can only add what the first
leaves idle, so this work alone does not run twice as fast in two processes; the pipeline's
figure is read against it. (It is not a strict ceiling: the pipeline also waits on Kafka and
on fsync, and a second worker can fill those waits.)

`python -m bench.dns_side_by_side OUT PIECE...` is one such process: it imports, decodes a
first piece (warm), prints "ready", waits for a line on stdin, decodes every piece into OUT
and prints its seconds and CPU seconds (its own and its decoders') as JSON.
"""
from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.support import PYTHON, REPO, BenchError


def pieces_of(capture: Path, pkt_num: int, folder: Path) -> list[Path]:
    """The capture cut as the master cuts it (dnsdecode split), into an emptied folder."""
    from common import decoder
    from pipelines.dns import fast

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    argv = [str(fast.DNSDECODE), "split", str(pkt_num), str(capture), str(folder / "c_spot")]
    out = subprocess.run(argv, env=decoder.decoder_env({"TZ": "UTC"}), check=True,
                         capture_output=True)
    return [Path(line) for line in out.stdout.decode().splitlines()]


def _start(pieces: list[Path], out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([PYTHON, "-m", "bench.dns_side_by_side", str(out), *map(str, pieces)],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise BenchError(f"decode loop exited with {proc.wait()} before it was ready")
    return proc


def side_by_side(shares: list[list[Path]], folder: Path) -> dict:
    """Every share in a process of its own, all ready first, then started at once: the wall
    seconds until the last one is done and their CPU seconds."""
    procs = [_start(share, folder / f"out-{i}.parquet") for i, share in enumerate(shares)]
    start = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        line = proc.stdout.readline()
        if proc.wait() != 0 or not line:
            raise BenchError(f"decode loop failed (exit code {proc.returncode})")
        results.append(json.loads(line))
    wall = time.perf_counter() - start
    return {"seconds": round(wall, 3), "cpu_s": round(sum(r["cpu_s"] for r in results), 3),
            "rows": sum(r["rows"] for r in results)}


def measure(capture: Path, pkt_num: int, folder: Path, rounds: int, responses: int) -> dict:
    """The pieces twice over (so each process has more than one to do), in one process and
    in two; the median of `rounds` of each, alternated. Every run must write the capture's
    `responses` rows twice over."""
    pieces = pieces_of(capture, pkt_num, folder / "pieces") * 2
    halves = [pieces[0::2], pieces[1::2]]
    ones, twos = [], []
    for _ in range(rounds):
        ones.append(side_by_side([pieces], folder))
        twos.append(side_by_side(halves, folder))
    rows = [r["rows"] for r in ones + twos]
    if any(r != 2 * responses for r in rows):
        raise BenchError(f"decode loops wrote {rows} rows, each should be {2 * responses} "
                         "(the capture's responses twice over)")

    def median(runs: list[dict]) -> dict:
        return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]

    one, two = median(ones), median(twos)
    return {"pieces": len(pieces), "rows": one["rows"], "one_process": one,
            "two_processes": two, "one_process_cores": round(one["cpu_s"] / one["seconds"], 2),
            "speedup": round(one["seconds"] / two["seconds"], 3),
            "runs_s": {"one": [r["seconds"] for r in ones], "two": [r["seconds"] for r in twos]}}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str]) -> int:
    from common import decoder
    from common.parquet_out import write_batches
    from common.schemas import DNS
    from pipelines.dns import fast
    from pipelines.dns.columns import column_batches

    out, pieces = Path(argv[0]), argv[1:]
    env = decoder.decoder_env({"TZ": "UTC"})

    def decode(piece: str) -> int:
        with decoder.stream(fast.columns_argv(piece), env) as stdout:
            return write_batches(column_batches(stdout, "UTC"), DNS.arrow_schema(), out)

    decode(pieces[0])
    print("ready", flush=True)
    sys.stdin.readline()
    cpu, start = _cpu(), time.perf_counter()
    rows = sum(decode(piece) for piece in pieces)
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu_s": _cpu() - cpu,
                      "rows": rows}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
