"""3. DNS: tshark alone with the pipeline's options (pipelines.dns.decode.tshark_argv on the
whole capture, > /dev/null) vs one dns worker end to end on the same capture, published as
one piece (stored under <app>/dns/binary/YYYYMMDD/HH/dns_server_1/<name>_spot_00000_<stamp>.pcap
as the master stores a piece), and vs two workers on the capture split into pieces by a real
master (pkt_num set for --dns-pieces pieces), timed from the drop to every piece committed.

For a like-for-like speed-up the same master path also runs with one worker: the headline
speed-up (two workers over the one-piece worker) includes the master's split, the
like-for-like one does not differ in anything but the number of workers.
"""
from __future__ import annotations

import math
import os
import shutil
import time

from bench import inputs
from bench.support import (DNS_PIPELINE, Bench, BenchError, Offsets, all_committed, check_rows,
                           clear_table, collector_empty, cpu_seconds, make_config, one_message,
                           say, start_master, start_workers, table_rows, timed_runs, wait_for,
                           worker_rows, worker_spans)

TITLE = "DNS: tshark alone vs one worker vs two workers on the split capture"
RATIO_TARGET = 0.8
SPEEDUP_TARGET = 1.7
TIMEOUT_S = 1800


def run(bench: Bench) -> dict:
    from common.layout import HourPartition, binary_path
    from common.setup import setup_all
    from common.storage import open_storage
    from pipelines.dns.decode import tshark_argv

    args = bench.args
    capture = inputs.dns_capture(args.dns_responses)
    pkt_num = math.ceil(capture.packets / args.dns_pieces)
    folder = bench.folder("dns")
    config = make_config(folder, pipelines={DNS_PIPELINE: {"pkt_num": pkt_num}})
    list(setup_all(config))
    storage = open_storage(config)
    pipeline = config.pipeline(DNS_PIPELINE)
    say(f"  capture: {capture.packets:,} packets, {capture.responses:,} DNS responses, "
        f"{capture.path.stat().st_size / 1e6:.0f} MB")

    tshark = timed_runs(tshark_argv(str(capture.path), pipeline.process_opt), args.tshark_runs)
    say(f"  tshark alone: {tshark['seconds']:.2f} s")

    # one worker, the whole capture as one piece
    stamp = capture.first_packet.strftime("%Y%m%d%H%M%S")
    stored = f"{capture.path.stem}_spot_00000_{stamp}.pcap"
    piece_name = f"{capture.name} [piece 0]"
    remote = binary_path(config.hdfs_app_path, "dns", DNS_PIPELINE,
                         HourPartition.of(capture.first_packet), stored)
    clear_table(config, "dns")
    one = one_message(bench, config, storage, DNS_PIPELINE, capture.path, remote, piece_name,
                      folder / "one-worker.log", TIMEOUT_S)
    checks = [check_rows("one worker, one piece", capture.responses, table_rows(config, "dns"))]
    rows, one_s = one["rows"], one["seconds"]
    if rows != capture.responses:
        raise BenchError(f"one worker: {rows} rows of {capture.responses}")
    say(f"  one worker, one piece: {one_s:.2f} s")

    clear_table(config, "dns")
    two = through_master(bench, config, folder, capture, pkt_num, workers=2)
    checks.append(check_rows("master + two workers", capture.responses, table_rows(config, "dns")))
    clear_table(config, "dns")
    say(f"  master + two workers, {two['pieces']} pieces: {two['seconds']:.2f} s")
    one_master = through_master(bench, config, folder, capture, pkt_num, workers=1)
    checks.append(check_rows("master + one worker", capture.responses, table_rows(config, "dns")))
    say(f"  master + one worker, {one_master['pieces']} pieces: {one_master['seconds']:.2f} s")

    ratio = tshark["seconds"] / one_s
    speedup = one_s / two["seconds"]
    like_for_like = one_master["seconds"] / two["seconds"]

    def pps(seconds: float) -> str:
        return f"{capture.packets / seconds:,.0f}"

    return {
        "title": TITLE, "storage": "local",
        "inputs": {"capture": str(capture.path), "packets": capture.packets,
                   "responses": capture.responses,
                   "bytes": capture.path.stat().st_size, "pkt_num": pkt_num,
                   "pieces": capture.pieces(pkt_num), "tshark_runs": args.tshark_runs},
        "tshark_s": tshark["seconds"], "tshark_runs_s": tshark["runs"],
        "tshark_packets_per_s": round(capture.packets / tshark["seconds"]),
        "tshark_peak_rss_mb": tshark["peak_rss_mb"],
        "one_worker_s": one_s, "one_worker_packets_per_s": round(capture.packets / one_s),
        "one_worker_rows": rows, "one_worker_peak_rss_mb": one["peak_rss_mb"],
        "row_checks": checks,
        "one_worker_cores": one["cores"], "tshark_cores": tshark["cores"],
        "two_workers": two, "one_worker_through_master": one_master,
        "ratio_worker_tshark": round(ratio, 3), "speedup_two_workers": round(speedup, 3),
        "speedup_like_for_like": round(like_for_like, 3),
        "targets": [
            {"figure": "worker/tshark rate", "value": f"{ratio:.2f}",
             "target": f">= {RATIO_TARGET}", "met": ratio >= RATIO_TARGET},
            {"figure": "two workers over one", "value": f"{speedup:.2f}x",
             "target": f">= {SPEEDUP_TARGET}x", "met": speedup >= SPEEDUP_TARGET}],
        "headlines": [("two workers over one, same master path", f"{like_for_like:.2f}x"),
                      ("tshark alone packets/s", f"{capture.packets / tshark['seconds']:,.0f}"),
                      ("one worker packets/s", f"{capture.packets / one_s:,.0f}")],
        "columns": ["run", "pieces", "seconds", "packets/s", "rows/s", "vs tshark rate",
                    "cores", "drop -> 1st piece s"],
        "table": [
            ["tshark alone (whole capture)", "1", f"{tshark['seconds']:.2f}",
             pps(tshark["seconds"]), f"{capture.responses / tshark['seconds']:,.0f}", "1.00",
             f"{tshark['cores']:.2f}", ""],
            ["one worker, one piece (message -> committed)", "1", f"{one_s:.2f}", pps(one_s),
             f"{capture.responses / one_s:,.0f}", f"{ratio:.2f}", f"{one['cores']:.2f}", ""],
            ["master + 2 workers (drop -> all committed)", str(two["pieces"]),
             f"{two['seconds']:.2f}", pps(two["seconds"]),
             f"{capture.responses / two['seconds']:,.0f}",
             f"{tshark['seconds'] / two['seconds']:.2f}", f"{two['cores']:.2f}",
             f"{two['before_first_piece_s']}"],
            ["master + 1 worker (drop -> all committed)", str(one_master["pieces"]),
             f"{one_master['seconds']:.2f}", pps(one_master["seconds"]),
             f"{capture.responses / one_master['seconds']:,.0f}",
             f"{tshark['seconds'] / one_master['seconds']:.2f}", f"{one_master['cores']:.2f}",
             f"{one_master['before_first_piece_s']}"],
            ["speed-up: 2 workers over the one-piece worker", "", f"{speedup:.2f}x", "", "", "",
             "", ""],
            ["speed-up: 2 workers over 1, same master path", "", f"{like_for_like:.2f}x", "",
             "", "", "", ""],
        ],
    }


