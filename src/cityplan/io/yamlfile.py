"""Read the project's human-edited YAML files (catalog, register, presets, rules, recipes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from cityplan._errors import LayerNotFoundError, SchemaError


def load_yaml(path: str | os.PathLike[str], *, what: str) -> Any:
    """Parse ``path``; :class:`LayerNotFoundError` if missing, :class:`SchemaError` if not YAML."""
    p = Path(path)
    if not p.exists():
        msg = f"{p}: {what} not found"
        raise LayerNotFoundError(msg)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"{p}: {what} is not valid YAML ({exc})"
        raise SchemaError(msg) from None
