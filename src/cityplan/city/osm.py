"""The OSM layers of a city: which features of an extract go to which catalog layer.

The extract is read with GDAL's OSM driver (:func:`cityplan.io.read.read_vector`), one
read per OSM layer (points, lines, multipolygons, ...); the selections below are data.
Every feature read is counted: used by one or more layers, or unused (shops, tram lines,
route relations and the like a city's one map does not hold).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
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

#: tags of a school's level, read in this order (the first that names a level wins)
SCHOOL_LEVEL_TAGS = ("isced:level", "school:level", "school")
#: the OSM layers of GDAL's driver, and the tags each needs beyond its own columns
OSM_LAYERS: dict[str, tuple[str, ...]] = {
    "points": ("amenity", "leisure", "sport", "healthcare", *SCHOOL_LEVEL_TAGS, "railway", "station",
               "public_transport", "subway", "light_rail"),
    "lines": ("oneway", "junction", "ref", "usage", "service"),
    "multilinestrings": (),
    "multipolygons": ("water", "wetland", "waterway", "healthcare", *SCHOOL_LEVEL_TAGS, "building:levels",
                      "height"),
    "other_relations": (),
}
SCHOOL = ("school", "kindergarten", "college", "university")
SPORTS = ("ice_rink", "pitch", "stadium", "sports_centre")
PARK_LEISURE = ("park", "garden", "nature_reserve")
#: ice-and-snow sports (OSM ``sport`` values; ``;``-separated lists are split)
ICE_SPORTS = ("ice_skating", "ice_hockey", "skating", "curling", "ice_stock", "speed_skating",
              "figure_skating", "skiing")
WATERWAY_LINES = ("river", "stream", "canal", "drain", "ditch")
#: ``amenity`` values of health facilities (any ``healthcare`` value counts too)
HEALTH_AMENITY = ("hospital", "clinic", "doctors")
#: ``railway`` values of metro lines (trams, monorails and main-line rail are not metro)
METRO_RAILWAY = ("subway", "light_rail")
#: school levels, youngest first (the ``level`` column joins several with ``;`` in this order)
SCHOOL_LEVELS = ("kindergarten", "primary", "secondary", "tertiary")
#: ISCED 2011 levels: 0 early childhood, 1 primary, 2-3 lower/upper secondary, 4 post-secondary
#: non-tertiary (taught in upper-secondary schools), 5-8 tertiary
ISCED_LEVEL = {0: "kindergarten", 1: "primary", 2: "secondary", 3: "secondary", 4: "secondary",
               5: "tertiary", 6: "tertiary", 7: "tertiary", 8: "tertiary"}
#: words of ``school:level`` / ``school`` (OSM values in use), lower case
SCHOOL_LEVEL_WORDS = {
    "kindergarten": "kindergarten", "preschool": "kindergarten", "pre_school": "kindergarten",
    "nursery": "kindergarten", "primary": "primary", "elementary": "primary",
    "secondary": "secondary", "lower_secondary": "secondary", "upper_secondary": "secondary",
    "middle": "secondary", "junior_high": "secondary", "high": "secondary", "high_school": "secondary",
    "senior_high": "secondary", "tertiary": "tertiary", "college": "tertiary", "university": "tertiary",
}
#: the level of an ``amenity`` when no level tag names one (``school`` says nothing)
AMENITY_LEVEL = {"kindergarten": "kindergarten", "college": "tertiary", "university": "tertiary"}
#: a number at the start of ``building:levels`` (the rule coverage's floor-area weights read)
_LEADING_NUMBER = r"^\s*(\d+(?:\.\d+)?)"
#: ``height`` in metres: a number, optionally followed by ``m`` (other units are not read)
_METRES = r"^\s*(\d+(?:\.\d+)?)\s*(?:m|metres|meters)?\s*$"


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
    Selection("metro_lines", "lines", f"railway in {METRO_RAILWAY}", ("osm_ref", "name", "ref", "railway")),
    Selection("railways", "lines", "railway=rail", ("osm_ref", "name", "ref", "railway", "usage", "service")),
    Selection("residential", "multipolygons", "landuse=residential", ("osm_ref", "name", "landuse")),
    Selection("buildings", "multipolygons", "building=* (not building=no)",
              ("osm_ref", "name", "building", "building:levels")),
    Selection("parks", "multipolygons", f"leisure in {PARK_LEISURE} or tourism=zoo",
              ("osm_ref", "name", "leisure", "tourism")),
    Selection("schools", "multipolygons", f"amenity in {SCHOOL}", ("osm_ref", "name", "amenity")),
    Selection("health_facilities", "multipolygons", f"amenity in {HEALTH_AMENITY} or healthcare=*",
              ("osm_ref", "name", "amenity", "healthcare")),
    Selection("parking", "multipolygons", "amenity=parking", ("osm_ref", "name", "amenity")),
    Selection("sports_facilities", "multipolygons", f"leisure in {SPORTS}",
              ("osm_ref", "name", "leisure", "sport")),
    Selection("water", "multipolygons", "natural=water, waterway=riverbank or landuse in (reservoir, basin)",
              ("osm_ref", "name", "natural", "water", "landuse", "waterway")),
    Selection("water_polygons", "multipolygons", "natural=wetland", ("osm_ref", "name", "natural", "wetland")),
    Selection("schools_points", "points", f"amenity in {SCHOOL}", ("osm_ref", "name", "amenity")),
    Selection("health_facility_points", "points", f"amenity in {HEALTH_AMENITY} or healthcare=*",
              ("osm_ref", "name", "amenity", "healthcare")),
    Selection("metro_stations", "points",
              "railway=station with station in (subway, light_rail) or on a metro line's way, "
              "or public_transport=station with subway=yes or light_rail=yes",
              ("osm_ref", "name", "railway", "station", "public_transport")),
    Selection("parking_points", "points", "amenity=parking", ("osm_ref", "name", "amenity")),
    Selection("sports_facility_points", "points", f"leisure in {SPORTS}", ("osm_ref", "name", "leisure", "sport")),
)
#: point layers that also hold a representative point of each area of the areas layer holding no
#: such point (features mapped only as areas still count)
MERGED_POINTS = {"schools_points": "schools", "health_facility_points": "health_facilities"}


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name].astype("string").fillna("")
    return pd.Series("", index=df.index, dtype="string")


def _on_ways(points: gpd.GeoDataFrame, ways: gpd.GeoDataFrame) -> pd.Series:
    """Whether each point is a node of one of ``ways`` (same coordinates as one of their vertices:
    GDAL writes a node's location to both, so this is OSM's topology, not a distance)."""
    if not len(points) or not len(ways):
        return pd.Series(False, index=points.index)
    vertices = {tuple(xy) for xy in shapely.get_coordinates(ways.geometry.to_numpy())}
    xy = shapely.get_coordinates(points.geometry.to_numpy(), include_z=False)
    has = ~(shapely.is_missing(points.geometry.to_numpy()) | shapely.is_empty(points.geometry.to_numpy()))
    on = np.zeros(len(points), bool)
    on[np.flatnonzero(has)] = [tuple(p) in vertices for p in xy]
    return pd.Series(on, index=points.index)


def _metro_ways(osm: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    lines = osm.get("lines")
    if lines is None or not len(lines):
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return lines[_col(lines, "railway").isin(METRO_RAILWAY).to_numpy(bool)]


def _metro_station(df: gpd.GeoDataFrame, osm: dict[str, gpd.GeoDataFrame]) -> pd.Series:
    """``railway=station`` typed as metro or a node of a metro line's way; ``public_transport=station``
    serving a metro."""
    c = lambda k: _col(df, k)  # noqa: E731
    station = c("railway") == "station"
    typed = c("station").isin(METRO_RAILWAY)
    on_line = pd.Series(False, index=df.index)
    untyped = station & ~typed
    if untyped.any():
        on_line[untyped] = _on_ways(df[untyped.to_numpy(bool)], _metro_ways(osm))
    pt = (c("public_transport") == "station") & ((c("subway") == "yes") | (c("light_rail") == "yes"))
    return (station & (typed | on_line)) | pt


def _mask(sel: Selection, df: gpd.GeoDataFrame, osm: dict[str, gpd.GeoDataFrame]) -> np.ndarray:
    c = lambda k: _col(df, k)  # noqa: E731
    health = lambda: c("amenity").isin(HEALTH_AMENITY) | (c("healthcare") != "")  # noqa: E731
    tests: dict[str, Callable[[], pd.Series]] = {
        "roads": lambda: c("highway") != "",
        "waterways": lambda: c("waterway").isin(WATERWAY_LINES),
        "metro_lines": lambda: c("railway").isin(METRO_RAILWAY),
        "railways": lambda: c("railway") == "rail",
        "residential": lambda: c("landuse") == "residential",
        "buildings": lambda: ~c("building").isin(["", "no"]),
        "parks": lambda: c("leisure").isin(PARK_LEISURE) | (c("tourism") == "zoo"),
        "schools": lambda: c("amenity").isin(SCHOOL),
        "schools_points": lambda: c("amenity").isin(SCHOOL),
        "health_facilities": health,
        "health_facility_points": health,
        "metro_stations": lambda: _metro_station(df, osm),
        "parking": lambda: c("amenity") == "parking",
        "parking_points": lambda: c("amenity") == "parking",
        "sports_facilities": lambda: c("leisure").isin(SPORTS),
        "sports_facility_points": lambda: c("leisure").isin(SPORTS),
        "water": lambda: (c("natural") == "water") | (c("waterway") == "riverbank")
                         | c("landuse").isin(["reservoir", "basin"]),
        "water_polygons": lambda: c("natural") == "wetland",
    }
    return tests[sel.layer]().to_numpy(bool)


def _tokens_level(value: str) -> set[str]:
    """School levels named by one tag value: ISCED numbers (``2;3``, ``1-3``) or words (``primary``)."""
    out: set[str] = set()
    for tok in re.split(r"[;,]", value.lower()):
        tok = tok.strip()
        if m := re.fullmatch(r"(\d)\s*-\s*(\d)", tok):
            out |= {ISCED_LEVEL[n] for n in range(int(m[1]), int(m[2]) + 1) if n in ISCED_LEVEL}
        elif tok.isdigit():
            out |= {ISCED_LEVEL[int(tok)]} if int(tok) in ISCED_LEVEL else set()
        elif tok in SCHOOL_LEVEL_WORDS:
            out.add(SCHOOL_LEVEL_WORDS[tok])
    return out


def school_level(tags: dict[str, str]) -> str | None:
    """The ``level`` of a school: from ``isced:level``, else ``school:level``, else ``school``, else
    the ``amenity`` (kindergarten; college and university are tertiary).

    Parameters
    ----------
    tags : dict
        OSM tags of the school (missing or empty tags are ignored).

    Returns
    -------
    str or None
        ``kindergarten``, ``primary``, ``secondary`` or ``tertiary``; several joined with ``;``
        youngest first (``primary;secondary``); None when nothing says (a bare ``amenity=school``).

    Examples
    --------
    >>> school_level({"amenity": "school", "isced:level": "2;3"})
    'secondary'
    >>> school_level({"amenity": "school", "isced:level": "1;2"})
    'primary;secondary'
    >>> school_level({"amenity": "university"})
    'tertiary'
    """
    for key in SCHOOL_LEVEL_TAGS:
        if found := _tokens_level(tags.get(key) or ""):
            return ";".join(lv for lv in SCHOOL_LEVELS if lv in found)
    return AMENITY_LEVEL.get((tags.get("amenity") or "").strip().lower())


def _school_columns(part: pd.DataFrame) -> dict[str, pd.Series]:
    keys = ("amenity", *SCHOOL_LEVEL_TAGS)
    cols = {k: _col(part, k) for k in keys}
    level = [school_level(dict(zip(keys, row, strict=True))) for row in zip(*cols.values(), strict=True)]
    return {"level": pd.Series(level, index=part.index, dtype="string")}


def _number(values: pd.Series, pattern: str) -> pd.Series:
    return pd.to_numeric(values.str.extract(pattern, expand=False), errors="coerce").astype(float)


def _building_columns(part: pd.DataFrame) -> dict[str, pd.Series]:
    return {"levels": _number(_col(part, "building:levels"), _LEADING_NUMBER),
            "height": _number(_col(part, "height"), _METRES)}


def _line_columns(part: pd.DataFrame) -> dict[str, pd.Series]:
    name, ref = _col(part, "name"), _col(part, "ref")
    return {"line": name.where(name != "", ref).replace("", pd.NA)}


#: columns computed from a selection's tags (beyond the tags it copies)
DERIVED: dict[str, Callable[[pd.DataFrame], dict[str, pd.Series]]] = {
    "schools": _school_columns, "schools_points": _school_columns, "buildings": _building_columns,
    "metro_lines": _line_columns,
}


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


def _merge_points(pts: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The points (``from_layer`` ``points``) plus a representative point of each area holding none
    (``from_layer`` ``multipolygons``)."""
    pts = pts.assign(from_layer="points")
    if not len(areas):
        return pts
    holds = gpd.sjoin(areas[["geometry"]], pts[["geometry"]], predicate="contains").index.unique()
    extra = areas.drop(index=holds)
    extra = extra.set_geometry(extra.geometry.representative_point()).assign(from_layer="multipolygons")
    return gpd.GeoDataFrame(pd.concat([pts, extra], ignore_index=True), crs=pts.crs)


