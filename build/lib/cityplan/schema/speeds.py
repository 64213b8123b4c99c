"""Schema of the travel speeds (``speeds.yaml`` of the city profile); read by :func:`cityplan.network.graph.load_speeds`.

One mapping per mode (``walk``, ``bike``, ``drive``, all required): ``default_kmh`` (positive),
optional ``by_class`` (``{road class: km/h}``; classes are OSM highway values or numeric class codes)
and ``forbidden`` (classes the mode may not use).

Optional ``seasons`` (``{name: {mode: {default_kmh | factor, note}}}``): speed presets such as
``winter`` (snow-covered sidewalks, slower cycling) applied by ``--season``; ``default_kmh``
replaces a mode's default speed (and its per-class speeds), ``factor`` multiplies all of them.

Optional ``transit`` (:class:`TransitModel`): metro parameters for ``--mode transit`` - average
in-vehicle speed, headways, station access/egress and transfer times, how the metro layers name
their lines and stations, and sections (ids ``--without-line`` accepts, e.g. ``3-nw``).
Every value carries a ``source`` or an explicit assumption text.
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import Field, field_validator, model_validator

from cityplan.schema._base import StrictModel, load_document


def _kmh(v: float) -> float:
    if not (math.isfinite(v) and 0 < v <= 500):
        msg = f"{v!r} km/h is not a travel speed; give a number > 0 and <= 500"
        raise ValueError(msg)
    return v


class ModeSpeedsModel(StrictModel):
    """Speeds of one mode."""

    default_kmh: float
    by_class: dict[int | str, float] = {}
    forbidden: list[int | str] = []

    @field_validator("default_kmh")
    @classmethod
    def _default(cls, v: float) -> float:
        return _kmh(v)

    @field_validator("by_class")
    @classmethod
    def _classes(cls, v: dict[Any, float]) -> dict[Any, float]:
        for k, x in v.items():
            try:
                _kmh(x)
            except ValueError as exc:
                msg = f"class {k!r}: {exc}"
                raise ValueError(msg) from None
        return v


class SeasonModeModel(StrictModel):
    """How a season changes one mode's speeds: a new default, or a factor on every speed."""

    default_kmh: float | None = None
    factor: float | None = Field(default=None, gt=0, le=2)

    @field_validator("default_kmh")
    @classmethod
    def _default(cls, v: float | None) -> float | None:
        return None if v is None else _kmh(v)

    @model_validator(mode="after")
    def _one(self) -> SeasonModeModel:
        if (self.default_kmh is None) == (self.factor is None):
            msg = "give exactly one of default_kmh or factor"
            raise ValueError(msg)
        return self


class SeasonModel(StrictModel):
    """A season preset: per-mode changes and the source or assumption behind them."""

    source: str = Field(min_length=10)
    walk: SeasonModeModel | None = None
    bike: SeasonModeModel | None = None
    drive: SeasonModeModel | None = None


class TransitLineModel(StrictModel):
    """One metro line: how to find it in the metro layers, and its service."""

    match: str = Field(min_length=1)           # text in the lines layer's line column, e.g. "1号线"
    sequence: str = Field(min_length=1)        # station column with the stop order on this line
    headway_min: float = Field(gt=0, le=120)
    loop: bool = False                          # the last stop runs on to the first


class TransitSectionModel(StrictModel):
    """A section of a line (an id for ``--without-line``): the stations a flag column marks."""

    line: str
    flag: str                                  # boolean column of the stations layer
    title: str = ""
    planned: bool = False                      # not yet in service: the default counterfactual


class TransitModel(StrictModel):
    """Metro parameters of ``--mode transit``."""

    speed_kmh: float                           # average in-vehicle speed, stops included
    access_min: float = Field(ge=0, le=30)     # street to platform
    egress_min: float = Field(ge=0, le=30)     # platform to street
    transfer_min: float = Field(ge=0, le=30)   # platform to platform at an interchange
    max_station_snap_m: float = Field(gt=0, le=2000)
    line_column: str = "line"
    lines: dict[str, TransitLineModel] = Field(min_length=1)
    sections: dict[str, TransitSectionModel] = {}
    source: str = Field(min_length=10)

    @field_validator("speed_kmh")
    @classmethod
    def _speed(cls, v: float) -> float:
        return _kmh(v)

    @model_validator(mode="after")
    def _sections(self) -> TransitModel:
        for sid, sec in self.sections.items():
            if sec.line not in self.lines:
                msg = f"section {sid!r}: line {sec.line!r} is not one of lines {sorted(self.lines)}"
                raise ValueError(msg)
            if sid in self.lines:
                msg = f"section id {sid!r} is also a line id; section and line ids must differ"
                raise ValueError(msg)
        return self


class SpeedsModel(StrictModel):
    """The whole speeds file."""

    walk: ModeSpeedsModel
    bike: ModeSpeedsModel
    drive: ModeSpeedsModel
    seasons: dict[str, SeasonModel] = {}
    transit: TransitModel | None = None


def load_speeds_document(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Speeds per mode as plain dicts (``{mode: {default_kmh, by_class, forbidden}}``), plus
    ``seasons`` and ``transit`` (``None`` when absent) as plain dicts.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the mode and field.
    """
    return load_document(path, SpeedsModel, what="speeds file").model_dump()
