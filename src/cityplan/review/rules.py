"""Review rules as data (``layers/review_rules.yaml``)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan._errors import SchemaError
from cityplan.io.yamlfile import load_yaml
from cityplan.paths import project_root

RELATIONS = ("intersects", "within_distance", "must_be_inside")
SEVERITIES = ("forbidden", "needs_approval", "note")
_KEYS = {"id", "title_zh", "title_en", "layers", "where", "relation", "distance_m", "severity",
         "citation", "illustrative"}


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
    """Rules and the file's sha256 (recorded in every report)."""
    p = Path(path) if path else default_rules_path()
    raw = load_yaml(p, what="review rules file") or {}
    text = p.read_text(encoding="utf-8")
    rules, seen = [], set()
    for i, r in enumerate(raw.get("rules", [])):
        where = f"{p}: rule #{i} ({r.get('id', '?')})"
        extra = set(r) - _KEYS
        if extra:
            msg = f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(_KEYS)}"
            raise SchemaError(msg)
        for k in ("id", "title_zh", "title_en", "layers", "relation", "severity", "citation"):
            if k not in r:
                msg = f"{where}: missing {k!r}"
                raise SchemaError(msg)
        if r["relation"] not in RELATIONS:
            msg = f"{where}: relation {r['relation']!r} is not one of {RELATIONS}"
            raise SchemaError(msg)
        if r["severity"] not in SEVERITIES:
            msg = f"{where}: severity {r['severity']!r} is not one of {SEVERITIES}"
            raise SchemaError(msg)
        if r["relation"] == "within_distance" and not float(r.get("distance_m", 0)) > 0:
            msg = f"{where}: within_distance needs a positive distance_m"
            raise SchemaError(msg)
        if r["id"] in seen:
            msg = f"{where}: duplicate rule id {r['id']!r}"
            raise SchemaError(msg)
        seen.add(r["id"])
        rules.append(Rule(id=r["id"], title_zh=r["title_zh"], title_en=r["title_en"],
                          layers=tuple(r["layers"]), relation=r["relation"], severity=r["severity"],
                          citation=r["citation"], distance_m=float(r.get("distance_m", 0)),
                          where=dict(r.get("where") or {}), illustrative=bool(r.get("illustrative"))))
    if not rules:
        msg = f"{p}: no rules"
        raise SchemaError(msg)
    return rules, hashlib.sha256(text.encode()).hexdigest()