def through_master(bench: Bench, config, folder, capture, pkt_num: int, workers: int) -> dict:
    """A real master (pkt_num pieces, round robin) and `workers` workers: wall time from the
    capture renamed into the collector folder to every piece committed."""
    run_folder = folder / f"master-{workers}w"
    run_folder.mkdir()
    topic = bench.topic(f"dns_{workers}w")
    master = start_master(bench, config, DNS_PIPELINE, workers, topic,
                          run_folder / "master.log")
    procs = [master, *start_workers(bench, config, DNS_PIPELINE, workers, topic, run_folder)]
    collector = config.collector_folder(DNS_PIPELINE)
    staged = run_folder / capture.name
    shutil.copyfile(capture.path, staged)
    pieces = capture.pieces(pkt_num)
    offsets = Offsets(config)
    try:
        cpu_before = cpu_seconds(procs)
        start, dropped_at = time.perf_counter(), time.time()
        os.replace(staged, collector / capture.name)
        wait_for(lambda: collector_empty(collector) and
                 all_committed(offsets, topic, master, pieces), TIMEOUT_S,
                 f"{pieces} pieces committed", procs, interval=0.05)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(procs) - cpu_before
    finally:
        offsets.close()
        codes = [p.stop() for p in procs]
    rows = worker_rows(procs[1:])
    if any(codes) or rows != capture.responses:
        raise BenchError(f"master + {workers} worker(s): exit codes {codes}, {rows} rows of "
                         f"{capture.responses}")
    per_worker = [worker_rows([w]) for w in procs[1:]]
    spans = worker_spans(procs[1:])
    before = spans[0]["start"] - dropped_at if spans else None
    return {"workers": workers, "pieces": pieces, "seconds": round(seconds, 3),
            "before_first_piece_s": before and round(before, 2),
            "piece_s": [s["seconds"] for s in spans],
            "cpu_s": round(cpu, 2), "cores": round(cpu / seconds, 2),
            "packets_per_s": round(capture.packets / seconds), "rows": rows,
            "rows_per_worker": per_worker}
