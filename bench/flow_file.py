"""1. Flow, one file: `nfdump -r FILE -q -o csv > /dev/null` (TZ=UTC, as the worker runs it)
vs one real worker.py process end to end, per file size.

The worker's figure is its own log line `<name>: N rows in S s`: from the message received to
the rows placed and the partition registered (the offset is committed right after). Its peak
RSS is VmHWM read from /proc just before it is stopped, one fresh process per size, so growth
with size shows. With --profile the worker runs once more under py-spy (a flamegraph and a
text summary of where its time goes); those runs are not part of the timings.
"""
from __future__ import annotations

import collections
import re
from pathlib import Path

from bench import inputs
from bench.support import (FLOW_PIPELINE, REPO, VENV_BIN, WORK, Bench, BenchError, check_rows,
                           clear_table, make_config, one_message, say, table_rows, timed_runs)

TITLE = "Flow, one file: nfdump alone vs one worker end to end"
HOUR = (2016, 1, 4, 9)
WORKER_TIMEOUT_S = 1800
BREAKDOWN_MAX_FLOWS = 1_000_000     # the in-process stage breakdown runs up to this size
RATE_TARGET, RATE_TARGET_FLOWS = 2.0, 1_000_000   # worker >= 2x nfdump csv's rate on 1M flows
RSS_TARGET_MB = 300                 # at any file size


def run(bench: Bench) -> dict:
    from common.setup import setup_all
    from common.storage import open_storage

    args = bench.args
    folder = bench.folder("flow-file")
    config = make_config(folder)
    list(setup_all(config))
    storage = open_storage(config)
    rows, files = [], {}
    for flows in args.flow_sizes:
        path = files[flows] = inputs.flow_file(flows)
        say(f"  {flows:,} flows ({path.stat().st_size / 1e6:.0f} MB): nfdump x{args.nfdump_runs}, "
            "then one worker")
        r = measure(bench, config, storage, folder, path, flows)
        if flows <= BREAKDOWN_MAX_FLOWS:
            r["breakdown"] = breakdown(config, storage, folder, path)
            r["nfdump_modes"] = output_modes(path, args.nfdump_runs)
            say("    nfdump alone, by output mode: " + ", ".join(
                f"{k} {v['seconds']:.2f} s ({v['cpu_s']:.2f} CPU s)"
                for k, v in r["nfdump_modes"].items()))
        rows.append(r)
        say(f"    nfdump {r['nfdump_s']:.2f} s ({r['nfdump_rows_per_s']:,.0f} rows/s), worker "
            f"{r['worker_s']:.2f} s ({r['worker_rows_per_s']:,.0f} rows/s), ratio "
            f"{r['ratio']:.2f}, worker peak RSS {r['worker_peak_rss_mb']:.0f} MB")
        if "breakdown" in r:
            say("    in-process stages: " + ", ".join(f"{k} {v}" for k, v in
                                                      r["breakdown"].items()))
    peak = max(r["worker_peak_rss_mb"] for r in rows)
    result = {
        "title": TITLE, "storage": "local", "runs": rows,
        "row_checks": [r["row_check"] for r in rows],
        "inputs": {"flow_sizes": list(args.flow_sizes), "nfdump_runs": args.nfdump_runs,
                   "files": {str(n): str(p) for n, p in files.items()}},
        "targets": [{"figure": f"worker/nfdump rate, {r['flows']:,} flows",
                     "value": f"{r['ratio']:.2f}", "target": f">= {RATE_TARGET}",
                     "met": r["ratio"] >= RATE_TARGET}
                    for r in rows if r["flows"] == RATE_TARGET_FLOWS] +
                   [{"figure": "worker peak RSS MB, largest over all sizes",
                     "value": f"{peak:.0f}", "target": f"<= {RSS_TARGET_MB}",
                     "met": peak <= RSS_TARGET_MB}],
        "headlines": [(f"worker/nfdump rate, {r['flows']:,} flows", f"{r['ratio']:.2f}")
                      for r in rows if r["flows"] != RATE_TARGET_FLOWS] +
                     [(f"worker peak RSS MB, {r['flows']:,} flows",
                       f"{r['worker_peak_rss_mb']:.0f}") for r in rows],
        "columns": ["flows", "file MB", "nfdump s", "nfdump rows/s", "nfdump CPU s",
                    "worker s", "worker rows/s", "worker/nfdump rate", "worker CPU s",
                    "worker peak RSS MB"],
        "table": [[f"{r['flows']:,}", f"{r['file_mb']:.0f}", f"{r['nfdump_s']:.2f}",
                   f"{r['nfdump_rows_per_s']:,.0f}", f"{r['nfdump_cpu_s']:.2f}",
                   f"{r['worker_s']:.2f}", f"{r['worker_rows_per_s']:,.0f}",
                   f"{r['ratio']:.2f}", f"{r['worker_cpu_s']:.2f}",
                   f"{r['worker_peak_rss_mb']:.0f}"] for r in rows],
    }
    if args.profile:
        say(f"  profile: the worker under py-spy on {args.profile_flows:,} flows")
        result["profile"] = profile(bench, config, storage, folder, args.profile_flows)
    return result


