"""Run a coverage analysis: facilities x demand x method -> per feature, per district, isochrones, gaps.

The request is validated once (:mod:`cityplan.coverage.spec`), inputs come from the one map or
files (:mod:`cityplan.coverage.inputs`), a strategy searches (:mod:`cityplan.coverage.search`:
euclid or network) and one classifier sets each feature's status.
"""

from __future__ import annotations

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
from cityplan.coverage.fca import two_step_fca
from cityplan.coverage.inputs import facilities_frame, prepared_demand, road_graph
from cityplan.coverage.presets import Preset, Within, check_capacity
from cityplan.coverage.spec import CoverageSpec, FacilityInput, make_spec
from cityplan.crs import STORAGE_CRS, to_working
from cityplan.network.search import access_costs, reach_from_sources
from cityplan.onemap import OneMap
from cityplan.tasks.link import OUTSIDE

logger = logging.getLogger(__name__)
ALL = "(all)"


@dataclass
class CoverageResult:
    """Everything a coverage run produces."""

    features: gpd.GeoDataFrame
    districts: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    params: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def run_coverage(
    onemap: OneMap | str | os.PathLike[str] | None = None, *, preset: str | Preset | None = None,
    facilities: list[FacilityInput] | None = None, extra_facilities: list[FacilityInput] | None = None,
    demand: str | None = None, method: str | None = None,
    within: str | Within | None = None, speed_kmh: float | None = None, capacity: str | None = None,
    population: str | None = None, demand_share: float = 1.0, max_snap_m: float = 300.0,
    offroad_m: float = 100.0, access_spacing_m: float = 50.0, network: str | None = None,
    crs: str | None = None, progress: Callable[[str], None] | None = None,
) -> CoverageResult:
    """Compute coverage of ``demand`` by ``facilities``.

    Parameters
    ----------
    onemap : OneMap, path or URL, optional
        The one map (layers by role: districts, census, road graph, residential).
    preset : str or Preset, optional
        A preset id (``cityplan coverage presets``); explicit arguments override it.
    facilities : catalog layer ids, paths to vector files, or ``(label, GeoDataFrame)`` pairs
    extra_facilities : same, optional
        Added to the preset's (or given) facilities, e.g. a proposed site under review.
    demand : catalog layer id or path, optional
        Default: the preset's demand, else the map's ``residential`` role.
    method : {"euclid", "walk", "bike", "drive"}
    within : "500m", "1.5km", "15min", ...
    speed_kmh : float, optional
        Travel speed replacing the mode's per-class speeds (e.g. 3.6 for winter walking).
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

    Raises
    ------
    CoverageError
        Bad or inconsistent options (non-finite numbers, no facilities, no population...).
    """
    spec = make_spec(preset=preset, facilities=facilities, extra_facilities=extra_facilities,
                     demand=demand, method=method, within=within, speed_kmh=speed_kmh,
                     capacity=capacity, population=population, demand_share=demand_share,
                     max_snap_m=max_snap_m, offroad_m=offroad_m, access_spacing_m=access_spacing_m,
                     network=network, crs=crs)
    return run_spec(OneMap.coerce(onemap), spec, progress=progress)


