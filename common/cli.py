"""What every entry script shares: argument parsing that fails in one line, loading the
configuration, logging, and the edge where project errors become exit codes."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable, NoReturn

from common.config import IngestConfig, PipelineConfig, load_config, resolve_config_path
from common.errors import SpotIngestError, describe

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line and exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message}\n")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="PATH", default=None,
                        help="configuration file (default: $SPOT_INGEST_CONF, "
                             "else ingest_conf.json beside the scripts)")


def add_pipeline_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--type", required=True, metavar="PIPELINE",
                        help="pipeline configuration name from ingest_conf.json")


def pipeline_from_args(args: argparse.Namespace) -> tuple[IngestConfig, PipelineConfig]:
    """Sets up logging, loads the configuration and picks the -t pipeline from it."""
    setup_logging()
    config = config_from_args(args)
    return config, config.pipeline(args.type)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    return load_config(resolve_config_path(args.config))


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    for noisy in ("hdfs", "urllib3", "py4j", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python logs a broker outage ten times a second and thrift every failed connect;
    # our own error lines (send not acknowledged, commit failed, ...) say it once.
    for chatty in ("kafka", "thrift"):
        logging.getLogger(chatty).setLevel(logging.CRITICAL)


def stop_on_signals(stop: Callable[..., None]) -> None:
    """Ctrl-C, SIGTERM and SIGHUP (tmux kill-session, a closed terminal) all ask for a clean
    stop: in-flight work is finished or left for the next run, never lost."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


def run(main: Callable[[], int | None]) -> NoReturn:
    """Runs an entry point: project errors are one line on stderr and exit code 1."""
    try:
        code = main() or 0
    except SpotIngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - the edge: one line, the details in the debug log
        logging.getLogger("spot").debug("unexpected error", exc_info=True)
        print(f"error: unexpected {describe(exc)}", file=sys.stderr)
        code = 1
    sys.exit(code)
