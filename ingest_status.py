#!/usr/bin/env python3
"""Is a pipeline keeping up, what failed, where is its data: per topic partition the end
offset, the offset its worker committed, the lag and whether the worker is active; files
waiting in the collector folder and set aside with their reasons; the newest partitions of
its table with their rows (from Parquet footers).

    python ingest_status.py [-t PIPELINE | --topic TOPIC] [--json] [--watch SECONDS] [-c CONF]

Exit codes: 0 the services answered, 1 bad arguments or configuration, 2 a service does not
answer (one line says which).
"""
from __future__ import annotations

from common import early

early.start()  # first: stop signals held from here on, the project's .venv entered

import json
import sys
import time

from common.cli import (ArgumentParser, add_config_argument, config_from_args, positive_int,
                        run)
from common.kafka_io import check_topic_name
from common.status import (PipelineStatus, ServiceDown, pipeline_of_topic, pipeline_status,
                           pipeline_topics, topic_only_status)
from common.storage import open_storage


def render(status: PipelineStatus):
    """The status as rich renderables (tables) for a terminal."""
    from rich.console import Group
    from rich.table import Table

    parts = []
    for topic in status.topics:
        table = Table(title=f"{status.pipeline}: topic {topic.topic} (lag {topic.lag:,})",
                      title_justify="left")
        for column in ("partition", "end offset", "committed", "lag", "worker", "last seen",
                       "metrics"):
            table.add_column(column, justify="left" if column in ("worker", "metrics")
                             else "right")
        for p in topic.partitions:
            seen = "-" if p.last_seen_seconds is None else f"{p.last_seen_seconds:.0f} s ago"
            worker = (p.worker or "-") + ("" if p.active else " (not active)")
            table.add_row(str(p.partition), f"{p.end_offset:,}",
                          "-" if p.committed is None else f"{p.committed:,}", f"{p.lag:,}",
                          worker, seen, p.metrics or "-")
        parts.append(table)
    if not status.topics:
        parts.append(f"{status.pipeline}: its topic does not exist yet (is its master "
                     "running?)")
    folder = status.collector
    if folder is not None and not folder.here:
        parts.append(f"collector {folder.path}: not on this host (run ingest_status.py on "
                     "the collector host to see its waiting files and its master)")
    elif folder is not None:
        oldest = "" if folder.oldest_age_seconds is None else \
            f", oldest {folder.oldest_age_seconds:.0f} s"
        parts.append(f"collector {folder.path}: {folder.waiting} file(s) waiting{oldest}")
        master = folder.master
        parts.append("master: none running" if master is None else
                     f"master: pid {master.get('pid')} on {master.get('host')}, topic "
                     f"{master.get('topic')}" +
                     (f", metrics {master['metrics']}" if master.get("metrics") else ""))
        for title, items in (("set aside by the master", folder.set_aside),
                             ("quarantined by the workers", status.quarantine)):
            if items:
                aside = Table(title=f"{title} ({len(items)})", title_justify="left")
                aside.add_column("file")
                aside.add_column("reason")
                for item in items[-10:]:
                    aside.add_row(item.name, item.reason)
                parts.append(aside)
    if status.rejected_lines is not None:
        parts.append(f"proxy lines rejected: {status.rejected_lines:,}")
    for tstatus in status.tables:
        if not tstatus.exists:
            parts.append(f"table {tstatus.table} does not exist yet (python3 spot_setup.py "
                         "creates it)")
            continue
        table = Table(title=f"table {tstatus.table}: {tstatus.partitions} partition(s), newest",
                      title_justify="left")
        for column in ("partition", "files", "rows", f"newest {tstatus.newest_of}"):
            table.add_column(column, justify="right" if column in ("files", "rows") else "left")
        for p in tstatus.newest:
            table.add_row("/".join(p.values), str(p.files), f"{p.rows:,}", p.newest or "-")
        parts.append(table)
    return Group(*parts)


def main() -> int:
    early.default_handlers()      # a short-lived tool: Ctrl-C simply ends it
    parser = ArgumentParser(prog="ingest_status.py", description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--type", metavar="PIPELINE", default=None,
                        help="pipeline configuration name from ingest_conf.json")
    parser.add_argument("--topic", "-top", default=None,
                        help="this topic only (default: the pipeline's own, and the topics an "
                             "earlier version made for it that still hold unread messages)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--watch", type=positive_int, metavar="SECONDS", default=None,
                        help="refresh every SECONDS until Ctrl-C")
    add_config_argument(parser)
    args = parser.parse_args()
    if not args.type and not args.topic:
        parser.error("one of -t/--type PIPELINE or --topic TOPIC is required")
    config = config_from_args(args, "status")
    topic = check_topic_name(args.topic) if args.topic else None
    pipeline = config.pipeline(args.type) if args.type else pipeline_of_topic(config, topic)
    storage = open_storage(config)

    def collect() -> PipelineStatus:
        if pipeline is None:
            return topic_only_status(config, topic)
        topics = [topic] if topic else pipeline_topics(config, pipeline, storage)
        return pipeline_status(config, pipeline, storage, topics)

    try:
        if args.json:
            print(json.dumps(collect().to_json(), indent=2))
            return 0
        from rich.console import Console
        from rich.live import Live

        console = Console()
        if not args.watch:
            console.print(render(collect()))
            return 0
        if not console.is_terminal:          # into a pipe or a file: one block per refresh
            while True:
                console.print(render(collect()))
                console.print(f"-- {time.strftime('%Y-%m-%d %H:%M:%S')}, next in "
                              f"{args.watch} s", highlight=False)
                console.file.flush()
                time.sleep(args.watch)
        with Live(render(collect()), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(args.watch)
                live.update(render(collect()), refresh=True)
    except ServiceDown as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    run(main)