def run_spec(om: OneMap, spec: CoverageSpec, *, progress: Callable[[str], None] | None = None) -> CoverageResult:
    """Run a validated :class:`CoverageSpec` on the one map ``om``."""
    step = progress or (lambda _s: None)
    step("facilities")
    fac = facilities_frame(spec.facilities, spec.extra, om, spec.crs)
    if spec.capacity:
        if spec.capacity not in fac.columns:
            msg = (f"--capacity {spec.capacity!r} is not a column of the facilities; columns: "
                   f"{[c for c in fac.columns if c != 'geometry']}")
            raise CoverageError(msg)
        check_capacity(fac[spec.capacity], spec.capacity)
    step("demand")
    dem, dem_w, dem_label = prepared_demand(spec.demand, om, spec.population, spec.crs)
    n_in = len(dem)
    fac_w = to_working(fac, om.working_crs)
    empty = (dem.geometry.isna() | dem.geometry.is_empty).to_numpy()
    rep_xy = np.full((len(dem), 2), np.nan)
    if (~empty).any():
        rep = dem_w.geometry.to_numpy()[~empty]
        rep_xy[~empty] = shapely.get_coordinates(shapely.point_on_surface(rep))
    lim = spec.within
    params: dict[str, Any] = {
        "preset": spec.preset.id if spec.preset else None, "citation": spec.preset.citation if spec.preset else None,
        "method": spec.method, "within": lim.text, "speed_kmh": spec.speed_kmh,
        "facilities": [s["layer"] for s in spec.facilities] + [label for label, _ in spec.extra],
        "facility_count": len(fac), "facility_count_illustrative": int(fac["is_illustrative"].sum()),
        "demand": dem_label, "max_snap_m": spec.max_snap_m, "offroad_m": spec.offroad_m,
        "population": dem["population_source"].iloc[0] if len(dem) else None,
        "working_crs": f"EPSG:{om.working_epsg}", "onemap": om.label,
    }
    step("search")
    if spec.method == "euclid":
        found = strategies.euclid(spec, fac_w, rep_xy)
    else:
        graph, net_label = road_graph(om, spec.network)
        params["network"] = net_label
        found = strategies.network(spec, graph, fac_w, rep_xy, empty)
        step("isochrone")
    params.update(found.params)
    status = strategies.classify(empty, found)
    covered = status == "covered"
    step("areas")
    inter_area, gaps_geom = overlay_tiled(dem_w.geometry.to_numpy(), found.iso)
    area = dem["area_m2"].to_numpy()
    is_area = area > 0
    cov_share = np.where(is_area, np.divide(inter_area, area, out=np.zeros_like(area), where=is_area),
                         covered.astype(float))
    feats = dem.copy()
    label = found.label
    has = label >= 0
    feats["nearest_facility"] = np.where(has, fac["facility_name"].to_numpy()[np.maximum(label, 0)], None)
    feats["nearest_layer"] = np.where(has, fac["facility_layer"].to_numpy()[np.maximum(label, 0)], None)
    feats["distance_m"] = np.where(np.isfinite(found.cost_m), np.round(found.cost_m, 1), np.nan)
    feats["time_min"] = np.where(np.isfinite(found.cost_s), np.round(found.cost_s / 60, 2), np.nan)
    feats["covered"] = covered
    feats["covered_area_m2"] = np.round(inter_area, 1)
    feats["covered_share"] = np.round(cov_share, 4)
    feats["status"] = status
    if spec.capacity:
        step("2sfca")
        feats["accessibility"] = _fca(feats, fac, fac_w, rep_xy, spec.capacity, spec.demand_share, lim,
                                      spec.method, params, spec.speed_kmh, found.routed)
    assert len(feats) == n_in, "every demand feature is in the output"
    step("gaps")
    gap_area = np.where(empty, 0.0, shapely.area(gaps_geom))
    keep = gap_area > 1.0
    name = dem["name"] if "name" in dem.columns else pd.Series(None, index=dem.index)
    gaps = gpd.GeoDataFrame({"name": name[keep].to_numpy(), "district": dem["district"][keep].to_numpy(),
                             "gap_area_m2": np.round(gap_area[keep], 1),
                             "population_uncovered": np.round((dem["population"] * (1 - cov_share))[keep], 1)},
                            geometry=gaps_geom[keep], crs=dem_w.crs).to_crs(STORAGE_CRS)
    iso = gpd.GeoDataFrame({"within": [lim.text], "method": [spec.method], "area_m2": [round(found.iso.area, 1)]},
                           geometry=[found.iso], crs=dem_w.crs).to_crs(STORAGE_CRS)
    fac_ok = found.facility_ok
    fac_out = fac.assign(reachable=fac_ok)
    warnings = list(found.warnings)
    if (~fac_ok).any():
        warnings.append(f"{int((~fac_ok).sum())} facilit(ies) not within {spec.max_snap_m:g} m of a usable road: unused")
    params["build"] = om.build_info.get("built_at")
    per = aggregate_districts(feats, om.layer_for("districts"), spec.preset.target if spec.preset else {})
    return CoverageResult(features=feats, districts=per, isochrones=iso, gaps=gaps, facilities=fac_out,
                          params=params, warnings=warnings)


def overlay_tiled(geoms: np.ndarray, area: shapely.Geometry, *, tile_m: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    """Area of each geometry inside ``area`` and the part outside it (the gap).

    ``area`` (an isochrone) is large and detailed; it is cut into ``tile_m`` tiles first
    so each polygon meets only the few small pieces it touches.
    """
    inside = np.zeros(len(geoms))
    gaps = np.array(geoms, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if area.is_empty or not ok.any():
        return inside, gaps
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(minx, maxx + tile_m, tile_m)
    ys = np.arange(miny, maxy + tile_m, tile_m)
    pieces = np.array([shapely.clip_by_rect(area, x, y, x + tile_m, y + tile_m) for x in xs[:-1] for y in ys[:-1]],
                      dtype=object)
    pieces = shapely.make_valid(pieces[~shapely.is_empty(pieces)])
    tree = shapely.STRtree(pieces)
    gi, pi = tree.query(geoms[ok], predicate="intersects")
    idx = np.flatnonzero(ok)[gi]
    inter = shapely.intersection(geoms[idx], pieces[pi])
    inside = np.bincount(idx, weights=shapely.area(inter), minlength=len(geoms))
    order = np.argsort(idx, kind="stable")
    for i, j in zip(idx[order], pi[order], strict=True):  # the gap: minus each piece it touches
        gaps[i] = shapely.difference(gaps[i], pieces[j])
    return inside, gaps


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
    """Per district (and ``(all)``): population and residential area covered, with shares."""
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
    share = districts.set_index(districts["adcode"].astype(str))["extract_share"] if "extract_share" in districts.columns else pd.Series(dtype=float)
    per["extract_share"] = per["adcode"].map(share)
    if target:
        per["target_metric"] = target["metric"]
        per["target_min"] = float(target["min"])
        per["meets_target"] = per[target["metric"]] >= float(target["min"])
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
