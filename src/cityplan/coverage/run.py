"""Run a coverage analysis: facilities x demand x method -> per feature, per district, isochrones, gaps.

The request is validated once (:mod:`cityplan.coverage.spec`), inputs come from the one map or
files (:mod:`cityplan.coverage.inputs`), a strategy searches (:mod:`cityplan.coverage.search`:
euclid, network or transit) and one classifier sets each feature's status.

Every run computes facility **scenarios**: ``existing`` (real facilities only: not illustrative
and not from a plan layer) and ``planned`` (existing + plan sites), and their ``difference``.
Transit runs also compute a **network counterfactual**: the same scenarios without the metro
lines / sections named by ``without_lines`` (default: the sections marked ``planned`` in
``speeds.yaml`` of the city profile, i.e. the Line 3 north-west loop for Harbin).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import CoverageError
from cityplan.coverage import search as strategies
from cityplan.coverage.demand import POPULATION_UNAVAILABLE, population_basis
from cityplan.coverage.fca import two_step_fca
from cityplan.coverage.inputs import (
    census_status,
    facilities_frame,
    prepared_demand,
    road_graph,
    walk_graph,
)
from cityplan.coverage.presets import Preset, Within, check_capacity
from cityplan.coverage.roles import check_roles, resolve_facilities
from cityplan.coverage.spec import CoverageSpec, FacilityInput, make_spec
from cityplan.crs import STORAGE_CRS, to_working
from cityplan.network.graph import load_speeds
from cityplan.network.search import access_costs, reach_from_sources
from cityplan.network.seasons import season_source, seasonal_speeds
from cityplan.network.transit import build_transit_graph, planned_sections
from cityplan.network.union import map_threaded
from cityplan.onemap import OneMap
from cityplan.tasks.link import OUTSIDE
from cityplan.transit.access import FeedNetwork
from cityplan.transit.settings import DEFAULTS as TRANSIT_DEFAULTS
from cityplan.transit.settings import feed_networks, load_transit

logger = logging.getLogger(__name__)
ALL = "(all)"
FULL = "full"
SCENARIO_TEXT = {
    "existing": "real facilities only (not illustrative, not from a plan layer, not an added site)",
    "planned": "existing + plan sites (illustrative ones included and flagged is_illustrative)",
    "difference": "planned minus existing",
}
#: the scenario every surface shows first (the one figure of a surface that shows one): the city as it is
HEADLINE = "existing"
#: how each scenario is named beside its figures (Chinese, English), in the city's languages
SCENARIO_NAMES = {
    "existing": ("现有", "existing (real facilities only)"),
    "planned": ("规划", "planned (existing + plan sites)"),
    "difference": ("差值", "difference (planned − existing)"),
}
#: what ``covered`` means for one compound (demand feature), stated wherever compounds are listed
COVERED_DEFINITION = (
    "覆盖 = 小区代表点(入口)在时限内可达(直线方法: 在半径内); 服务范围内用地比例 = 小区用地落在服务范围"
    "(可达道路两侧 offroad 米)内的比例, 人口与用地覆盖率按此估算",
    "covered = the compound's representative point (its entrance) is reached within the limit (straight-line "
    "method: lies within the radius); land in service area = the share of the compound's land inside the "
    "service area (reached roads widened by the off-road distance), which the population and land shares count",
)
#: per-district columns that are differences in the ``difference`` rows (others are the planned values)
DIFF_COLUMNS = ("population_covered", "population_share", "residential_area_covered_m2", "area_share",
                "features_covered", "not_snapped_or_unreachable")


@dataclass
class ScenarioResult:
    """One facility scenario on one network."""

    scenario: str                 # existing | planned
    network: str                  # "full", or "without 3-nw" (transit counterfactual)
    features: gpd.GeoDataFrame
    districts: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    facility_ok: np.ndarray       # per facility of the run: used in this scenario and reachable
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    same_as: str | None = None    # key of the scenario whose results these are, relabelled


@dataclass
class CoverageResult:
    """Everything a coverage run produces.

    ``features``, ``districts``, ``isochrones`` and ``gaps`` are those of the headline scenario
    (``scenario``: :data:`HEADLINE` ``existing``, the real facilities only, unless only ``planned``
    was asked for), each row tagged with its ``scenario``; ``features`` also carries
    ``covered_existing``, ``covered_planned`` and ``newly_covered``. The planned rows are in
    ``by_scenario`` (:meth:`scenario_rows`); :meth:`headline_text` names both with their basis. ``scenarios`` holds every scenario (keys ``existing``, ``planned``, and in
    transit mode ``existing without 3-nw`` ...); ``by_scenario`` is the per-district table of all
    of them with the ``difference`` rows; ``network_effect`` (transit) compares each scenario with
    and without the counterfactual lines, per district.
    """

    features: gpd.GeoDataFrame
    districts: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    params: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    scenario: str = HEADLINE
    scenarios: dict[str, ScenarioResult] = field(default_factory=dict)
    by_scenario: pd.DataFrame | None = None
    network_effect: pd.DataFrame | None = None
    #: what the figures are not (e.g. "population unavailable: the map has no census"); the CLI prints them
    notes: list[str] = field(default_factory=list)

    @property
    def share_metric(self) -> str:
        """The share a surface showing one figure shows: ``population_share``, or ``area_share``
        when the map has no population (no census)."""
        return "area_share" if self.params.get("population") == POPULATION_UNAVAILABLE else "population_share"

    def scenario_rows(self, scenario: str = HEADLINE) -> pd.DataFrame:
        """The per-district rows of ``scenario`` (``existing``, ``planned``, ``difference``) on the
        full network; empty when the run did not compute it."""
        t = self.by_scenario if self.by_scenario is not None else self.districts
        rows = t[t["scenario"] == scenario] if "scenario" in t.columns else t.iloc[:0]
        if "network" in rows.columns:
            rows = rows[rows["network"] == FULL]
        return rows.reset_index(drop=True)

    def share(self, scenario: str = HEADLINE, adcode: str | None = None, metric: str | None = None) -> float:
        """One district's (``adcode``; default the whole city, ``(all)``) share in ``scenario``; NaN
        when the run has no such row."""
        rows = self.scenario_rows(scenario)
        sel = rows[rows["adcode"].astype(str) == str(adcode)] if adcode else rows[rows["district"] == ALL]
        col = metric or self.share_metric
        return float(sel[col].iloc[0]) if len(sel) and col in sel.columns and pd.notna(sel[col].iloc[0]) \
            else float("nan")

    def planned_basis(self, languages: Any = None) -> str:
        """How much of the planned scenario is real: ``N plan sites, M of them illustrative``."""
        return planned_basis(self.params, languages)

    def headline_text(self, adcode: str | None = None, languages: Any = None, *, metric: str | None = None) -> str:
        """The headline figure with its scenario, planned beside it with its basis, e.g.
        ``现有 existing (real facilities only) 8.3 % · 规划 planned (existing + plan sites) 26.3 %
        (18 plan sites, 18 of them illustrative)`` (population share; land share without a census)."""
        col = metric or self.share_metric
        parts = [f"{scenario_label(HEADLINE, languages)} {_pct(self.share(HEADLINE, adcode, col))}"]
        if self.scenario_rows("planned").shape[0]:
            parts.append(f"{scenario_label('planned', languages)} {_pct(self.share('planned', adcode, col))} "
                         f"({self.planned_basis(languages)})")
        return " · ".join(parts)


def _pct(v: float) -> str:
    return f"{v:.1%}".replace("%", " %") if np.isfinite(v) else "n/a"


def scenario_label(scenario: str, languages: Any = None) -> str:
    """A scenario's name for display: ``现有 existing (real facilities only)`` (in the city's
    ``languages``; a transit counterfactual keeps its suffix: ``... without 3-nw``)."""
    from cityplan.text import bilingual

    base, _, rest = str(scenario).partition(" ")
    zh, en = SCENARIO_NAMES.get(base, (base, base))
    return bilingual(zh, en, languages) + (f" {rest}" if rest else "")


def planned_basis(params: dict[str, Any], languages: Any = None) -> str:
    """``18 plan sites, 18 of them illustrative`` from a run's parameters (in the city's languages)."""
    from cityplan.text import bilingual

    plan = int(params.get("facility_count_plan") or 0)
    ill = int(params.get("facility_count_illustrative") or 0)
    return bilingual(f"规划点位{plan}处, 其中示意{ill}处", f"{plan} plan sites, {ill} of them illustrative", languages,
                     sep=" / ")


def covered_definition(languages: Any = None) -> str:
    """:data:`COVERED_DEFINITION` in the city's languages."""
    from cityplan.text import bilingual

    return bilingual(*COVERED_DEFINITION, languages, sep=" / ")


