"""Coverage presets (``coverage_presets.yaml`` of a city profile) and the ``--within`` parser."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from cityplan._errors import CoverageError
from cityplan.profile import Profile, profile_file
from cityplan.schema.presets import METHODS, Within, load_presets_document, parse_within  # noqa: F401 (METHODS re-exported)

#: keyword -> (CLI option, lower bound, lower bound allowed, upper bound or None)
_NUMERIC = {
    "speed_kmh": ("--speed", 0.0, False, None),
    "max_snap_m": ("--max-snap", 0.0, False, None),
    "offroad_m": ("--offroad", 0.0, True, None),
    "demand_share": ("--demand-share", 0.0, False, 1.0),
    "access_spacing_m": ("access_spacing_m", 0.0, False, None),
}


def check_numeric_options(**kw: Any) -> None:
    """Refuse non-finite or out-of-range numeric coverage options with a one-line :class:`CoverageError`.

    Keywords are those of ``run_coverage``: ``speed_kmh`` (> 0 or None), ``max_snap_m`` (> 0),
    ``offroad_m`` (>= 0), ``demand_share`` (> 0 and <= 1), ``access_spacing_m`` (> 0).
    """
    for key, value in kw.items():
        if key not in _NUMERIC:
            msg = f"check_numeric_options: unknown option {key!r}; known: {sorted(_NUMERIC)}"
            raise TypeError(msg)
        if value is None and key == "speed_kmh":
            continue
        opt, low, low_ok, high = _NUMERIC[key]
        rng = f"{'>=' if low_ok else '>'} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if isinstance(value, bool) or not math.isfinite(v):
            msg = f"{opt} {value!r}: not a finite number; give a number {rng}"
            raise CoverageError(msg)
        if (v < low if low_ok else v <= low) or (high is not None and v > high):
            msg = f"{opt} {value!r}: out of range; give a number {rng}"
            raise CoverageError(msg)


def check_capacity(values: Any, column: str, source: str = "the facilities") -> None:
    """Refuse a ``--capacity`` column that holds text, negative or non-finite values.

    Empty cells are allowed (counted as 0 capacity by 2SFCA); anything else must be a number >= 0.
    """
    import pandas as pd

    s = pd.Series(values)
    num = pd.to_numeric(s, errors="coerce")
    bad = (s.notna() & num.isna()) | (num.notna() & (~num.apply(lambda x: math.isfinite(x)) | (num < 0)))
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        msg = (f"--capacity {column!r}: row {row} of {source} holds {s.iloc[row]!r}, not a capacity; "
               f"name a numeric column (seats, spaces) with values >= 0 ({int(bad.sum())} bad rows)")
        raise CoverageError(msg)


@dataclass(frozen=True)
class Preset:
    """A coverage standard.

    ``facilities``: entries ``{"role": R}`` (every layer of the map with the functional role R,
    resolved by :func:`cityplan.coverage.roles.resolve_facilities`) or ``{"layer": ID}``, each with
    an optional ``where`` filter. ``demand``: ``{"role": R}`` or ``{"layer": ID}``.
    """

    id: str
    title_zh: str
    title_en: str
    facilities: tuple[dict[str, Any], ...]
    method: str
    within: Within
    citation: str
    speed_kmh: float | None = None
    radius_rules: tuple[dict[str, float], ...] = ()
    target: dict[str, Any] = field(default_factory=dict)
    demand: dict[str, str] = field(default_factory=lambda: {"role": "residential"})
    season: str | None = None


#: the presets' file in a profile folder (a profile without one has no presets)
PRESETS_FILE = "coverage_presets.yaml"


def load_presets(source: Profile | str | os.PathLike[str] | Traversable) -> dict[str, Preset]:
    """All presets of a profile (or of a presets file) by id, validated (:mod:`cityplan.schema.presets`)."""
    if isinstance(source, Profile):
        return source.memo("presets", lambda: load_presets(source.file(PRESETS_FILE))
                           if source.has(PRESETS_FILE) else {})
    doc = load_presets_document(profile_file(source, PRESETS_FILE))
    return {r.id: Preset(
        id=r.id, title_zh=r.title_zh, title_en=r.title_en,
        facilities=tuple(f.model_dump(exclude_unset=True) for f in r.facilities), method=r.method,
        within=parse_within(r.within), citation=r.citation, speed_kmh=r.speed_kmh,
        radius_rules=tuple(x.model_dump() for x in r.radius_rules),
        target=r.target.model_dump() if r.target else {}, demand=_demand(r.demand), season=r.season)
        for r in doc.presets}


def _demand(value: Any) -> dict[str, str]:
    """``{"role": R}`` or ``{"layer": ID}`` from the file's ``demand`` (a plain text is a layer id)."""
    if isinstance(value, str):
        return {"layer": value}
    return value.model_dump(exclude_none=True)


def get_preset(name: str, source: Profile | str | os.PathLike[str] | Traversable) -> Preset:
    """One preset of a profile; :class:`CoverageError` listing the valid ids otherwise."""
    presets = load_presets(source)
    if name not in presets:
        msg = f"unknown coverage preset {name!r}; presets: {sorted(presets)} (cityplan coverage presets)"
        raise CoverageError(msg)
    return presets[name]
