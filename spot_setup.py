#!/usr/bin/env python3
"""Creates <hdfs_app_path>/{flow,dns,proxy}/{binary,hive,stage}, the Hive database and the
flow, dns and proxy tables. Idempotent: says what it created and what already existed.

    python spot_setup.py [-c CONF]
"""
from __future__ import annotations

from common import early

early.start()  # first: stop signals held from here on, the project's .venv entered

from common.cli import ArgumentParser, add_config_argument, config_from_args, run
from common.setup import setup_all


def main() -> int:
    early.default_handlers()      # a short-lived tool: Ctrl-C simply ends it
    parser = ArgumentParser(prog="spot_setup.py", description=__doc__.splitlines()[0])
    add_config_argument(parser)
    args = parser.parse_args()
    config = config_from_args(args, "setup")
    for line in setup_all(config):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    run(main)
