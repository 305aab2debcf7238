"""What every entry script shares: argument parsing that fails in one line, loading the
configuration, logging, and the edge where project errors become exit codes."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, NoReturn

from common import early, kerberos, logs
from common.config import IngestConfig, PipelineConfig, load_config, resolve_config_path
from common.errors import SpotIngestError, describe

class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line and exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message}\n")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """-c/--config, and the logging flags every entry point takes."""
    parser.add_argument("-c", "--config", metavar="PATH", default=None,
                        help="configuration file (default: $SPOT_INGEST_CONF, "
                             "else ingest_conf.json beside the scripts)")
    parser.add_argument("--log-level", choices=logs.LEVELS, default=None,
                        help="the logging level (default: the logging configuration's)")
    parser.add_argument("--log-config", metavar="PATH", default=None,
                        help="a YAML logging configuration (default: log_config in the "
                             "configuration, else logging.yaml beside the scripts)")


def add_pipeline_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--type", required=True, metavar="PIPELINE",
                        help="pipeline configuration name from ingest_conf.json")


def pipeline_from_args(args: argparse.Namespace,
                       role: str) -> tuple[IngestConfig, PipelineConfig]:
    """Loads the configuration, sets up logging and picks the -t pipeline from it."""
    config = config_from_args(args, role)
    pipeline = config.pipeline(args.type)
    logs.set_context(pipeline=pipeline.name)
    return config, pipeline


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


def config_from_args(args: argparse.Namespace, role: str = "-") -> IngestConfig:
    """Loads the configuration, sets up logging from the flags or the configuration, then
    Kerberos (kinit from the keytab when KRB_AUTH is set), before anything connects."""
    config = load_config(resolve_config_path(args.config))
    logs.configure(getattr(args, "log_config", None) or config.log_config,
                   getattr(args, "log_level", None), role)
    kerberos.configure(config)
    return config


def stop_on_signals(stop: Callable[..., None]) -> None:
    """Ctrl-C, SIGTERM and SIGHUP (tmux kill-session, a closed terminal) all ask for a clean
    stop: in-flight work is finished or left for the next run, never lost. A signal that
    arrived during start-up (held by common.early) is handed on now."""
    early.hand_over(stop)


def where(exc: BaseException) -> str:
    """Where an unexpected error came from: the last frame of ours and the frame it was
    raised in, so one line is enough to find it."""
    import os
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ours = [f for f in frames if f.filename.startswith(root) and "/.venv/" not in f.filename]
    picked = ([ours[-1]] if ours else []) + ([frames[-1]] if frames[-1] not in ours else [])

    def name(frame) -> str:
        path = frame.filename
        path = os.path.relpath(path, root) if path.startswith(root) else os.path.basename(path)
        return f"{path}:{frame.lineno} {frame.name}"

    return ", raised in ".join(name(f) for f in picked)


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
        print(f"error: unexpected {describe(exc)} ({where(exc)})", file=sys.stderr)
        code = 1
    early.ignore_from_now()          # done: a late stop signal must not change the exit status
    sys.exit(code)
