"""Review rules as data (``review_rules.yaml`` of a city profile; schema: :mod:`cityplan.schema.rules`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from cityplan.profile import Profile, profile_file
from cityplan.schema.rules import (
    PROJECT_TYPES,
    RELATIONS,
    SEVERITIES,
    ParcelColumns,
    load_landuse_compat_document,
    load_rules_document,
)

__all__ = ["PROJECT_TYPES", "RELATIONS", "SEVERITIES", "LandUseCompat", "Outcome", "Rule", "load_landuse_compat",
           "load_rules"]

#: the rules' file in a profile folder (a profile without one has no rules: nothing is checked)
RULES_FILE = "review_rules.yaml"


@dataclass(frozen=True)
class Outcome:
    """A rule's outcome for one project type."""

    severity: str
    condition: str = ""
    citation: str = ""
    max_share: float | None = None
    over_severity: str = "forbidden"


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
    role: str | None = None
    statutory: bool = False
    label_fields: tuple[str, ...] = ()
    by_type: dict[str, Outcome] = field(default_factory=dict)
    parcels: dict[str, Any] | None = None
    #: the folder of the rules file (files a rule names, e.g. its land-use table, are relative to it)
    base_dir: Traversable | None = None

    def outcome(self, project_type: str) -> Outcome:
        """The outcome for ``project_type`` (the rule's default severity when the type is not listed)."""
        return self.by_type.get(project_type) or Outcome(severity=self.severity)


@dataclass(frozen=True)
class LandUseCompat:
    """Land-use classes (national classification codes) and the project types each allows."""

    source: str
    classes: dict[str, tuple[str, tuple[str, ...]]]

    def lookup(self, code: object) -> tuple[str, str, tuple[str, ...]] | None:
        """``(matched code, class name, allowed types)`` for ``code`` or its nearest listed parent."""
        c = str(code).strip()
        if c.endswith(".0"):
            c = c[:-2]
        if c.isdigit() and len(c) % 2:
            c = "0" + c  # 0701 read as the number 701
        while c:
            if c in self.classes:
                name, allows = self.classes[c]
                return c, name, allows
            c = c[:-2] if len(c) > 2 else ""
        return None


#: parsed rule files by (path, sha256): a server reviews many red lines against one file
_PARSED: dict[tuple[str, str], list[Rule]] = {}


def _sha256(p: Traversable) -> str:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return ""  # load_rules_document names the problem


def load_rules(source: Profile | str | os.PathLike[str] | Traversable) -> tuple[list[Rule], str]:
    """Rules of a profile (or of a rules file) and the file's sha256 (recorded in every report).

    A profile without a rules file has no rules (``([], "")``): reviews then say that nothing
    was checked. :class:`SchemaError` if malformed. A file parsed before with the same content
    (sha256) is not parsed again.
    """
    if isinstance(source, Profile):
        rules, sha = source.memo("rules", lambda: _load_rules_file(source.file(RULES_FILE), source.root)
                                 if source.has(RULES_FILE) else ([], ""))
        return list(rules), sha
    p = profile_file(source, RULES_FILE)
    return _load_rules_file(p, p.parent if isinstance(p, Path) else None)


def _load_rules_file(p: Traversable, base_dir: Traversable | None) -> tuple[list[Rule], str]:
    sha = _sha256(p)
    key = (str(p.resolve()) if isinstance(p, Path) else f"{p}@{id(p)}", sha)
    if sha and key in _PARSED:
        return list(_PARSED[key]), sha
    doc = load_rules_document(p)
    rules = [Rule(id=r.id, title_zh=r.title_zh, title_en=r.title_en, layers=tuple(r.layers), relation=r.relation,
                  severity=r.severity, citation=r.citation, distance_m=float(r.distance_m), where=dict(r.where),
                  illustrative=r.illustrative, role=r.role, statutory=r.statutory,
                  label_fields=tuple(r.label_fields),
                  by_type={t: Outcome(**o.model_dump()) for t, o in r.by_type.items()},
                  parcels=(r.parcels or ParcelColumns()).model_dump() if r.relation == "parcel_controls" else None,
                  base_dir=base_dir) for r in doc.rules]
    after = _sha256(p)
    if after == sha and sha:
        if len(_PARSED) > 16:
            _PARSED.clear()
        _PARSED[key] = rules
    return list(rules), after


def load_landuse_compat(path: str | os.PathLike[str] | Traversable) -> LandUseCompat:
    """The compatibility table at ``path`` (:class:`SchemaError` if malformed)."""
    doc = load_landuse_compat_document(path)
    return LandUseCompat(source=doc.source, classes={k: (v.name, tuple(v.allows)) for k, v in doc.classes.items()})
