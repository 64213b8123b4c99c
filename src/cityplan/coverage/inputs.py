"""Coverage inputs from the one map or files: facilities, demand with population, the road graph.

Derived inputs of one-map layers (the routing graph, the demand's districts and population)
are cached **inside the store**, keyed by the build, as plain arrays — never pickles.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from cityplan._errors import CoverageError
from cityplan.coverage.demand import census_population_column, demand_population
from cityplan.crs import STORAGE_CRS, to_working
from cityplan.io.read import read_vector
from cityplan.network import RoadGraph, graph_from_edges, graph_from_lines
from cityplan.network.graph import graph_from_arrays, graph_to_arrays, load_speeds
from cityplan.onemap import OneMap

logger = logging.getLogger(__name__)

_DEMAND_COLUMNS = ("adcode", "district", "area_m2", "population", "population_source", "floor_area_m2")
#: changes when the population rule changes, so caches of an older rule are recomputed
POPULATION_RULE = "area-share x floor-area v2"


def load_input(value: str, om: OneMap, *, crs: str | None = None,
               where: dict[str, list[str]] | None = None) -> tuple[gpd.GeoDataFrame, str]:
    """A catalog layer id of the one map, or a path to any vector file; with optional filters."""
    if om.has_layer(value):
        gdf, label = om.layer(value), value
    elif Path(value).exists():
        gdf, label = read_vector(value, crs=crs), Path(value).name
    else:
        msg = f"{value!r} is neither a layer of the one map nor a file; layers: {sorted(om.layer_ids)}"
        raise CoverageError(msg)
    for col, vals in (where or {}).items():
        if col not in gdf.columns:
            msg = f"{value}: filter column {col!r} not in {list(gdf.columns)}"
            raise CoverageError(msg)
        gdf = gdf[gdf[col].isin(vals)]
    return gdf, label


def facilities_frame(specs: tuple[dict[str, Any], ...], extra: tuple[tuple[str, gpd.GeoDataFrame], ...],
                     om: OneMap, crs: str | None, extra_plan: tuple[bool, ...] = ()) -> gpd.GeoDataFrame:
    """All facilities in the storage CRS: ``facility_layer``, ``facility_ref``, ``facility_name``,
    ``is_illustrative``, ``is_plan`` (+ kept columns).

    ``is_plan``: the feature comes from a layer whose catalog role is ``plan``, or was added as an
    extra facility (a proposal); plan sites count in the *planned* scenario only, even when real
    (e.g. metro stations under construction). ``is_illustrative``: the layer's ``illustrative``
    column (placed by a documented rule, not a real site).
    """
    plan_layers = set(om.plan_layer_ids)
    loaded: list[tuple[gpd.GeoDataFrame, str, dict[str, Any], bool]] = []
    for spec in specs:
        gdf, label = load_input(spec["layer"], om, crs=crs, where=spec.get("where"))
        is_plan = bool(spec.get("plan")) or (om.has_layer(spec["layer"]) and spec["layer"] in plan_layers)
        loaded.append((gdf, label, spec, is_plan))
    plan_flags = list(extra_plan) + [False] * (len(extra) - len(extra_plan))
    loaded += [(gdf, label, {}, flag) for (label, gdf), flag in zip(extra, plan_flags, strict=True)]
    frames = []
    for gdf, label, spec, is_plan in loaded:
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if gdf.empty:
            continue
        name = gdf["name"] if "name" in gdf.columns else pd.Series(None, index=gdf.index)
        ref = next((gdf[c] for c in ("site_id", "osm_ref") if c in gdf.columns),
                   pd.Series(gdf.index.astype(str), index=gdf.index))
        ill = (gdf["illustrative"].astype(bool).to_numpy() if "illustrative" in gdf.columns
               else np.zeros(len(gdf), bool))
        frames.append(gpd.GeoDataFrame({
            "facility_layer": label, "facility_ref": ref.astype(str).to_numpy(),
            "facility_name": [n if isinstance(n, str) and n else f"{label} {r}"
                              for n, r in zip(name, ref, strict=True)],
            "is_illustrative": ill, "is_plan": np.full(len(gdf), is_plan),
            **{c: gdf[c].to_numpy() for c in spec.get("keep", []) if c in gdf.columns},
        }, geometry=gdf.geometry.to_crs(STORAGE_CRS).to_numpy(), crs=STORAGE_CRS))
    if not frames:
        names = [s["layer"] for s in specs] + [label for label, _ in extra]
        msg = (f"facility layer(s) {names} have no features"
               + (" after the filters" if any(s.get("where") for s in specs) else "")
               + "; coverage needs at least one facility")
        raise CoverageError(msg)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=STORAGE_CRS)


def road_graph(om: OneMap, network: str | None) -> tuple[RoadGraph, str]:
    """The routing graph with the city's speeds: the map's ``road_graph`` role (cached in the
    store) or a line layer/file."""
    graph, label = _road_graph(om, network)
    graph.speeds = load_speeds(om.profile)
    return graph, label


def _road_graph(om: OneMap, network: str | None) -> tuple[RoadGraph, str]:
    default = om.layer_id_for("road_graph", required=network is None)
    if network is None or network == default:
        assert default is not None
        key = f"graph:{default}"
        arrays = om.cached_arrays(key)
        if arrays is not None:
            return graph_from_arrays(arrays), f"{default} (routable edges)"
        graph = graph_from_edges(om.layer(default), crs=om.working_crs)
        om.cache_arrays(key, graph_to_arrays(graph))
        return graph, f"{default} (routable edges)"
    gdf, label = load_input(network, om)
    if {"source", "target", "reverse", "class_id"} <= set(gdf.columns):
        return graph_from_edges(gdf, crs=om.working_crs), label
    return graph_from_lines(gdf, crs=om.working_crs), f"{label} (noded lines)"


def walk_graph(om: OneMap) -> tuple[RoadGraph, str, list[str]]:
    """The walkable network (role ``walk_network``, noded, cached in the store) for transit,
    with the city's speeds.

    Falls back to the ``road_graph`` (drivable roads only) with a warning when the map has none.
    """
    graph, label, notes = _walk_graph(om)
    graph.speeds = load_speeds(om.profile)
    return graph, label, notes


def _walk_graph(om: OneMap) -> tuple[RoadGraph, str, list[str]]:
    lid = om.layer_id_for("walk_network", required=False)
    if lid is None:
        graph, label = road_graph(om, None)
        msg = (f"{om.label}: no layer with the role 'walk_network' (footways, paths); walking on "
               f"{label} - drivable roads only - instead. Declare one in the catalog and rebuild")
        logger.warning(msg)
        return graph, label, [msg]
    key = f"graph:{lid}"
    arrays = om.cached_arrays(key)
    if arrays is not None:
        return graph_from_arrays(arrays), f"{lid} (walkable ways, noded)", []
    graph = graph_from_lines(om.layer(lid), crs=om.working_crs)
    om.cache_arrays(key, graph_to_arrays(graph))
    return graph, f"{lid} (walkable ways, noded)", []


#: how a population-less run is explained (the start of every :func:`census_status` reason)
POPULATION_UNAVAILABLE_NOTE = "population unavailable"
_AREA_ONLY = "coverage gives residential land shares (area_share) only"


def census_status(om: OneMap) -> tuple[pd.DataFrame | None, str]:
    """The map's census if population can be estimated from it, else ``None`` and why not.

    The reason is one line starting ``population unavailable:`` - the map has no census (no layer
    with the role ``census``), or its census has no ``adcode`` column, no population column or no
    population figure.
    """
    census_id = om.layer_id_for("census", required=False)
    if census_id is None:
        return None, (f"{POPULATION_UNAVAILABLE_NOTE}: the map has no census (no layer with the role "
                      f"'census'); {_AREA_ONLY}")
    census = om.layer(census_id)
    if "adcode" not in census.columns:
        return None, (f"{POPULATION_UNAVAILABLE_NOTE}: the census {census_id} has no adcode column to join "
                      f"the districts; {_AREA_ONLY}")
    try:
        col, _ = census_population_column(census, census_id)
    except CoverageError:
        return None, (f"{POPULATION_UNAVAILABLE_NOTE}: the census {census_id} has no population column "
                      f"(population, pop, 人口 or pop_YYYY); {_AREA_ONLY}")
    if not pd.to_numeric(census[col], errors="coerce").notna().any():
        return None, f"{POPULATION_UNAVAILABLE_NOTE}: the census {census_id} holds no population figure; {_AREA_ONLY}"
    return census, ""


def prepared_demand(value: str | None, om: OneMap, population: str | None,
                    crs: str | None, role: str = "residential") -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str]:
    """Demand with district and population, and its metric copy, and its label.

    ``value`` is a layer id or file; None takes the (first) layer with the functional ``role``.
    For a layer of the one map the district assignment and the population estimate are
    cached in the store (keyed by the build); files are always prepared afresh. Without a usable
    census (:func:`census_status`) and a population column, ``population`` is NaN and
    ``population_source`` ``"unavailable"``.
    """
    value = value or om.layer_id_for(role)
    assert value is not None
    districts = om.layer_for("districts")
    census, _ = census_status(om)

    def estimate(raw: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
        b_id = om.layer_id_for("buildings", required=False)
        f_id = om.layer_id_for("district_boundaries_full", required=False)
        return demand_population(raw, districts, census, population=population, source=source,
                                 crs=om.working_crs, buildings=om.layer(b_id) if b_id else None,
                                 full_districts=om.layer(f_id) if f_id else None, census_required=False)

    if om.has_layer(value):
        raw = om.layer(value).reset_index(drop=True)
        key = f"demand:{value}:{population or 'census'}"
        arrays = om.cached_arrays(key)
        fresh = (arrays is not None and len(arrays["area_m2"]) == len(raw)
                 and str(np.asarray(arrays.get("rule", "")).ravel()[0] if "rule" in arrays else "") == POPULATION_RULE
                 and all(c in arrays for c in _DEMAND_COLUMNS))
        if fresh:
            assert arrays is not None
            dem = raw.assign(**{c: arrays[c] for c in _DEMAND_COLUMNS})
            dem["population_source"] = dem["population_source"].astype(object)
            for c in ("adcode", "district"):
                dem[c] = dem[c].astype(object)
        else:
            dem = estimate(raw, value)
            om.cache_arrays(key, {**{c: _plain(dem[c]) for c in _DEMAND_COLUMNS}, "rule": np.array(POPULATION_RULE)})
        label = value
    else:
        raw, label = load_input(value, om, crs=crs)
        dem = estimate(raw.reset_index(drop=True), label)
    return dem, to_working(dem[[dem.geometry.name]], om.working_crs), label


def _plain(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float)
    return s.fillna("").astype(str).to_numpy(dtype=str)
