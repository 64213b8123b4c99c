"""Schema of map recipes (``maps/*.yaml``) and field labels (``maps/labels.yaml``).

A recipe: ``id``, titles, ``groups`` (``{id, title}``), ``layers`` and ``minimap`` (catalog ids).
Each layer entry names exactly one of ``layer`` (a catalog id) or ``plan_layers: true`` (every plan
layer), a ``group`` declared in ``groups`` (default ``plan`` for plan layers, else ``base``), and
optional ``show``, ``style``, ``fields``, ``simplify_m`` (>= 0), ``filter`` (``{column: value}``,
``{task}`` is replaced by the task id), ``within: district`` and ``title``. Parsed by
:mod:`cityplan.maps.recipes`.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import ConfigDict, Field, RootModel, model_validator

from cityplan._errors import SchemaError
from cityplan.schema._base import StrictModel, load_document
from cityplan.schema._yaml import load_yaml


class GroupModel(StrictModel):
    """A layer group of the map's layer control."""

    id: str
    title: str


class RecipeLayerModel(StrictModel):
    """One entry of a recipe."""

    layer: str | None = None
    plan_layers: Literal[True] | None = None
    group: str | None = None
    show: bool = True
    style: dict[str, Any] = {}
    fields: list[str] = []
    simplify_m: float = Field(default=0.25, ge=0)
    filter: dict[str, str] = {}
    within: Literal["district"] | None = None
    title: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RecipeLayerModel:
        if (self.layer is None) == (self.plan_layers is None):
            msg = "give exactly one of 'layer' (a catalog id) or 'plan_layers: true'"
            raise ValueError(msg)
        return self

    @property
    def group_id(self) -> str:
        """The entry's group (default ``plan`` for plan layers, else ``base``)."""
        return self.group or ("plan" if self.plan_layers else "base")


class RecipeModel(StrictModel):
    """A whole recipe file."""

    id: str | None = None
    title_zh: str = ""
    title_en: str = ""
    description: str | None = None
    groups: list[GroupModel] = []
    layers: list[RecipeLayerModel] = []
    minimap: list[str] = []


class LabelsModel(RootModel[dict[str, str]]):
    """``maps/labels.yaml``: popup label per attribute name."""

    model_config = ConfigDict(strict=True)


def load_recipe_document(path: str | os.PathLike[str]) -> RecipeModel:
    """Read and validate a recipe (every layer's group is one of the recipe's groups).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the entry and field.
    """
    doc = load_document(path, RecipeModel, what="map recipe")
    group_ids = [g.id for g in doc.groups]
    for i, item in enumerate(doc.layers):
        if item.group_id not in group_ids:
            name = item.layer or "plan_layers"
            msg = (f"{path}: layer #{i} ({name}): group {item.group_id!r} is not one of the recipe's "
                   f"groups {sorted(group_ids)}; add it under 'groups' or fix the name")
            raise SchemaError(msg)
    return doc


def load_labels_document(path: str | os.PathLike[str]) -> dict[str, str]:
    """Field labels (``{attribute: label}``); an empty file gives no labels."""
    if load_yaml(path, what="labels file") is None:
        return {}
    return dict(load_document(path, LabelsModel, what="labels file").root)
