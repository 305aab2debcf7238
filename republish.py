#!/usr/bin/env python3
"""Publishes a pipeline's quarantined binaries (flow, dns) again to its topic: all of them,
those of a time range (the hour they belong to), or those matching a name. A binary loaded
twice replaces its own rows, so a repeated republish doubles nothing.

    python republish.py -t flow_internals (--all | --name PATTERN | --from HOUR --to HOUR)
                        [--dry-run] [--topic TOPIC] [-c CONF]

HOUR is YYYY-MM-DDTHH (or a day, YYYY-MM-DD); PATTERN a glob on the collected or stored name
(--name may be given several times). --dry-run lists what would be sent and changes nothing.
"""
from __future__ import annotations

from common import early

early.start()  # first: stop signals held from here on, the project's .venv entered

from common.cli import (ArgumentParser, add_config_argument, add_pipeline_argument,
                        pipeline_from_args, run)
from common.kafka_io import check_topic_name
from common.republish import Choice, parse_hour, republish
from common.storage import open_storage


def main() -> int:
    early.default_handlers()      # a short-lived tool: Ctrl-C simply ends it
    parser = ArgumentParser(prog="republish.py", description=__doc__.splitlines()[0])
    add_pipeline_argument(parser)
    parser.add_argument("--all", action="store_true", help="every quarantined binary")
    parser.add_argument("--name", action="append", default=[], metavar="PATTERN",
                        help="a glob on the collected or stored name (repeatable)")
    parser.add_argument("--from", dest="since", metavar="HOUR", default=None,
                        help="binaries of this hour or later (YYYY-MM-DDTHH)")
    parser.add_argument("--to", dest="until", metavar="HOUR", default=None,
                        help="binaries of this hour or earlier (YYYY-MM-DDTHH)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be sent; change nothing")
    parser.add_argument("--topic", "-top", default=None,
                        help="topic to publish to (default: the pipeline's own)")
    add_config_argument(parser)
    args = parser.parse_args()
    if not (args.all or args.name or args.since or args.until):
        parser.error("say which binaries: --all, --name PATTERN, or --from/--to HOUR")
    config, pipeline = pipeline_from_args(args, "republish")
    choose = Choice(tuple(args.name), parse_hour(args.since) if args.since else None,
                    parse_hour(args.until) if args.until else None)
    topic = check_topic_name(args.topic) if args.topic else config.topic_of(pipeline.name)
    outcomes = republish(config, pipeline, open_storage(config), topic, choose, args.dry_run)
    verb = "would publish" if args.dry_run else "published"
    for o in outcomes:
        q = o.item
        if o.missing:
            print(f"{q.name}: missing (neither {q.quarantined_at} nor {q.stored_path} "
                  "exists); its reason stays")
            continue
        where = f"{topic}[{o.partition}]" + ("" if o.offset is None else f" offset {o.offset}")
        print(f"{q.name}: {verb} {q.stored_path} to {where} (quarantined: {q.reason})")
    sent = sum(1 for o in outcomes if not o.missing)
    print(f"{pipeline.name}: {sent} binar{'y' if sent == 1 else 'ies'} {verb}, "
          f"{len(outcomes) - sent} missing")
    return 0


if __name__ == "__main__":
    run(main)
