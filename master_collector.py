#!/usr/bin/env python3
"""Master of one pipeline configuration: watches its collector folder and publishes every
complete file to the pipeline's Kafka topic, one partition per worker.

    python master_collector.py -t flow_internals -w 4 [-id TOPIC] [-c CONF]

The topic is the pipeline's own, created by the first start and reused by every later one
(SPOT-INGEST-<dbname>-<pipeline>, or pipelines.<name>.topic, or -id), so what a stop left
unread is read after the next start.
"""
from __future__ import annotations

from common import early

early.start()  # first: stop signals held from here on, the project's .venv entered

from common.cli import (ArgumentParser, add_config_argument, add_pipeline_argument,
                        pipeline_from_args, positive_int, run, stop_on_signals)
from common.kafka_io import check_topic_name
from common.master import Master


def main() -> int:
    parser = ArgumentParser(prog="master_collector.py", description=__doc__.splitlines()[0])
    add_pipeline_argument(parser)
    parser.add_argument("-w", "--workers", required=True, type=positive_int,
                        help="number of workers = partitions of the topic")
    parser.add_argument("-id", "--topic", default=None, metavar="TOPIC",
                        help="topic name (default: pipelines.<name>.topic, else "
                             "SPOT-INGEST-<dbname>-<pipeline>)")
    parser.add_argument("--check", action="store_true",
                        help="check the configuration, the arguments, the collector folder, "
                             "the tools, Kafka and the metastore, then exit")
    add_config_argument(parser)
    args = parser.parse_args()
    config, pipeline = pipeline_from_args(args, "master")
    topic = check_topic_name(args.topic) if args.topic else config.topic_of(pipeline.name)
    master = Master(config, pipeline, args.workers, topic)
    stop_on_signals(master.stop)
    master.check()
    if args.check:
        master.check_services()
        print(f"{config.path}: pipeline {pipeline.name} ({pipeline.type}) OK")
        print(f"topic {topic}")
        return 0
    if master.stopping.is_set():          # asked to stop while starting: nothing begun
        return 0
    plan = master.prepare()
    over = "" if plan.publish_over == plan.shape.partitions else \
        f", publishing over the first {plan.publish_over}"
    print(f"{plan.describe()}{over}", flush=True)
    return master.run()


if __name__ == "__main__":
    run(main)