#: the per-compound list's columns (:func:`uncovered_compounds`)
COMPOUND_COLUMNS = ["scenario", "name", "osm_ref", "adcode", "district", "population_est", "nearest_facility",
                    "distance_m", "time_min", "land_in_service_area", "covered", "status"]


def uncovered_compounds(res: CoverageResult, adcode: str | None = None) -> pd.DataFrame:
    """The compounds of the headline scenario that are not covered (:data:`COVERED_DEFINITION`), one
    row each: the one list (and count) the district report and the dashboard show.

    ``covered`` is the run's per-compound flag (the representative point reached within the limit);
    ``land_in_service_area`` is the compound's ``covered_share`` (what the population and land shares
    count), never called "covered". A compound with no facility found within the search (three
    times the limit) has no nearest facility, and then no distance or time either.
    """
    f = res.features
    if adcode is not None:
        f = f[f["adcode"].astype(str) == str(adcode)]
    f = f[~f["covered"].astype(bool)]
    name = f["name"] if "name" in f.columns else pd.Series(None, index=f.index, dtype=object)
    pop = pd.to_numeric(f["population"], errors="coerce")
    none = f["nearest_facility"].isna() if "nearest_facility" in f.columns else pd.Series(True, index=f.index)
    out = pd.DataFrame({
        "scenario": f["scenario"] if "scenario" in f.columns else res.scenario,
        "name": name.where(name.apply(lambda v: isinstance(v, str) and bool(v)), "(unnamed)"),
        "osm_ref": f["osm_ref"] if "osm_ref" in f.columns else None,
        "adcode": f["adcode"].astype(str), "district": f["district"],
        "population_est": pop.round(0),  # NaN: no census
        "nearest_facility": f.get("nearest_facility"),
        "distance_m": f["distance_m"].where(~none), "time_min": f["time_min"].where(~none),
        "land_in_service_area": f["covered_share"], "covered": f["covered"].astype(bool), "status": f["status"],
    })
    return out.reindex(columns=COMPOUND_COLUMNS).reset_index(drop=True)


