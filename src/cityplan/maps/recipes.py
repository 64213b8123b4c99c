"""Map recipes (``maps/*.yaml``): which layers, in which groups, styled how."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan._errors import LayerNotFoundError
from cityplan.paths import project_root
from cityplan.schema.recipes import load_labels_document, load_recipe_document


@dataclass(frozen=True)
class RecipeLayer:
    """One entry of a recipe: a catalog layer id, or ``plan_layers`` (every plan layer)."""

    layer: str | None
    plan_layers: bool = False
    group: str = "base"
    show: bool = True
    style: dict[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    simplify_m: float = 0.25
    filter: dict[str, str] = field(default_factory=dict)
    within: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe."""

    path: Path
    id: str
    title_zh: str
    title_en: str
    groups: tuple[dict[str, str], ...]
    layers: tuple[RecipeLayer, ...]
    minimap: tuple[str, ...] = ()


def recipes_dir() -> Path:
    """``maps/`` of the project (``$CITYPLAN_MAPS`` overrides)."""
    env = os.environ.get("CITYPLAN_MAPS")
    return Path(env) if env else project_root() / "maps"


def load_labels() -> dict[str, str]:
    """Field labels shared by every map (``maps/labels.yaml``)."""
    p = recipes_dir() / "labels.yaml"
    return load_labels_document(p) if p.exists() else {}


def load_recipe(name: str | os.PathLike[str]) -> Recipe:
    """Load ``maps/NAME.yaml`` (or a path), validated (schema: :mod:`cityplan.schema.recipes`)."""
    p = Path(name)
    if not p.suffix:
        p = recipes_dir() / f"{name}.yaml"
    if not p.exists():
        known = sorted(x.stem for x in recipes_dir().glob("*.yaml") if x.stem != "labels")
        msg = f"map recipe {str(name)!r} not found ({p}); known recipes: {known}"
        raise LayerNotFoundError(msg)
    doc = load_recipe_document(p)
    layers = tuple(RecipeLayer(
        layer=m.layer, plan_layers=bool(m.plan_layers), group=m.group_id, show=m.show, style=dict(m.style),
        fields=tuple(m.fields), simplify_m=float(m.simplify_m), filter=dict(m.filter), within=m.within,
        title=m.title) for m in doc.layers)
    return Recipe(path=p, id=doc.id or p.stem, title_zh=doc.title_zh, title_en=doc.title_en,
                  groups=tuple(g.model_dump() for g in doc.groups), layers=layers, minimap=tuple(doc.minimap))
