"""What the comparisons share: the work folder, configurations of their own, real processes
(master_collector.py, worker.py, decoders) with their logs, waiting, Kafka offsets, and the
machine and versions a result was measured on.

Nothing here is a stand-in: the processes are the project's entry scripts, the services are
the local stack (Kafka, Hive Metastore, HDFS), the decoders are the installed nfdump/tshark.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "var" / "bench"
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
WEBHDFS_URL = "http://127.0.0.1:9870"
FLOW_PIPELINE = "flow_internals"
DNS_PIPELINE = "dns_server_1"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


class BenchError(RuntimeError):
    """A comparison could not be measured (a process died, a wait timed out, a count is off)."""


# ------------------------------------------------------------------ the run

@dataclass
class Bench:
    """One run of the benchmarks: its arguments, where it writes, what it started."""
    args: object
    run_id: str
    procs: list["Proc"] = field(default_factory=list)

    def folder(self, name: str) -> Path:
        """var/bench/<name>/, emptied first (an earlier run's outputs; inputs live apart)."""
        path = WORK / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def topic(self, what: str) -> str:
        return f"SPOT-INGEST-bench_{what}_{self.run_id}_{time.monotonic_ns() % 10**9}"

    def start(self, argv: Sequence[str], log_path: Path, env: dict | None = None) -> "Proc":
        proc = Proc(list(argv), log_path, env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs.clear()


def say(text: str) -> None:
    print(text, flush=True)


# ------------------------------------------------------------------ configurations

def make_config(folder: Path, *, dbname: str = "spot_bench", storage: str = "local",
                app_path: str | None = None, collector_processes: int | None = None,
                pipelines: dict[str, dict] | None = None):
    """A configuration like the shipped one (same Kafka, metastore, process_opt, intervals),
    with storage, collector folders and scratch of its own under `folder`."""
    from common.config import load_config

    data = json.loads((REPO / "ingest_conf.json").read_text())
    data["dbname"] = dbname
    if storage == "hdfs":
        data["hdfs_app_path"] = app_path or f"/spot-bench/{folder.name}"
        data["hdfs"] = {"namenode_url": WEBHDFS_URL, "user": "spot"}
    else:
        data["hdfs_app_path"] = str(app_path or folder / "spot")
    if collector_processes is not None:
        data["collector_processes"] = collector_processes
    for name, pipeline in data["pipelines"].items():
        pipeline["collector_path"] = str(folder / "collector" / name)
        pipeline["local_staging"] = str(folder / "staging" / name)
        (folder / "collector" / name).mkdir(parents=True, exist_ok=True)
        if "pcap_split_staging" in pipeline:
            pipeline["pcap_split_staging"] = str(folder / "staging" / name / "split")
        pipeline.update((pipelines or {}).get(name, {}))
    path = folder / "conf.json"
    path.write_text(json.dumps(data, indent=2))
    return load_config(path)


# ------------------------------------------------------------------ processes

class Proc:
    """A real process in a session of its own, its output in a log file."""

    def __init__(self, argv: list[str], log_path: Path, env: dict | None = None):
        self.argv, self.log_path = argv, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=subprocess.STDOUT,
                                      env={**os.environ, "TZ": "UTC", **(env or {})},
                                      start_new_session=True)
        self.pid = self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 60, sig: int = signal.SIGTERM) -> int:
        """SIGTERM (a clean stop: what is in flight is finished), then SIGKILL to the whole
        session if it does not end in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            code = self.popen.wait()
        self._log.close()
        return code


def master_argv(config, pipeline: str, workers: int, topic: str) -> list[str]:
    return [PYTHON, "master_collector.py", "-c", str(config.path), "-t", pipeline,
            "-w", str(workers), "-id", topic]


def worker_argv(config, pipeline: str, worker_id: int, topic: str) -> list[str]:
    return [PYTHON, "worker.py", "-c", str(config.path), "-t", pipeline, "-i", str(worker_id),
            "--topic", topic]


def start_master(bench: Bench, config, pipeline: str, workers: int, topic: str,
                 log_path: Path, timeout: float = 120) -> Proc:
    """A master, returned once it watches its folder."""
    master = bench.start(master_argv(config, pipeline, workers, topic), log_path)
    wait_for(lambda: " watching " in master.log(), timeout, "the master to watch its folder",
             [master])
    return master


def start_workers(bench: Bench, config, pipeline: str, count: int, topic: str,
                  folder: Path, timeout: float = 120) -> list[Proc]:
    """`count` workers, returned once each reads its partition (start-up checks done)."""
    workers = [bench.start(worker_argv(config, pipeline, i, topic), folder / f"worker-{i}.log")
               for i in range(count)]
    for i, worker in enumerate(workers):
        wait_for(lambda w=worker, i=i: f"reading {topic} partition {i}" in w.log(), timeout,
                 f"worker {i} to read its partition", workers)
    return workers


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             procs: Sequence[Proc] = (), interval: float = 0.05):
    """predicate()'s first true value; BenchError (with the processes' last lines) when a
    process ends first or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if not proc.alive():
                raise BenchError(f"{proc.log_path.name} exited ({proc.popen.returncode}) while "
                                 f"waiting for {what}:\n{tail(proc.log())}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.log_path}\n{tail(p.log())}" for p in procs)
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(interval)


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


