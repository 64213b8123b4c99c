"""Schema of ``transit.yaml`` of a city profile: timetable-based transit (GTFS feeds, generated lines).

Read by :func:`cityplan.transit.settings.load_transit`. Where the feed comes from (``feeds``:
GTFS zips or folders, relative to the map's data folder or the profile folder; ``metro_from_speeds``: generate a feed
from the ``transit:`` metro lines of ``speeds.yaml`` and the metro layers of the map), the
default analysis date and departure window, how a trip is searched (walks, transfers,
penalties) and reported (the percentile beside the median; which one decides *covered*), and
the network scenarios: ``planned_lines`` (generated from a stop list, headway and speed; only in
the *planned network*) and ``sections`` (stop lists ``--without-line`` accepts by name).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cityplan.schema._base import StrictModel, load_document


class PlannedStopModel(StrictModel):
    """One stop of a planned line: an existing stop id, or a new stop with coordinates (WGS84)."""

    id: str = Field(min_length=1)
    name: str = ""
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


class PlannedLineModel(StrictModel):
    """A planned line: stops in order, headway and average speed (stops included)."""

    title: str = ""
    stops: list[PlannedStopModel] = Field(min_length=2)
    #: the line's course as [lon, lat] pairs (WGS84); without it, straight lines between stops
    geometry: list[list[float]] | None = Field(default=None, min_length=2)
    headway_min: float = Field(gt=0, le=120)
    speed_kmh: float = Field(gt=0, le=200)
    loop: bool = False
    service: str = "05:30-23:00"
    source: str = Field(min_length=10)

    @field_validator("geometry")
    @classmethod
    def _pairs(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        for k, p in enumerate(v or []):
            if len(p) != 2 or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90):
                msg = f"point {k}: {p!r} is not [lon, lat] in degrees"
                raise ValueError(msg)
        return v


class SectionModel(StrictModel):
    """A named set of stops: ``--without-line NAME`` cuts the lines through them."""

    title: str = ""
    stops: list[str] = Field(min_length=1)
    planned: bool = False


class TransitFeedsModel(StrictModel):
    """The whole ``transit.yaml``."""

    feeds: list[str] = []
    metro_from_speeds: bool = False
    #: which engine ``--mode transit`` uses without --transit-engine/--gtfs/--date/--depart; None:
    #: timetable, unless speeds.yaml has a metro (``transit:``), then the headway model
    engine: Literal["timetable", "headway"] | None = None
    date: str | None = None
    depart: str = "07:00-09:00"
    percentile: float = Field(default=75, gt=0, le=100)
    decide_by: Literal["median", "percentile"] = "median"
    max_transfers: int = Field(default=3, ge=0, le=8)
    transfer_penalty_min: float = Field(default=0, ge=0, le=60)
    min_change_min: float = Field(default=1, ge=0, le=30)
    max_walk_m: float = Field(default=1000, gt=0, le=5000)
    max_transfer_walk_m: float = Field(default=400, ge=0, le=2000)
    max_stop_snap_m: float = Field(default=300, gt=0, le=2000)
    planned_lines: dict[str, PlannedLineModel] = {}
    sections: dict[str, SectionModel] = {}
    source: str = Field(min_length=10)

    @field_validator("depart")
    @classmethod
    def _window(cls, v: str) -> str:
        a, _, b = v.partition("-")
        if not (a and b and ":" in a and ":" in b):
            msg = f"depart {v!r}: give HH:MM-HH:MM, e.g. 07:00-09:00"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _some_feed(self) -> TransitFeedsModel:
        if not self.feeds and not self.metro_from_speeds and not self.planned_lines:
            msg = "give feeds (GTFS files), metro_from_speeds: true, or planned_lines"
            raise ValueError(msg)
        return self


def load_transit_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``transit.yaml`` as a plain dict (validated).

    Raises
    ------
    SchemaError
        Anything wrong with it, one line naming the field.
    """
    return load_document(path, TransitFeedsModel, what="transit settings file").model_dump()
