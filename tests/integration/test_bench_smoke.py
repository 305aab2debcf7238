"""`python -m bench --smoke` end to end against the real stack: every comparison completes
(none skipped: a skip could hide a run that lost rows), every run that loads rows counted
its rows in and out and found them equal, and the results file holds the machine, the
versions, the inputs and positive figures. Timings are not held to their targets here: this machine is
small and shared; `make bench` is where they are measured."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO

COMPARISONS = ("flow_file", "flow_latency", "dns", "classic", "master", "proxy")
LOADING_ROWS = {"flow_file": 1, "flow_latency": 2, "dns": 5, "proxy": 2}   # row checks each


def positive(*values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
               for v in values)


def run_all_or_kill_all(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Runs the bench; past the timeout, kills it and every process it started (its
    masters, workers and Spark jobs run in sessions of their own: a timed-out bench once
    left its proxy job running after the test)."""
    import psutil

    bench = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        stdout, stderr = bench.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        family = psutil.Process(bench.pid).children(recursive=True)
        for member in [psutil.Process(bench.pid), *family]:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        bench.communicate()
        raise
    return subprocess.CompletedProcess(argv, bench.returncode, stdout, stderr)


# A liveness bound, not a timing: 151 s alone and quiet, 200-306 s beside make test's other
# session, and more than 600 s once on a machine loaded to a run queue of 8-11.
SMOKE_BOUND_S = 1500


