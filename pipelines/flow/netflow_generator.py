"""Real nfcapd files for tests and demos: a NetFlow v5 exporter and a capture harness.

The pure half builds NetFlow v5 datagrams (24-byte header + up to 30 records of 48
bytes, network byte order) from `Flow` values. The other half runs the real `nfcapd`
(nfdump 1.7) on 127.0.0.1, sends it the datagrams over UDP and keeps the file nfcapd
writes, renamed to the name the caller chose (e.g. `nfcapd.201601040900`).

    python -m pipelines.flow.netflow_generator --flows 10000 \
        --start 2016-01-04T09:00:00 --out /tmp/flows --name nfcapd.201601040900

Time mapping: nfcapd computes boot = unix_secs*1000 + unix_nsecs/1e6 - sys_uptime and
then flow start = boot + first, end = boot + last (milliseconds), so `datagrams` picks
one boot instant before the earliest flow and expresses every first/last relative to
it. nfdump's te/ts then show exactly `Flow.start` and `Flow.start + duration_ms`.
Note that nfcapd stamps the *received* time (nfdump's `tr`) with its own wall clock.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

V5_VERSION = 5
MAX_RECORDS = 30  # records per v5 datagram (the protocol's limit)
HEADER = struct.Struct("!HHIIIIBBH")  # 24 bytes
RECORD = struct.Struct("!4s4s4sHHIIIIHHBBBBHHBBH")  # 48 bytes
HEADER_LEN = HEADER.size
RECORD_LEN = RECORD.size
UPTIME_LIMIT_MS = 2 ** 32  # sys_uptime/first/last are uint32 milliseconds
BOOT_MARGIN_MS = 60_000  # the simulated exporter booted this long before the first flow

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17


@dataclass(slots=True)
class Flow:
    """One unidirectional flow as a v5 exporter reports it.

    `start` must be timezone-aware; it is kept to the millisecond. For ICMP, v5
    carries type*256+code in the destination port and 0 in the source port.
    """
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    proto: int
    packets: int
    octets: int
    start: datetime
    duration_ms: int = 0
    tcp_flags: int = 0
    tos: int = 0
    input_if: int = 0
    output_if: int = 0
    src_as: int = 0
    dst_as: int = 0
    nexthop: str = "0.0.0.0"
    src_mask: int = 0
    dst_mask: int = 0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.duration_ms)


def to_epoch_ms(moment: datetime) -> int:
    """Exact integer milliseconds since the epoch of an aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {moment!r}")
    return (moment - _EPOCH) // _MS


def _from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@lru_cache(maxsize=65536)
def _ip4(text: str) -> bytes:
    try:
        return socket.inet_aton(text) if text.count(".") == 3 else _bad_ip(text)
    except OSError:
        return _bad_ip(text)


def _bad_ip(text: str) -> bytes:
    raise ValueError(f"not a dotted-quad IPv4 address: {text!r}")


def pack_header(count: int, sys_uptime: int, unix_secs: int, unix_nsecs: int,
                flow_sequence: int, engine_type: int = 0, engine_id: int = 0,
                sampling_interval: int = 0) -> bytes:
    """The 24-byte v5 header."""
    return HEADER.pack(V5_VERSION, count, sys_uptime, unix_secs, unix_nsecs,
                       flow_sequence & 0xFFFFFFFF, engine_type, engine_id, sampling_interval)


def pack_record(flow: Flow, first: int, last: int) -> bytes:
    """The 48-byte v5 record; `first`/`last` are sys_uptime milliseconds."""
    buf = bytearray(RECORD_LEN)
    _pack_record_into(buf, 0, flow, first, last)
    return bytes(buf)


def _pack_record_into(buf: bytearray, offset: int, f: Flow, first: int, last: int) -> None:
    RECORD.pack_into(buf, offset, _ip4(f.src_ip), _ip4(f.dst_ip), _ip4(f.nexthop),
                     f.input_if, f.output_if, f.packets, f.octets, first, last,
                     f.src_port, f.dst_port, 0, f.tcp_flags, f.proto, f.tos,
                     f.src_as, f.dst_as, f.src_mask, f.dst_mask, 0)


