"""Season presets of travel speeds (``seasons:`` in ``speeds.yaml`` of the city profile): winter walking, cycling, driving."""

from __future__ import annotations

import copy
from typing import Any

from cityplan._errors import CoverageError

MODES = ("walk", "bike", "drive")


def seasonal_speeds(speeds: dict[str, Any], season: str | None) -> dict[str, Any]:
    """``speeds`` with the season's changes applied (a copy; ``None`` = the base speeds).

    ``default_kmh`` replaces the mode's default and every per-class speed; ``factor`` multiplies
    them all.

    Raises
    ------
    CoverageError
        ``season`` is not declared in the speeds file.
    """
    if season is None:
        return speeds
    seasons = speeds.get("seasons") or {}
    if season not in seasons:
        msg = (f"--season {season!r} is not declared under 'seasons:' in speeds.yaml; "
               f"declared: {sorted(seasons)}")
        raise CoverageError(msg)
    out = copy.deepcopy(speeds)
    for mode in MODES:
        change = seasons[season].get(mode)
        if not change:
            continue
        spec = out[mode]
        if change.get("default_kmh") is not None:
            new = float(change["default_kmh"])
            spec["default_kmh"] = new
            spec["by_class"] = {k: new for k in spec.get("by_class") or {}}
        else:
            f = float(change["factor"])
            spec["default_kmh"] = float(spec["default_kmh"]) * f
            spec["by_class"] = {k: float(v) * f for k, v in (spec.get("by_class") or {}).items()}
    return out


def season_source(speeds: dict[str, Any], season: str | None) -> str | None:
    """The source / assumption text of a season (None for the base speeds)."""
    if season is None:
        return None
    return str((speeds.get("seasons") or {}).get(season, {}).get("source", "")) or None
