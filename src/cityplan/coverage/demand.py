"""Demand: residential land (or any points/polygons) with population, given or estimated.

Dasymetric estimate, in two steps (every figure is an **estimate**; ``population_source`` says
on what basis):

1. **How many people live in the part of each district we see.** The census counts whole
   districts, the data extract covers only part of some. OSM residential land exists only inside
   the extract, so the share of a district's residential land inside it cannot be measured; it is
   taken equal to the district's **area share** inside the extract (``extract_share`` of the
   districts layer = clipped area / full area, EPSG of the working CRS; or computed here from the
   ``district_boundaries_full`` layer). District total = census population x that share - never
   the whole district's population when only part of it is visible. (A district wholly inside the
   extract, or a map without full boundaries, keeps its whole census population.) The rule
   assumes residential land spreads over a district like its area; where the dense core lies in
   the extract (Harbin's old districts) it underestimates the residents we see.
2. **Where they live inside it.** Each demand feature gets a weight: the **floor area** of the
   residential buildings inside it (footprint x ``building:levels``; untagged buildings take the
   median levels of the tagged residential ones of the layer) where the map has buildings, and
   for features without a mapped building their land area x the district's floor-area ratio of
   the features with buildings (so both kinds of weight are floor areas); residential land area
   alone when the map has no buildings. The district total is spread in proportion to the weights.

Census columns are detected, not assumed: the population is ``population`` or ``pop_YYYY``
(the year names the census in the label) or ``人口``.

A map without a usable census (``census_required=False``, as coverage on the one map asks) gets
no population at all: ``population`` is NaN and ``population_source`` is ``"unavailable"``;
coverage then reports residential land shares only.
"""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import CoverageError
from cityplan.crs import to_working
from cityplan.tasks.link import OUTSIDE, assign_districts

logger = logging.getLogger(__name__)

POPULATION_COLUMNS = ("population", "pop", "人口")
_YEAR_COLUMN = re.compile(r"^pop(?:ulation)?_?((?:19|20)\d\d)$")
#: OSM ``building`` values that are not homes (their floor area carries no residents)
NON_RESIDENTIAL = frozenset({
    "industrial", "commercial", "retail", "office", "warehouse", "school", "university", "college",
    "kindergarten", "hospital", "church", "cathedral", "chapel", "temple", "mosque", "shrine", "religious",
    "train_station", "transportation", "garage", "garages", "parking", "greenhouse", "public", "civic",
    "government", "hotel", "sports_hall", "sports_centre", "stadium", "grandstand", "service", "roof",
    "construction", "shed", "hangar", "barn", "farm_auxiliary", "supermarket", "toilets", "kiosk",
    "fire_station", "bunker", "ruins", "gatehouse", "bridge", "transformer_tower", "data_center",
    "storage_tank", "silo", "boathouse", "pavilion",
})
LEVEL_COLUMNS = ("building:levels", "building_levels", "levels")
#: ``population_source`` of demand without population (the map has no usable census)
POPULATION_UNAVAILABLE = "unavailable"


def population_basis(sources: pd.Series) -> str | None:
    """One line for the whole run: the basis of its population figures (per-district shares vary)."""
    vals = sources.dropna().astype(str)
    if vals.empty:
        return None
    first = vals.iloc[0]
    if not first.startswith("estimate"):
        return first
    head = re.sub(r" x [\d.]+% of the district", " x each district's share", first.split(", by ")[0])
    ways = sorted({v.split(", by ", 1)[1] for v in vals if ", by " in v})
    return f"{head}, by {' or '.join(ways)}"


def find_population_column(gdf: pd.DataFrame, explicit: str | None = None) -> str | None:
    """The demand layer's population column, if any (``explicit`` must exist)."""
    if explicit:
        if explicit not in gdf.columns:
            msg = f"population column {explicit!r} not in the demand layer; columns: {list(gdf.columns)}"
            raise CoverageError(msg)
        return explicit
    return next((c for c in POPULATION_COLUMNS if c in gdf.columns), None)