def run_coverage(
    onemap: OneMap | str | os.PathLike[str] | None = None, *, preset: str | Preset | None = None,
    facilities: list[FacilityInput] | None = None, extra_facilities: list[FacilityInput] | None = None,
    demand: str | None = None, method: str | None = None,
    within: str | Within | None = None, speed_kmh: float | None = None, capacity: str | None = None,
    population: str | None = None, demand_share: float = 1.0, max_snap_m: float = 300.0,
    offroad_m: float = 100.0, access_spacing_m: float = 50.0, network: str | None = None,
    crs: str | None = None, scenario: str = "both", season: str | None = None,
    without_lines: list[str] | None = None, progress: Callable[[str], None] | None = None,
    gtfs: list[str] | None = None, date: str | None = None, depart: str | None = None,
    transit_engine: str | None = None,
) -> CoverageResult:
    """Compute coverage of ``demand`` by ``facilities``, for the existing and planned scenarios.

    Parameters
    ----------
    onemap : OneMap, path or URL, optional
        The one map (layers by role: districts, census, road graph, residential).
    preset : str or Preset, optional
        A preset id (``cityplan coverage presets``); explicit arguments override it.
    facilities : catalog layer ids, paths to vector files, or ``(label, GeoDataFrame)`` pairs
    extra_facilities : same, optional
        Added to the preset's (or given) facilities as plan sites, e.g. a proposed site under review.
    demand : catalog layer id or path, optional
        Default: the preset's demand, else the map's ``residential`` role.
    method : {"euclid", "walk", "bike", "drive", "transit"}
    within : "500m", "1.5km", "15min", ...
    speed_kmh : float, optional
        Travel speed replacing the mode's per-class speeds (transit: the walking speed).
    capacity : str, optional
        Facility column with capacity (seats, spaces): adds 2SFCA accessibility.
    population : str, optional
        Demand column with population; otherwise estimated from the census.
    demand_share : float
        Share of the population that needs the facility (e.g. school-age share) for 2SFCA.
    max_snap_m : float
        Features farther than this from a usable road are flagged "not snapped".
    offroad_m : float
        Isochrones reach this far off the reached roads (metres).
    access_spacing_m : float
        Spacing of access points along polygon facilities (a park is entered at its edge).
    network : str, optional
        The map's ``road_graph`` (default) or any line layer / file, noded.
    crs : str, optional
        Declared CRS of input files without one (or ``gcj02``).
    scenario : {"both", "existing", "planned"}
        Which facility scenarios to compute (``both``: also their difference).
    season : str, optional
        A speed preset of ``speeds.yaml`` of the city profile (``winter``, ``summer``); default: the preset's.
    without_lines : list of str, optional
        Transit: metro line / section ids of the counterfactual (default: the planned sections);
        with a timetable also route ids, ``stop:ID``, ``section:ID,ID`` and planned line ids.
    gtfs : list of str, optional
        Transit by timetable: GTFS feeds (zip or folder) instead of the profile's ``transit.yaml`` feeds.
    date, depart : str, optional
        Transit by timetable: analysis date (``2024-04-03``) and departure window (``07:00-09:00``).
    transit_engine : {"timetable", "headway"}, optional
        Default: ``timetable`` when a feed, date or window is given or the profile's transit.yaml
        has feeds and speeds.yaml has no metro; ``headway`` (walk + metro at half-headway waits) otherwise.

    Raises
    ------
    PresetUnavailableError
        The preset needs a role the map lacks (:func:`cityplan.coverage.roles.preset_availability`).
    CoverageError
        Bad or inconsistent options (non-finite numbers, no facilities, --capacity without population...).

    Notes
    -----
    A map without a usable census gives residential land shares only: ``population`` and
    ``population_covered`` are NaN, ``population_share`` NaN, ``params["population"]`` is
    ``"unavailable"`` and :attr:`CoverageResult.notes` says why.
    """
    spec = make_spec(preset=preset, facilities=facilities, extra_facilities=extra_facilities,
                     demand=demand, method=method, within=within, speed_kmh=speed_kmh,
                     capacity=capacity, population=population, demand_share=demand_share,
                     max_snap_m=max_snap_m, offroad_m=offroad_m, access_spacing_m=access_spacing_m,
                     network=network, crs=crs, scenario=scenario, season=season, without_lines=without_lines,
                     gtfs=gtfs, date=date, depart=depart, transit_engine=transit_engine,
                     profile=(om := OneMap.coerce(onemap)).profile)
    return run_spec(om, spec, progress=progress)


@dataclass
class _Prepared:
    """Inputs shared by every scenario of a run."""

    fac: gpd.GeoDataFrame
    fac_w: gpd.GeoDataFrame
    dem: gpd.GeoDataFrame
    dem_w: gpd.GeoDataFrame
    rep_xy: np.ndarray
    empty: np.ndarray
    districts: gpd.GeoDataFrame
    iso_cache: dict = field(default_factory=dict)


