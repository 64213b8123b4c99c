"""Schema of ``monitor.yaml`` of the city profile: pace, thresholds and standards of the supervision
(``cityplan monitor``, the web's supervision page; docs/monitor.md).

File format::

    version: 1
    pace:                              # the path every quantified target is judged against
      default: {kind: linear, start: 2023-01-01, deadline: 2023-12-31}
      tasks:                           # per task id (every target metric of the task)
        "2.4.3": {kind: milestones, start: 2023-01-01, deadline: 2023-12-31,
                  milestones: [{date: 2023-06-30, share: 0.3}, {date: 2023-09-30, share: 0.6}]}
        "2.5.2": {kind: s_curve, steepness: 8}
    thresholds:
      yellow_behind_points: 10         # behind the pace by more than 10 percentage points: yellow
      red_behind_points: 25            # by more than 25: red
      red_past_deadline: true          # not achieved after the deadline: red
    freshness:
      yellow_days: 45                  # no report from a district for longer: yellow
      red_days: 75                     # ... red
    coverage:
      red_below_points: 10             # below its standard by more than 10 points: red (else yellow)
      standards:                       # presets whose coverage_presets.yaml entry has no target
        - {preset: life-5min, metric: population_share, min: 0.8, basis: "assumption: ..."}

Every key is optional; what is missing takes the default of :class:`MonitorSettings` and is
named as an assumption by :func:`cityplan.monitor.rules.assumptions`.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cityplan.schema._base import StrictModel, load_document

#: the settings file of a profile (a profile without one: defaults, printed as assumptions)
MONITOR_FILE = "monitor.yaml"


def _date(v: Any) -> Any:
    """YAML gives unquoted dates as ``date``; quoted ones are parsed here (``YYYY-MM-DD``)."""
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            msg = f"{v!r} is not a date; write YYYY-MM-DD"
            raise ValueError(msg) from None
    return v


class Milestone(StrictModel):
    """A share of the target due by a date."""

    date: dt.date
    share: float = Field(ge=0, le=1)

    _d = field_validator("date", mode="before")(_date)


class PaceModel(StrictModel):
    """How much of a target should be done on a day: ``linear`` from ``start`` to ``deadline``,
    ``milestones`` (straight lines between the declared shares, 100 % at the deadline) or an
    ``s_curve`` (logistic, slow at start and end; ``steepness`` 4-12)."""

    kind: Literal["linear", "milestones", "s_curve"] = "linear"
    start: dt.date | None = None
    deadline: dt.date | None = None
    milestones: tuple[Milestone, ...] = ()
    steepness: float = Field(default=8.0, gt=0, le=40)

    _d = field_validator("start", "deadline", mode="before")(_date)

    @model_validator(mode="after")
    def _check(self) -> PaceModel:
        if self.kind == "milestones" and not self.milestones:
            msg = "kind milestones needs milestones: [{date: YYYY-MM-DD, share: 0..1}, ...]"
            raise ValueError(msg)
        if self.kind != "milestones" and self.milestones:
            msg = f"milestones given but kind is {self.kind!r}; write kind: milestones"
            raise ValueError(msg)
        days = [m.date for m in self.milestones]
        shares = [m.share for m in self.milestones]
        if days != sorted(days) or len(set(days)) != len(days) or shares != sorted(shares):
            msg = "milestones must have increasing dates and non-decreasing shares"
            raise ValueError(msg)
        if self.start and self.deadline and self.deadline <= self.start:
            msg = f"deadline {self.deadline} is not after start {self.start}"
            raise ValueError(msg)
        return self


class PaceSection(StrictModel):
    """The default pace and per-task paces (keys: task ids like ``"2.3.3"``)."""

    default: PaceModel = PaceModel()
    tasks: dict[str, PaceModel] = Field(default_factory=dict)


class Thresholds(StrictModel):
    """Behind the pace by more than these percentage points: yellow, red."""

    yellow_behind_points: float = Field(default=10.0, ge=0, le=100)
    red_behind_points: float = Field(default=25.0, ge=0, le=100)
    red_past_deadline: bool = True

    @model_validator(mode="after")
    def _order(self) -> Thresholds:
        if self.red_behind_points < self.yellow_behind_points:
            msg = "red_behind_points must be >= yellow_behind_points"
            raise ValueError(msg)
        return self


class Freshness(StrictModel):
    """No report from a district for more than these days: yellow, red."""

    yellow_days: int = Field(default=45, ge=1, le=3660)
    red_days: int = Field(default=90, ge=1, le=3660)

    @model_validator(mode="after")
    def _order(self) -> Freshness:
        if self.red_days < self.yellow_days:
            msg = "red_days must be >= yellow_days"
            raise ValueError(msg)
        return self


class Standard(StrictModel):
    """A coverage standard for a preset whose ``coverage_presets.yaml`` entry declares no target."""

    preset: str
    metric: Literal["population_share", "area_share"] = "population_share"
    min: float = Field(gt=0, le=1)
    basis: str = ""


class CoverageRules(StrictModel):
    """Below the standard: yellow; by more than ``red_below_points``: red."""

    red_below_points: float = Field(default=10.0, ge=0, le=100)
    standards: tuple[Standard, ...] = ()


class MonitorSettings(StrictModel):
    """The whole ``monitor.yaml``."""

    version: int = 1
    pace: PaceSection = PaceSection()
    thresholds: Thresholds = Thresholds()
    freshness: Freshness = Freshness()
    coverage: CoverageRules = CoverageRules()


def load_monitor_settings(path: str | os.PathLike[str]) -> MonitorSettings:
    """Load and validate a ``monitor.yaml`` (one-line SchemaError on any problem)."""
    return load_document(path, MonitorSettings, what="monitor settings file")