def worker_line(name: str) -> re.Pattern:
    """The worker's own line for a message: `<name>: N rows in S s` (logged once its rows are
    placed and its partition registered, just before the offset is committed)."""
    return re.compile(rf"{re.escape(name)}: (\d+) rows in ([\d.]+) s")


def wait_for_worker_line(worker: Proc, name: str, timeout: float) -> tuple[int, float]:
    """(rows, seconds) from the worker's line for `name`."""
    pattern = worker_line(name)
    match = wait_for(lambda: pattern.search(worker.log()), timeout, f"the worker's line for "
                     f"{name}", [worker], interval=0.1)
    return int(match.group(1)), float(match.group(2))


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of a live process (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for process {pid}")


def run_timed(argv: Sequence[str], env: dict | None = None) -> dict:
    """Runs a program with stdout to /dev/null: its wall seconds, CPU seconds and peak RSS
    (its own, from wait4). A non-zero exit is a BenchError carrying stderr."""
    import tempfile

    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=null, stderr=err,
                                env={**os.environ, "TZ": "UTC", **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise BenchError(f"{argv[0]} exited with {proc.returncode}: "
                             f"{err.read()[-2000:].decode(errors='replace')}")
    return {"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def timed_runs(argv: Sequence[str], runs: int) -> dict:
    """`runs` runs of a program: the median time (the figure), each run, the CPU cores it
    kept busy (CPU seconds / wall seconds, median run), the peak RSS."""
    return summarize_runs([run_timed(argv) for _ in range(max(1, runs))])


def summarize_runs(results: Sequence[dict]) -> dict:
    """The figures of timed runs. CPU seconds keep 4 decimals: a small input's decode takes a
    few milliseconds, and 2 decimals made it 0 (a ratio per CPU second then divided by zero)."""
    results = sorted(results, key=lambda r: r["seconds"])
    middle = results[(len(results) - 1) // 2]
    return {"seconds": round(statistics.median(r["seconds"] for r in results), 3),
            "runs": [round(r["seconds"], 3) for r in results],
            "cpu_s": round(middle["cpu_s"], 4),
            "cores": round(middle["cpu_s"] / middle["seconds"], 2),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results), 1)}


def per_cpu_second(count: int, cpu_s: float, what: str) -> float:
    """`count` things per CPU second; a CPU time the clock did not see is a BenchError that
    says so (not a ZeroDivisionError)."""
    if cpu_s <= 0:
        raise BenchError(f"{what} used no measurable CPU time: too small an input to rate "
                         "per CPU second")
    return count / cpu_s


def cpu_seconds(procs: Sequence["Proc"]) -> float:
    """CPU seconds used so far by processes, their live descendants and the children they
    reaped (a worker's finished decoders): read before and after a measurement, the
    difference over the wall time is the cores the work kept busy."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            root = psutil.Process(proc.pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in family:
            try:
                t = member.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
    return total


# ------------------------------------------------------------------ Kafka and storage

def publish_binary(config, storage, topic: str, pipeline: str, local: Path, remote: str,
                   name: str) -> None:
    """Stores a binary where a master would, then publishes its message to partition 0 and
    waits for the broker's acknowledgement, as the master does."""
    from common.kafka_io import Publisher
    from common.messages import FileMessage

    storage.upload(local, remote)
    publisher = Publisher(config.kafka, topic)
    try:
        publisher.send(FileMessage(pipeline, name, remote, local.stat().st_size).encode(), 0)
    finally:
        publisher.close()


def one_message(bench: Bench, config, storage, pipeline: str, local: Path, remote: str,
                name: str, log_path: Path, timeout: float, wrapper: Sequence[str] = ()) -> dict:
    """One worker (under `wrapper`, e.g. py-spy, when given) on one message: started and
    ready first, then the binary is stored and its message published, as a master would.
    The figure is the worker's own line; CPU and peak RSS are read just before it stops."""
    from common.kafka_admin import ensure_topic

    topic = bench.topic(pipeline)
    ensure_topic(config.kafka, topic, 1)
    worker = bench.start([*wrapper, *worker_argv(config, pipeline, 0, topic)], log_path)
    try:
        wait_for(lambda: f"reading {topic} partition 0" in worker.log(), 120,
                 "the worker to read its partition", [worker])
        cpu_before = cpu_seconds([worker])
        publish_binary(config, storage, topic, pipeline, local, remote, name)
        rows, seconds = wait_for_worker_line(worker, name, timeout)
        cpu = cpu_seconds([worker]) - cpu_before
        peak_mb = None if wrapper else vm_hwm_mb(worker.pid)
    finally:
        code = stop_wrapped(worker) if wrapper else worker.stop()
    if code != 0:
        raise BenchError(f"the worker exited with {code}; see {log_path}")
    return {"rows": rows, "seconds": seconds, "cpu_s": round(cpu, 2),
            "cores": round(cpu / seconds, 2), "peak_rss_mb": peak_mb and round(peak_mb, 1),
            "log": str(log_path)}


def stop_wrapped(wrapper: Proc, timeout: float = 120) -> int:
    """Stops the process a wrapper (py-spy) runs with SIGTERM, a clean stop, and lets the
    wrapper end by itself once its target has ended (py-spy then writes its output)."""
    import psutil

    try:
        children = psutil.Process(wrapper.pid).children()
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + timeout
    while wrapper.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    return wrapper.stop(timeout=30, sig=signal.SIGINT)


class Offsets:
    """Committed offsets of a topic's group (group = topic, as the workers use), read through
    the Admin API without joining the group."""

    def __init__(self, config):
        from kafka import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap,
                                      client_id="spot-ingest-bench")

    def committed(self, topic: str) -> dict[int, int]:
        offsets = self.admin.list_group_offsets(topic).get(topic, {})
        return {tp.partition: meta.offset for tp, meta in offsets.items()
                if tp.topic == topic and meta.offset is not None and meta.offset >= 0}

    def close(self) -> None:
        self.admin.close()


PUBLISHED = re.compile(r" published (.*?) \((\d+) bytes\).* partition (\d+) offset (\d+)")


def published(master: Proc) -> list[tuple[str, int, int]]:
    """(name, partition, offset) of every message the master's log says it published."""
    return [(m.group(1), int(m.group(3)), int(m.group(4)))
            for m in PUBLISHED.finditer(master.log())]


def all_committed(offsets: Offsets, topic: str, master: Proc, expected: int) -> bool:
    """The master published `expected` messages and every one is committed."""
    sent = published(master)
    if len(sent) < expected:
        return False
    needed: dict[int, int] = {}
    for _, partition, offset in sent:
        needed[partition] = max(needed.get(partition, 0), offset + 1)
    done = offsets.committed(topic)
    return all(done.get(p, 0) >= n for p, n in needed.items())


def worker_rows(workers: Sequence[Proc]) -> int:
    return sum(int(m.group(1)) for w in workers
               for m in re.finditer(r": (\d+) rows in [\d.]+ s", w.log()))


_SPAN = re.compile(r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*? worker-\d+: (?P<name>.+?): "
                   r"(?P<rows>\d+) rows in (?P<seconds>[\d.]+) s", re.MULTILINE)


def worker_spans(workers: Sequence[Proc]) -> list[dict]:
    """When each message's work began and ended (epoch seconds), from the workers' lines:
    their time stamp (the end; the processes log in UTC) minus their seconds."""
    from datetime import datetime, timezone

    spans = []
    for worker in workers:
        for m in _SPAN.finditer(worker.log()):
            end = datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f").replace(
                tzinfo=timezone.utc).timestamp()
            spans.append({"name": m["name"], "rows": int(m["rows"]),
                          "start": end - float(m["seconds"]), "end": end,
                          "seconds": float(m["seconds"])})
    return sorted(spans, key=lambda s: s["start"])


