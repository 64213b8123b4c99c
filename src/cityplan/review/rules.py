"""Review rules as data (``layers/review_rules.yaml``; schema: :mod:`cityplan.schema.rules`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan.paths import project_root
from cityplan.schema.rules import RELATIONS, SEVERITIES, load_rules_document

__all__ = ["RELATIONS", "SEVERITIES", "Rule", "default_rules_path", "load_rules"]


@dataclass(frozen=True)
class Rule:
    """One constraint check."""

    id: str
    title_zh: str
    title_en: str
    layers: tuple[str, ...]
    relation: str
    severity: str
    citation: str
    distance_m: float = 0.0
    where: dict[str, list[Any]] = field(default_factory=dict)
    illustrative: bool = False


def default_rules_path() -> Path:
    """``layers/review_rules.yaml``."""
    return project_root() / "layers" / "review_rules.yaml"


def load_rules(path: str | os.PathLike[str] | None = None) -> tuple[list[Rule], str]:
    """Rules and the file's sha256 (recorded in every report); :class:`SchemaError` if malformed."""
    p = Path(path) if path else default_rules_path()
    doc = load_rules_document(p)
    rules = [Rule(id=r.id, title_zh=r.title_zh, title_en=r.title_en, layers=tuple(r.layers), relation=r.relation,
                  severity=r.severity, citation=r.citation, distance_m=float(r.distance_m), where=dict(r.where),
                  illustrative=r.illustrative) for r in doc.rules]
    return rules, hashlib.sha256(p.read_text(encoding="utf-8").encode()).hexdigest()
