"""Map recipes (``maps/*.yaml`` of a city profile): which layers, in which groups, styled how."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from cityplan._errors import LayerNotFoundError
from cityplan.profile import Profile
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

    path: Traversable
    id: str
    title_zh: str
    title_en: str
    groups: tuple[dict[str, str], ...]
    layers: tuple[RecipeLayer, ...]
    minimap: tuple[str, ...] = ()


#: the recipes' folder in a profile
RECIPES_DIR = "maps"


def load_labels(profile: Profile) -> dict[str, str]:
    """Field labels shared by every map of the city (``maps/labels.yaml`` of its profile)."""
    rel = f"{RECIPES_DIR}/labels.yaml"
    return profile.memo("labels", lambda: load_labels_document(profile.file(rel)) if profile.has(rel) else {})


def recipe_names(profile: Profile) -> list[str]:
    """Ids of the profile's recipes (``maps/*.yaml`` but the labels)."""
    folder = profile.file(RECIPES_DIR)
    if not folder.is_dir():
        return []
    return sorted(x.name.removesuffix(".yaml") for x in folder.iterdir()
                  if x.name.endswith(".yaml") and x.name != "labels.yaml")


def load_recipe(name: str | os.PathLike[str], profile: Profile | None = None) -> Recipe:
    """The recipe ``name`` of ``profile`` (``maps/NAME.yaml``), or a recipe file given by path.

    Validated against :mod:`cityplan.schema.recipes`; :class:`LayerNotFoundError` naming the
    profile's recipes when there is no such recipe.
    """
    text = os.fspath(name)
    if Path(text).suffix or profile is None:
        p: Traversable = Path(text)
    else:
        p = profile.file(f"{RECIPES_DIR}/{text}.yaml")
    if not p.is_file():
        known = recipe_names(profile) if profile is not None else []
        where = profile.label if profile is not None else "no profile given"
        msg = f"map recipe {text!r} not found ({where}); known recipes: {known}"
        raise LayerNotFoundError(msg)
    if profile is not None and not Path(text).suffix:
        return profile.memo(f"recipe:{text}", lambda: _recipe(p))
    return _recipe(p)


def _recipe(p: Traversable) -> Recipe:
    doc = load_recipe_document(p)
    layers = tuple(RecipeLayer(
        layer=m.layer, plan_layers=bool(m.plan_layers), group=m.group_id, show=m.show, style=dict(m.style),
        fields=tuple(m.fields), simplify_m=float(m.simplify_m), filter=dict(m.filter), within=m.within,
        title=m.title) for m in doc.layers)
    return Recipe(path=p, id=doc.id or p.name.removesuffix(".yaml"), title_zh=doc.title_zh, title_en=doc.title_en,
                  groups=tuple(g.model_dump() for g in doc.groups), layers=layers, minimap=tuple(doc.minimap))
