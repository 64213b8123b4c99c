"""A coverage request, validated once: preset defaults + explicit options -> :class:`CoverageSpec`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from cityplan._errors import CoverageError
from cityplan.coverage.presets import (
    METHODS,
    Preset,
    Within,
    check_numeric_options,
    get_preset,
    parse_within,
)
from cityplan.profile import Profile

#: a facility source: a catalog layer id / file path, or an in-memory frame with its label
FacilityInput = str | tuple[str, gpd.GeoDataFrame]
#: ``existing`` = real facilities only; ``planned`` = existing + plan sites; ``both`` computes both
SCENARIOS = ("existing", "planned", "both")


@dataclass(frozen=True)
class CoverageSpec:
    """Everything a coverage run needs to know, checked for range and consistency."""

    method: str
    within: Within
    #: ``{"layer": ID_OR_FILE}`` or ``{"role": R}`` entries (roles resolved on the map at run time)
    facilities: tuple[dict[str, Any], ...]
    demand: str | None = None          # layer id / file; None -> the (first) layer with ``demand_role``
    demand_role: str = "residential"
    preset: Preset | None = None
    speed_kmh: float | None = None
    capacity: str | None = None
    population: str | None = None
    demand_share: float = 1.0
    max_snap_m: float = 300.0
    offroad_m: float = 100.0
    access_spacing_m: float = 50.0
    network: str | None = None
    crs: str | None = None
    extra: tuple[tuple[str, gpd.GeoDataFrame], ...] = field(default=(), compare=False)
    #: per ``extra`` entry: a plan site (``extra_facilities``), counted in the planned scenario only
    extra_plan: tuple[bool, ...] = ()
    scenario: str = "both"
    season: str | None = None
    #: transit: line / section ids to leave out in the counterfactual (None = the planned sections)
    without_lines: tuple[str, ...] | None = None
    #: transit by timetable: GTFS feeds, analysis date, departure window, engine (None = automatic)
    gtfs: tuple[str, ...] | None = None
    date: str | None = None
    depart: str | None = None
    transit_engine: str | None = None

    def uses_timetable(self, settings: dict[str, Any] | None, speeds: dict[str, Any]) -> bool:
        """Transit by timetable (:mod:`cityplan.transit`) rather than the headway model."""
        if self.method != "transit":
            return False
        if self.transit_engine is not None:
            return self.transit_engine == "timetable"
        if self.gtfs or self.date or self.depart:
            return True
        if settings is not None and settings.get("engine"):
            return settings["engine"] == "timetable"
        return settings is not None and not speeds.get("transit")

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The facility scenarios to compute."""
        return ("existing", "planned") if self.scenario == "both" else (self.scenario,)

    @property
    def limit_m(self) -> float:
        """The limit as a straight-line distance (time limits need a speed)."""
        if self.within.unit == "m":
            return self.within.value
        if not self.speed_kmh:
            msg = "euclid with a time limit needs --speed KMH (straight-line distance = speed x time)"
            raise CoverageError(msg)
        return self.speed_kmh / 3.6 * self.within.value


