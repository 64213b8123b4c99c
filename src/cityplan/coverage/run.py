"""Run a coverage analysis: facilities x demand x method -> per feature, per district, isochrones, gaps."""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import CoverageError, OutputExistsError
from cityplan.coverage.demand import demand_population
from cityplan.coverage.fca import two_step_fca
from cityplan.coverage.presets import Preset, Within, get_preset, parse_within
from cityplan.crs import STORAGE_CRS, to_working
from cityplan.io.read import read_vector
from cityplan.io.write import atomic_path, write_gpkg, write_table
from cityplan.network import RoadGraph, graph_from_edges, graph_from_lines, snap_points
from cityplan.network.graph import load_graph, save_graph
from cityplan.network.search import access_costs, isochrone, reach_from_sources, reached_lines
from cityplan.onemap import cache_file, read_build_info, read_catalog_table, read_layer
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


def load_input(value: str, onemap: str | os.PathLike[str] | None, *, crs: str | None = None,
               where: dict[str, list[str]] | None = None) -> tuple[gpd.GeoDataFrame, str]:
    """A catalog layer id of the one map, or a path to any vector file."""
    ids = set(read_catalog_table(onemap)["layer"])
    if value in ids:
        gdf = read_layer(onemap, value)
    elif Path(value).exists():
        gdf = read_vector(value, crs=crs)
    else:
        msg = (f"{value!r} is neither a layer of the one map nor a file; layers: "
               f"{sorted(ids)}")
        raise CoverageError(msg)
    for col, vals in (where or {}).items():
        if col not in gdf.columns:
            msg = f"{value}: filter column {col!r} not in {list(gdf.columns)}"
            raise CoverageError(msg)
        gdf = gdf[gdf[col].isin(vals)]
    return gdf, Path(value).name if value not in ids else value


def _facilities(specs: list[dict[str, Any]], onemap, crs: str | None) -> gpd.GeoDataFrame:
    frames = []
    for spec in specs:
        gdf, label = load_input(spec["layer"], onemap, crs=crs, where=spec.get("where"))
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if gdf.empty:
            continue
        name = gdf["name"] if "name" in gdf.columns else pd.Series(None, index=gdf.index)
        ref = next((gdf[c] for c in ("site_id", "osm_ref") if c in gdf.columns), pd.Series(gdf.index.astype(str), index=gdf.index))
        frames.append(gpd.GeoDataFrame({
            "facility_layer": label, "facility_ref": ref.astype(str).to_numpy(),
            "facility_name": [n if isinstance(n, str) and n else f"{label} {r}" for n, r in zip(name, ref, strict=True)],
            **{c: gdf[c].to_numpy() for c in spec.get("keep", []) if c in gdf.columns},
        }, geometry=gdf.geometry.to_crs(STORAGE_CRS).to_numpy(), crs=STORAGE_CRS))
    if not frames:
        msg = (f"facility layer(s) {[s['layer'] for s in specs]} have no features"
               + (" after the filters" if any(s.get("where") for s in specs) else "")
               + "; coverage needs at least one facility")
        raise CoverageError(msg)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=STORAGE_CRS)