def _remote(config, path: Path) -> str:
    from common.layout import HourPartition, binary_path

    return binary_path(config.hdfs_app_path, "flow", FLOW_PIPELINE, HourPartition(*HOUR),
                       path.name)


def _output(config) -> str:
    from common.layout import HourPartition, partition_dir

    return f"{partition_dir(config.hdfs_app_path, 'flow', HourPartition(*HOUR))}/" \
           f"{FLOW_PIPELINE}-{inputs.FLOW_NAME}.parquet"


def measure(bench: Bench, config, storage, folder: Path, path: Path, flows: int) -> dict:
    from pipelines.flow.decode import nfdump_argv

    nfdump = timed_runs(nfdump_argv(str(path)), bench.args.nfdump_runs)
    remote = _remote(config, path)
    clear_table(config, "flow")
    worker = one_message(bench, config, storage, FLOW_PIPELINE, path, remote, path.name,
                         folder / f"worker-{flows}.log", WORKER_TIMEOUT_S)
    checked = check_rows(f"one worker, {flows:,} flows", flows, table_rows(config, "flow"))
    if worker["rows"] != flows:
        raise BenchError(f"the worker logged {worker['rows']} rows of {flows}")
    output = _output(config)
    parquet_mb = storage.size(output) / 1e6
    storage.delete(remote)
    storage.delete(output)
    seconds = worker["seconds"]
    return {"flows": flows, "file_mb": round(path.stat().st_size / 1e6, 1),
            "nfdump_s": nfdump["seconds"], "nfdump_runs_s": nfdump["runs"],
            "nfdump_rows_per_s": round(flows / nfdump["seconds"]),
            "nfdump_cpu_s": nfdump["cpu_s"], "nfdump_cores": nfdump["cores"],
            "nfdump_peak_rss_mb": nfdump["peak_rss_mb"],
            "worker_s": seconds, "worker_rows": worker["rows"],
            "worker_rows_per_s": round(worker["rows"] / seconds),
            "ratio": round(nfdump["seconds"] / seconds, 3),
            "worker_cpu_s": worker["cpu_s"], "worker_cores": worker["cores"],
            "worker_peak_rss_mb": worker["peak_rss_mb"],
            "parquet_mb": round(parquet_mb, 1), "worker_log": worker["log"],
            "row_check": checked}


# ------------------------------------------------------------------ stage by stage

