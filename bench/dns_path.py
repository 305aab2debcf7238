"""DNS drop -> rows through a real master and real workers (bench/dns.py's runs): all of them
ready and warmed up first, then the capture renamed into the collector folder, timed to the
commit of its last piece, its rows counted. Setups compared with each other (one worker and
two) take their drops in turn.

A backlog is the workers' throughput alone: several captures dropped and published while the
workers are paused (SIGSTOP, as a collector host's master would have published them while the
workers were busy), then the workers resumed, timed to the commit of the last piece. The
master, done by then, takes none of the cores the workers are measured on.

While a drop is measured, the bench reads the workers' logs (files) until every piece is
logged and only then asks Kafka for the committed offsets, so its own polling costs little
of the cores it measures. The CPU the stack's services (Kafka, metastore, HDFS) and the bench
took during each run is recorded beside it.
"""
from __future__ import annotations

import os
import re
import shutil
import time

from bench.support import (DNS_PIPELINE, Bench, BenchError, Offsets, all_committed, check_rows,
                           clear_table, collector_empty, cpu_seconds, published, start_master,
                           start_workers, table_rows, wait_for, worker_rows, worker_spans)

TIMEOUT_S = 1800


class Setup:
    """A real master and `workers` workers on a configuration of their own, started, each
    reading its partition and warmed up; then drops of the capture one after the other
    (each a copy under its own name), each timed from the rename into the collector folder
    to every piece committed, and its rows counted."""

    def __init__(self, bench: Bench, config, folder, capture, pkt_num: int, workers: int):
        self.config, self.folder, self.capture, self.workers = config, folder, capture, workers
        folder.mkdir(parents=True, exist_ok=True)
        self.topic = topic = bench.topic(f"dns_{workers}w")
        self.master = start_master(bench, config, DNS_PIPELINE, workers, topic,
                                   folder / "master.log")
        self.procs = [self.master,
                      *start_workers(bench, config, DNS_PIPELINE, workers, topic, folder)]
        self.collector = config.collector_folder(DNS_PIPELINE)
        self.pieces = capture.pieces(pkt_num)
        self.expected = config.collector_processes            # the warm-up captures first
        self.offsets = Offsets(config)
        self.measured: list[dict] = []
        self.backlogs: list[dict] = []
        self.checks: list[dict] = []
        try:
            warm_up(config, folder, self.collector, self.procs)
        except BaseException:
            self.stop()
            raise

    def drop(self) -> float:
        """One measured drop: its seconds."""
        procs, pieces = self.procs, self.pieces
        name = f"{self.capture.path.stem}-run{len(self.measured)}{self.capture.path.suffix}"
        staged = self.folder / name
        shutil.copyfile(self.capture.path, staged)
        self.expected += pieces
        clear_table(self.config, "dns")    # the table holds this run's rows alone (no warm-up's)
        cpu_before, others_before = cpu_seconds(procs), others_cpu()
        start, dropped_at = time.perf_counter(), time.time()
        os.replace(staged, self.collector / name)
        wait_for(lambda: pieces_logged(procs[1:], name) >= pieces, TIMEOUT_S,
                 f"{pieces} pieces logged by the workers", procs, interval=0.02)
        wait_for(lambda: collector_empty(self.collector) and
                 all_committed(self.offsets, self.topic, self.master, self.expected), TIMEOUT_S,
                 f"{pieces} pieces committed", procs, interval=0.005)
        seconds = time.perf_counter() - start
        others = {k: round(v - others_before.get(k, 0.0), 3) for k, v in others_cpu().items()}
        self.measured.append({"name": name, "seconds": seconds, "dropped_at": dropped_at,
                              "cpu_s": cpu_seconds(procs) - cpu_before, "others_cpu_s": others})
        self.checks.append(check_rows(f"{self.workers} worker(s), {name}",
                                      self.capture.responses, table_rows(self.config, "dns")))
        return seconds

    def backlog(self, captures: int) -> float:
        """`captures` copies of the capture published while the workers are paused; the
        seconds from resuming them to every piece committed."""
        procs, master, workers = self.procs, self.procs[0], self.procs[1:]
        names = [f"{self.capture.path.stem}-backlog{len(self.backlogs)}-{i}"
                 f"{self.capture.path.suffix}" for i in range(captures)]
        for name in names:
            shutil.copyfile(self.capture.path, self.folder / name)
        clear_table(self.config, "dns")
        paused = [member for w in workers for member in _family(w)]
        for member in paused:
            member.suspend()
        try:
            for name in names:
                os.replace(self.folder / name, self.collector / name)
            self.expected += captures * self.pieces
            wait_for(lambda: collector_empty(self.collector) and
                     len(published(master)) >= self.expected, TIMEOUT_S,
                     f"the backlog's {captures * self.pieces} pieces published", procs[:1],
                     interval=0.02)
            cpu_before, others_before = cpu_seconds(workers), others_cpu()
            start = time.perf_counter()
        finally:
            for member in paused:
                member.resume()
        wait_for(lambda: sum(pieces_logged(workers, n) for n in names) >= len(names) *
                 self.pieces, TIMEOUT_S, "the backlog's pieces logged by the workers", procs,
                 interval=0.02)
        wait_for(lambda: all_committed(self.offsets, self.topic, master, self.expected),
                 TIMEOUT_S, "the backlog's pieces committed", procs, interval=0.005)
        seconds = time.perf_counter() - start
        others = {k: round(v - others_before.get(k, 0.0), 3) for k, v in others_cpu().items()}
        self.backlogs.append({"names": names, "seconds": seconds, "others_cpu_s": others,
                              "cpu_s": cpu_seconds(workers) - cpu_before})
        self.checks.append(check_rows(f"{self.workers} worker(s), backlog of {captures}",
                                      captures * self.capture.responses,
                                      table_rows(self.config, "dns")))
        return seconds

    def stop(self) -> list[int]:
        self.offsets.close()
        return [p.stop() for p in self.procs]

    def finish(self) -> dict:
        """Stops the processes; every drop's pieces and rows from the workers' own lines; the
        median drop the figure."""
        workers, capture, pieces, measured = self.workers, self.capture, self.pieces, self.measured
        codes = self.stop()
        if any(codes):
            raise BenchError(f"master + {workers} worker(s): exit codes {codes}")
        spans = worker_spans(self.procs[1:])

        def whole(name: str) -> list[dict]:
            """The capture's pieces as the workers logged them: every piece, every row."""
            mine = [s for s in spans if s["name"].startswith(f"{name} [piece")]
            rows = sum(s["rows"] for s in mine)
            if rows != capture.responses or len(mine) != pieces:
                raise BenchError(f"master + {workers} worker(s), {name}: {rows} rows of "
                                 f"{capture.responses} in {len(mine)} of {pieces} pieces (a "
                                 "run that loses or doubles rows fails)")
            return mine

        for m in measured:
            mine = whole(m["name"])
            m["before_first_piece_s"] = round(min(s["start"] for s in mine) - m["dropped_at"], 2)
        for b in self.backlogs:
            for name in b["names"]:
                whole(name)
        median = sorted(measured, key=lambda m: m["seconds"])[(len(measured) - 1) // 2]
        return {"backlog": _backlog_figures(self.backlogs, pieces) if self.backlogs else None,
                "workers": workers, "pieces": pieces, "runs": len(measured),
                "seconds": round(median["seconds"], 3),
                "runs_s": [round(m["seconds"], 3) for m in measured],
                "before_first_piece_s": median["before_first_piece_s"],
                "cpu_s": round(median["cpu_s"], 2), "others_cpu_s": median["others_cpu_s"],
                "cores": round(median["cpu_s"] / median["seconds"], 2),
                "rows": capture.responses, "row_checks": self.checks,
                "rows_per_worker": [sum(s["rows"] for s in worker_spans([w])
                                        if s["name"].startswith(median["name"]))
                                    for w in self.procs[1:]]}


def _family(proc) -> list:
    import psutil

    root = psutil.Process(proc.pid)
    return [root, *root.children(recursive=True)]


def _backlog_figures(backlogs: list[dict], pieces: int) -> dict:
    median = sorted(backlogs, key=lambda b: b["seconds"])[(len(backlogs) - 1) // 2]
    return {"captures": len(median["names"]), "pieces": pieces * len(median["names"]),
            "runs": len(backlogs), "seconds": round(median["seconds"], 3),
            "runs_s": [round(b["seconds"], 3) for b in backlogs],
            "cpu_s": round(median["cpu_s"], 2), "others_cpu_s": median["others_cpu_s"],
            "cores": round(median["cpu_s"] / median["seconds"], 2)}


def alternated(setups: list[Setup], runs: int, backlogs: int = 0,
               backlog: int = 0) -> list[dict]:
    """`runs` drops into each setup, taken in turn (A, B, A, B, ...): a machine whose speed
    drifts during the measurement slows both alike, so their ratio is that of the same
    moments; then `backlogs` backlogs of `backlog` captures each, in turn too. Every setup is
    stopped, whatever fails."""
    try:
        for _ in range(runs):
            for setup in setups:
                setup.drop()
        for _ in range(backlogs):
            for setup in setups:
                setup.backlog(backlog)
    except BaseException:
        for setup in setups:
            setup.stop()
        raise
    return [setup.finish() for setup in setups]


def pieces_logged(workers, name: str) -> int:
    """How many of a capture's pieces the workers logged as done (their line comes just
    before the commit)."""
    pattern = re.compile(rf"{re.escape(name)} \[piece \d+\]: \d+ rows in ")
    return sum(len(pattern.findall(w.log())) for w in workers)


def others_cpu() -> dict[str, float]:
    """CPU seconds so far of the stack's services (by their pid files) and of this process."""
    import psutil

    from services.supervise import PIDS

    out = {}
    for pid_file in sorted(PIDS.glob("*.pid")):
        try:
            t = psutil.Process(int(pid_file.read_text().split()[0])).cpu_times()
        except (OSError, ValueError, IndexError, psutil.Error):
            continue
        out[pid_file.stem] = t.user + t.system
    t = psutil.Process().cpu_times()
    out["bench"] = t.user + t.system
    return out


def warm_up(config, folder, collector, procs) -> None:
    """A running master's pool processes hold their Kafka producer and storage client, a
    running worker its imports: the first file after a start pays ~1.2 s for them (see the
    README). One tiny capture per pool process, an hour before the measured capture's, is
    loaded first, so that the figure is a running ingest's."""
    from datetime import datetime, timezone

    from pipelines.dns import capture_writer as cw

    names = []
    for i in range(config.collector_processes):
        mix = cw.traffic_mix(20, datetime(2016, 1, 4, 11, tzinfo=timezone.utc), 10.0, seed=i)
        staged = cw.write_pcap(folder / f"warm-{i}.pcap", mix.packets)
        names.append(staged.name)
    for name in names:
        os.replace(folder / name, collector / name)
    rows = 20 * len(names)
    wait_for(lambda: collector_empty(collector) and worker_rows(procs[1:]) >= rows, 120,
             "the warm-up captures loaded", procs, interval=0.02)
    if worker_rows(procs[1:]) != rows:
        raise BenchError(f"warm-up: {worker_rows(procs[1:])} rows of {rows}")