def _graphs(om: OneMap, spec: CoverageSpec, speeds: dict, params: dict[str, Any],
            warnings: list[str]) -> dict[str, Any]:
    """The network(s) to search: ``{"full": graph}`` (+ the transit counterfactual)."""
    if spec.method == "euclid":
        return {FULL: None}
    if spec.method != "transit":
        graph, net_label = road_graph(om, spec.network)
        params["network"] = net_label
        return {FULL: dataclasses.replace(graph, speeds=speeds)}
    if spec.uses_timetable(load_transit(om.profile), speeds):
        return _feed_graphs(om, spec, speeds, params, warnings)
    cfg = speeds.get("transit")
    if not cfg:
        msg = "--mode transit needs a 'transit:' section in speeds.yaml (metro speed, headways, lines)"
        raise CoverageError(msg)
    if spec.network is not None:
        walk, label = road_graph(om, spec.network)
        notes: list[str] = []
    else:
        walk, label, notes = walk_graph(om)
    warnings.extend(notes)
    walk = dataclasses.replace(walk, speeds=speeds)
    lines, stations = om.layer_for("metro_lines"), om.layer_for("metro_stations")
    without = spec.without_lines if spec.without_lines is not None else planned_sections(cfg)
    out = {FULL: build_transit_graph(walk, lines, stations, cfg, walk_kmh=spec.speed_kmh, crs=om.working_crs)}
    if without:
        out["without " + "+".join(without)] = build_transit_graph(walk, lines, stations, cfg, walk_kmh=spec.speed_kmh,
                                                                  without=tuple(without), crs=om.working_crs)
    warnings.extend(out[FULL].warnings)
    params.update(network=label, transit={
        k: cfg[k] for k in ("speed_kmh", "access_min", "egress_min", "transfer_min", "source")},
        headway_min={k: v["headway_min"] for k, v in cfg["lines"].items()},
        without_lines=list(without), sections={k: v.get("title", "") for k, v in (cfg.get("sections") or {}).items()},
        stations_used=out[FULL].params["stations_used"])
    return out


def _feed_graphs(om: OneMap, spec: CoverageSpec, speeds: dict, params: dict[str, Any],
                 warnings: list[str]) -> dict[str, Any]:
    """Timetable transit: the feed networks (full + counterfactual) over the walk network."""
    if spec.capacity:
        msg = "--capacity (2SFCA) is not available with timetable transit; leave it out or use --mode walk"
        raise CoverageError(msg)
    settings = load_transit(om.profile)
    if settings is None:
        settings = dict(TRANSIT_DEFAULTS)
        warnings.append(f"transit settings assumed: {TRANSIT_DEFAULTS['source']} (add transit.yaml to the profile)")
    if spec.network is not None:
        walk, label = road_graph(om, spec.network)
    else:
        walk, label, notes = walk_graph(om)
        warnings.extend(notes)
    walk = dataclasses.replace(walk, speeds=speeds)
    metro = None
    if settings.get("metro_from_speeds") and not spec.gtfs:
        metro = (om.layer_for("metro_lines"), om.layer_for("metro_stations"))
    nets, tparams, notes = feed_networks(walk=walk, settings=settings, profile=om.profile, gtfs=spec.gtfs,
                                         data_dir=om.build_info.get("data_dir"),
                                         date=spec.date, depart=spec.depart, without=spec.without_lines,
                                         walk_kmh=spec.speed_kmh, crs=om.working_crs, speeds=speeds, metro=metro)
    warnings.extend(notes)
    out = {FULL if k == "full" else k: v for k, v in nets.items()}
    params.update(network=label, transit=tparams, without_lines=tparams["without_lines"],
                  sections=tparams["sections"])
    return out