def breakdown(config, storage, folder: Path, path: Path) -> dict:
    """Where the time goes along the worker's path, stage by stage, in this process, with the
    worker's own processor: fetch; nfdump's pipe and fmt outputs read and dropped (the floor
    of any reader of them); nfdump -> Arrow; + Parquet; the same outputs read from files (our
    side alone, nfdump not running); upload into the partition; registration."""
    import os
    import subprocess
    import time

    from common import decoder
    from common.binary import Binary
    from common.catalog import Catalog
    from common.layout import HourPartition, partition_dir
    from common.messages import FileMessage
    from common.parquet_out import write_batches
    from common.schemas import FLOW
    from common.storage import LocalStorage
    from pipelines.flow.joined import fmt_argv, joined_batches, pipe_argv
    from pipelines.flow.worker import FlowProcessor

    def timed(fn):
        start = time.perf_counter()
        value = fn()
        return value, round(time.perf_counter() - start, 3)

    remote = _remote(config, path)
    storage.upload(path, remote)
    local, parquet = folder / "stage-input", folder / "stage.parquet"
    outputs = folder / "stage.pipe", folder / "stage.fmt"
    _, fetch_s = timed(lambda: storage.download(remote, local))
    proc = FlowProcessor(config, config.pipeline(FLOW_PIPELINE), 0, storage=LocalStorage(),
                         catalog_factory=None)
    proc.start()
    if proc.joined is None:
        raise BenchError("the worker reads nfdump's csv here (no probe file): no breakdown")
    binary = Binary(FileMessage(FLOW_PIPELINE, path.name, remote, path.stat().st_size),
                    HourPartition(*HOUR), path.name)
    env = decoder.decoder_env({"TZ": "UTC"})

    def batches():
        [output] = list(proc.decode(local, binary, folder))
        return output.batches

    def piped_only() -> int:
        """Both outputs read and dropped (the floor of any streaming reader of them)."""
        with decoder.stream(pipe_argv(str(local)), env) as p, \
                decoder.stream(fmt_argv(str(local)), env) as f:
            total = 0
            for chunk in iter(lambda: p.read(4 << 20) + f.read(4 << 20), b""):
                total += len(chunk)
            return total

    def from_files() -> int:
        with open(outputs[0], "rb") as p, open(outputs[1], "rb") as f:
            return write_batches(joined_batches(p, f, proc.joined), FLOW.arrow_schema(), parquet)

    output_bytes, piped_s = timed(piped_only)
    _, decode_s = timed(lambda: sum(b.num_rows for b in batches()))
    _, write_s = timed(lambda: write_batches(batches(), FLOW.arrow_schema(), parquet))
    for argv, out in zip((pipe_argv(str(local)), fmt_argv(str(local))), outputs):
        with open(out, "wb") as sink:
            subprocess.run(argv, stdout=sink, env=env, check=True)
    start_cpu = os.times()
    _, files_s = timed(from_files)
    files_cpu = sum(os.times()[:2]) - sum(start_cpu[:2])
    part = HourPartition(*HOUR)
    target = f"{partition_dir(config.hdfs_app_path, 'flow', part)}/bench-breakdown.parquet"
    _, upload_s = timed(lambda: storage.upload(parquet, target))

    def register() -> None:
        with Catalog(config.hive.metastore_uris) as catalog:
            catalog.add_partition(config.dbname, FLOW, part,
                                  storage.uri(partition_dir(config.hdfs_app_path, "flow", part)))
    _, register_s = timed(register)
    parquet_mb = parquet.stat().st_size / 1e6
    for leftover in (local, parquet, *outputs):
        leftover.unlink(missing_ok=True)
    storage.delete(target)
    storage.delete(remote)
    return {"fetch_binary_s": fetch_s, "output_mb": round(output_bytes / 1e6, 1),
            "nfdump_pipe_and_fmt_read_and_dropped_s": piped_s,
            "nfdump_to_arrow_s": decode_s, "nfdump_to_arrow_to_parquet_s": write_s,
            "outputs_from_files_to_arrow_to_parquet_s": files_s,
            "outputs_from_files_to_arrow_to_parquet_cpu_s": round(files_cpu, 2),
            "upload_parquet_s": upload_s, "register_partition_s": register_s,
            "parquet_mb": round(parquet_mb, 1)}


def output_modes(path: Path, runs: int) -> dict:
    """nfdump alone on the file in each output mode (TZ=UTC, output to /dev/null): seconds and
    CPU seconds, the median of `runs`. `joined` is what the worker runs (pipe and fmt at
    once, plus csv over the records with an odd direction); its wall figure is the slowest
    of its three, its CPU their sum."""
    from pipelines.flow.decode import NFDUMP, nfdump_argv
    from pipelines.flow.joined import ODD_DIRECTIONS, fmt_argv, pipe_argv

    spot = ",".join(f"%{f}" for f in ("tr", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd",
                                      "stos", "ipkt", "ibyt", "opkt", "obyt", "in", "out",
                                      "sas", "das", "dtos", "dir", "ra"))
    base = [NFDUMP, "-r", str(path), "-q"]
    modes = {"csv": nfdump_argv(str(path)), "json": base + ["-o", "json"],
             "pipe": base + ["-o", "pipe"], "fmt (Spot's fields)": base + ["-N", "-o", f"fmt:{spot}"],
             "joined: pipe": pipe_argv(str(path)), "joined: fmt": fmt_argv(str(path)),
             "joined: csv, odd directions": nfdump_argv(str(path), records=ODD_DIRECTIONS)}
    out = {}
    for name, argv in modes.items():
        r = timed_runs(argv, runs)
        out[name] = {"seconds": r["seconds"], "cpu_s": r["cpu_s"], "argv": argv[3:]}
    parts = [out[n] for n in out if n.startswith("joined")]
    out["joined"] = {"seconds": max(p["seconds"] for p in parts),
                     "cpu_s": round(sum(p["cpu_s"] for p in parts), 2)}
    return out


# ------------------------------------------------------------------ --profile

