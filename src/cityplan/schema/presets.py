"""Schema of the coverage presets (``coverage_presets.yaml`` of the city profile); parsed by :mod:`cityplan.coverage.presets`.

``presets``: a list of standards, each with an ``id``, titles, ``facilities``, ``method``, ``within``
(``500m``, ``1.5km``, ``15min``, ``1h``) and a ``citation``; optional ``speed_kmh``, ``season`` (a speed
preset of ``speeds.yaml`` of the city profile), ``radius_rules`` (euclid), ``target`` and ``demand``.
Ids are unique.

A facility entry names a functional **role** of the catalog (``{role: parking}``: every layer
declaring it, in catalog order, so one preset fits every city) or one **layer** id
(``{layer: parking_points}``: explicit or user presets), with an optional filter
``where: {column: [values]}``. ``demand`` is ``{role: residential}`` (the default) or
``{layer: ID}``; a plain text names a layer id.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cityplan._errors import CoverageError
from cityplan.schema._base import StrictModel, check_unique_ids, load_document
from cityplan.schema.catalog import FUNCTIONS

METHODS = ("euclid", "walk", "bike", "drive", "transit")


def _positive(v: float) -> float:
    if not (math.isfinite(v) and v > 0):
        msg = f"{v!r} must be a positive number"
        raise ValueError(msg)
    return v


@dataclass(frozen=True)
class Within:
    """A limit: metres (``unit='m'``) or seconds (``unit='s'``), with the user's text."""

    value: float
    unit: str
    text: str

    @property
    def minutes(self) -> float | None:
        """The limit in minutes for time limits."""
        return self.value / 60 if self.unit == "s" else None


def parse_within(text: str) -> Within:
    """Parse ``500m``, ``1.5km``, ``15min``, ``1h``; a number without unit is refused."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(m|km|min|h)\s*", str(text))
    if not m:
        msg = (f"--within {text!r}: give a number with a unit - metres (500m, 1.5km) or minutes "
               "(15min, 1h)")
        raise CoverageError(msg)
    v, u = float(m.group(1)), m.group(2)
    if v <= 0 or not math.isfinite(v):
        msg = f"--within {text!r}: must be a positive, finite limit (e.g. 500m, 15min)"
        raise CoverageError(msg)
    if u in ("m", "km"):
        return Within(v * (1000 if u == "km" else 1), "m", text.strip())
    return Within(v * (3600 if u == "h" else 60), "s", text.strip())



class _LayerOrRole(StrictModel):
    """Exactly one of a functional ``role`` of the catalog or a ``layer`` id."""

    role: Literal[FUNCTIONS] | None = None  # type: ignore[valid-type]
    layer: str | None = None

    @model_validator(mode="after")
    def _one(self) -> _LayerOrRole:
        if (self.role is None) == (self.layer is None):
            msg = ("give exactly one of 'role' (a functional role of the catalog, e.g. role: parks) "
                   "or 'layer' (a layer id)")
            raise ValueError(msg)
        return self


class FacilityModel(_LayerOrRole):
    """Facilities: every layer with a ``role`` (or one ``layer``) and an optional filter ``{column: [values]}``."""

    where: dict[str, list[Any]] = {}


class DemandModel(_LayerOrRole):
    """The demand: the (first) layer with a ``role`` (default ``residential``) or one ``layer``."""


class RadiusRuleModel(StrictModel):
    """Facilities of at least ``min_area_m2`` serve ``radius_m`` (first matching rule wins)."""

    min_area_m2: float = Field(ge=0)
    radius_m: float

    _r = field_validator("radius_m")(_positive)


class TargetModel(StrictModel):
    """The share a standard asks for."""

    metric: Literal["population_share", "area_share"]
    min: float = Field(gt=0, le=1)


class PresetModel(StrictModel):
    """One coverage standard."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title_zh: str
    title_en: str
    facilities: list[FacilityModel] = Field(min_length=1)
    method: Literal[METHODS]  # type: ignore[valid-type]
    within: str
    citation: str = Field(min_length=1)
    speed_kmh: float | None = None
    radius_rules: list[RadiusRuleModel] = []
    target: TargetModel | None = None
    #: ``{role: R}`` or ``{layer: ID}``; a plain text is a layer id
    demand: DemandModel | str = DemandModel(role="residential")
    #: a speed preset of speeds.yaml (``seasons:``), e.g. winter for the ice circle
    season: str | None = None

    @field_validator("within", mode="before")
    @classmethod
    def _unitless(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            msg = f"{v!r} has no unit; write {v}m (metres) or {v}min (minutes)"
            raise ValueError(msg)
        return v

    @field_validator("within")
    @classmethod
    def _within(cls, v: str) -> str:
        try:
            parse_within(v)
        except CoverageError:
            msg = f"{v!r} needs a number with a unit: metres (500m, 1.5km) or minutes (15min, 1h)"
            raise ValueError(msg) from None
        return v

    @field_validator("speed_kmh")
    @classmethod
    def _speed(cls, v: float | None) -> float | None:
        return None if v is None else _positive(v)


class PresetsModel(StrictModel):
    """The whole presets file."""

    presets: list[PresetModel] = Field(min_length=1)


def load_presets_document(path: str | os.PathLike[str]) -> PresetsModel:
    """Read and validate a presets file (ids unique).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the preset and field.
    """
    doc = load_document(path, PresetsModel, what="coverage presets file")
    check_unique_ids(doc.presets, path, "preset")
    return doc