@pytest.mark.timeout(SMOKE_BOUND_S + 60)
def test_bench_smoke_run(kafka_up, metastore_up, hdfs_up, tmp_path):
    out = tmp_path / "results-smoke.json"
    proc = run_all_or_kill_all([sys.executable, "-m", "bench", "--smoke", "--output", str(out)],
                               SMOKE_BOUND_S)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "== summary against the targets" in proc.stdout
    results = json.loads(out.read_text())

    assert results["mode"] == "smoke"
    machine, versions = results["machine"], results["versions"]
    assert positive(machine["cpu_count"], machine["memory_total_mb"]) and machine["kernel"]
    for name in ("python", "nfdump", "tshark", "pyarrow", "kafka-python"):
        assert versions[name] and "unavailable" not in versions[name], (name, versions[name])
    assert "nfdump" in versions["nfdump"].lower() and versions["tshark"].startswith("TShark")

    comparisons = results["comparisons"]
    assert list(comparisons) == list(COMPARISONS)
    for name, result in comparisons.items():
        assert result["status"] == "ok", (name, result.get("reason"))
        assert result["table"] and all(len(row) == len(result["columns"])
                                       for row in result["table"]), name
        assert positive(result["seconds"]), name
    for name, count in LOADING_ROWS.items():
        checks = comparisons[name]["row_checks"]
        assert len(checks) == count, (name, checks)
        assert all(c["rows_in"] == c["rows_out"] > 0 for c in checks), (name, checks)

    flow = comparisons["flow_file"]
    assert [r["flows"] for r in flow["runs"]] == [20_000]
    for r in flow["runs"]:
        assert r["worker_rows"] == r["flows"]
        stages = r["breakdown"]
        assert all(v >= 0 for v in stages.values()), stages
        assert positive(stages["nfdump_to_arrow_to_parquet_s"], stages["output_mb"],
                        stages["parquet_mb"]), stages
        modes = r["nfdump_modes"]
        assert set(modes) == {"csv", "json", "pipe", "fmt (Spot's fields)", "joined: pipe",
                              "joined: fmt", "joined: csv, odd directions", "joined"}
        assert all(positive(m["seconds"], m["cpu_s"]) for m in modes.values()), modes
        assert positive(r["nfdump_s"], r["nfdump_rows_per_s"], r["worker_s"],
                        r["worker_rows_per_s"], r["ratio"], r["worker_peak_rss_mb"],
                        r["file_mb"])

    latency = comparisons["flow_latency"]
    assert positive(latency["nfdump_s"], latency["latency_s"], latency["worker_s"])
    assert latency["difference_s"] == round(latency["latency_s"] - latency["nfdump_s"], 3)
    assert [t["figure"] for t in latency["targets"]] == ["latency - nfdump (s)"]

    dns = comparisons["dns"]
    assert dns["inputs"]["responses"] == 2000 and dns["inputs"]["pieces"] >= 2
    assert dns["one_worker_rows"] == 2000
    assert dns["two_workers"]["rows"] == dns["one_worker_through_master"]["rows"] == 2000
    assert all(dns["two_workers"]["rows_per_worker"])           # both workers had pieces
    assert positive(dns["tshark_s"], dns["tshark_packets_per_s"], dns["one_worker_s"],
                    dns["one_worker_packets_per_s"], dns["two_workers"]["seconds"],
                    dns["ratio_worker_tshark"], dns["speedup_two_workers"],
                    dns["decoder_ratio_per_core"], dns["dnsdecode_packets_per_cpu_s"],
                    dns["stages"]["split_dnsdecode_s"])
    assert dns["one_worker_one_piece"]["pieces"] == 1 and dns["tshark_path"] is None
    alone = dns["decode_alone"]                  # the decode work alone, one process and two
    assert alone["pieces"] == 2 * dns["inputs"]["pieces"] and alone["rows"] == 4000
    assert alone["one_process"]["rows"] == alone["two_processes"]["rows"] == 4000
    assert positive(alone["speedup"], alone["one_process_cores"],
                    dns["speedup_against_decode_alone"])
    assert set(dns["two_workers"]["others_cpu_s"]) >= {"kafka", "metastore", "bench"}
    assert [t["figure"] for t in dns["targets"]] == [
        "dnsdecode/tshark packets per core", "drop -> rows, one worker, vs tshark alone",
        "two workers over one, a backlog (the workers alone on the cores)",
        "two workers over one, a drop (the master cutting on the same cores)"]
    for setup in ("one_worker_through_master", "two_workers"):       # 2 captures at once
        backlog = dns[setup]["backlog"]
        assert (backlog["captures"], backlog["pieces"], backlog["runs"]) == (
            2, 2 * dns["inputs"]["pieces"], 1)
        assert positive(backlog["seconds"], backlog["cpu_s"])
    assert positive(dns["speedup_two_workers_backlog"])

    classic = comparisons["classic"]
    assert classic["inputs"]["files"] == 2
    assert classic["classic"]["rows"] == classic["ours"]["rows"] == 20_000
    assert classic["same_rows"] is True
    assert positive(classic["classic"]["seconds"], classic["ours"]["seconds"], classic["ratio"])

    master = comparisons["master"]
    assert [(r["storage"], r["processes"]) for r in master["runs"]] == \
        [(s, p) for s in ("local", "hdfs") for p in (1, 2, 5)]
    assert all(positive(r["files_per_s"], r["seconds"]) for r in master["runs"])

    proxy = comparisons["proxy"]
    assert proxy["spark"]["rows"] == proxy["pyarrow"]["rows"] == proxy["inputs"]["valid"]
    assert positive(proxy["spark_lines_per_s"], proxy["pyarrow_lines_per_s"])

    assert positive(results["duration_s"])


def test_a_smoke_run_never_writes_the_benchmark_results():
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--output",
                           str(REPO / "bench" / "results.json")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--smoke never writes bench/results.json" in proc.stderr


def test_a_run_that_lost_or_doubled_rows_fails_loudly():
    from bench.support import BenchError, check_rows

    assert check_rows("one worker", 20_000, 20_000) == {"what": "one worker", "rows_in": 20_000,
                                                        "rows_out": 20_000}
    with pytest.raises(BenchError) as lost:
        check_rows("the Spark job", 20_000, 19_990)
    assert str(lost.value) == ("the Spark job: 20,000 rows in, 19,990 rows in the table: "
                               "10 rows LOST")
    with pytest.raises(BenchError) as doubled:
        check_rows("master + two workers", 2_000, 4_000)
    assert str(doubled.value) == ("master + two workers: 2,000 rows in, 4,000 rows in the table: "
                                  "2,000 rows DOUBLED")