def census_population_column(census: pd.DataFrame, source: str = "census") -> tuple[str, str]:
    """The census table's population column and the census it names (``census 2020``).

    ``population``, ``pop`` or ``人口`` first; else a single ``pop_YYYY`` / ``populationYYYY``
    column (the latest year when there are several).

    Raises
    ------
    CoverageError
        No population column, naming the columns the table has.
    """
    for c in POPULATION_COLUMNS:
        if c in census.columns:
            return c, "census"
    years = sorted((m.group(1), c) for c in census.columns if (m := _YEAR_COLUMN.match(str(c))))
    if years:
        year, col = years[-1]
        return col, f"census {year}"
    msg = (f"{source}: no population column (population, pop, 人口 or pop_YYYY) in the census table; it has "
           f"{[c for c in census.columns if c != 'geometry']}. Rename the column or pass --population")
    raise CoverageError(msg)


def district_shares(districts: gpd.GeoDataFrame, full: gpd.GeoDataFrame | None, crs: object = None) -> pd.Series:
    """Share of each district (by ``adcode``) inside the data: its ``extract_share`` column, else
    its area / the area of the ``full`` boundary with the same adcode (capped at 1), else 1."""
    codes = districts["adcode"].astype(str)
    if "extract_share" in districts.columns:
        s = pd.to_numeric(districts["extract_share"], errors="coerce").to_numpy(float)
        return pd.Series(np.clip(np.nan_to_num(s, nan=1.0), 0, 1), index=codes.to_numpy())
    if full is not None and len(full) and "adcode" in full.columns:
        seen = to_working(districts, crs).area.to_numpy()
        whole = to_working(full, crs).area.groupby(full["adcode"].astype(str).to_numpy()).sum()
        w = whole.reindex(codes.to_numpy()).to_numpy()
        return pd.Series(np.clip(np.where(w > 0, seen / w, 1.0), 0, 1), index=codes.to_numpy())
    return pd.Series(1.0, index=codes.to_numpy())