def make_spec(
    *, preset: str | Preset | None = None, facilities: list[FacilityInput] | None = None,
    extra_facilities: list[FacilityInput] | None = None, demand: str | None = None,
    method: str | None = None, within: str | Within | None = None, speed_kmh: float | None = None,
    capacity: str | None = None, population: str | None = None, demand_share: float = 1.0,
    max_snap_m: float = 300.0, offroad_m: float = 100.0, access_spacing_m: float = 50.0,
    network: str | None = None, crs: str | None = None, scenario: str = "both",
    season: str | None = None, without_lines: list[str] | tuple[str, ...] | None = None,
    gtfs: list[str] | tuple[str, ...] | None = None, date: str | None = None, depart: str | None = None,
    transit_engine: str | None = None, profile: Profile | None = None,
) -> CoverageSpec:
    """Merge a preset (of ``profile``, when named by id) with explicit options and validate every value.

    Raises
    ------
    CoverageError
        Missing method/limit/facilities, unknown method or scenario, non-finite or out-of-range
        numbers, transit with a distance limit, ``--without-line`` outside transit mode.
    """
    if isinstance(preset, str) and profile is None:
        msg = f"preset {preset!r} named without the city profile holding it; pass profile=om.profile"
        raise CoverageError(msg)
    p = get_preset(preset, profile) if isinstance(preset, str) else preset
    method = method or (p.method if p else None)
    lim = parse_within(within) if isinstance(within, str) else within or (p.within if p else None)
    if method is None or lim is None:
        msg = "coverage needs --preset, or --mode and --within (e.g. --mode walk --within 500m)"
        raise CoverageError(msg)
    if method not in METHODS:
        msg = f"--mode {method!r} is unknown; use one of {METHODS}"
        raise CoverageError(msg)
    if not (math.isfinite(lim.value) and lim.value > 0):
        msg = f"--within {lim.text!r}: give a finite limit > 0 (e.g. 500m, 15min)"
        raise CoverageError(msg)
    if scenario not in SCENARIOS:
        msg = f"--scenario {scenario!r} is unknown; use one of {SCENARIOS}"
        raise CoverageError(msg)
    if method == "transit" and lim.unit != "s":
        msg = f"--mode transit --within {lim.text}: transit coverage is measured in time; give minutes (e.g. 30min)"
        raise CoverageError(msg)
    if without_lines and method != "transit":
        msg = f"--without-line {list(without_lines)[0]!r} needs --mode transit (it removes a metro line or section)"
        raise CoverageError(msg)
    if (gtfs or date or depart or transit_engine) and method != "transit":
        msg = "--gtfs, --date, --depart and --transit-engine need --mode transit"
        raise CoverageError(msg)
    if transit_engine not in (None, "timetable", "headway"):
        msg = f"--transit-engine {transit_engine!r} is unknown; use timetable or headway"
        raise CoverageError(msg)
    if transit_engine == "headway" and (gtfs or date or depart):
        msg = "--transit-engine headway has no timetable: leave out --gtfs, --date and --depart"
        raise CoverageError(msg)
    if depart:
        from cityplan.transit.gtfs import parse_window

        parse_window(depart)
    if date:
        from cityplan.transit.gtfs import parse_date

        parse_date(date)
    season = season or (p.season if p else None)
    if speed_kmh is None and p is not None and method == p.method:
        speed_kmh = p.speed_kmh
    check_numeric_options(speed_kmh=speed_kmh, max_snap_m=max_snap_m, offroad_m=offroad_m,
                          demand_share=demand_share, access_spacing_m=access_spacing_m)
    specs: list[dict[str, Any]] = []
    extra: list[tuple[str, gpd.GeoDataFrame]] = []
    extra_plan: list[bool] = []
    for f in facilities or []:
        if isinstance(f, tuple):
            extra.append(f)
            extra_plan.append(False)
        else:
            specs.append({"layer": f})
    if not facilities and p is not None:
        specs = [dict(s) for s in p.facilities]
    for f in extra_facilities or []:  # added sites (e.g. a proposal under review) are plan sites
        if isinstance(f, tuple):
            extra.append(f)
            extra_plan.append(True)
        else:
            specs.append({"layer": f, "plan": True})
    if not specs and not extra:
        msg = "coverage needs facilities: --facilities LAYER_OR_FILE or a --preset"
        raise CoverageError(msg)
    if capacity:
        specs = [{**s, "keep": [capacity]} for s in specs]
    demand_role = "residential"
    if not demand and p is not None:
        demand, demand_role = p.demand.get("layer"), p.demand.get("role", demand_role)
    return CoverageSpec(method=method, within=lim, facilities=tuple(specs), demand=demand, demand_role=demand_role,
                        preset=p, speed_kmh=None if speed_kmh is None else float(speed_kmh),
                        capacity=capacity, population=population, demand_share=float(demand_share),
                        max_snap_m=float(max_snap_m), offroad_m=float(offroad_m),
                        access_spacing_m=float(access_spacing_m),
                        network=network, crs=crs, extra=tuple(extra), extra_plan=tuple(extra_plan),
                        scenario=scenario, season=season,
                        without_lines=tuple(without_lines) if without_lines is not None else None,
                        gtfs=tuple(str(g) for g in gtfs) if gtfs else None, date=date, depart=depart,
                        transit_engine=transit_engine)
