#!/usr/bin/env python3
"""Master of one pipeline configuration: watches its collector folder and publishes every
complete file to a Kafka topic with one partition per worker.

    python master_collector.py -t flow_internals -w 4 [-id TOPIC] [-c CONF]
"""
from __future__ import annotations

from common.cli import (ArgumentParser, add_config_argument, add_pipeline_argument,
                        pipeline_from_args, positive_int, run, stop_on_signals)
from common.kafka_io import check_topic_name, default_topic_name
from common.master import Master


def main() -> int:
    parser = ArgumentParser(prog="master_collector.py", description=__doc__.splitlines()[0])
    add_pipeline_argument(parser)
    parser.add_argument("-w", "--workers", required=True, type=positive_int,
                        help="number of workers = partitions of the topic")
    parser.add_argument("-id", "--topic", default=None, metavar="TOPIC",
                        help="topic name (default SPOT-INGEST-<pipeline>_<HH_MM_SS_micro>)")
    parser.add_argument("--check", action="store_true",
                        help="check the configuration, the arguments, the collector folder, "
                             "the tools, Kafka and the metastore, then exit")
    add_config_argument(parser)
    args = parser.parse_args()
    config, pipeline = pipeline_from_args(args, "master")
    topic = check_topic_name(args.topic) if args.topic else default_topic_name(pipeline.name)
    master = Master(config, pipeline, args.workers, topic)
    master.check()
    if args.check:
        master.check_services()
        print(f"{config.path}: pipeline {pipeline.name} ({pipeline.type}) OK")
        return 0
    created = master.prepare()
    print(f"topic {topic} ({'created' if created else 'reused'}, {args.workers} partitions)",
          flush=True)
    stop_on_signals(master.stop)
    return master.run()


if __name__ == "__main__":
    run(main)