def collector_empty(folder: Path) -> bool:
    """No file left at the top of the collector folder (hidden entries, such as .quarantine,
    do not count)."""
    return not any(not e.name.startswith(".") for e in os.scandir(folder))


# ------------------------------------------------------------------ where it ran

def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"
    for text in (proc.stdout, proc.stderr):
        for line in text.splitlines():
            if line.strip() and not line.startswith("Running as user"):
                return line.strip()
    return "unknown"


def _meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = int(value.split()[0])
    return out


def machine() -> dict:
    """CPU, memory and kernel, the load when the run started and what else was busy."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    memory = _meminfo()
    return {"cpu_count": os.cpu_count(), "cpu_model": model,
            "memory_total_mb": round(memory["MemTotal"] / 1024),
            "memory_available_mb": round(memory.get("MemAvailable", 0) / 1024),
            "kernel": platform.release(), "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "busy_processes_at_start": busy_processes()}


def busy_processes(seconds: float = 1.0, limit: int = 5) -> list[dict]:
    """Processes (other than this one) using CPU over `seconds`: other work on the machine."""
    import psutil

    procs = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            proc.cpu_percent(None)
            procs.append(proc)
        except psutil.Error:
            pass
    time.sleep(seconds)
    busy = []
    for proc in procs:
        try:
            if proc.pid == os.getpid():
                continue
            percent = proc.cpu_percent(None)
            if percent >= 5:
                busy.append({"pid": proc.pid, "name": proc.info["name"],
                             "cpu_percent": round(percent)})
        except psutil.Error:
            pass
    return sorted(busy, key=lambda b: -b["cpu_percent"])[:limit]


def versions() -> dict:
    import pyarrow

    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {"python": platform.python_version(),
            "nfdump": _first_line(["nfdump", "-V"]),
            "tshark": _first_line(["tshark", "--version"]),
            "pyarrow": pyarrow.__version__,
            "kafka-python": package("kafka-python"),
            "pyspark": package("pyspark"),
            "py-spy": package("py-spy"),
            "java": _first_line(["java", "-version"])}


def services_answer() -> list[str]:
    """The local stack's services that do not answer (empty when all do)."""
    import socket

    down = []
    for name, port in (("Kafka", 9092), ("Hive Metastore", 9083), ("HDFS WebHDFS", 9870)):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3):
                pass
        except OSError:
            down.append(f"{name} (127.0.0.1:{port})")
    return down


