"""Configuration templates of the local stack (services/conf/), rendered into its state
folder with their {{...}} placeholders filled in."""
from __future__ import annotations

import getpass
from pathlib import Path

from supervise import STATE


def render(template: Path, target: Path) -> Path:
    """Copies a template from services/conf with its {{...}} placeholders filled in."""
    text = template.read_text()
    for key, value in {"STATE": str(STATE), "USER": getpass.getuser()}.items():
        text = text.replace("{{%s}}" % key, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text() != text:
        target.write_text(text)
    return target