def building_floor_area(dem_w: gpd.GeoSeries, buildings: gpd.GeoDataFrame | None,
                        crs: object = None) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Floor area of the residential buildings inside each demand feature, buildings per feature,
    and the rule used (``levels_default``: median levels of tagged residential buildings)."""
    n = len(dem_w)
    if buildings is None or buildings.empty:
        return np.zeros(n), np.zeros(n, int), {}
    b = buildings[buildings.geometry.notna() & ~buildings.geometry.is_empty]
    kind = b["building"].astype(str).str.lower() if "building" in b.columns else pd.Series("yes", index=b.index)
    b = b[~kind.isin(NON_RESIDENTIAL)]
    lcol = next((c for c in LEVEL_COLUMNS if c in b.columns), None)
    levels = (pd.to_numeric(b[lcol].astype(str).str.extract(r"^\s*(\d+(?:\.\d+)?)")[0], errors="coerce")
              if lcol else pd.Series(np.nan, index=b.index)).to_numpy(float)
    levels = np.where(levels > 0, levels, np.nan)
    tagged = int(np.isfinite(levels).sum())
    default = float(np.nanmedian(levels)) if tagged else 1.0
    levels = np.where(np.isfinite(levels), levels, default)
    bw = to_working(b, crs).geometry.to_numpy()
    foot = shapely.area(bw)
    geoms = np.asarray(dem_w.to_numpy(), dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    floor = np.zeros(n)
    count = np.zeros(n, int)
    if ok.any() and len(bw):
        tree = shapely.STRtree(geoms[ok])
        bi, di = tree.query(shapely.point_on_surface(bw), predicate="within")
        idx = np.flatnonzero(ok)[di]
        floor = np.bincount(idx, weights=foot[bi] * levels[bi], minlength=n)
        count = np.bincount(idx, minlength=n)
    return floor, count, {"buildings": len(b), "levels_tagged": tagged, "levels_default": default}


def demand_population(
    demand: gpd.GeoDataFrame, districts: gpd.GeoDataFrame | None, census: pd.DataFrame | None, *,
    population: str | None = None, source: str = "demand", crs: object = None,
    buildings: gpd.GeoDataFrame | None = None, full_districts: gpd.GeoDataFrame | None = None,
    census_required: bool = True,
) -> gpd.GeoDataFrame:
    """Add ``adcode``, ``district``, ``area_m2``, ``population``, ``population_source`` and
    ``floor_area_m2`` (the building weight, 0 where none is mapped).

    With ``census_required=False`` demand without a population column and without a census (with
    ``adcode``) or districts to estimate from gets ``population`` NaN and ``population_source``
    :data:`POPULATION_UNAVAILABLE` instead of an error.

    Raises
    ------
    CoverageError
        No population column and no census / districts to estimate from (``census_required``); a
        census without a population column.
    """
    out = demand.copy()
    work = to_working(out, crs)
    out["area_m2"] = work.area.to_numpy()
    if districts is not None and len(districts):
        where = assign_districts(out, districts)
        out["adcode"], out["district"] = where.adcode.to_numpy(), where.district.to_numpy()
    else:
        out["adcode"], out["district"] = "", OUTSIDE
    col = find_population_column(out, population)
    if col is not None:
        out["population"] = pd.to_numeric(out[col], errors="coerce")
        out["population_source"] = f"column {col}"
        out["floor_area_m2"] = 0.0
        return out
    if census is None or districts is None or "adcode" not in census.columns:
        if not census_required:
            out["population"] = np.nan
            out["population_source"] = POPULATION_UNAVAILABLE
            out["floor_area_m2"] = 0.0
            return out
        msg = (f"{source}: no population column {POPULATION_COLUMNS} and no census table (with adcode) to "
               "estimate from; add a population column (--population COL) or use demand inside the one "
               "map's districts")
        raise CoverageError(msg)
    pcol, basis = census_population_column(census)
    c = census.assign(adcode=census["adcode"].astype(str)).set_index("adcode")
    pop = pd.to_numeric(c[pcol], errors="coerce")
    share = district_shares(districts, full_districts, crs)
    total = {a: float(pop.get(a, np.nan)) * float(share.get(a, 1.0)) for a in share.index}
    floor, count, rule = building_floor_area(work.geometry, buildings, crs)
    adcode = out["adcode"].astype(str).to_numpy()
    area = out["area_m2"].to_numpy(float)
    land = np.where(area > 0, area, 1.0)  # points share equally
    has_b = count > 0
    if has_b.any():
        frame = pd.DataFrame({"a": adcode, "f": np.where(has_b, floor, 0.0), "l": np.where(has_b, land, 0.0)})
        g = frame.groupby("a")[["f", "l"]].sum()
        city_far = floor[has_b].sum() / land[has_b].sum()
        far = (g["f"] / g["l"]).where(g["l"] > 0).reindex(adcode).fillna(city_far).to_numpy()
        weight = np.where(has_b, floor, land * far)
        how = np.where(has_b, "building floor area", "land area x district floor-area ratio")
    else:
        weight = land
        how = np.full(len(out), "residential land area")
    sums = pd.Series(weight).groupby(adcode).transform("sum").to_numpy()
    tot = np.array([total.get(a, np.nan) for a in adcode], dtype=float)
    out["population"] = tot * weight / sums
    out["floor_area_m2"] = np.round(np.where(has_b, floor, 0.0), 1)
    shares = np.array([float(share.get(a, np.nan)) for a in adcode])
    label = [f"estimate: {basis} population x {s:.1%} of the district inside the extract (area share), by {h}"
             if np.isfinite(t) else "no census district" for t, s, h in zip(tot, shares, how, strict=True)]
    out["population_source"] = label
    if rule:
        logger.info("population weights: %d residential buildings, %d with levels (median %.1f for the rest)",
                    rule["buildings"], rule["levels_tagged"], rule["levels_default"])
    return out