# ------------------------------------------------------------------ rows in, rows out

def table_rows(config, source: str) -> int:
    """Rows in the Parquet data files of a table (`flow`, `dns`, `proxy`) of a configuration
    with local storage, from the files' footers (hidden and temporary files skipped)."""
    import pyarrow.parquet as pq

    root = Path(config.hdfs_app_path) / source / "hive"
    return sum(pq.ParquetFile(Path(folder) / name).metadata.num_rows
               for folder, _, names in os.walk(root) for name in names
               if name.endswith(".parquet") and not name.startswith((".", "_")))


def clear_table(config, source: str) -> None:
    """Removes a bench table's data files (its partitions stay registered), so that the next
    run's rows can be counted alone."""
    shutil.rmtree(Path(config.hdfs_app_path) / source / "hive", ignore_errors=True)


def check_rows(what: str, rows_in: int, rows_out: int) -> dict:
    """A run's rows in (records in its input) against rows out (rows in the table): a run that
    lost or doubled rows measured nothing, and fails the benchmark."""
    if rows_out != rows_in:
        kind = "LOST" if rows_out < rows_in else "DOUBLED"
        raise BenchError(f"{what}: {rows_in:,} rows in, {rows_out:,} rows in the table: "
                         f"{abs(rows_in - rows_out):,} rows {kind}")
    return {"what": what, "rows_in": rows_in, "rows_out": rows_out}
