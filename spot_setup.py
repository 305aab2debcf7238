#!/usr/bin/env python3
"""Creates <hdfs_app_path>/{flow,dns,proxy}/{binary,hive,stage}, the Hive database and the
flow, dns and proxy tables. Idempotent: says what it created and what already existed.

    python spot_setup.py [-c CONF]
"""
from __future__ import annotations

from common.cli import ArgumentParser, add_config_argument, config_from_args, run
from common.setup import setup_all


def main() -> int:
    parser = ArgumentParser(prog="spot_setup.py", description=__doc__.splitlines()[0])
    add_config_argument(parser)
    args = parser.parse_args()
    config = config_from_args(args, "setup")
    for line in setup_all(config):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    run(main)