def select_layers(osm: dict[str, gpd.GeoDataFrame]) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, dict[str, int]]]:
    """The city's OSM layers and, per OSM layer, features read / used / unused.

    ``schools_points`` and ``health_facility_points`` also hold a representative point of every
    school ground or health facility area without such a node inside it (so features mapped only
    as areas still count); ``ice_sports`` is every point or area with ``leisure=ice_rink`` or an
    ice/snow ``sport``, as points. Derived columns: ``level`` of schools (:func:`school_level`),
    ``levels`` and ``height`` (numbers, NaN where untagged) of buildings, ``line`` (name, else
    ref) of metro lines.
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    used = {k: np.zeros(len(v), bool) for k, v in osm.items()}
    empty = gpd.GeoDataFrame({"osm_ref": pd.Series(dtype="string")}, geometry=[], crs="EPSG:4326")
    for sel in SELECTIONS:
        src = osm.get(sel.osm_layer, empty)
        m = _mask(sel, src, osm) if len(src) else np.zeros(0, bool)
        if len(src):
            used[sel.osm_layer] |= m
        part = src[m]
        cols = {c: _col(part, c).replace("", pd.NA) if c != "osm_ref" else part[c] for c in sel.columns}
        if sel.layer in DERIVED:
            cols.update(DERIVED[sel.layer](part))
        layers[sel.layer] = gpd.GeoDataFrame(cols, geometry=part.geometry.to_numpy(),
                                             crs=src.crs).reset_index(drop=True)
    for points, areas in MERGED_POINTS.items():
        layers[points] = _merge_points(layers[points], layers[areas])
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
    rows = []
    for s in SELECTIONS:
        test = s.test
        if s.layer in MERGED_POINTS:
            test += f" (plus a representative point of each {MERGED_POINTS[s.layer]} area holding none)"
        rows.append({"layer": s.layer, "osm_layer": s.osm_layer, "test": test})
    rows.append({"layer": "ice_sports", "osm_layer": "points, multipolygons",
                 "test": f"leisure=ice_rink or sport in {ICE_SPORTS} (areas as representative points)"})
    return rows
