"""`make demo`: the whole system on the embedded default. Creates the tables, makes sample
traffic for every pipeline with real tools (nfcapd, a packet writer, a Blue Coat log writer),
starts each pipeline in its standalone tmux session, shows progress until everything is
queryable, prints per table its partitions and rows and an example query, then says how to
watch, how to drop your own files and how to stop. The sessions keep running (--stop stops
them at the end).

    python -m pipelines.demo [-c CONF] [--small] [--stop] [--only flow,dns,proxy]
"""
from __future__ import annotations

import time

from common.cli import ArgumentParser, add_config_argument, config_from_args, run
from common.demo import REPO, spark_session
from common.setup import setup_all

SIZES = {  # default, --small
    "flow": (25_000, 2_000),           # flows per file (4 files)
    "dns": (60_000, 3_000),            # responses
    "dns_pkt_num": (25_000, 1_000),    # packets per piece
    "proxy": (50_000, 3_000),          # log records
}


def main() -> int:
    parser = ArgumentParser(prog="pipelines.demo", description=__doc__.splitlines()[0])
    add_config_argument(parser)
    parser.add_argument("--small", action="store_true", help="a reduced size (CI)")
    parser.add_argument("--stop", action="store_true",
                        help="stop the pipelines' sessions at the end")
    parser.add_argument("--only", default="flow,dns,proxy",
                        help="pipelines to show (default: flow,dns,proxy)")
    args = parser.parse_args()
    config = config_from_args(args, "demo")
    size = {k: v[1] if args.small else v[0] for k, v in SIZES.items()}
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    started = time.monotonic()

    print("== spot_setup")
    for line in setup_all(config):
        print("  " + line)
    spark = spark_session(config)
    keep = not args.stop
    results = []
    try:
        if "flow" in wanted:
            from pipelines.flow.demo import demo as flow_demo
            results.append(flow_demo(config, spark, size["flow"], keep))
        if "dns" in wanted:
            from pipelines.dns.demo import demo as dns_demo
            results.append(dns_demo(config, spark, size["dns"], size["dns_pkt_num"], keep))
        if "proxy" in wanted:
            from pipelines.proxy.demo import demo as proxy_demo
            results.append(proxy_demo(config, spark, size["proxy"], keep))
    finally:
        spark.stop()
    ok = all(good for good, _ in results)
    print(f"== demo {'done' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    if keep:
        print("== the pipelines keep running:")
        for _, pipeline_run in results:
            for line in pipeline_run.how_to():
                print("  " + line)
        print(f"  the local stack: make -C {REPO} services-status, make -C {REPO} "
              "services-down")
    return 0 if ok else 1


if __name__ == "__main__":
    run(main)
