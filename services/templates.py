"""Configuration templates of the local stack (services/conf/), rendered into its state
folder with their {{...}} placeholders filled in. The same templates serve a daemon on another
address (tests/cluster/ renders them for hosts of their own): HOST is the address a daemon
listens on and advertises, NAMENODE the NameNode's, STATE the folder of its data."""
from __future__ import annotations

import getpass
import re
from pathlib import Path

from supervise import HOST, STATE, StackError

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def defaults() -> dict[str, str]:
    """The values of the local stack: everything on loopback, state under var/stack/."""
    return {"STATE": str(STATE), "USER": getpass.getuser(), "HOST": HOST, "NAMENODE": HOST,
            "WAREHOUSE": f"file://{STATE}/metastore/warehouse", "DEFAULT_FS": "file:///"}


def fill(text: str, values: dict[str, str], name: str = "template") -> str:
    """Every {{KEY}} replaced by its value; a placeholder without a value is an error."""
    def value(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise StackError(f"{name}: no value for the placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(value, text)


def render(template: Path, target: Path, values: dict[str, str] | None = None) -> Path:
    """Copies a template from services/conf with its {{...}} placeholders filled in (the local
    stack's values unless others are given)."""
    text = fill(template.read_text(), {**defaults(), **(values or {})}, template.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text() != text:
        target.write_text(text)
    return target