def run_spec(om: OneMap, spec: CoverageSpec, *, progress: Callable[[str], None] | None = None) -> CoverageResult:
    """Run a validated :class:`CoverageSpec` on the one map ``om``: every scenario, every network."""
    step = progress or (lambda _s: None)
    step("facilities")
    check_roles(spec.facilities, spec.demand_role if spec.demand is None and spec.preset else None, om,
                spec.preset)
    entries, warnings = resolve_facilities(spec.facilities, om)
    fac = facilities_frame(entries, spec.extra, om, spec.crs, spec.extra_plan)
    if spec.capacity:
        if spec.capacity not in fac.columns:
            msg = (f"--capacity {spec.capacity!r} is not a column of the facilities; columns: "
                   f"{[c for c in fac.columns if c != 'geometry']}")
            raise CoverageError(msg)
        check_capacity(fac[spec.capacity], spec.capacity)
    step("demand")
    dem, dem_w, dem_label = prepared_demand(spec.demand, om, spec.population, spec.crs, role=spec.demand_role)
    notes: list[str] = []
    known = not (dem["population_source"] == POPULATION_UNAVAILABLE).all() or dem.empty
    if not known:
        notes.append(census_status(om)[1])
        if spec.capacity:
            msg = (f"--capacity {spec.capacity!r}: 2SFCA accessibility needs population, and {notes[0]}; "
                   "pass --population COL (a demand column) or leave out --capacity")
            raise CoverageError(msg)
    empty = (dem.geometry.isna() | dem.geometry.is_empty).to_numpy()
    rep_xy = np.full((len(dem), 2), np.nan)
    if (~empty).any():
        rep = dem_w.geometry.to_numpy()[~empty]
        rep_xy[~empty] = shapely.get_coordinates(shapely.point_on_surface(rep))
    prep = _Prepared(fac=fac, fac_w=to_working(fac, om.working_crs), dem=dem, dem_w=dem_w, rep_xy=rep_xy,
                     empty=empty, districts=om.layer_for("districts"))
    speeds = seasonal_speeds(load_speeds(om.profile), spec.season)
    existing = ~fac["is_illustrative"].to_numpy(bool) & ~fac["is_plan"].to_numpy(bool)
    lim = spec.within
    params: dict[str, Any] = {
        "preset": spec.preset.id if spec.preset else None, "citation": spec.preset.citation if spec.preset else None,
        "method": spec.method, "within": lim.text, "speed_kmh": _speed_used(spec, speeds),
        "season": spec.season, "season_source": season_source(speeds, spec.season),
        "facilities": [s["layer"] for s in entries] + [label for label, _ in spec.extra],
        "facility_roles": {r: [s["layer"] for s in entries if s.get("role") == r]
                           for r in dict.fromkeys(s["role"] for s in spec.facilities if "role" in s)},
        "facility_count": len(fac), "facility_count_illustrative": int(fac["is_illustrative"].sum()),
        "facility_count_existing": int(existing.sum()), "facility_count_plan": int((~existing).sum()),
        "scenarios": {k: v for k, v in SCENARIO_TEXT.items()
                      if k in spec.scenarios or (k == "difference" and spec.scenario == "both")},
        "demand": dem_label, "max_snap_m": spec.max_snap_m, "offroad_m": spec.offroad_m,
        "population": population_basis(dem["population_source"]),
        "working_crs": f"EPSG:{om.working_epsg}", "onemap": om.label,
        "notes": notes, "languages": list(om.profile.settings.languages),
    }
    step("search")
    graphs = _graphs(om, spec, speeds, params, warnings)
    runs: dict[str, ScenarioResult] = {}
    for net, graph in graphs.items():
        for scen in spec.scenarios:
            mask = existing if scen == "existing" else np.ones(len(fac), bool)
            key = scen if net == FULL else f"{scen} {net}"
            twin = "existing" if net == FULL else f"existing {net}"
            if scen == "planned" and existing.all() and twin in runs:  # no plan site: the same figures
                runs[key] = _relabel(runs[twin], "planned", twin)
                continue
            runs[key] = _run_scenario(spec, prep, mask, graph, scen, net, params)
    step("isochrone")
    step("areas")
    step("gaps")
    params["build"] = om.build_info.get("built_at")
    return _combine(spec, prep, runs, existing, params, warnings)


def _relabel(r: ScenarioResult, scen: str, key: str) -> ScenarioResult:
    """The same results (those of scenario ``key``) under another name (planned when there is no plan site)."""
    return dataclasses.replace(r, scenario=scen, features=r.features.copy(), districts=r.districts.copy(),
                               isochrones=r.isochrones.assign(scenario=scen), gaps=r.gaps.assign(scenario=scen),
                               same_as=key)


def _speed_used(spec: CoverageSpec, speeds: dict) -> float | None:
    """The one travel speed of the run, when there is one (a given speed, or a season's default)."""
    if spec.speed_kmh is not None:
        return spec.speed_kmh
    mode = "walk" if spec.method == "transit" else spec.method
    if spec.season and mode in ("walk", "bike", "drive") and not speeds[mode].get("by_class"):
        return float(speeds[mode]["default_kmh"])
    return None


