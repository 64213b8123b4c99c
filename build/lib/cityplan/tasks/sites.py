"""Plan sites: features that serve a task, from real data or generated illustratively.

Where public data locates the real thing (metro Line 3's north-west loop, Sun Island,
the river) the site is taken from it. Where it does not (which compounds are
renovated, where new parking goes) sites are generated **reproducibly** by a
documented rule with a fixed seed, on real residential land or roads, with totals
equal to the register's targets, and flagged ``illustrative``.

Every rule is a pure function of GeoDataFrames; :func:`make_plan_sites` dispatches
on the catalog's ``derive: {op: plan_sites, rule: ...}``.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import ops as shp_ops

from cityplan._errors import SchemaError
from cityplan.crs import to_working
from cityplan.tasks.register import Register


def allocate(total: float, weights: np.ndarray, *, integer: bool = True) -> np.ndarray:
    """Split ``total`` proportionally to ``weights`` (largest remainder: sums exactly)."""
    w = np.asarray(weights, dtype=float)
    if len(w) == 0:
        return w
    share = total * w / w.sum()
    if not integer:
        return share
    base = np.floor(share)
    rest = int(round(total - base.sum()))
    order = np.argsort(-(share - base), kind="stable")
    base[order[:rest]] += 1
    return base.astype(int)


def _district_of(gdf: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.Series:
    pts = gpd.GeoDataFrame(geometry=gdf.geometry.representative_point(), crs=gdf.crs, index=gdf.index)
    j = gpd.sjoin(pts, districts[["adcode", "geometry"]], how="left", predicate="within")
    return j[~j.index.duplicated()]["adcode"].reindex(gdf.index)


def _spread_pick(cands: gpd.GeoDataFrame, n: int, rng: np.random.Generator, by: pd.Series | None) -> list:
    """``n`` random candidates, round-robin over ``by`` groups when given."""
    if len(cands) < n:
        msg = f"only {len(cands)} candidate features for {n} sites; loosen the rule"
        raise SchemaError(msg)
    order = list(cands.index[rng.permutation(len(cands))])
    if by is None:
        return order[:n]
    queues: dict[Any, list] = {}
    for i in order:
        queues.setdefault(by[i], []).append(i)
    keys = sorted(queues, key=str)
    picked: list = []
    while len(picked) < n:
        for k in keys:
            if queues[k] and len(picked) < n:
                picked.append(queues[k].pop(0))
    return picked


def _filter(gdf: gpd.GeoDataFrame, where: dict[str, Any] | None) -> gpd.GeoDataFrame:
    out = gdf
    for col, val in (where or {}).items():
        if col not in out.columns:
            msg = f"plan rule filter: column {col!r} not in {list(out.columns)}"
            raise SchemaError(msg)
        if val == "*":  # any non-empty value
            out = out[out[col].notna() & out[col].astype("string").ne("")]
            continue
        vals = val if isinstance(val, list) else [val]
        out = out[out[col].isin(vals)]
    return out


def pick_features(
    base: gpd.GeoDataFrame, *, n: int, seed: int, where: dict[str, Any] | None = None,
    districts: gpd.GeoDataFrame | None = None, in_districts: list[str] | None = None,
    spread: bool = False, min_area_m2: float = 0.0, max_area_m2: float = np.inf,
) -> gpd.GeoDataFrame:
    """Choose ``n`` features of ``base`` at random (seeded) among those passing the filters."""
    cands = _filter(base, where)
    if min_area_m2 > 0 or np.isfinite(max_area_m2):
        area = to_working(cands).area
        cands = cands[(area >= min_area_m2) & (area <= max_area_m2)]
    by = None
    if districts is not None:
        by = _district_of(cands, districts)
        if in_districts:
            cands = cands[by.isin(in_districts)]
            by = by[cands.index]
    rng = np.random.default_rng(seed)
    picked = _spread_pick(cands, n, rng, by if spread else None)
    out = cands.loc[picked].copy()
    out["adcode_hint"] = by[picked].to_numpy() if by is not None else None
    return out


def points_on_roads(
    roads: gpd.GeoDataFrame, near: gpd.GeoDataFrame, *, n: int, seed: int, classes: list[str],
    within_m: float, class_column: str = "highway",
) -> gpd.GeoDataFrame:
    """``n`` points at the middle of random road segments of ``classes`` within ``within_m`` of ``near``."""
    cands = roads[roads[class_column].isin(classes)]
    work = to_working(cands)
    zone = shapely.union_all(to_working(near).buffer(within_m).values)
    cands = cands[work.intersects(zone).to_numpy()]
    picked = _spread_pick(cands, n, np.random.default_rng(seed), None)
    out = cands.loc[picked].copy()
    mid = to_working(out).geometry.interpolate(0.5, normalized=True)
    return out.set_geometry(mid.to_crs(out.crs))


def named_lines(
    roads: gpd.GeoDataFrame, *, n: int, seed: int, classes: list[str], min_length_m: float,
    class_column: str = "highway",
) -> gpd.GeoDataFrame:
    """``n`` whole named streets (all ways of one name merged) of ``classes``, chosen at random."""
    cands = roads[roads[class_column].isin(classes) & roads["name"].notna()]
    merged = cands.dissolve(by="name", as_index=False, aggfunc={"osm_ref": "first", class_column: "first"})
    merged["geometry"] = [shp_ops.linemerge(g) if g.geom_type == "MultiLineString" else g
                          for g in merged.geometry]
    merged = merged[to_working(merged).length.to_numpy() >= min_length_m]
    merged = merged.sort_values("name").reset_index(drop=True)
    picked = _spread_pick(merged, n, np.random.default_rng(seed), None)
    out = merged.loc[picked].copy()
    out["geometry"] = [g if g.geom_type == "MultiLineString" else shapely.multilinestrings([g])
                       for g in out.geometry]
    return out


def points_in_polygons(
    polys: gpd.GeoDataFrame, *, n: int, seed: int, where: dict[str, Any] | None = None,
    districts: gpd.GeoDataFrame | None = None, spread: bool = False, min_area_m2: float = 0.0,
) -> gpd.GeoDataFrame:
    """One point inside each of ``n`` randomly chosen polygons (representative point)."""
    out = pick_features(polys, n=n, seed=seed, where=where, districts=districts, spread=spread,
                        min_area_m2=min_area_m2)
    return out.set_geometry(out.geometry.representative_point())


def split_zones(poly: gpd.GeoDataFrame, *, names: list[str]) -> gpd.GeoDataFrame:
    """Cut one polygon into ``len(names)`` west-to-east bands of equal width (metric CRS)."""
    work = to_working(poly)
    geom = shapely.union_all(work.geometry.values)
    minx, miny, maxx, maxy = geom.bounds
    edges = np.linspace(minx, maxx, len(names) + 1)
    parts = [geom.intersection(shapely.box(edges[i], miny - 1, edges[i + 1], maxy + 1))
             for i in range(len(names))]
    out = gpd.GeoDataFrame({"name": names, "osm_ref": poly["osm_ref"].iloc[0]}, geometry=parts,
                           crs=work.crs)
    return out.to_crs(poly.crs)


def split_by_districts(polys: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, *,
                       min_area_m2: float = 1e4, name_format: str = "{district}") -> gpd.GeoDataFrame:
    """Cut polygons by district boundaries: one section per (polygon, district).

    Sections are named ``name_format`` with ``{district}`` replaced by the district's name (the
    catalog's ``name_format``, e.g. ``"Corridor - {district}"``).
    """
    work = to_working(polys)
    dist = to_working(districts)
    cut = gpd.overlay(work[["geometry"]], dist[["adcode", "name", "geometry"]], how="intersection",
                      keep_geom_type=True)
    cut = cut[cut.area >= min_area_m2].rename(columns={"adcode": "adcode_hint"})
    cut["name"] = [name_format.replace("{district}", str(n)) for n in cut["name"]]
    return cut.to_crs(polys.crs).reset_index(drop=True)


def line_between_flagged(lines: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, *,
                         line_flag: str, station_flag: str, name: str = "") -> gpd.GeoDataFrame:
    """The part of the flagged line between the outermost flagged stations on it, named ``name``.

    For a loop line the section runs the short way round through all flagged stations.
    """
    line = to_working(lines[lines[line_flag].astype(bool)]).geometry
    if len(line) != 1:
        msg = f"expected one line flagged {line_flag!r}, found {len(line)}"
        raise SchemaError(msg)
    geom = shp_ops.linemerge(line.iloc[0]) if line.iloc[0].geom_type == "MultiLineString" else line.iloc[0]
    st = to_working(stations[stations[station_flag].astype(bool)])
    pos = np.sort(np.array([geom.project(p) for p in st.geometry]))
    total = geom.length
    gaps = np.diff(np.concatenate([pos, [pos[0] + total]]))
    k = int(np.argmax(gaps))  # the largest gap is the part NOT in the section
    start, end = pos[(k + 1) % len(pos)], pos[k]
    if start <= end:
        sec = shapely.ops.substring(geom, start, end)
    else:  # the section crosses the loop's start point
        sec = shapely.ops.linemerge([shapely.ops.substring(geom, start, total),
                                     shapely.ops.substring(geom, 0, end)])
    sec = sec if sec.geom_type == "MultiLineString" else shapely.multilinestrings([sec])
    out = gpd.GeoDataFrame({"name": [name]}, geometry=[sec], crs=line.crs)
    return out.to_crs(lines.crs)


RULES = ("pick_features", "points_on_roads", "named_lines", "points_in_polygons", "split_zones",
         "split_by_districts", "flagged", "line_between_flagged")


def _count(register: Register, d: dict[str, Any]) -> int:
    if "sites" in d:
        return int(d["sites"])
    return int(register.target(d["task"], d["count"]).value)


def make_plan_sites(
    layer_id: str, d: dict[str, Any], loaded: dict[str, pd.DataFrame], register: Register,
) -> gpd.GeoDataFrame:
    """Build one plan layer from its catalog ``derive`` block.

    Keys: ``rule`` (one of :data:`RULES`), ``from`` (base layer, or list whose
    first item is the base and which may include ``districts``), ``task``,
    ``count`` (metric whose target gives the number of sites) or ``sites``,
    ``allocate`` (column -> {metric, weight: equal|area|length}), ``seed`` and the
    rule's own options. Output columns: site_id, task_id, name, osm_ref, the
    quantity columns, status, rule.
    """
    rule = d.get("rule")
    if rule not in RULES:
        msg = f"layer {layer_id!r}: plan rule {rule!r} is not one of {RULES}"
        raise SchemaError(msg)
    register.get(d["task"])  # unknown task ids fail here, naming the layer below
    frm = d["from"] if isinstance(d["from"], list) else [d["from"]]
    base = loaded[frm[0]]
    districts = loaded.get("districts") if "districts" in frm else None
    seed = int(d.get("seed", 2023))
    if rule == "pick_features":
        out = pick_features(base, n=_count(register, d), seed=seed, where=d.get("where"),
                            districts=districts, in_districts=d.get("in_districts"),
                            spread=bool(d.get("spread")), min_area_m2=float(d.get("min_area_m2", 0)),
                            max_area_m2=float(d.get("max_area_m2", np.inf)))
    elif rule == "points_on_roads":
        out = points_on_roads(base, loaded[d["near"]], n=_count(register, d), seed=seed,
                              classes=d["classes"], within_m=float(d["within_m"]))
    elif rule == "named_lines":
        out = named_lines(base, n=_count(register, d), seed=seed, classes=d["classes"],
                          min_length_m=float(d.get("min_length_m", 0)))
    elif rule == "points_in_polygons":
        out = points_in_polygons(base, n=_count(register, d), seed=seed, where=d.get("where"),
                                 districts=districts, spread=bool(d.get("spread")),
                                 min_area_m2=float(d.get("min_area_m2", 0)))
    elif rule == "split_zones":
        out = split_zones(_filter(base, d.get("where")), names=d["names"])
    elif rule == "split_by_districts":
        out = split_by_districts(base, loaded["districts"], name_format=str(d.get("name_format", "{district}")))
    elif rule == "flagged":
        out = base[base[d["flag"]].astype(bool)].copy()
    else:
        out = line_between_flagged(base, loaded[frm[1]], line_flag=d["line_flag"],
                                   station_flag=d["station_flag"], name=str(d.get("name", "")))
    alloc = {col: {**spec, "total": register.target(d["task"], spec["metric"]).value}
             for col, spec in (d.get("allocate") or {}).items()}
    return _finish(layer_id, out, {**d, "allocate": alloc})


def _finish(layer_id: str, out: gpd.GeoDataFrame, d: dict[str, Any]) -> gpd.GeoDataFrame:
    out = out.reset_index(drop=True)
    res = gpd.GeoDataFrame({
        "site_id": [f"{layer_id}-{i + 1:03d}" for i in range(len(out))],
        "task_id": d["task"],
        "name": out["name"] if "name" in out.columns else None,
        "osm_ref": out["osm_ref"] if "osm_ref" in out.columns else None,
    }, geometry=out.geometry.to_numpy(), crs=out.crs)
    if "name" in out.columns:
        # unnamed base features get a generated label so popups are never blank
        res["name"] = [n if isinstance(n, str) and n else f"{d.get('label', layer_id)} {i + 1}"
                       for i, n in enumerate(out["name"])]
    if d.get("count"):
        res[d.get("count_column", d["count"])] = 1
    work = to_working(res)
    for col, spec in (d.get("allocate") or {}).items():
        weight = spec.get("weight", "equal")
        w = {"equal": np.ones(len(res)), "area": work.area.to_numpy(),
             "length": work.length.to_numpy()}[weight]
        res[col] = allocate(float(spec["total"]), w, integer=True)
    measures = {"area_m2": lambda: work.area.round(1).to_numpy(),
                "length_km": lambda: (work.length / 1000).round(3).to_numpy(),
                "one": lambda: np.ones(len(res), dtype=int)}
    for col, how in (d.get("measure") or {}).items():
        if how not in measures:
            msg = f"layer {layer_id!r}: measure {how!r} is not one of {sorted(measures)}"
            raise SchemaError(msg)
        res[col] = measures[how]()
    res["status"] = d.get("status", "planned")
    res["rule"] = d.get("rule_text", d["rule"])
    return res
