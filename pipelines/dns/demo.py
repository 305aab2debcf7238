"""The DNS part of `make demo`: a capture of DNS traffic (responses with one or several answers,
NXDOMAIN, SERVFAIL, AAAA, CNAME chains, over UDP and TCP, IPv4 and IPv6, with queries and
other packets mixed in) written packet by packet, dropped into the collector folder, split into
pieces by the master (dnsdecode split), decoded by two workers (dnsdecode), and queried.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from common.config import IngestConfig, load_config
from common.demo import LOGS, PipelineRun, print_rows
from common.storage import open_storage
from pipelines.dns.capture_writer import traffic_mix, write_pcap

PIPELINE = "dns_server_1"
CAPTURE = "dns-demo.pcap"
START = datetime(2016, 1, 4, 12, 30, tzinfo=timezone.utc)


def demo(config: IngestConfig, spark, responses: int, pkt_num: int,
         keep: bool) -> tuple[bool, PipelineRun]:
    data = json.loads(Path(config.path).read_text())
    data["pipelines"][PIPELINE]["pkt_num"] = pkt_num
    LOGS.mkdir(parents=True, exist_ok=True)
    derived = LOGS / "dns-demo-conf.json"
    config = _absolute(data, Path(config.path).resolve().parent, derived)

    traffic = traffic_mix(responses, START, 3600.0, popular=500)
    scratch = Path(tempfile.mkdtemp(prefix="spot-dns-demo-"))
    capture = write_pcap(scratch / CAPTURE, traffic.packets)
    pieces = math.ceil(len(traffic.packets) / pkt_num)
    print(f"== dns: a capture of {len(traffic.packets):,} packets ({responses:,} responses, "
          f"{capture.stat().st_size / 1e6:.1f} MB), split into {pieces} pieces of "
          f"{pkt_num:,} packets (pkt_num set in {derived})")

    storage = open_storage(config)
    hive = f"{config.hdfs_app_path}/dns/hive"

    def outputs() -> list[str]:
        return [p for p in storage.files_under(hive) if f"{PIPELINE}-{CAPTURE}_spot_" in p]

    for earlier in outputs():                  # a demo run before this one
        storage.delete(earlier)

    run = PipelineRun(config, PIPELINE, 2)
    run.start()
    stopped = 0
    try:
        os.replace(capture, config.collector_folder(PIPELINE) / CAPTURE)
        run.wait(lambda: (len(outputs()), pieces), "pieces loaded")
    finally:
        if not keep:
            stopped = run.stop()
        scratch.rmdir()

    db = config.dbname
    spark.catalog.refreshTable(f"{db}.dns")
    where = "y = 2016 AND m = 1 AND d = 4"
    per_hour = spark.sql(f"SELECT y, m, d, h, count(*) AS responses FROM {db}.dns WHERE "
                         f"{where} GROUP BY y, m, d, h ORDER BY h").collect()
    print_rows(f"rows per partition in {db}.dns", per_hour, ["y", "m", "d", "h", "responses"])
    print_rows("top queried names", spark.sql(
        f"SELECT dns_qry_name, count(*) AS n FROM {db}.dns WHERE {where} GROUP BY "
        "dns_qry_name ORDER BY n DESC, dns_qry_name LIMIT 5").collect(), ["dns_qry_name", "n"])
    print_rows("NXDOMAIN names (kept from the question: the answer section is empty)",
               spark.sql(f"SELECT dns_qry_name, count(*) AS n FROM {db}.dns WHERE {where} "
                         "AND dns_qry_rcode = 3 GROUP BY dns_qry_name ORDER BY n DESC, "
                         "dns_qry_name LIMIT 5").collect(), ["dns_qry_name", "n"])
    total = sum(r.responses for r in per_hour)
    print(f"  dns: {total:,} rows (expected {responses:,})")
    return total == responses and stopped == 0, run


def _absolute(data: dict, base: Path, path: Path):
    """The configuration with its relative paths made absolute against `base` (the folder of
    the configuration it was derived from), written to `path` and loaded."""
    if not data.get("hdfs", {}).get("namenode_url"):
        data["hdfs_app_path"] = str((base / data["hdfs_app_path"]).resolve())
    for pipeline in data["pipelines"].values():
        relative = not Path(pipeline["collector_path"]).is_absolute()
        for key in ("collector_path", "local_staging", "pcap_split_staging"):
            if key in pipeline:
                pipeline[key] = str((base / pipeline[key]).resolve())
        if relative:                                   # created on demand, as it was
            Path(pipeline["collector_path"]).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return load_config(path)