def _run_scenario(spec: CoverageSpec, prep: _Prepared, mask: np.ndarray, graph: Any, scen: str, net: str,
                  params: dict[str, Any]) -> ScenarioResult:
    """Search, classify and measure one facility scenario on one network."""
    fac = prep.fac[mask].reset_index(drop=True)
    fac_w = prep.fac_w[mask].reset_index(drop=True)
    dem, dem_w, rep_xy, empty = prep.dem, prep.dem_w, prep.rep_xy, prep.empty
    lim = spec.within
    if fac.empty:
        found = strategies.nothing(len(dem), empty, f"{scen}: no facility in this scenario; nothing is covered")
    elif spec.method == "euclid":
        found = strategies.euclid(spec, fac_w, rep_xy)
    elif isinstance(graph, FeedNetwork):
        found = strategies.timetable(spec, graph, fac_w, rep_xy, empty, iso_cache=prep.iso_cache)
    else:
        found = strategies.network(spec, graph, fac_w, rep_xy, empty, iso_cache=prep.iso_cache)
    params.update(found.params)
    status = strategies.classify(empty, found)
    covered = status == "covered"
    inter_area, gaps_geom = overlay_tiled(dem_w.geometry.to_numpy(), found.iso)
    area = dem["area_m2"].to_numpy()
    is_area = area > 0
    cov_share = np.where(is_area, np.divide(inter_area, area, out=np.zeros_like(area), where=is_area),
                         covered.astype(float))
    feats = dem.copy()
    label = found.label
    has = label >= 0
    if len(fac):
        feats["nearest_facility"] = np.where(has, fac["facility_name"].to_numpy()[np.maximum(label, 0)], None)
        feats["nearest_layer"] = np.where(has, fac["facility_layer"].to_numpy()[np.maximum(label, 0)], None)
        feats["nearest_is_illustrative"] = np.where(has, fac["is_illustrative"].to_numpy()[np.maximum(label, 0)], None)
    else:
        feats["nearest_facility"] = feats["nearest_layer"] = feats["nearest_is_illustrative"] = None
    feats["distance_m"] = np.where(np.isfinite(found.cost_m), np.round(found.cost_m, 1), np.nan)
    feats["time_min"] = np.where(np.isfinite(found.cost_s), np.round(found.cost_s / 60, 2), np.nan)
    for col, values in found.columns.items():
        feats[col] = values
    feats["covered"] = covered
    feats["covered_area_m2"] = np.round(inter_area, 1)
    feats["covered_share"] = np.round(cov_share, 4)
    feats["status"] = status
    if spec.capacity and len(fac):
        feats["accessibility"] = _fca(feats, fac, fac_w, rep_xy, spec.capacity, spec.demand_share, lim,
                                      spec.method, params, spec.speed_kmh, found.routed)
    elif spec.capacity:
        feats["accessibility"] = 0.0
    assert len(feats) == len(dem), "every demand feature is in the output"
    gap_area = np.where(empty, 0.0, shapely.area(gaps_geom))
    keep = gap_area > 1.0
    name = dem["name"] if "name" in dem.columns else pd.Series(None, index=dem.index)
    gaps = gpd.GeoDataFrame({"scenario": scen, "name": name[keep].to_numpy(),
                             "district": dem["district"][keep].to_numpy(),
                             "gap_area_m2": np.round(gap_area[keep], 1),
                             "population_uncovered": np.round((dem["population"] * (1 - cov_share))[keep], 1)},
                            geometry=gaps_geom[keep], crs=dem_w.crs).to_crs(STORAGE_CRS)
    iso = gpd.GeoDataFrame({"scenario": [scen], "within": [lim.text], "method": [spec.method],
                            "area_m2": [round(found.iso.area, 1)]},
                           geometry=[found.iso], crs=dem_w.crs).to_crs(STORAGE_CRS)
    if net != FULL:
        gaps.insert(1, "network", net)
        iso.insert(1, "network", net)
    fac_ok = np.zeros(len(prep.fac), bool)
    if len(found.facility_ok):
        fac_ok[np.flatnonzero(mask)] = found.facility_ok
    warnings = list(found.warnings)
    unused = int(mask.sum() - fac_ok.sum()) if len(fac) else 0
    if unused:
        warnings.append(f"{unused} facilit(ies) not within {spec.max_snap_m:g} m of a usable road: unused")
    per = aggregate_districts(feats, prep.districts, spec.preset.target if spec.preset else {})
    return ScenarioResult(scenario=scen, network=net, features=feats, districts=per, isochrones=iso, gaps=gaps,
                          facility_ok=fac_ok, warnings=warnings)


def difference_table(existing: pd.DataFrame, planned: pd.DataFrame) -> pd.DataFrame:
    """Per district: planned minus existing for :data:`DIFF_COLUMNS`; other columns as planned."""
    key = ["district", "adcode"]
    e = existing.set_index(key)
    out = planned.set_index(key).copy()
    for c in DIFF_COLUMNS:
        if c in out.columns:
            out[c] = (out[c] - e[c].reindex(out.index)).round(4 if c.endswith("share") else 1)
    if "meets_target" in out.columns:
        out["meets_target"] = None
    return out.reset_index()[planned.columns]


def _tagged(df: pd.DataFrame, scen: str, net: str | None) -> pd.DataFrame:
    out = df.copy()
    if net is not None:
        out.insert(0, "network", net)
    out.insert(0, "scenario", scen)
    return out


