"""3. DNS on one capture of --dns-responses responses (300,000+ packets by default):

- the decoders alone: tshark with the pipeline's options (pipelines.dns.decode.tshark_argv,
  > /dev/null) against dnsdecode (build/dnsdecode), packets per CPU second (per core) and
  per wall second, the median of --tshark-runs runs each;
- drop -> rows: a real master and one worker from the capture renamed into the collector
  folder to every piece committed, against tshark alone on the same capture: with the
  default pkt_num (650,000: the capture is one piece) and cut into --dns-pieces pieces
  (handed over as they are cut); and the old path (decoder tshark: editcap, then tshark);
- two workers over one on the same master path (--dns-pieces pieces), the drops into the
  one-worker and the two-worker setup taken in turn; and on a backlog of --dns-backlog
  captures published while the workers were paused (the workers' throughput, with the master
  done and off the cores), --dns-backlog-runs times each, in turn too;
- where the time goes now: the path's stages one by one in this process (split, store,
  fetch, dnsdecode alone as text and as columns, its text -> Arrow (the old reader), its
  columns -> Arrow (the worker's), -> Parquet, placing, registering);
- the reference for "two workers over one" (bench/dns_side_by_side.py): the same pieces'
  decode work alone in one process against two side by side.

The runs through a master are bench/dns_path.py's (with the CPU the stack's services and the
bench took beside each run).

Every run's rows are counted: a run that loses or doubles a row fails the comparison.
"""
from __future__ import annotations

import math
import os
import shutil
import time

from bench import dns_side_by_side, inputs
from bench.dns_path import Setup, alternated
from bench.support import DNS_PIPELINE, Bench, BenchError, make_config, per_cpu_second, say, \
    timed_runs

TITLE = "DNS: dnsdecode and tshark alone; drop -> rows through a master and one or two workers"
DECODER_TARGET = 10.0       # dnsdecode packets per core over tshark's
PATH_TARGET = 5.0           # tshark alone's seconds over drop -> rows with one worker
SPEEDUP_TARGET = 1.7        # two workers over one, same master path