def datagrams(flows: Sequence[Flow], export_time: datetime | None = None, *,
              engine_type: int = 0, engine_id: int = 0,
              first_sequence: int = 0) -> list[bytes]:
    """NetFlow v5 datagrams carrying `flows` in order, at most 30 records each.

    All datagrams share one header time: `export_time` (default: one second after the
    latest flow end, rounded down to the millisecond). The simulated exporter booted
    60 s before the earliest flow (or at export_time, if that is earlier), so every
    first/last fits uint32 sysuptime and nfcapd recovers the exact start and end.
    flow_sequence counts the flows sent before each datagram.
    """
    if not flows:
        return []
    starts = [to_epoch_ms(f.start) for f in flows]
    ends = [s + f.duration_ms for s, f in zip(starts, flows)]
    if any(f.duration_ms < 0 for f in flows):
        raise ValueError("duration_ms must be >= 0")
    export_ms = to_epoch_ms(export_time) if export_time is not None else max(ends) + 1000
    boot_ms = min(min(starts) - BOOT_MARGIN_MS, export_ms)
    sys_uptime = export_ms - boot_ms
    if max(ends) - boot_ms >= UPTIME_LIMIT_MS or sys_uptime >= UPTIME_LIMIT_MS:
        raise ValueError("flows and export time must lie within ~49 days of each other "
                         "(v5 sysuptime is uint32 milliseconds)")
    unix_secs, rest_ms = divmod(export_ms, 1000)
    unix_nsecs = rest_ms * 1_000_000
    out: list[bytes] = []
    n = len(flows)
    for base in range(0, n, MAX_RECORDS):
        count = min(MAX_RECORDS, n - base)
        buf = bytearray(HEADER_LEN + count * RECORD_LEN)
        HEADER.pack_into(buf, 0, V5_VERSION, count, sys_uptime, unix_secs, unix_nsecs,
                         (first_sequence + base) & 0xFFFFFFFF, engine_type, engine_id, 0)
        offset = HEADER_LEN
        for i in range(base, base + count):
            _pack_record_into(buf, offset, flows[i], starts[i] - boot_ms, ends[i] - boot_ms)
            offset += RECORD_LEN
        out.append(bytes(buf))
    return out


# --- synthetic traffic ---------------------------------------------------------------

_TCP_SERVICES = (80, 443, 22, 25, 53, 110, 143, 445, 993, 3306, 3389, 5432, 8080, 8443)
_UDP_SERVICES = (53, 123, 161, 500, 514, 1194, 4500, 5060)
_ICMP_TYPES = ((8, 0), (0, 0), (3, 1), (3, 3), (11, 0))


def synthetic_flows(n: int, start: datetime, seed: int = 0,
                    spread_seconds: int = 3600) -> list[Flow]:
    """`n` varied, deterministic flows starting within [start, start + spread_seconds).

    About 70% TCP, 25% UDP, 5% ICMP between private addresses (10/8 clients talking
    to 172.16/12 and 192.168/16 servers), with service ports on the server side,
    ephemeral client ports, plausible packet and byte counts. Start times are in
    whole milliseconds and come in ascending order.
    """
    if n < 0 or spread_seconds <= 0:
        raise ValueError("need n >= 0 and spread_seconds > 0")
    rng = random.Random(seed)
    rand = rng.random  # rand()-based picks: several times faster than randrange/choice

    def pick(seq):
        return seq[int(rand() * len(seq))]

    def between(lo: int, hi: int) -> int:  # in [lo, hi)
        return lo + int(rand() * (hi - lo))

    spread_ms = spread_seconds * 1000
    offsets = sorted(int(rand() * spread_ms) for _ in range(n))
    clients = [f"10.{between(0, 256)}.{between(0, 256)}.{between(1, 255)}" for _ in range(512)]
    servers = ([f"172.{between(16, 32)}.{between(0, 256)}.{between(1, 255)}" for _ in range(96)]
               + [f"192.168.{between(0, 256)}.{between(1, 255)}" for _ in range(32)])
    tos_values = (0, 0, 0, 0x10, 0x28, 0xB8)
    tcp_flag_values = (0x1B, 0x1B, 0x1F, 0x02, 0x12, 0x14, 0x19)
    base_ms = to_epoch_ms(start)
    flows: list[Flow] = []
    append = flows.append
    for off in offsets:
        client, server = pick(clients), pick(servers)
        outbound = rand() < 0.5  # which side of the conversation this record reports
        roll = rand()
        if roll < 0.70:
            proto, service, eph = PROTO_TCP, pick(_TCP_SERVICES), between(1024, 65536)
            packets = between(1, 2000) if rand() < 0.2 else between(1, 40)
            octets = packets * between(40, 1501)
            flags = pick(tcp_flag_values)
            duration = between(0, 120_000) if packets > 1 else 0
        elif roll < 0.95:
            proto, service, eph = PROTO_UDP, pick(_UDP_SERVICES), between(1024, 65536)
            packets = between(1, 20)
            octets = packets * between(28, 1473)
            flags, duration = 0, (between(0, 5_000) if packets > 1 else 0)
        else:
            icmp_type, icmp_code = pick(_ICMP_TYPES)
            proto, service, eph = PROTO_ICMP, icmp_type * 256 + icmp_code, 0
            packets = between(1, 10)
            octets = packets * 84
            flags, duration = 0, (between(0, 10_000) if packets > 1 else 0)
        if proto == PROTO_ICMP or outbound:
            src, dst, sport, dport = client, server, eph, service
        else:
            src, dst, sport, dport = server, client, service, eph
        remote_as = 64512 + between(0, 16)
        append(Flow(src, dst, sport, dport, proto, packets, octets,
                    _from_epoch_ms(base_ms + off), duration, flags, pick(tos_values),
                    1 if outbound else 2, 2 if outbound else 1,
                    0 if outbound else remote_as, remote_as if outbound else 0))
    return flows


