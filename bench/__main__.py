"""Runs every comparison side by side on the same inputs, prints a table per comparison and a
summary against the targets, and writes every figure with the machine and the versions to
bench/results.json (var/bench/results-smoke.json with --smoke, var/bench/results-partial.json
when --only picks some).

    python -m bench [--smoke] [--only flow_file,dns,...] [--profile] [size flags]
    make bench BENCH_ARGS="--flow-sizes 100000,1000000 --profile"

Comparisons (one module each): flow_file, flow_latency, dns, classic, master, proxy.
The local stack (make services) must be running. Inputs are made by the project's own
generators and cached under var/bench/inputs/; logs go to var/bench/<comparison>/.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bench.support import REPO, WORK, Bench, machine, say, services_answer, versions

COMPARISONS = ("flow_file", "flow_latency", "dns", "classic", "master", "proxy")
RESULTS = REPO / "bench" / "results.json"
SMOKE_RESULTS = WORK / "results-smoke.json"
PARTIAL_RESULTS = WORK / "results-partial.json"     # --only a few: bench/results.json stays whole

# Sizes of a default run, and of --smoke (which must finish in about three minutes).
DEFAULTS = dict(flow_sizes=[100_000, 1_000_000, 5_000_000], nfdump_runs=3,
                profile_flows=1_000_000, latency_flows=100_000, latency_runs=5,
                dns_responses=145_000, dns_pieces=4, dns_runs=5, dns_backlog=3, dns_backlog_runs=4,
                tshark_runs=2, classic_files=20,
                classic_flows=10_000, master_files=1000, master_hdfs_files=200,
                master_processes=[1, 2, 5], master_storage=["local", "hdfs"],
                proxy_lines=500_000)
SMOKE = dict(DEFAULTS, flow_sizes=[20_000], nfdump_runs=1, profile_flows=20_000,
             latency_flows=20_000, latency_runs=1, dns_responses=2000, dns_runs=1, dns_backlog=2,
             dns_backlog_runs=1, tshark_runs=1,
             classic_files=2, master_files=50, master_hdfs_files=20, proxy_lines=20_000)


def positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def int_list(text: str) -> list[int]:
    values = [positive(v) for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'")
    return values


def name_list(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in choices]
        if unknown or not values:
            raise argparse.ArgumentTypeError(f"expected some of {', '.join(choices)}, got "
                                             f"'{text}'")
        return values
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Defaults: " + ", ".join(f"{k}={v}" for k, v in
                                                                DEFAULTS.items()))
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes (about three minutes); results to var/bench/results-smoke.json")
    p.add_argument("--only", type=name_list(COMPARISONS), default=list(COMPARISONS),
                   help="comparisons to run, comma-separated (default: all)")
    p.add_argument("--output", type=Path, default=None,
                   help="results file (default bench/results.json for a full run; "
                        "var/bench/results-smoke.json with --smoke, var/bench/results-partial.json "
                        "with --only)")
    p.add_argument("--profile", action="store_true",
                   help="flow_file: also run the worker under py-spy (flamegraph + summary)")
    p.add_argument("--flow-sizes", type=int_list, help="flow_file: flows per file")
    p.add_argument("--nfdump-runs", type=positive, help="flow_file/flow_latency: nfdump runs "
                   "(the median is the figure)")
    p.add_argument("--profile-flows", type=positive, help="--profile: flows in the profiled file")
    p.add_argument("--latency-flows", type=positive, help="flow_latency: flows in the file")
    p.add_argument("--latency-runs", type=positive, help="flow_latency: measured drops "
                   "(after one warm-up drop)")
    p.add_argument("--dns-responses", type=positive, help="dns: DNS responses in the capture")
    p.add_argument("--dns-pieces", type=positive, help="dns: pieces the master splits it into")
    p.add_argument("--tshark-runs", type=positive, help="dns: tshark runs (median)")
    p.add_argument("--dns-runs", type=positive, help="dns: drops of the capture into each "
                   "running master (the median is the figure)")
    p.add_argument("--dns-backlog", type=positive, help="dns: captures in each backlog the "
                   "workers are given at once (published while they are paused)")
    p.add_argument("--dns-backlog-runs", type=positive, help="dns: backlogs given to each "
                   "setup (the median is the figure)")
    p.add_argument("--classic-files", type=positive, help="classic: nfcapd files")
    p.add_argument("--classic-flows", type=positive, help="classic: flows per file")
    p.add_argument("--master-files", type=positive, help="master: small files dropped at once")
    p.add_argument("--master-hdfs-files", type=positive,
                   help="master: small files dropped at once on HDFS storage")
    p.add_argument("--master-processes", type=int_list, help="master: collector_processes values")
    p.add_argument("--master-storage", type=name_list(("local", "hdfs")),
                   help="master: storage backends")
    p.add_argument("--proxy-lines", type=positive, help="proxy: log lines")
    args = p.parse_args(argv)
    sizes = SMOKE if args.smoke else DEFAULTS
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.output is None:
        partial = set(args.only) != set(COMPARISONS)
        args.output = SMOKE_RESULTS if args.smoke else PARTIAL_RESULTS if partial else RESULTS
    args.output = args.output.resolve()
    if args.smoke and args.output == RESULTS.resolve():
        p.error("--smoke never writes bench/results.json (use another --output)")
    return args


def write_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) if rows else len(str(c))
              for i, c in enumerate(columns)]
    say("  " + "  ".join(str(c).rjust(w) for c, w in zip(columns, widths)))
    say("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        say("  " + "  ".join(str(v).rjust(w) for v, w in zip(row, widths)))


def print_summary(results: dict) -> None:
    say("\n== summary against the targets")
    rows = []
    for name, result in results["comparisons"].items():
        if result["status"] != "ok":
            rows.append([name, result["status"], result.get("reason", "")[:90], "", ""])
            continue
        for target in result.get("targets", []):
            rows.append([name, target["figure"], target["value"], target["target"],
                         "met" if target["met"] else "MISSED"])
        for figure, value in result.get("headlines", []):
            rows.append([name, figure, value, "", ""])
    print_table(["comparison", "figure", "value", "target", ""], rows)


def run_comparison(bench: Bench, name: str) -> dict:
    """One comparison's result: its figures, or status failed (with the reason, the traceback
    in var/bench/<name>-error.txt) or skipped (with the reason). What it started is stopped."""
    module = importlib.import_module(f"bench.{name}")
    say(f"\n== {name}: {module.TITLE}")
    started = time.monotonic()
    try:
        result = module.run(bench)
        result.setdefault("status", "ok")
    except Exception as exc:  # noqa: BLE001 - one comparison failing is reported, not fatal
        error_file = WORK / f"{name}-error.txt"
        error_file.write_text(traceback.format_exc())
        first = str(exc).splitlines()[0] if str(exc) else ""
        result = {"title": module.TITLE, "status": "failed",
                  "reason": f"{type(exc).__name__}: {first}", "traceback": str(error_file)}
        say(f"  FAILED: {result['reason']} (details in {error_file})")
    finally:
        bench.stop_all()
    result["seconds"] = round(time.monotonic() - started, 1)
    if result["status"] == "skipped":
        say(f"  skipped: {result['reason']}")
    elif result["status"] == "ok" and result.get("table"):
        say("")
        print_table(result["columns"], result["table"])
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    down = services_answer()
    if down:
        print(f"error: the local stack does not answer: {', '.join(down)} (make services)",
              file=sys.stderr)
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ["TZ"] = "UTC"          # nfdump, tshark and editcap run as the workers run them
    time.tzset()
    started = time.monotonic()
    bench = Bench(args, datetime.now().strftime("%H%M%S"))
    say(f"== spot-ingest bench ({'smoke' if args.smoke else 'default'} sizes) -> {args.output}")
    results = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "smoke" if args.smoke else "default",
        "arguments": {k: v for k, v in vars(args).items() if k != "output"},
        "machine": machine(),
        "versions": versions(),
        "note": "a 2-core machine shared with other work: see machine.load_average_* and "
                "busy_processes_at_start; every figure comes from one run unless a median "
                "of several is stated",
        "comparisons": {},
    }
    m = results["machine"]
    say(f"  machine: {m['cpu_count']} CPUs, {m['memory_total_mb']} MB, kernel {m['kernel']}, "
        f"load {m['load_average_at_start']}")
    try:
        for name in args.only:
            results["comparisons"][name] = run_comparison(bench, name)
            write_results(args.output, results)
    finally:
        bench.stop_all()
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["duration_s"] = round(time.monotonic() - started, 1)
    write_results(args.output, results)
    print_summary(results)
    failed = sum(r["status"] == "failed" for r in results["comparisons"].values())
    say(f"\n{len(results['comparisons'])} comparison(s) in {results['duration_s']:.0f} s, "
        f"{failed} failed; results in {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
