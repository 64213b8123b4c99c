"""Geometry validation and repair with a ledger: nothing is dropped silently."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan._errors import GeometryError

logger = logging.getLogger(__name__)

FAMILIES = {
    "Point": "point", "MultiPoint": "point",
    "LineString": "line", "MultiLineString": "line", "LinearRing": "line",
    "Polygon": "polygon", "MultiPolygon": "polygon",
}
_DIM = {"point": 0, "line": 1, "polygon": 2}


def split_families(geom: shapely.Geometry) -> list[shapely.Geometry]:
    """``geom`` as one geometry per family: a GeometryCollection (an overlap of a polygon with
    points and polygons at once) becomes up to three - MultiPoint, MultiLineString,
    MultiPolygon - that maps, GeoPackages and GeoJSON layers can hold; others are returned as is.
    """
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type != "GeometryCollection":
        return [geom]
    parts = [g for g in shapely.get_parts(geom, return_index=False) if not g.is_empty]
    flat: list[shapely.Geometry] = []
    for g in parts:  # nested collections and multi-parts down to single parts
        flat += split_families(g) if g.geom_type == "GeometryCollection" else list(shapely.get_parts(g))
    out = []
    for fam, multi in (("point", shapely.MultiPoint), ("line", shapely.MultiLineString),
                       ("polygon", shapely.MultiPolygon)):
        members = [g for g in flat if FAMILIES.get(g.geom_type) == fam]
        if members:
            out.append(members[0] if len(members) == 1 else multi(members))
    return out


@dataclass
class Ledger:
    """Per-feature record of repairs and drops made while cleaning layers."""

    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, layer: str, source: str, row: object, ref: object, action: str, reason: str) -> None:
        """Record one repaired or dropped feature."""
        self.rows.append({"layer": layer, "source": source, "row": int(row) if row is not None else -1,
                          "ref": None if ref is None else str(ref), "action": action,
                          "reason": reason})

    def frame(self) -> pd.DataFrame:
        """The ledger as a table (layer, source, row, ref, action, reason)."""
        cols = ["layer", "source", "row", "ref", "action", "reason"]
        return pd.DataFrame(self.rows, columns=cols)

    def count(self, layer: str, action: str) -> int:
        """Number of entries of ``action`` for ``layer``."""
        return sum(1 for r in self.rows if r["layer"] == layer and r["action"] == action)


def _keep_family(geom: shapely.Geometry, family: str) -> shapely.Geometry | None:
    """Parts of ``geom`` of the wanted dimension (e.g. polygons out of a collection)."""
    if geom is None or geom.is_empty:
        return None
    if FAMILIES.get(geom.geom_type) == family:
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geom) if FAMILIES.get(g.geom_type) == family]
        parts = [p for q in parts for p in shapely.get_parts(q)]
        if not parts:
            return None
        if family == "polygon":
            return shapely.union_all(parts)
        if family == "line":
            return shapely.line_merge(shapely.multilinestrings(parts))
        return shapely.multipoints(parts)
    return None


def _promote(geom: shapely.Geometry, target: str) -> shapely.Geometry | None:
    """Cast to the layer's declared type; ``None`` if impossible without loss."""
    gt = geom.geom_type
    if gt == target:
        return geom
    if target.startswith("Multi") and gt == target[5:]:
        return {"MultiPolygon": shapely.multipolygons, "MultiLineString": shapely.multilinestrings,
                "MultiPoint": shapely.multipoints}[target]([geom])
    if not target.startswith("Multi") and gt == "Multi" + target:
        parts = shapely.get_parts(geom)
        return parts[0] if len(parts) == 1 else None
    return None


def _clean_one(
    geom: shapely.Geometry | None, family: str, geometry_type: str
) -> tuple[shapely.Geometry | None, str, str]:
    """Clean one geometry: (result or None, action '' / 'repaired' / 'dropped', reason)."""
    if geom is None or shapely.is_empty(geom):
        return None, "dropped", "null or empty geometry"
    fam = FAMILIES.get(geom.geom_type)
    if geom.geom_type != "GeometryCollection" and (fam is None or _DIM[fam] != _DIM[family]):
        return None, "dropped", f"{geom.geom_type} in a {geometry_type} layer"
    action = reason = ""
    if not shapely.is_valid(geom):
        why = shapely.is_valid_reason(geom)
        geom = _keep_family(shapely.make_valid(geom), family)
        if geom is None or geom.is_empty:
            return None, "dropped", f"invalid ({why}) and make_valid left no {family}"
        action, reason = "repaired", f"make_valid: {why}"
    else:
        geom = _keep_family(geom, family)
        if geom is None:
            return None, "dropped", f"no {family} part"
    cast = _promote(geom, geometry_type)
    if cast is None:
        return None, "dropped", f"{geom.geom_type} with several parts cannot be a {geometry_type}"
    return cast, action, reason


