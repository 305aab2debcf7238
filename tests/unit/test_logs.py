"""Logging from the YAML configuration: the shipped file, another file, bad files."""
from __future__ import annotations

import logging

import pytest

from common import logs
from common.errors import ConfigError


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    logs.configure(None, None, "-")


def test_a_file_destination_with_role_and_pipeline(tmp_path):
    config = tmp_path / "log.yaml"
    config.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "filters: {context: {(): common.logs.ContextFilter}}\n"
        "formatters: {line: {format: '%(levelname)s %(role)s %(pipeline)s %(message)s'}}\n"
        "handlers:\n"
        "  file: {class: logging.handlers.RotatingFileHandler, filename: logs/x.log,\n"
        "         maxBytes: 1000000, backupCount: 2, formatter: line, filters: [context]}\n"
        "root: {level: WARNING, handlers: [file]}\n")
    assert logs.configure(config, "INFO", "worker-3") == config
    logs.set_context(pipeline="flow_internals")
    logging.getLogger("spot.worker").info("nfcapd.201601040900: 300 rows in 0.12 s")
    logging.getLogger("spot.worker").debug("not at INFO")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert (tmp_path / "logs" / "x.log").read_text() == \
        "INFO worker-3 flow_internals nfcapd.201601040900: 300 rows in 0.12 s\n"
    assert logs.applied_config() == str(config)


def test_the_shipped_configuration_applies():
    assert logs.configure(None, None, "master") == logs.DEFAULT_LOG_CONFIG
    assert logging.getLogger("kafka").level == logging.CRITICAL


@pytest.mark.parametrize("text, message", [
    ("version: 1\nhandlers: {x: {class: no.such.Handler}}\nroot: {handlers: [x]}\n",
     "the logging configuration cannot be applied: Unable to configure handler 'x'"),
    ("version: [1\n", "invalid YAML: while parsing a flow sequence"),
    ("- a\n- b\n", "the logging configuration must be a mapping"),
])
def test_bad_logging_configurations_are_one_line(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        logs.configure(config)
    assert str(info.value) == f"{config}: {message}"
