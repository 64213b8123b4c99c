"""Map recipes (``maps/*.yaml``): which layers, in which groups, styled how."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cityplan._errors import LayerNotFoundError, SchemaError
from cityplan.io.yamlfile import load_yaml
from cityplan.paths import project_root

_TOP = {"id", "title_zh", "title_en", "groups", "layers", "minimap", "description"}
_LAYER = {"layer", "plan_layers", "group", "show", "style", "fields", "simplify_m", "filter", "within",
          "title"}


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
    return yaml.safe_load(p.read_text(encoding="utf-8")) if p.exists() else {}


def load_recipe(name: str | os.PathLike[str]) -> Recipe:
    """Load ``maps/NAME.yaml`` (or a path) and check its keys."""
    p = Path(name)
    if not p.suffix:
        p = recipes_dir() / f"{name}.yaml"
    if not p.exists():
        known = sorted(x.stem for x in recipes_dir().glob("*.yaml") if x.stem != "labels")
        msg = f"map recipe {str(name)!r} not found ({p}); known recipes: {known}"
        raise LayerNotFoundError(msg)
    raw = load_yaml(p, what="map recipe")
    if not isinstance(raw, dict):
        msg = f"{p}: a recipe must be a mapping"
        raise SchemaError(msg)
    extra = set(raw) - _TOP
    if extra:
        msg = f"{p}: unknown key(s) {sorted(extra)}; allowed: {sorted(_TOP)}"
        raise SchemaError(msg)
    group_ids = {g["id"] for g in raw.get("groups", [])}
    layers = []
    for i, item in enumerate(raw.get("layers", [])):
        bad = set(item) - _LAYER
        if bad:
            msg = f"{p}: layer #{i}: unknown key(s) {sorted(bad)}; allowed: {sorted(_LAYER)}"
            raise SchemaError(msg)
        if ("layer" in item) == ("plan_layers" in item):
            msg = f"{p}: layer #{i}: give exactly one of 'layer' or 'plan_layers'"
            raise SchemaError(msg)
        group = item.get("group", "plan" if "plan_layers" in item else "base")
        if group not in group_ids:
            msg = f"{p}: layer #{i}: group {group!r} is not one of the recipe's groups {sorted(group_ids)}"
            raise SchemaError(msg)
        layers.append(RecipeLayer(
            layer=item.get("layer"), plan_layers=bool(item.get("plan_layers")), group=group,
            show=bool(item.get("show", True)), style=dict(item.get("style") or {}),
            fields=tuple(item.get("fields") or ()), simplify_m=float(item.get("simplify_m", 0.25)),
            filter=dict(item.get("filter") or {}), within=item.get("within"), title=item.get("title")))
    return Recipe(path=p, id=str(raw.get("id", p.stem)), title_zh=str(raw.get("title_zh", "")),
                  title_en=str(raw.get("title_en", "")), groups=tuple(raw.get("groups", ())),
                  layers=tuple(layers), minimap=tuple(raw.get("minimap", ())))