def clean_geometries(
    gdf: gpd.GeoDataFrame, *, geometry_type: str, layer: str, source: str,
    ledger: Ledger, ref_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` whose geometries are valid, non-empty and of one type.

    Null/empty geometries and features of the wrong family are dropped; invalid
    ones are repaired with :func:`shapely.make_valid` (keeping the parts of the
    declared dimension). Every repair and drop is written to ``ledger`` with the
    source row (the frame's index) and the reason.

    Parameters
    ----------
    gdf : GeoDataFrame
        Input features; index = source row.
    geometry_type : str
        Declared type: Point, LineString, MultiLineString, Polygon, MultiPolygon...
    layer, source : str
        Names used in the ledger.
    ledger : Ledger
        Collector of repair/drop records.
    ref_column : str, optional
        Column with a stable feature id (e.g. ``osm_ref``) copied into the ledger.

    Raises
    ------
    GeometryError
        If ``geometry_type`` is not a known type.
    """
    if geometry_type not in FAMILIES:
        msg = f"layer {layer!r}: unknown geometry type {geometry_type!r}; allowed: {sorted(FAMILIES)}"
        raise GeometryError(msg)
    family = FAMILIES[geometry_type]
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    refs = gdf[ref_column].tolist() if ref_column and ref_column in gdf.columns else [None] * len(gdf)
    out: list[object] = []
    for row, geom, ref in zip(gdf.index, geoms, refs, strict=True):
        g, action, reason = _clean_one(geom, family, geometry_type)
        if action:
            ledger.add(layer, source, row, ref, action, reason)
        out.append(g)
    keep = np.array([g is not None for g in out], dtype=bool)
    res = gdf.copy()
    res = res.set_geometry(gpd.GeoSeries(out, index=gdf.index, crs=gdf.crs))
    return res[keep]


def _flatten_collection(geom: shapely.Geometry) -> tuple[shapely.Geometry | None, list[str]]:
    """A GeometryCollection as one Multi* geometry; returns (result, part types left out)."""
    parts = list(shapely.get_parts(geom))
    while any(p.geom_type == "GeometryCollection" for p in parts):
        parts = [q for p in parts for q in (shapely.get_parts(p) if p.geom_type == "GeometryCollection" else [p])]
    parts = [q for p in parts if not p.is_empty for q in shapely.get_parts(p)]
    fams = {FAMILIES.get(p.geom_type) for p in parts}
    if not parts:
        return None, []
    keep = "polygon" if "polygon" in fams else ("line" if fams == {"line"} else "point" if fams == {"point"} else None)
    if keep is None:
        return geom, sorted({p.geom_type for p in parts})
    dropped = sorted({p.geom_type for p in parts if FAMILIES.get(p.geom_type) != keep})
    kept = [p for p in parts if FAMILIES.get(p.geom_type) == keep]
    maker = {"polygon": shapely.multipolygons, "line": shapely.multilinestrings, "point": shapely.multipoints}[keep]
    return maker(kept), dropped


def sanitize_read(gdf: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """Make freshly read user geometries usable: 2D, finite, no mixed collections.

    * Z and M coordinates are dropped (every measure is planar);
    * a GeometryCollection becomes the Multi* of its parts; with polygons among
      lines or points the polygons are kept and the rows named in the log;
      lines mixed with points (no area, no single type) are refused;
    * features with NaN or infinite coordinates are refused with their rows.

    Raises
    ------
    GeometryError
        One line naming the rows at fault and the fix.
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    if not present.any():
        return gdf
    changed = False
    if shapely.has_z(geoms[present]).any() or _has_m(geoms[present]):
        geoms = shapely.force_2d(geoms)
        changed = True
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad_rows = np.unique(index[~np.isfinite(coords).all(axis=1)])
    if len(bad_rows):
        rows = [int(gdf.index[i]) for i in bad_rows]
        msg = (f"{source}: {len(rows)} feature(s) have NaN or infinite coordinates (rows {rows[:10]}); "
               "fix or remove them in the source file")
        raise GeometryError(msg)
    kinds = shapely.get_type_id(geoms)
    mixed: list[tuple[int, list[str]]] = []
    for i in np.flatnonzero(kinds == shapely.GeometryType.GEOMETRYCOLLECTION):
        flat, dropped = _flatten_collection(geoms[i])
        if flat is not None and flat.geom_type == "GeometryCollection":
            msg = (f"{source}: row {int(gdf.index[i])} is a GeometryCollection of {dropped} with no single "
                   "geometry type; split it into separate features")
            raise GeometryError(msg)
        if dropped:
            mixed.append((int(gdf.index[i]), dropped))
        geoms[i] = flat
        changed = True
    if mixed:
        logger.warning("%s: kept only the polygons of GeometryCollections at rows %s (left out %s)",
                       source, [r for r, _ in mixed][:10], sorted({t for _, d in mixed for t in d}))
        gdf.attrs["collection_parts_left_out"] = {r: d for r, d in mixed}
    if not changed:
        return gdf
    out = gdf.copy()
    return out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


def _has_m(geoms: np.ndarray) -> bool:
    has_m = getattr(shapely, "has_m", None)
    return bool(has_m is not None and has_m(geoms).any())