def _combine(spec: CoverageSpec, prep: _Prepared, runs: dict[str, ScenarioResult], existing: np.ndarray,
             params: dict[str, Any], warnings: list[str]) -> CoverageResult:
    """The headline scenario's frames, every scenario's districts in one table, the network effect."""
    primary = HEADLINE if HEADLINE in spec.scenarios else "planned"
    head = runs[primary]
    transit = spec.method == "transit"
    feats = head.features.copy()
    feats.insert(0, "scenario", primary)
    for r in runs.values():
        col = f"covered_{r.scenario}" if r.network == FULL else f"covered_{r.scenario}_without"
        feats[col] = r.features["covered"].to_numpy()
    if spec.scenario == "both":
        feats["newly_covered"] = feats["covered_planned"] & ~feats["covered_existing"]
        if "covered_planned_without" in feats.columns:
            feats["newly_covered_without"] = feats["covered_planned_without"] & ~feats["covered_existing_without"]
    nets = list(dict.fromkeys(r.network for r in runs.values()))
    tables = []
    for net in nets:
        by = {r.scenario: r for r in runs.values() if r.network == net}
        for scen in spec.scenarios:
            tables.append(_tagged(by[scen].districts, scen, net if transit else None))
        if spec.scenario == "both":
            tables.append(_tagged(difference_table(by["existing"].districts, by["planned"].districts), "difference",
                                  net if transit else None))
    by_scenario = pd.concat(tables, ignore_index=True)
    effect = None
    if transit and len(nets) > 1:
        rows = []
        for scen in spec.scenarios:
            a, b = runs[scen].districts, runs[f"{scen} {nets[1]}"].districts
            rows.append(pd.DataFrame({
                "scenario": scen, "district": a["district"], "adcode": a["adcode"], "population": a["population"],
                "population_covered": a["population_covered"],
                "population_covered_without": b.set_index(["district", "adcode"])["population_covered"].reindex(
                    pd.MultiIndex.from_frame(a[["district", "adcode"]])).to_numpy(),
                "population_share": a["population_share"],
                "population_share_without": b.set_index(["district", "adcode"])["population_share"].reindex(
                    pd.MultiIndex.from_frame(a[["district", "adcode"]])).to_numpy(),
                "without": nets[1].removeprefix("without "),
            }))
        effect = pd.concat(rows, ignore_index=True)
        effect.insert(6, "population_gained", effect["population_covered"] - effect["population_covered_without"])
    fac_ok = np.zeros(len(prep.fac), bool)
    for r in runs.values():
        if r.network == FULL:
            fac_ok |= r.facility_ok
    fac_out = prep.fac.assign(scenario=np.where(existing, "existing", "planned"), reachable=fac_ok)
    seen: dict[str, list[str]] = {}
    for key, r in runs.items():
        for w in r.warnings:
            seen.setdefault(w, []).append(key)
    for w, keys in seen.items():
        warnings.append(w if len(keys) == len(runs) else f"[{', '.join(keys)}] {w}")
    params["primary_scenario"] = primary
    params["headline"] = (f"{primary}: {SCENARIO_TEXT[primary]}; the other scenarios are in per_district "
                          "(rows by scenario)")
    params["covered"] = COVERED_DEFINITION[1]
    params["figures"] = {
        "per_district": "rows by scenario (existing, planned, difference)" + (" and network" if transit else ""),
        "per_feature": f"status, nearest facility, distance and time of the {primary} scenario; covered_existing, "
                       "covered_planned and newly_covered per scenario",
        "isochrones/gaps": "one GeoPackage layer per scenario (isochrones_existing, gaps_planned, ...)",
    }
    if transit:
        params["network_counterfactual"] = nets[1] if len(nets) > 1 else None
    districts = _tagged(head.districts, primary, FULL if transit else None)
    return CoverageResult(features=feats, districts=districts, isochrones=head.isochrones, gaps=head.gaps,
                          facilities=fac_out, params=params, warnings=warnings, scenario=primary,
                          scenarios=runs, by_scenario=by_scenario, network_effect=effect,
                          notes=list(params.get("notes", [])))


