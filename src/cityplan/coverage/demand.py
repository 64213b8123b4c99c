"""Demand: residential land (or any points/polygons) with population, given or estimated.

Dasymetric estimate: each district's urban population (census 2020 total x urban share)
is spread over the residential land of that district *inside the data extract*, in
proportion to land area. Where the extract covers only part of a district this puts
all of the district's urban residents on the residential land we can see, so the
absolute counts are **estimates** (labelled so); the covered *shares* depend only on
where residential land lies, not on the totals.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from cityplan._errors import CoverageError
from cityplan.crs import to_working
from cityplan.tasks.link import OUTSIDE, assign_districts

POPULATION_COLUMNS = ("population", "pop", "pop_2020", "人口")


def find_population_column(gdf: gpd.GeoDataFrame, explicit: str | None = None) -> str | None:
    """The demand layer's population column, if any (``explicit`` must exist)."""
    if explicit:
        if explicit not in gdf.columns:
            msg = f"population column {explicit!r} not in the demand layer; columns: {list(gdf.columns)}"
            raise CoverageError(msg)
        return explicit
    return next((c for c in POPULATION_COLUMNS if c in gdf.columns), None)


def demand_population(
    demand: gpd.GeoDataFrame, districts: gpd.GeoDataFrame | None, census: pd.DataFrame | None, *,
    population: str | None = None, source: str = "demand", crs: object = None,
) -> gpd.GeoDataFrame:
    """Add ``adcode``, ``district``, ``area_m2``, ``population`` and ``population_source``.

    Raises
    ------
    CoverageError
        No population column and no census / districts to estimate from.
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
        return out
    if census is None or districts is None or "urban_share" not in census.columns:
        msg = (f"{source}: no population column {POPULATION_COLUMNS} and no census table to estimate "
               "from; add a population column (--population COL) or use demand inside the one "
               "map's districts")
        raise CoverageError(msg)
    c = census.assign(adcode=census["adcode"].astype(str)).set_index("adcode")
    urban = (c["pop_2020"] * c["urban_share"]).to_dict()
    weight = np.where(out["area_m2"] > 0, out["area_m2"], 1.0)  # points share equally
    totals = pd.Series(weight).groupby(out["adcode"].to_numpy()).transform("sum").to_numpy()
    pops = np.array([urban.get(a, np.nan) for a in out["adcode"]], dtype=float)
    out["population"] = pops * weight / totals
    out["population_source"] = np.where(np.isnan(pops), "no census district",
                                        "estimate: census 2020 urban pop. by residential area")
    return out