def run(bench: Bench) -> dict:
    from common.setup import setup_all
    from pipelines.dns import fast
    from pipelines.dns.decode import tshark_argv

    if not fast.built():
        raise BenchError(f"{fast.DNSDECODE} is missing (make setup builds it)")
    args = bench.args
    capture = inputs.dns_capture(args.dns_responses)
    pkt_num = math.ceil(capture.packets / args.dns_pieces)
    folder = bench.folder("dns")
    say(f"  capture: {capture.packets:,} packets, {capture.responses:,} DNS responses, "
        f"{capture.path.stat().st_size / 1e6:.0f} MB")

    tshark = timed_runs(tshark_argv(str(capture.path), fast.SEED_PROCESS_OPT), args.tshark_runs)
    say(f"  tshark alone: {tshark['seconds']:.2f} s ({tshark['cpu_s']:.2f} s CPU)")
    dnsdecode = timed_runs(fast.dnsdecode_argv(str(capture.path)), max(3, args.tshark_runs))
    say(f"  dnsdecode alone: {dnsdecode['seconds']:.2f} s ({dnsdecode['cpu_s']:.2f} s CPU)")

    checks = []

    def setup(label: str, workers: int, pieces_pkt: int, decoder: str | None = None) -> Setup:
        keys = {"pkt_num": pieces_pkt, **({"decoder": decoder} if decoder else {})}
        config = make_config(folder / label, pipelines={DNS_PIPELINE: keys})
        list(setup_all(config))
        return Setup(bench, config, folder / label, capture, pieces_pkt, workers)

    def reported(label: str, result: dict) -> dict:
        checks.extend(result["row_checks"])
        say(f"  {label}: {result['pieces']} piece(s), {result['seconds']:.2f} s "
            f"({result['cpu_s']:.2f} s CPU; runs {result['runs_s']})")
        return result

    label = "one worker, one piece"
    one_piece = reported(label, alternated([setup(label, 1, 650_000)], args.dns_runs)[0])
    # one worker and two on the same pieces, their drops in turn
    labels = [f"one worker, {args.dns_pieces} pieces", f"two workers, {args.dns_pieces} pieces"]
    first = setup(labels[0], 1, pkt_num)
    try:
        second = setup(labels[1], 2, pkt_num)
    except BaseException:
        first.stop()
        raise
    one, two = (reported(label, result) for label, result in
                zip(labels, alternated([first, second], args.dns_runs, args.dns_backlog_runs,
                                       args.dns_backlog)))
    for label, r in zip(labels, (one, two)):
        b = r["backlog"]
        say(f"  {label}, backlogs of {b['captures']} captures: {b['seconds']:.2f} s "
            f"({b['cpu_s']:.2f} s CPU; runs {b['runs_s']})")
    # the old path takes as long as tshark: not in a smoke run (the pipeline tests run it)
    label = "one worker, decoder tshark (editcap, tshark)"
    old = None if args.smoke else \
        reported(label, alternated([setup(label, 1, 650_000, "tshark")], 1)[0])
    stages = breakdown(folder / "stages", capture, pkt_num)
    say("  stages: " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    alone = dns_side_by_side.measure(capture.path, pkt_num, folder / "side_by_side",
                                  rounds=1 if args.smoke else 3, responses=capture.responses)
    say(f"  decode work alone, {alone['pieces']} pieces: one process "
        f"{alone['one_process']['seconds']:.2f} s ({alone['one_process_cores']:.2f} cores), "
        f"two side by side {alone['two_processes']['seconds']:.2f} s: "
        f"{alone['speedup']:.2f}x (runs {alone['runs_s']})")

    dnsdecode_rate = per_cpu_second(capture.packets, dnsdecode["cpu_s"], "dnsdecode")
    tshark_rate = per_cpu_second(capture.packets, tshark["cpu_s"], "tshark")
    per_core = dnsdecode_rate / tshark_rate
    per_wall = tshark["seconds"] / dnsdecode["seconds"]
    ratio = tshark["seconds"] / one_piece["seconds"]
    ratio_pieces = tshark["seconds"] / one["seconds"]
    speedup = one["seconds"] / two["seconds"]
    backlog_speedup = one["backlog"]["seconds"] / two["backlog"]["seconds"]
    of_alone = speedup / alone["speedup"]

    def pps(seconds: float) -> str:
        return f"{capture.packets / seconds:,.0f}"

    def line(label: str, r: dict) -> list[str]:
        return [label, str(r["pieces"]), f"{r['seconds']:.2f}", f"{r['cpu_s']:.2f}",
                pps(r["seconds"]), f"{tshark['seconds'] / r['seconds']:.2f}",
                f"{r['cores']:.2f}", f"{r['before_first_piece_s']}"]

    def backlog_line(label: str, b: dict) -> list[str]:
        packets = b["captures"] * capture.packets
        return [label, str(b["pieces"]), f"{b['seconds']:.2f}", f"{b['cpu_s']:.2f}",
                f"{packets / b['seconds']:,.0f}",
                f"{tshark['seconds'] * b['captures'] / b['seconds']:.2f}", f"{b['cores']:.2f}",
                ""]

    return {
        "title": TITLE, "storage": "local",
        "inputs": {"capture": str(capture.path), "packets": capture.packets,
                   "responses": capture.responses, "bytes": capture.path.stat().st_size,
                   "pkt_num": pkt_num, "pieces": capture.pieces(pkt_num),
                   "tshark_runs": args.tshark_runs},
        "tshark": tshark, "dnsdecode": dnsdecode,
        "tshark_s": tshark["seconds"], "tshark_packets_per_s": round(capture.packets / tshark["seconds"]),
        "tshark_packets_per_cpu_s": round(tshark_rate),
        "dnsdecode_packets_per_cpu_s": round(dnsdecode_rate),
        "decoder_ratio_per_core": round(per_core, 2), "decoder_ratio_wall": round(per_wall, 2),
        "one_worker_one_piece": one_piece, "one_worker_through_master": one,
        "two_workers": two, "tshark_path": old, "stages": stages, "row_checks": checks,
        "decode_alone": alone,
        "one_worker_s": one_piece["seconds"], "one_worker_rows": one_piece["rows"],
        "one_worker_packets_per_s": round(capture.packets / one_piece["seconds"]),
        "ratio_worker_tshark": round(ratio, 3), "ratio_pieces_tshark": round(ratio_pieces, 3),
        "speedup_two_workers": round(speedup, 3),
        "speedup_two_workers_backlog": round(backlog_speedup, 3),
        "speedup_against_decode_alone": round(of_alone, 3),
        "targets": [
            {"figure": "dnsdecode/tshark packets per core", "value": f"{per_core:.1f}x",
             "target": f">= {DECODER_TARGET:.0f}x", "met": per_core >= DECODER_TARGET},
            {"figure": "drop -> rows, one worker, vs tshark alone", "value": f"{ratio:.1f}x",
             "target": f">= {PATH_TARGET:.0f}x", "met": ratio >= PATH_TARGET},
            {"figure": "two workers over one, a backlog (the workers alone on the cores)",
             "value": f"{backlog_speedup:.2f}x", "target": f">= {SPEEDUP_TARGET}x",
             "met": backlog_speedup >= SPEEDUP_TARGET},
            {"figure": "two workers over one, a drop (the master cutting on the same cores)",
             "value": f"{speedup:.2f}x", "target": f">= {SPEEDUP_TARGET}x",
             "met": speedup >= SPEEDUP_TARGET}],
        "headlines": [("dnsdecode/tshark, wall", f"{per_wall:.1f}x"),
                      (f"drop -> rows, one worker, {one['pieces']} pieces, vs tshark",
                       f"{ratio_pieces:.1f}x"),
                      ("the pieces' decode work alone: two processes over one",
                       f"{alone['speedup']:.2f}x"),
                      ("two workers' speed-up against the decode work's", f"{of_alone:.0%}"),
                      ("one process of decode work keeps busy",
                       f"{alone['one_process_cores']:.2f} cores"),
                      ("old path (editcap, tshark) vs tshark alone",
                       f"{tshark['seconds'] / old['seconds']:.2f}x" if old else "not run"),
                      ("tshark packets per CPU second",
                       f"{tshark_rate:,.0f}"),
                      ("dnsdecode packets per CPU second",
                       f"{dnsdecode_rate:,.0f}")],
        "columns": ["run", "pieces", "seconds", "CPU s", "packets/s", "vs tshark alone",
                    "cores", "drop -> 1st piece s"],
        "table": [
            ["tshark alone (whole capture)", "1", f"{tshark['seconds']:.2f}",
             f"{tshark['cpu_s']:.2f}", pps(tshark["seconds"]), "1.00", f"{tshark['cores']:.2f}", ""],
            ["dnsdecode alone (whole capture)", "1", f"{dnsdecode['seconds']:.2f}",
             f"{dnsdecode['cpu_s']:.2f}", pps(dnsdecode["seconds"]), f"{per_wall:.2f}",
             f"{dnsdecode['cores']:.2f}", ""],
            line("master + 1 worker, default pkt_num (drop -> all committed)", one_piece),
            line("master + 1 worker, pieces", one),
            line("master + 2 workers, pieces", two),
            *([line("master + 1 worker, decoder tshark", old)] if old else []),
            ["speed-up: 2 workers over 1, same master path", "", f"{speedup:.2f}x", "", "", "",
             "", ""],
            backlog_line("1 worker, a backlog (resumed -> all committed)", one["backlog"]),
            backlog_line("2 workers, a backlog", two["backlog"]),
            ["speed-up: 2 workers over 1, a backlog", "", f"{backlog_speedup:.2f}x", "", "", "",
             "", ""],
            ["decode work alone: 2 processes over 1", str(alone["pieces"]),
             f"{alone['speedup']:.2f}x", "", "", "", f"{alone['one_process_cores']:.2f}", ""],
        ],
    }


def breakdown(folder, capture, pkt_num: int) -> dict:
    """The path's stages one by one, in this process (wall seconds; CPU of the children
    where a program runs): cutting into pieces (dnsdecode split, editcap -c), storing a
    piece (the local storage's upload, synced), dnsdecode alone (text, columns), its text ->
    Arrow, its columns -> Arrow (what the worker runs), -> Parquet, and the Parquet bytes."""
    import resource
    import subprocess

    from common import decoder
    from common.parquet_out import write_batches
    from common.schemas import DNS
    from pipelines.dns import fast
    from pipelines.dns.columns import column_batches
    from pipelines.dns.decode import dns_batches, editcap_argv

    folder.mkdir(parents=True, exist_ok=True)
    env = decoder.decoder_env({"TZ": "UTC"})

    def timed(fn) -> tuple[object, float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        mine = time.process_time()
        start = time.perf_counter()
        value = fn()
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
               + time.process_time() - mine)
        return value, round(wall, 3), round(cpu, 3)

    def split(tool: str) -> None:
        out = folder / tool
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        argv = ([str(fast.DNSDECODE), "split", str(pkt_num), str(capture.path),
                 str(out / "c_spot")] if tool == "dnsdecode" else
                editcap_argv(str(capture.path), str(out / "c_spot"), pkt_num))
        subprocess.run(argv, env=env, check=True, capture_output=True)

    def store() -> None:
        target = folder / "stored.pcap"
        shutil.copyfile(capture.path, target)
        with open(target, "rb+") as out:
            os.fsync(out.fileno())

    def alone(argv_of) -> None:
        subprocess.run(argv_of(str(capture.path)), env=env, check=True,
                       stdout=subprocess.DEVNULL)

    def to_arrow(write: bool, columns: bool = True) -> int:
        argv = (fast.columns_argv if columns else fast.dnsdecode_argv)(str(capture.path))
        with decoder.stream(argv, env) as out:
            batches = (column_batches if columns else dns_batches)(out, "UTC")
            if write:
                return write_batches(batches, DNS.arrow_schema(), folder / "out.parquet")
            return sum(b.num_rows for b in batches)

    out = {}
    for label, fn in (("split_dnsdecode", lambda: split("dnsdecode")),
                      ("split_editcap", lambda: split("editcap")),
                      ("store_capture_synced", store),
                      ("dnsdecode_alone", lambda: alone(fast.dnsdecode_argv)),
                      ("dnsdecode_text_to_arrow", lambda: to_arrow(False, columns=False)),
                      ("dnsdecode_columns_alone", lambda: alone(fast.columns_argv)),
                      ("dnsdecode_to_arrow", lambda: to_arrow(False)),
                      ("dnsdecode_to_arrow_to_parquet", lambda: to_arrow(True))):
        _, wall, cpu = timed(fn)
        out[f"{label}_s"], out[f"{label}_cpu_s"] = wall, cpu
    out["parquet_mb"] = round((folder / "out.parquet").stat().st_size / 1e6, 1)
    shutil.rmtree(folder, ignore_errors=True)
    return out