# --- the real collector --------------------------------------------------------------

NFCAPD = "nfcapd"
NFDUMP = "nfdump"
SOCKET_BUFFER = 8_000_000  # nfcapd -B; the kernel caps it at net.core.rmem_max (x2)
BURST = 64  # datagrams sent between two looks at the receiver's queue
QUEUE_HIGH_WATER = 1_000_000  # bytes waiting in nfcapd's socket before we hold back


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _udp_socket_state(port: int) -> tuple[int, int] | None:
    """(rx_queue bytes, drops) of the socket bound to 127.0.0.1:port, from /proc/net/udp."""
    key = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp", "rb") as fh:
            lines = fh.read().decode("ascii", "replace").splitlines()
    except OSError:
        return None
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 13 and parts[1] == key:
            return int(parts[4].split(":")[1], 16), int(parts[12])
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _stop(proc: subprocess.Popen, timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode


def _wait_ready(proc: subprocess.Popen, err_file: Path, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nfcapd exited with {proc.returncode} at startup: "
                               f"{_read(err_file).strip()}")
        if "Startup" in _read(err_file) and _udp_socket_state(port) is not None:
            return
        time.sleep(0.02)
    raise RuntimeError(f"nfcapd did not start within {timeout}s: {_read(err_file).strip()}")


def _send(payloads: Iterable[bytes], port: int, proc: subprocess.Popen) -> None:
    """Send everything, holding back whenever nfcapd's receive queue fills up."""
    flow_control = _udp_socket_state(port) is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        for i, payload in enumerate(payloads):
            if i % BURST == 0 and i:
                if flow_control:
                    while True:
                        state = _udp_socket_state(port)
                        if state is None or state[0] < QUEUE_HIGH_WATER:
                            break
                        if proc.poll() is not None:
                            return
                        time.sleep(0.001)
                else:
                    time.sleep(0.002)
            sock.send(payload)
    # let nfcapd drain its socket before it is told to stop
    deadline = time.monotonic() + 30
    while flow_control and time.monotonic() < deadline:
        state = _udp_socket_state(port)
        if state is None or state[0] == 0:
            break
        time.sleep(0.005)
    time.sleep(0.05 if flow_control else 0.5)


def _nfcapd_counters(stderr_text: str) -> dict[str, int]:
    """Parse nfcapd's closing line `Ident: 'x' Flows: N, Packets: ..., Bad Packets: 0`."""
    for line in reversed(stderr_text.splitlines()):
        if line.startswith("Ident:") and "Flows:" in line:
            fields = line.split("'", 2)[-1]
            out = {}
            for part in fields.split(","):
                name, _, value = part.partition(":")
                if value.strip().isdigit():
                    out[name.strip()] = int(value.strip())
            return out
    return {}


@dataclass(frozen=True)
class Nfcapd:
    """Which nfcapd writes the file, and how: the installed one by default; nfdump 1.6's
    takes its folder with -l; `options` such as -z (LZO) or -j (bzip2); `argv` may put a
    wrapper in front (faketime, for a chosen receive time)."""
    argv: tuple[str, ...] = ("nfcapd",)
    folder_option: str = "-w"
    options: tuple[str, ...] = ()


def capture(flows: Sequence[Flow], out_dir: str | os.PathLike, file_name: str,
            export_time: datetime | None = None, port: int | None = None, *,
            startup_timeout: float = 10.0, stop_timeout: float = 60.0,
            nfcapd: Nfcapd = Nfcapd()) -> Path:
    """Collect `flows` with a real nfcapd and return `out_dir/file_name`.

    nfcapd listens on 127.0.0.1 (a free UDP port unless `port` is given), writes into a
    private temporary folder, is stopped with SIGTERM and must exit 0 with its own
    counters showing exactly len(flows) flows and no sequence errors or bad packets;
    the file lands in out_dir by an atomic rename. Raises RuntimeError otherwise.
    """
    return capture_datagrams(datagrams(flows, export_time), len(flows), out_dir, file_name,
                             port, startup_timeout=startup_timeout, stop_timeout=stop_timeout,
                             nfcapd=nfcapd)


def capture_datagrams(payloads: Sequence[bytes], n_flows: int, out_dir: str | os.PathLike,
                      file_name: str, port: int | None = None, *, startup_timeout: float = 10.0,
                      stop_timeout: float = 60.0, nfcapd: Nfcapd = Nfcapd()) -> Path:
    """`capture` of datagrams made elsewhere (NetFlow v5, v9, IPFIX) carrying n_flows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else 3
    last_error: RuntimeError | None = None
    for _ in range(attempts):
        try:
            return _capture_once(list(payloads), n_flows, out_dir, file_name,
                                 port if port is not None else _free_udp_port(),
                                 startup_timeout, stop_timeout, nfcapd)
        except _Retry as exc:  # port taken meanwhile, or the hour rolled over mid-capture
            last_error = RuntimeError(str(exc))
    assert last_error is not None
    raise last_error


class _Retry(RuntimeError):
    pass


def _nfcapd_argv(port: int, flow_dir: Path, interval: int, pidfile: Path,
                 nfcapd: Nfcapd = Nfcapd()) -> list[str]:
    return [*nfcapd.argv, "-b", "127.0.0.1", "-p", str(port), nfcapd.folder_option,
            str(flow_dir), "-t", str(interval), "-P", str(pidfile), "-B", str(SOCKET_BUFFER),
            "-I", "spot", *nfcapd.options]


class LiveNfcapd:
    """A real nfcapd writing straight into `folder`, as on a collector host: it fills
    nfcapd.current.<pid> and renames it to nfcapd.YYYYMMDDhhmm[ss] every `interval` seconds.

        with LiveNfcapd(collector, interval=2) as nfcapd:
            nfcapd.send(flows)
        nfcapd.flows   # flows nfcapd wrote, summed over its per-file counter lines
    """

    def __init__(self, folder: str | os.PathLike, interval: int = 2, startup_timeout: float = 10.0):
        self.folder, self.interval, self.startup_timeout = Path(folder), interval, startup_timeout
        self.flows: int | None = None

    def __enter__(self) -> "LiveNfcapd":
        self._work = Path(tempfile.mkdtemp(prefix="nfcapd-live-"))
        self._err = self._work / "nfcapd.stderr"
        self.port = _free_udp_port()
        with open(self._err, "wb") as err:
            self._proc = subprocess.Popen(
                _nfcapd_argv(self.port, self.folder, self.interval, self._work / "nfcapd.pid"),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_ready(self._proc, self._err, self.port, self.startup_timeout)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def send(self, flows: Sequence[Flow], export_time: datetime | None = None) -> None:
        _send(datagrams(flows, export_time), self.port, self._proc)

    def __exit__(self, *exc) -> None:
        try:
            rc = _stop(self._proc, 60)
            stderr_text = _read(self._err).strip()
            if rc != 0 and exc[0] is None:
                raise RuntimeError(f"nfcapd exited with {rc}: {stderr_text}")
            # nfcapd prints one counters line per closed file
            self.flows = sum(_nfcapd_counters(line).get("Flows", 0)
                             for line in stderr_text.splitlines() if line.startswith("Ident:"))
        finally:
            shutil.rmtree(self._work, ignore_errors=True)


def _capture_once(payloads: list[bytes], n_flows: int, out_dir: Path, file_name: str,
                  port: int, startup_timeout: float, stop_timeout: float,
                  nfcapd: Nfcapd = Nfcapd()) -> Path:
    work = Path(tempfile.mkdtemp(prefix="nfcapd-capture-"))
    try:
        flow_dir = work / "flows"
        flow_dir.mkdir()
        err_file = work / "nfcapd.stderr"
        cmd = _nfcapd_argv(port, flow_dir, 3600, work / "nfcapd.pid", nfcapd)
        with open(err_file, "wb") as err, open(work / "nfcapd.stdout", "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            try:
                _wait_ready(proc, err_file, port, startup_timeout)
            except RuntimeError as exc:
                if "bind" in str(exc).lower() or "address already in use" in str(exc).lower():
                    raise _Retry(str(exc)) from None
                raise
            _send(payloads, port, proc)
            state = _udp_socket_state(port)
            drops = state[1] if state else 0
            rc = _stop(proc, stop_timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr_text = _read(err_file).strip()
        if rc != 0:
            raise RuntimeError(f"nfcapd exited with {rc}: {stderr_text}")
        counters = _nfcapd_counters(stderr_text)
        problems = []
        if drops:
            problems.append(f"the kernel dropped {drops} datagrams")
        if counters.get("Flows") != n_flows:
            problems.append(f"nfcapd counted {counters.get('Flows')} flows, sent {n_flows}")
        if counters.get("Sequence Errors") or counters.get("Bad Packets"):
            problems.append(f"nfcapd reported {counters}")
        files = sorted(p for p in flow_dir.iterdir()
                       if p.name.startswith("nfcapd.") and not p.name.startswith("nfcapd.current"))
        if len(files) > 1:
            raise _Retry(f"nfcapd rotated during the capture: {[p.name for p in files]}")
        if len(files) != 1:
            problems.append(f"no nfcapd file produced: {sorted(p.name for p in flow_dir.iterdir())}")
        if problems:
            raise RuntimeError("; ".join(problems) + f". nfcapd stderr: {stderr_text}")
        target = out_dir / file_name
        fd, tmp_name = tempfile.mkstemp(prefix=".netflow-generator-", suffix=".tmp", dir=out_dir)
        os.close(fd)
        try:
            shutil.move(str(files[0]), tmp_name)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def count_flows(path: str | os.PathLike) -> int:
    """Flow records in an nfcapd file, counted from `nfdump -r PATH -q -o csv`.

    nfdump 1.7.1 with -q prints no csv header and no summary: one line per flow, or
    the single line `No matching flows` when there are none. On a file it cannot read
    (bad magic, truncated, empty) it still exits 0, prints `No matching flows` and
    explains on stderr; any stderr output therefore raises RuntimeError here.
    """
    proc = subprocess.Popen([NFDUMP, "-r", str(path), "-q", "-o", "csv"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    lines = 0
    head = b""
    last_byte = b"\n"
    while chunk := proc.stdout.read(1 << 20):
        if len(head) < 64:
            head += chunk[:64]
        lines += chunk.count(b"\n")
        last_byte = chunk[-1:]
    stderr = proc.stderr.read().decode(errors="replace").strip()
    rc = proc.wait()
    if rc != 0 or stderr:
        raise RuntimeError(f"nfdump exited with {rc} on {path}: {stderr}")
    if head and last_byte != b"\n":
        lines += 1
    if head.startswith(b"No matching flows"):
        return 0
    if head.startswith(b"ts,te,"):  # a header line (printed without -q only)
        lines -= 1
    return lines


def _parse_start(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.flow.netflow_generator",
        description="Make one real nfcapd file of synthetic NetFlow v5 flows.")
    parser.add_argument("--flows", type=int, required=True, help="number of flows")
    parser.add_argument("--start", type=_parse_start, required=True,
                        help="earliest flow start, ISO 8601 (UTC unless an offset is given)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--name", required=True, help="file name, e.g. nfcapd.201601040900")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spread", type=int, default=3600,
                        help="flows start within this many seconds (default 3600)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip re-reading the file with nfdump")
    args = parser.parse_args(argv)
    if args.flows < 0 or args.spread <= 0:
        parser.error("--flows must be >= 0 and --spread > 0")
    t0 = time.monotonic()
    flows = synthetic_flows(args.flows, args.start, args.seed, args.spread)
    t1 = time.monotonic()
    try:
        path = capture(flows, args.out, args.name)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    t2 = time.monotonic()
    count = args.flows if args.no_verify else count_flows(path)
    t3 = time.monotonic()
    print(path)
    print(f"flows: {count}")
    print(f"timing: generate {t1 - t0:.1f}s, capture {t2 - t1:.1f}s, "
          f"verify {t3 - t2:.1f}s", file=sys.stderr)
    if count != args.flows:
        print(f"error: nfdump reads {count} flows, expected {args.flows}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
