"""Schema of the review rules (``review_rules.yaml`` of the city profile) and the land-use compatibility table
(``landuse_compat.yaml`` of the city profile); parsed by :mod:`cityplan.review.rules`.

``rules``: a non-empty list; each rule has a unique ``id``, titles, the constraint layers — either
``layers`` (catalog ids, merged) or ``role`` (every layer declaring that functional role; a rule
whose role no layer declares is reported as *not checked*) — a ``relation`` (``intersects``,
``within_distance`` with a positive ``distance_m``, ``must_be_inside``, ``parcel_controls`` for
控规 parcels), a default ``severity`` (``forbidden``, ``needs_approval``, ``note``), a ``citation``,
an optional attribute filter ``where: {column: [values]}``, ``illustrative``, ``statutory`` (a
statutory control line the review says it did or did not check), ``label_fields`` (columns naming
an overlapped feature) and ``by_type``: per project type an outcome (``severity``, ``condition``,
``citation``, ``max_share`` of each overlapped feature's area with ``over_severity`` above it).

The compatibility table maps codes of 《国土空间调查、规划、用途管制用地用海分类指南》 to the
project types each class allows.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cityplan.schema._base import StrictModel, check_unique_ids, load_document
from cityplan.schema.catalog import FUNCTIONS

RELATIONS = ("intersects", "within_distance", "must_be_inside", "parcel_controls")
SEVERITIES = ("forbidden", "needs_approval", "note")
#: project types a proposal declares (``--type`` or a ``type`` / ``项目类型`` attribute)
PROJECT_TYPES = ("bridge", "pipeline", "road", "building", "park_facility", "sports", "school", "other")


class TypeOutcome(StrictModel):
    """What a rule means for one project type."""

    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    condition: str = ""
    citation: str = ""
    #: largest allowed share of each overlapped feature's area (0-1); above it ``over_severity``
    max_share: float | None = None
    over_severity: Literal[SEVERITIES] = "forbidden"  # type: ignore[valid-type]

    @field_validator("max_share")
    @classmethod
    def _share(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and 0 < v <= 1):
            msg = f"max_share {v!r} must be a share in (0, 1], e.g. 0.05 for 5 %"
            raise ValueError(msg)
        return v


class ParcelColumns(StrictModel):
    """Columns of a 控规 parcel layer (``relation: parcel_controls``)."""

    landuse: str = "landuse_code"
    far_max: str | None = "far_max"
    height_max: str | None = "height_max"
    #: compatibility table, relative to the rules file's folder
    compat: str = "landuse_compat.yaml"


class RuleModel(StrictModel):
    """One constraint check."""

    id: str = Field(min_length=1)
    title_zh: str
    title_en: str
    layers: list[str] = []
    role: Literal[FUNCTIONS] | None = None  # type: ignore[valid-type]
    relation: Literal[RELATIONS]  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    citation: str = Field(min_length=1)
    distance_m: float = 0.0
    where: dict[str, list[Any]] = {}
    illustrative: bool = False
    statutory: bool = False
    label_fields: list[str] = []
    by_type: dict[Literal[PROJECT_TYPES], TypeOutcome] = {}  # type: ignore[valid-type]
    parcels: ParcelColumns | None = None

    @model_validator(mode="after")
    def _checks(self) -> RuleModel:
        d = self.distance_m
        if not math.isfinite(d) or d < 0:
            msg = f"distance_m {d!r} must be a finite number >= 0"
            raise ValueError(msg)
        if self.relation == "within_distance" and not d > 0:
            msg = "within_distance needs a positive distance_m (metres), e.g. distance_m: 50"
            raise ValueError(msg)
        if bool(self.layers) == bool(self.role):
            msg = "give the constraint as either layers: [ids] or role: ROLE (one of them)"
            raise ValueError(msg)
        if self.parcels is not None and self.relation != "parcel_controls":
            msg = "parcels: only applies to relation: parcel_controls"
            raise ValueError(msg)
        return self


class RulesModel(StrictModel):
    """The whole rules file."""

    rules: list[RuleModel] = Field(min_length=1)


class LandUseClass(StrictModel):
    """One class of the national land-use classification and the project types it allows."""

    name: str = Field(min_length=1)
    allows: list[Literal[PROJECT_TYPES]] = []  # type: ignore[valid-type]


class LandUseCompatModel(StrictModel):
    """``landuse_compat.yaml`` of the city profile: code -> class; a code not listed falls back to its parent."""

    source: str = Field(min_length=1)
    classes: dict[str, LandUseClass] = Field(min_length=1)

    @field_validator("classes")
    @classmethod
    def _codes(cls, v: dict[str, LandUseClass]) -> dict[str, LandUseClass]:
        for code in v:
            if not re.fullmatch(r"\d{2}(\d{2}){0,2}", code):
                msg = f"land-use code {code!r} must be 2, 4 or 6 digits (quote it in YAML: '0701')"
                raise ValueError(msg)
        return v


def load_rules_document(path: str | os.PathLike[str]) -> RulesModel:
    """Read and validate a rules file (ids unique).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the rule and field.
    """
    doc = load_document(path, RulesModel, what="review rules file")
    check_unique_ids(doc.rules, path, "rule")
    return doc


def load_landuse_compat_document(path: str | os.PathLike[str]) -> LandUseCompatModel:
    """Read and validate a land-use compatibility table (:class:`SchemaError` if malformed)."""
    return load_document(path, LandUseCompatModel, what="land-use compatibility file")