def access_points(fac_w: gpd.GeoSeries, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each facility can be entered: the point itself, or points along a polygon's edge."""
    xy, lab = [], []
    for i, g in enumerate(fac_w.to_numpy()):
        if g.geom_type in ("Point", "MultiPoint"):
            pts = shapely.get_coordinates(g)
        else:
            ring = g.boundary if g.geom_type in ("Polygon", "MultiPolygon") else g
            n = max(4, int(np.ceil(ring.length / spacing_m)))
            pts = shapely.get_coordinates(ring.interpolate(np.linspace(0, 1, n, endpoint=False), normalized=True))
        xy.append(pts)
        lab.append(np.full(len(pts), i))
    return np.concatenate(xy), np.concatenate(lab)


def _radii(preset_rules: tuple[dict[str, float], ...], fac_w: gpd.GeoSeries, default: float) -> np.ndarray:
    if not preset_rules:
        return np.full(len(fac_w), default)
    area = fac_w.area.to_numpy()
    r = np.full(len(fac_w), np.nan)
    for rule in preset_rules:  # first matching rule wins
        hit = np.isnan(r) & (area >= float(rule.get("min_area_m2", 0)))
        r[hit] = float(rule["radius_m"])
    return r


def _network_graph(network: str | None, onemap) -> tuple[RoadGraph, str]:
    if network is None or network == "road_graph":
        # cached beside the one map, keyed by its build (a rebuild invalidates it)
        cache = cache_file(onemap, "road_graph", ".npz")
        if cache.exists():
            return load_graph(cache), "road_graph (bfmap edges)"
        graph = graph_from_edges(read_layer(onemap, "road_graph"))
        try:
            save_graph(graph, cache)
        except OSError as exc:  # read-only folder: fine, just slower next time
            logger.info("graph cache not written: %s", exc)
        return graph, "road_graph (bfmap edges)"
    gdf, label = load_input(network, onemap)
    if {"source", "target", "reverse", "class_id"} <= set(gdf.columns):
        return graph_from_edges(gdf), label
    return graph_from_lines(gdf), f"{label} (noded lines)"


def _prepared_demand(value: str, onemap, districts: gpd.GeoDataFrame, population: str | None,
                     crs: str | None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str]:
    """Demand with districts and population, and its metric copy.

    For a layer of the one map the result is cached beside it (pickle, keyed by the build
    time), since it depends on nothing else; files are always prepared afresh.
    """
    ids = set(read_catalog_table(onemap)["layer"])
    cache = None
    if value in ids:
        cache = cache_file(onemap, f"demand-{value}-{population or 'census'}", ".pkl")
        if cache.exists():
            with cache.open("rb") as f:
                return pickle.load(f)
    dem, label = load_input(value, onemap, crs=crs)
    census = read_layer(onemap, "census_population")
    dem = demand_population(dem.reset_index(drop=True), districts, census, population=population, source=label)
    out = (dem, to_working(dem[[dem.geometry.name]]), label)
    if cache is not None:
        try:
            with atomic_path(cache, overwrite=True) as tmp, tmp.open("wb") as f:
                pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError as exc:
            logger.info("demand cache not written: %s", exc)
    return out


def run_coverage(
    onemap: str | os.PathLike[str] | None = None, *, preset: str | Preset | None = None,
    facilities: list[str] | None = None, extra_facilities: list[str] | None = None,
    demand: str | None = None, method: str | None = None,
    within: str | Within | None = None, speed_kmh: float | None = None, capacity: str | None = None,
    population: str | None = None, demand_share: float = 1.0, max_snap_m: float = 300.0,
    offroad_m: float = 100.0, access_spacing_m: float = 50.0, network: str | None = None,
    crs: str | None = None, progress: Callable[[str], None] | None = None,
) -> CoverageResult:
    """Compute coverage of ``demand`` by ``facilities``.

    Parameters
    ----------
    onemap : path-like, optional
        The one-map GeoPackage (layers, districts, census, road graph).
    preset : str or Preset, optional
        A preset id (``cityplan coverage presets``); explicit arguments override it.
    facilities, demand : catalog layer ids or paths to vector files
    extra_facilities : list of str, optional
        Added to the preset's (or given) facilities, e.g. a proposed site under review.
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
        ``road_graph`` (default) or any line layer / file, noded.
    """
    step = progress or (lambda _s: None)
    p = get_preset(preset) if isinstance(preset, str) else preset
    method = method or (p.method if p else None)
    lim = parse_within(within) if isinstance(within, str) else within or (p.within if p else None)
    if method is None or lim is None:
        msg = "coverage needs --preset, or --method and --within (e.g. --method walk --within 500m)"
        raise CoverageError(msg)
    if speed_kmh is None and p is not None and method == p.method:
        speed_kmh = p.speed_kmh
    fac_specs = [{"layer": f} for f in facilities] if facilities else list(p.facilities if p else [])
    fac_specs += [{"layer": f} for f in extra_facilities or []]
    if not fac_specs:
        msg = "coverage needs facilities: --facilities LAYER_OR_FILE or a --preset"
        raise CoverageError(msg)
    if capacity:
        fac_specs = [{**s, "keep": [capacity]} for s in fac_specs]
    step("facilities")
    fac = _facilities(fac_specs, onemap, crs)
    if capacity and capacity not in fac.columns:
        msg = f"--capacity {capacity!r} is not a column of the facilities"
        raise CoverageError(msg)
    step("demand")
    dem_value = demand or (p.demand if p else "residential")
    districts = read_layer(onemap, "districts")
    dem, dem_w, dem_label = _prepared_demand(dem_value, onemap, districts, population, crs)
    n_in = len(dem)
    fac_w = to_working(fac)
    empty = dem.geometry.isna() | dem.geometry.is_empty
    rep = dem_w.geometry.copy()
    rep[~empty] = dem_w.geometry[~empty].representative_point()
    rep_xy = np.full((len(dem), 2), np.nan)
    rep_xy[~empty.to_numpy()] = shapely.get_coordinates(rep[~empty].to_numpy())
    warnings: list[str] = []
    status = np.full(len(dem), "", dtype=object)
    status[empty.to_numpy()] = "no geometry"
    params: dict[str, Any] = {
        "preset": p.id if p else None, "citation": p.citation if p else None, "method": method,
        "within": lim.text, "speed_kmh": speed_kmh, "facilities": [s["layer"] for s in fac_specs],
        "facility_count": len(fac), "demand": dem_label, "max_snap_m": max_snap_m,
        "offroad_m": offroad_m, "population": dem["population_source"].iloc[0] if len(dem) else None,
    }
    step("search")
    routed = None  # (graph, facility snaps, access labels, demand snaps) of a network run
    if method == "euclid":
        iso_geom, cost_m, label, fac_ok = _euclid(fac_w, rep_xy, lim, speed_kmh, p, params)
        cost_s = cost_m / (speed_kmh / 3.6) if speed_kmh else np.full(len(cost_m), np.nan)
        covered = np.zeros(len(dem), bool)
        pts = shapely.points(rep_xy)
        tree = shapely.STRtree(params.pop("_buffers"))
        hit = tree.query(pts, predicate="within")
        covered[np.unique(hit[0])] = True
        status[(status == "") & covered] = "covered"
        status[status == ""] = "not covered"
    else:
        graph, net_label = _network_graph(network, onemap)
        graph.check_connected()
        params["network"] = net_label
        axy, alab = access_points(fac_w.geometry, access_spacing_m)
        main = graph.main_component_edges()
        s_fac = snap_points(graph, axy, mode=method, max_snap_m=max_snap_m, mask=main)
        fac_ok = np.zeros(len(fac), bool)
        fac_ok[np.unique(alab[s_fac.ok])] = True
        if not fac_ok.any():
            msg = f"no facility is within {max_snap_m:g} m of a road usable by {method}; cannot route"
            raise CoverageError(msg)
        s_dem = snap_points(graph, np.nan_to_num(rep_xy, nan=0.0), mode=method, max_snap_m=max_snap_m,
                            mask=main)
        s_dem.edge[empty.to_numpy()] = -1
        routed = (graph, s_fac, alab, s_dem)
        unit = lim.unit
        reach = reach_from_sources(graph, s_fac, alab, mode=method, unit=unit, speed_kmh=speed_kmh,
                                   limit=3 * lim.value)
        cost, label = access_costs(graph, reach, s_dem)
        other = "s" if unit == "m" else "m"
        reach2 = reach_from_sources(graph, s_fac, alab, mode=method, unit=other, speed_kmh=speed_kmh)
        cost2, _ = access_costs(graph, reach2, s_dem)
        cost_m, cost_s = (cost, cost2) if unit == "m" else (cost2, cost)
        covered = cost <= lim.value
        not_snapped = ~s_dem.ok & (status == "")
        status[not_snapped] = "not snapped"
        comp = graph.components
        fac_comps = set(comp[graph.u[s_fac.edge[s_fac.ok]]])
        dem_comp = np.where(s_dem.ok, comp[graph.u[np.maximum(s_dem.edge, 0)]], -1)
        isolated = s_dem.ok & ~np.isin(dem_comp, list(fac_comps)) & (status == "")
        status[isolated] = "unreachable: no facility on its network component"
        status[(status == "") & ~np.isfinite(cost)] = "not covered (beyond 3x limit)"
        status[(status == "") & covered] = "covered"
        status[status == ""] = "not covered"
        step("isochrone")
        iso_geom = isochrone(reached_lines(graph, reach, lim.value), offroad_m)
        if not_snapped.any():
            warnings.append(f"{int(not_snapped.sum())} demand feature(s) farther than {max_snap_m:g} m "
                            f"from a road usable by {method}: flagged 'not snapped'")
        if isolated.any():
            warnings.append(f"{int(isolated.sum())} demand feature(s) sit on network components with no "
                            "facility (disconnected parts of the graph): flagged 'unreachable'")
    step("areas")
    dem_geoms = dem_w.geometry.to_numpy()
    inter_area, gaps_geom = overlay_tiled(dem_geoms, iso_geom)
    area = dem["area_m2"].to_numpy()
    is_area = area > 0
    cov_share = np.where(is_area, np.divide(inter_area, area, out=np.zeros_like(area), where=is_area),
                         covered.astype(float))
    feats = dem.copy()
    has = label >= 0
    feats["nearest_facility"] = np.where(has, fac["facility_name"].to_numpy()[np.maximum(label, 0)], None)
    feats["nearest_layer"] = np.where(has, fac["facility_layer"].to_numpy()[np.maximum(label, 0)], None)
    feats["distance_m"] = np.where(np.isfinite(cost_m), np.round(cost_m, 1), np.nan)
    feats["time_min"] = np.where(np.isfinite(cost_s), np.round(cost_s / 60, 2), np.nan)
    feats["covered"] = covered & (status == "covered")
    feats["covered_area_m2"] = np.round(inter_area, 1)
    feats["covered_share"] = np.round(cov_share, 4)
    feats["status"] = status
    if capacity:
        step("2sfca")
        feats["accessibility"] = _fca(feats, fac, fac_w, rep_xy, capacity, demand_share, lim, method,
                                      params, speed_kmh, routed)
    assert len(feats) == n_in, "every demand feature is in the output"
    step("gaps")
    gap_area = np.where(empty, 0.0, shapely.area(gaps_geom))
    keep = gap_area > 1.0
    name = dem["name"] if "name" in dem.columns else pd.Series(None, index=dem.index)
    gaps = gpd.GeoDataFrame({"name": name[keep].to_numpy(), "district": dem["district"][keep].to_numpy(),
                             "gap_area_m2": np.round(gap_area[keep], 1),
                             "population_uncovered": np.round((dem["population"] * (1 - cov_share))[keep], 1)},
                            geometry=gaps_geom[keep], crs=dem_w.crs).to_crs(STORAGE_CRS)
    iso = gpd.GeoDataFrame({"within": [lim.text], "method": [method], "area_m2": [round(iso_geom.area, 1)]},
                           geometry=[iso_geom], crs=dem_w.crs).to_crs(STORAGE_CRS)
    fac_out = fac.assign(reachable=fac_ok)
    if (~fac_ok).any():
        warnings.append(f"{int((~fac_ok).sum())} facilit(ies) not within {max_snap_m:g} m of a usable road: unused")
    params["build"] = read_build_info(onemap).get("built_at")
    per = aggregate_districts(feats, districts, p.target if p else {})
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


def _euclid(fac_w, rep_xy, lim: Within, speed_kmh, p: Preset | None, params: dict) -> tuple:
    if lim.unit == "s":
        if not speed_kmh:
            msg = "euclid with a time limit needs --speed KMH (straight-line distance = speed x time)"
            raise CoverageError(msg)
        radius = speed_kmh / 3.6 * lim.value
    else:
        radius = lim.value
    r = _radii(p.radius_rules if p else (), fac_w.geometry, radius)
    usable = ~np.isnan(r)
    geoms = fac_w.geometry.to_numpy()
    buffers = shapely.buffer(geoms[usable], r[usable], quad_segs=16)
    params["_buffers"] = buffers
    params["radius_m"] = sorted({float(x) for x in r[usable]})
    iso = shapely.union_all(buffers)
    tree = shapely.STRtree(geoms[usable])
    pts = shapely.points(rep_xy)
    ok = ~np.isnan(rep_xy[:, 0])
    cost = np.full(len(rep_xy), np.inf)
    label = np.full(len(rep_xy), -1)
    (pi, fi), d = tree.query_nearest(pts[ok], return_distance=True, all_matches=False)
    idx = np.flatnonzero(ok)[pi]
    cost[idx] = d
    label[idx] = np.flatnonzero(usable)[fi]
    return iso, cost, label, usable


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


def write_coverage(res: CoverageResult, out: str | os.PathLike[str], *, formats: tuple[str, ...] = ("csv",),
                   overwrite: bool = False, map_html: bool = True, offline: bool = True,
                   onemap=None) -> list[Path]:
    """Write GeoPackage, per-district and per-feature tables (CSV/XLSX/JSON), params and a map."""
    d = Path(out)
    if d.exists() and any(d.iterdir()) and not overwrite:
        msg = f"{d}: output folder is not empty; pass --overwrite to replace its files"
        raise OutputExistsError(msg)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    feats = res.features.to_crs(STORAGE_CRS)
    written.append(write_gpkg({"demand": feats, "districts": res.districts, "isochrones": res.isochrones,
                               "gaps": res.gaps, "facilities": res.facilities},
                              d / "coverage.gpkg", overwrite=True))
    table = pd.DataFrame(feats.drop(columns="geometry"))
    for fmt in formats:
        if fmt == "xlsx":
            written.append(write_table(res.districts, d / "coverage.xlsx", overwrite=True,
                                       sheets={"features": table, "gaps": pd.DataFrame(res.gaps.drop(columns="geometry"))}))
        else:
            written.append(write_table(res.districts, d / f"per_district.{fmt}", overwrite=True))
            written.append(write_table(table, d / f"per_feature.{fmt}", overwrite=True))
    with atomic_path(d / "params.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps({**res.params, "warnings": res.warnings}, ensure_ascii=False, indent=1,
                                  default=str), encoding="utf-8")
    written.append(d / "params.json")
    if map_html:
        from cityplan.maps.coverage_map import coverage_map
        from cityplan.maps.render import save_map

        written.append(save_map(coverage_map(res, onemap, offline=offline), d / "coverage_map.html",
                                overwrite=True))
    return written

