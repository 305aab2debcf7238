#!/usr/bin/env python3
"""Worker bound to one partition of a pipeline's topic: decodes each file and loads its rows
into the pipeline's Hive table.

    python worker.py -t flow_internals -i 0 [--topic TOPIC] [-p N] [-c CONF]

The topic is the pipeline's own (SPOT-INGEST-<dbname>-<pipeline>, or pipelines.<name>.topic),
the one its master publishes to; --topic names another (e.g. one made by an earlier version).
"""
from __future__ import annotations

from common import early

early.start()  # first: stop signals held from here on, the project's .venv entered

from common.cli import (ArgumentParser, add_config_argument, add_pipeline_argument,
                        non_negative_int, pipeline_from_args, positive_int, run,
                        stop_on_signals)
from common.kafka_io import check_topic_name
from common.worker import run_worker


def main() -> int:
    parser = ArgumentParser(prog="worker.py", description=__doc__.splitlines()[0])
    add_pipeline_argument(parser)
    parser.add_argument("-i", "--id", required=True, type=non_negative_int, dest="worker_id",
                        help="worker id = the partition it reads (starts at 0)")
    parser.add_argument("--topic", "-top", default=None,
                        help="topic to read (default: the pipeline's, as its master uses)")
    parser.add_argument("-p", "--parallel", type=positive_int, default=1,
                        help="files decoded at once by this worker (default 1)")
    add_config_argument(parser)
    args = parser.parse_args()
    config, pipeline = pipeline_from_args(args, "worker")
    topic = check_topic_name(args.topic) if args.topic else config.topic_of(pipeline.name)
    return run_worker(config, pipeline, args.worker_id, topic, args.parallel, stop_on_signals)


if __name__ == "__main__":
    run(main)
