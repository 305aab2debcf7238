"""Logging, configured in one place from a YAML file (logging.yaml beside the scripts by
default): handlers, levels and destinations there; every line carries the process's role
and pipeline, which the entry points set here."""
from __future__ import annotations

import logging
import logging.config
import os
from pathlib import Path

from common.errors import ConfigError

DEFAULT_LOG_CONFIG = Path(__file__).resolve().parent.parent / "logging.yaml"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_context = {"role": "-", "pipeline": "-"}
_applied: list[str] = []


class ContextFilter(logging.Filter):
    """Adds role and pipeline to every record (the format may name them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = _context["role"]
        record.pipeline = _context["pipeline"]
        return True


def set_context(role: str | None = None, pipeline: str | None = None) -> None:
    if role is not None:
        _context["role"] = role
    if pipeline is not None:
        _context["pipeline"] = pipeline


def configure(path: str | os.PathLike | None = None, level: str | None = None,
              role: str | None = None) -> Path:
    """Applies the YAML logging configuration at `path` (the shipped one when None), then
    `level` on the root logger when given. ConfigError, one line, for a file that cannot be
    read or applied. Returns the file applied."""
    import yaml

    set_context(role=role)
    path = Path(path) if path else DEFAULT_LOG_CONFIG
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the logging configuration: "
                          f"{exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the logging configuration must be a mapping")
    for handler in (data.get("handlers") or {}).values():
        filename = handler.get("filename") if isinstance(handler, dict) else None
        if filename and not os.path.isabs(filename):
            handler["filename"] = str(path.parent / filename)
            Path(handler["filename"]).parent.mkdir(parents=True, exist_ok=True)
    try:
        logging.config.dictConfig(data)
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        raise ConfigError(f"{path}: the logging configuration cannot be applied: "
                          f"{str(exc).splitlines()[0]}") from None
    if level:
        logging.getLogger().setLevel(level)
    _applied[:] = [str(path)]
    return path


def applied_config() -> str | None:
    """The file configure() applied last (child processes apply the same)."""
    return _applied[0] if _applied else None