def profile(bench: Bench, config, storage, folder: Path, flows: int) -> dict:
    """The worker end to end under `py-spy record --subprocesses`, twice: once written as a
    flamegraph (SVG), once as raw collapsed stacks that are summarised here. --idle is on, so
    waits (pyarrow's reader on nfdump's pipe, the decode thread on pyarrow) show as such
    instead of vanishing; C code (pyarrow, the pipe) counts in the Python frame calling it."""
    path = inputs.flow_file(flows)
    svg, raw = WORK / "flow-worker.svg", WORK / "flow-worker-stacks.txt"
    out = {"flows": flows, "flamegraph": str(svg), "stacks": str(raw)}
    for fmt, target in (("flamegraph", svg), ("raw", raw)):
        spy = [str(VENV_BIN / "py-spy"), "record", "--format", fmt, "-o", str(target),
               "--rate", "100", "--idle", "--threads", "--subprocesses", "--"]
        remote = _remote(config, path)
        worker = one_message(bench, config, storage, FLOW_PIPELINE, path, remote, path.name,
                             folder / f"py-spy-{fmt}.log", WORKER_TIMEOUT_S, wrapper=spy)
        if not target.exists():
            raise BenchError(f"py-spy wrote no {target}; see {worker['log']}")
        out[f"{fmt}_run_worker_s"] = worker["seconds"]
        storage.delete(remote)
        storage.delete(_output(config))
    summary = summarise(raw.read_text())
    summary_path = WORK / "flow-worker-profile.txt"
    summary_path.write_text(summary["text"])
    out.update(summary=str(summary_path), samples=summary["samples"],
               decode_thread=summary["decode_thread"],
               reader_thread_in_readinto_samples=summary["reader_thread_in_readinto_samples"])
    say("\n".join("    " + line for line in summary["text"].splitlines()[:40]))
    return out


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frame_name(frame: str) -> str:
    """`write_batches (common/parquet_out.py:31)` -> `write_batches (common/parquet_out.py)`:
    functions, not lines."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match.group("file")
    for marker in ("/site-packages/", f"{REPO}/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match.group('func')} ({file})"


# The stage a decode-thread sample is in: its innermost frame among these functions.
STAGES = {
    "download": "fetch the binary from storage",
    "csv_names": "nfdump csv header probe",
    "stream_batches": "pyarrow's CSV reader: parse nfdump's outputs (and wait for them)",
    "to_flow_batch": "map to the flow table's columns",
    "write_batches": "write Parquet",
    "_register": "register the partition",
    "_place": "place the Parquet file in its partition",
    "rmtree": "remove the scratch folder",
}


def _function(name: str) -> str:
    """`BinaryFileProcessor._place (common/binary.py)` -> `_place`."""
    return name.split(" (", 1)[0].rsplit(".", 1)[-1]


def summarise(raw: str) -> dict:
    """Collapsed stacks (`process ...;thread ...;frame;...;frame N`) -> where the decode
    thread's time goes while it works on a message (per stage, then per function, by own and
    by inclusive samples), and samples per thread."""
    samples = busy = idle = reads = 0
    threads: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    stages: collections.Counter = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        threads[thread.split(": ", 1)[-1]] += n
        if not thread.endswith("decode_0"):
            if any(f.startswith("PrefixedStream.readinto") for f in frames):
                reads += n               # pyarrow's I/O thread reading nfdump's pipe
            continue
        names = [_frame_name(f) for f in frames if not f.startswith(("process ", "thread "))]
        if not any(_function(name) == "_handle" for name in names):
            idle += n                      # the pool thread waiting for the next message
            continue
        busy += n
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
        stage = next((STAGES[_function(name)] for name in reversed(names)
                      if _function(name) in STAGES), "other work on the message")
        stages[stage] += n

    def pct(n: int) -> str:
        return f"{100 * n / max(busy, 1):5.1f}%"

    lines = [f"py-spy at 100 samples/s, idle included: {samples} samples; the decode thread "
             f"worked on the message for {busy} ({busy / 100:.1f} s) and waited for one for "
             f"{idle}.", "pyarrow parses the csv on C++ threads of its own, which py-spy "
             "does not see: the decode thread waits for them inside stream_batches.", "",
             "decode thread at work, by stage (innermost stage function):"]
    lines += [f"  {pct(n)}  {label}" for label, n in stages.most_common()]
    lines += ["", "decode thread at work, top functions by own samples (C code is counted in "
              "the Python frame that calls it):"]
    lines += [f"  {pct(n)}  {name}" for name, n in own.most_common(15)]
    lines += ["", "decode thread at work, top functions by inclusive samples:"]
    lines += [f"  {pct(n)}  {name}" for name, n in inclusive.most_common(25)]
    lines += ["", f"pyarrow's I/O thread in PrefixedStream.readinto (reading nfdump's pipe, "
                  f"mostly waiting for nfdump): {reads} samples ({reads / 100:.1f} s)"]
    lines += ["", "samples per thread:"]
    lines += [f"  {n:6d}  {name}" for name, n in threads.most_common()]
    return {"text": "\n".join(lines) + "\n", "samples": samples,
            "reader_thread_in_readinto_samples": reads,
            "decode_thread": {"busy_samples": busy, "idle_samples": idle,
                              "stages_percent": {label: round(100 * n / max(busy, 1), 1)
                                                 for label, n in stages.most_common()},
                              "top_own_percent": {name: round(100 * n / max(busy, 1), 1)
                                                  for name, n in own.most_common(10)}}}