def overlay_tiled(geoms: np.ndarray, area: shapely.Geometry, *, tile_m: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    """Area of each geometry inside ``area`` and the part outside it (the gap).

    ``area`` (an isochrone) is large and detailed; it is cut into ``tile_m`` tiles first
    so each polygon meets only the few small pieces it touches. Only the gap is computed
    (each feature minus the pieces it touches); the area inside is the feature's area minus
    the gap's, which halves the overlay work. Many features (a very large city) are processed
    on several threads (:func:`cityplan.network.union.map_threaded`).
    """
    inside = np.zeros(len(geoms))
    gaps = np.array(geoms, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if area.is_empty or not ok.any():
        return inside, gaps
    pieces = _tiles(area, tile_m)
    tree = shapely.STRtree(pieces)
    gi, pi = tree.query(geoms[ok], predicate="intersects")
    idx = np.flatnonzero(ok)[gi]
    order = np.argsort(idx, kind="stable")
    idx, pi = idx[order], pi[order]
    # the gap: minus each piece it touches, in the same order as one feature at a time, but
    # vectorised over features: round r takes every feature's r-th piece
    rank = np.arange(len(idx)) - np.searchsorted(idx, idx, side="left")
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == r
        gaps[idx[sel]] = map_threaded(shapely.difference, gaps[idx[sel]], pieces[pi[sel]])
    met = np.unique(idx)
    inside[met] = np.clip(shapely.area(geoms[met]) - shapely.area(gaps[met]), 0.0, None)
    return inside, gaps


def _tiles(area: shapely.Geometry, tile_m: float) -> np.ndarray:
    """``area`` cut into ``tile_m`` tiles (non-empty pieces, made valid, in x-major tile order).

    Only tiles that the area's parts touch are clipped, and each is clipped against those parts
    only, so a city-sized area of many separate parts costs in proportion to its size.
    """
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(minx, maxx + tile_m, tile_m)[:-1]
    ys = np.arange(miny, maxy + tile_m, tile_m)[:-1]
    gx, gy = np.meshgrid(xs, ys, indexing="ij")  # x-major: tile k = (xs[k // ny], ys[k % ny])
    gx, gy = gx.ravel(), gy.ravel()
    parts = shapely.get_parts(area)
    if len(parts) <= 1 or area.geom_type != "MultiPolygon":
        cand = np.arange(len(gx))
        hits: dict[int, np.ndarray] = {}
    else:
        ti, pj = shapely.STRtree(parts).query(shapely.box(gx, gy, gx + tile_m, gy + tile_m))
        order = np.lexsort((pj, ti))
        ti, pj = ti[order], pj[order]
        cand, start = np.unique(ti, return_index=True)
        hits = dict(zip(cand.tolist(), np.split(pj, start[1:]), strict=True))
    out = []
    for k in cand:
        sub = area if not hits or len(hits[k]) == len(parts) else shapely.multipolygons(parts[hits[k]])
        out.append(shapely.clip_by_rect(sub, gx[k], gy[k], gx[k] + tile_m, gy[k] + tile_m))
    pieces = np.array(out, dtype=object)
    return shapely.make_valid(pieces[~shapely.is_empty(pieces)])


def _fca(feats, fac, fac_w, rep_xy, capacity, demand_share, lim: Within, method, params, speed_kmh,
         network: tuple | None = None) -> np.ndarray:
    """2SFCA accessibility per demand feature.

    ``network`` is the run's ``(graph, facility snaps, access-point labels, demand snaps)``;
    ``None`` for straight-line distances.
    """
    supply = pd.to_numeric(fac[capacity], errors="coerce").fillna(0).to_numpy(float)
    pop = feats["population"].to_numpy(float) * demand_share
    d = np.full((len(rep_xy), len(fac)), np.inf)
    if network is None:
        ok = ~np.isnan(rep_xy[:, 0])
        pts = shapely.points(rep_xy[ok])
        for j, g in enumerate(fac_w.geometry.to_numpy()):
            d[ok, j] = shapely.distance(pts, g)
        limit = lim.value if lim.unit == "m" else speed_kmh / 3.6 * lim.value
    else:
        graph, s_fac, alab, s_dem = network
        for j in range(len(fac)):  # one limited search per facility
            sel = alab == j
            if not (s_fac.ok & sel).any():
                continue
            sub = type(s_fac)(edge=np.where(sel, s_fac.edge, -1), offset=s_fac.offset, dist=s_fac.dist)
            r = reach_from_sources(graph, sub, alab, mode=method, unit=lim.unit, speed_kmh=speed_kmh,
                                   limit=lim.value)
            d[:, j], _ = access_costs(graph, r, s_dem)
        limit = lim.value
    access, ratio = two_step_fca(d, supply, pop, limit)
    params["capacity"] = capacity
    params["demand_share"] = demand_share
    params["supply_total"] = float(supply.sum())
    return np.round(access, 6)


def aggregate_districts(feats: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, target: dict[str, Any]) -> pd.DataFrame:
    """Per district (and ``(all)``): population and residential area covered, with shares.

    Without population (every feature's ``population_source`` is ``"unavailable"``: the map has
    no usable census) ``population``, ``population_covered`` and ``population_share`` are NaN and
    a ``population_share`` target is not assessed (``meets_target`` None).
    """
    known = feats.empty or not (feats["population_source"] == POPULATION_UNAVAILABLE).all()
    f = pd.DataFrame({
        "district": feats["district"].to_numpy(), "adcode": feats["adcode"].astype(str).to_numpy(),
        "population": feats["population"].fillna(0).to_numpy(),
        "population_covered": (feats["population"].fillna(0) * feats["covered_share"]).to_numpy(),
        "residential_area_m2": feats["area_m2"].to_numpy(),
        "residential_area_covered_m2": feats["covered_area_m2"].to_numpy(),
        "features": 1, "features_covered": feats["covered"].astype(int).to_numpy(),
        "not_snapped_or_unreachable": feats["status"].str.startswith(("not snapped", "unreachable")).astype(int).to_numpy(),
    })
    cols = ["population", "population_covered", "residential_area_m2", "residential_area_covered_m2",
            "features", "features_covered", "not_snapped_or_unreachable"]
    per = f.groupby(["district", "adcode"], as_index=False)[cols].sum()
    tot = f[cols].sum().to_frame().T.assign(district=ALL, adcode="")
    per = pd.concat([per, tot], ignore_index=True)
    per["population_share"] = np.where(per.population > 0, per.population_covered / per.population, np.nan)
    per["area_share"] = np.where(per.residential_area_m2 > 0,
                                 per.residential_area_covered_m2 / per.residential_area_m2, np.nan)
    if not known:  # no census: no population figure at all, never a 0
        per[["population", "population_covered", "population_share"]] = np.nan
    share = districts.set_index(districts["adcode"].astype(str))["extract_share"] if "extract_share" in districts.columns else pd.Series(dtype=float)
    per["extract_share"] = per["adcode"].map(share)
    if target:
        per["target_metric"] = target["metric"]
        per["target_min"] = float(target["min"])
        per["meets_target"] = per[target["metric"]] >= float(target["min"])
        if not known and target["metric"] == "population_share":
            per["meets_target"] = None
    for c in ("population", "population_covered"):
        per[c] = per[c].round(0)
    for c in ("residential_area_m2", "residential_area_covered_m2"):
        per[c] = per[c].round(1)
    for c in ("population_share", "area_share"):
        per[c] = per[c].round(4)
    first = ["district", "adcode", "population", "population_covered", "population_share",
             "residential_area_m2", "residential_area_covered_m2", "area_share"]
    order = first + [c for c in per.columns if c not in first]
    per["_o"] = per["district"].eq(ALL) | per["district"].eq(OUTSIDE)
    return per.sort_values(["_o", "adcode"]).drop(columns="_o")[order].reset_index(drop=True)
