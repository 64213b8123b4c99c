"""The OSM layers of a city: which features of an extract go to which catalog layer.

The extract is read with GDAL's OSM driver (:func:`cityplan.io.read.read_vector`), one
read per OSM layer (points, lines, multipolygons, ...); the selections below are data.
Every feature read is counted: used by one or more layers, or unused (buildings, shops
and the like a city's one map does not hold).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from cityplan.crs import ensure_crs
from cityplan.io.read import list_file_layers, parse_osm_tags, read_vector
from cityplan.tools.derive import select_points

logger = logging.getLogger(__name__)

#: the OSM layers of GDAL's driver, and the tags each needs beyond its own columns
OSM_LAYERS: dict[str, tuple[str, ...]] = {
    "points": ("amenity", "leisure", "sport"),
    "lines": ("oneway", "junction"),
    "multilinestrings": (),
    "multipolygons": ("water", "wetland", "waterway"),
    "other_relations": (),
}
SCHOOL = ("school", "kindergarten", "college", "university")
SPORTS = ("ice_rink", "pitch", "stadium", "sports_centre")
PARK_LEISURE = ("park", "garden", "nature_reserve")
#: ice-and-snow sports (OSM ``sport`` values; ``;``-separated lists are split)
ICE_SPORTS = ("ice_skating", "ice_hockey", "skating", "curling", "ice_stock", "speed_skating",
              "figure_skating", "skiing")
WATERWAY_LINES = ("river", "stream", "canal", "drain", "ditch")


@dataclass(frozen=True)
class Selection:
    """One output layer: the OSM layer it is read from and the tag test it applies."""

    layer: str
    osm_layer: str
    test: str  # human-readable, for docs and city.json
    columns: tuple[str, ...]


SELECTIONS: tuple[Selection, ...] = (
    Selection("roads", "lines", "highway=*", ("osm_ref", "name", "highway", "oneway")),
    Selection("waterways", "lines", f"waterway in {WATERWAY_LINES}", ("osm_ref", "name", "waterway")),
    Selection("residential", "multipolygons", "landuse=residential", ("osm_ref", "name", "landuse")),
    Selection("parks", "multipolygons", f"leisure in {PARK_LEISURE} or tourism=zoo",
              ("osm_ref", "name", "leisure", "tourism")),
    Selection("schools", "multipolygons", f"amenity in {SCHOOL}", ("osm_ref", "name", "amenity")),
    Selection("parking", "multipolygons", "amenity=parking", ("osm_ref", "name", "amenity")),
    Selection("sports_facilities", "multipolygons", f"leisure in {SPORTS}",
              ("osm_ref", "name", "leisure", "sport")),
    Selection("water", "multipolygons", "natural=water, waterway=riverbank or landuse in (reservoir, basin)",
              ("osm_ref", "name", "natural", "water", "landuse", "waterway")),
    Selection("water_polygons", "multipolygons", "natural=wetland", ("osm_ref", "name", "natural", "wetland")),
    Selection("schools_points", "points", f"amenity in {SCHOOL}", ("osm_ref", "name", "amenity")),
    Selection("parking_points", "points", "amenity=parking", ("osm_ref", "name", "amenity")),
    Selection("sports_facility_points", "points", f"leisure in {SPORTS}", ("osm_ref", "name", "leisure", "sport")),
)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name].astype("string").fillna("")
    return pd.Series("", index=df.index, dtype="string")


def _mask(sel: Selection, df: pd.DataFrame) -> np.ndarray:
    c = lambda k: _col(df, k)  # noqa: E731
    m = {
        "roads": c("highway") != "",
        "waterways": c("waterway").isin(WATERWAY_LINES),
        "residential": c("landuse") == "residential",
        "parks": c("leisure").isin(PARK_LEISURE) | (c("tourism") == "zoo"),
        "schools": c("amenity").isin(SCHOOL),
        "schools_points": c("amenity").isin(SCHOOL),
        "parking": c("amenity") == "parking",
        "parking_points": c("amenity") == "parking",
        "sports_facilities": c("leisure").isin(SPORTS),
        "sports_facility_points": c("leisure").isin(SPORTS),
        "water": (c("natural") == "water") | (c("waterway") == "riverbank")
                 | c("landuse").isin(["reservoir", "basin"]),
        "water_polygons": c("natural") == "wetland",
    }[sel.layer]
    return m.to_numpy(bool)


def osm_ref(gdf: pd.DataFrame, osm_layer: str) -> pd.Series:
    """``node/ID``, ``way/ID`` or ``relation/ID`` of each GDAL OSM feature."""
    if osm_layer == "multipolygons":
        rel = gdf["osm_id"].astype("string")
        way = gdf["osm_way_id"].astype("string")
        return ("relation/" + rel).where(rel.notna(), "way/" + way)
    kind = {"points": "node", "lines": "way"}.get(osm_layer, "relation")
    return kind + "/" + gdf["osm_id"].astype("string")


def _read_layer(path: str | os.PathLike[str], layer: str, tags: list[str]) -> gpd.GeoDataFrame:
    """One OSM layer; a geometry GEOS cannot parse (a ring of two points from a broken relation)
    is kept as a missing geometry, which the build drops into its ledger with a reason."""
    try:
        return read_vector(path, layer=layer, osm_tags=tags or None, datum_hint=False)
    except shapely.errors.GEOSException as exc:
        logger.warning("%s layer %s: unparseable geometries kept as missing (%s)", path, layer, exc)
    gdf = pyogrio.read_dataframe(path, layer=layer, use_arrow=False, on_invalid="ignore")
    extra = parse_osm_tags(gdf["other_tags"], [k for k in tags if k not in gdf.columns]) if tags else None
    gdf = pd.concat([gdf, extra], axis=1) if extra is not None else gdf
    return ensure_crs(gdf.reset_index(drop=True), None, source=f"{path} layer {layer!r}")


@contextlib.contextmanager
def gdal_config(options: dict[str, str]) -> Iterator[None]:
    """Set GDAL configuration options for the duration of a block, then restore them."""
    old = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def read_osm(path: str | os.PathLike[str]) -> dict[str, gpd.GeoDataFrame]:
    """Every feature of the extract, per GDAL OSM layer, with ``osm_ref`` and the tags used."""
    # GDAL's OSM driver reserves OSM_MAX_TMPFILE_SIZE MB (default 100) of RAM for its node index on
    # every open; small extracts need far less (beyond it the driver moves to a temp file)
    mb = Path(path).stat().st_size / 2**20
    with gdal_config({"OSM_MAX_TMPFILE_SIZE": str(min(100, max(4, math.ceil(20 * mb))))}):
        have = set(list_file_layers(path))
        out = {}
        for lyr, tags in OSM_LAYERS.items():
            if lyr not in have:
                continue
            if not any(s.osm_layer == lyr for s in SELECTIONS):  # only counted: no geometry needed
                df = pyogrio.read_dataframe(path, layer=lyr, read_geometry=False, columns=["osm_id"])
                gdf = gpd.GeoDataFrame(df, geometry=[None] * len(df), crs="EPSG:4326")
            else:
                gdf = _read_layer(path, lyr, list(tags))
            gdf["osm_ref"] = osm_ref(gdf, lyr)
            out[lyr] = gdf
    return out


def select_layers(osm: dict[str, gpd.GeoDataFrame]) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, dict[str, int]]]:
    """The city's OSM layers and, per OSM layer, features read / used / unused.

    ``schools_points`` also holds a representative point of every school ground without a
    school node inside it (so schools mapped only as areas still count); ``ice_sports``
    is every point or area with ``leisure=ice_rink`` or an ice/snow ``sport``, as points.
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    used = {k: np.zeros(len(v), bool) for k, v in osm.items()}
    empty = gpd.GeoDataFrame({"osm_ref": pd.Series(dtype="string")}, geometry=[], crs="EPSG:4326")
    for sel in SELECTIONS:
        src = osm.get(sel.osm_layer, empty)
        m = _mask(sel, src) if len(src) else np.zeros(0, bool)
        if len(src):
            used[sel.osm_layer] |= m
        part = src[m]
        layers[sel.layer] = gpd.GeoDataFrame(
            {c: _col(part, c).replace("", pd.NA) if c != "osm_ref" else part[c] for c in sel.columns},
            geometry=part.geometry.to_numpy(), crs=src.crs).reset_index(drop=True)
    pts = layers["schools_points"].assign(from_layer="points")
    grounds = layers["schools"]
    if len(grounds):
        holds = gpd.sjoin(grounds[["geometry"]], pts[["geometry"]], predicate="contains").index.unique()
        extra = grounds.drop(index=holds)
        extra = extra.set_geometry(extra.geometry.representative_point()).assign(from_layer="multipolygons")
        pts = gpd.GeoDataFrame(pd.concat([pts, extra], ignore_index=True), crs=pts.crs)
    layers["schools_points"] = pts
    ice_src = {k: osm[k] for k in ("points", "multipolygons") if k in osm and len(osm[k])}
    any_of = {"leisure": ["ice_rink"], "sport": list(ICE_SPORTS)}
    ice = select_points(ice_src, any_of=any_of) if ice_src else empty.assign(from_layer=None)
    for k, df in ice_src.items():
        used[k] |= df["osm_ref"].isin(ice.loc[ice["from_layer"] == k, "osm_ref"]).to_numpy()
    keep = ["osm_ref", "name", "leisure", "sport", "from_layer"]
    layers["ice_sports"] = gpd.GeoDataFrame({c: _col(ice, c).replace("", pd.NA) for c in keep},
                                            geometry=ice.geometry.to_numpy(), crs="EPSG:4326")
    counts = {k: {"read": int(len(used[k])), "used": int(used[k].sum()), "unused": int((~used[k]).sum())}
              for k in osm}
    return layers, counts


def describe() -> list[dict[str, str]]:
    """The selections as rows (layer, OSM layer, test) for docs and the summary."""
    rows = [{"layer": s.layer, "osm_layer": s.osm_layer, "test": s.test} for s in SELECTIONS]
    rows.append({"layer": "ice_sports", "osm_layer": "points, multipolygons",
                 "test": f"leisure=ice_rink or sport in {ICE_SPORTS} (areas as representative points)"})
    return rows
