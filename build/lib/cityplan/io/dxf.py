"""DXF from CAD (via ezdxf): closed outlines and hatches become polygons, the rest lines/points.

A DXF has no coordinate system, so the caller must declare one; when the eastings carry a
Gauss-Krueger zone prefix the error names the zone and its EPSG code.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import ezdxf
import geopandas as gpd
import numpy as np
import shapely
from ezdxf import path as dxfpath
from ezdxf import recover

from cityplan._errors import CRSMismatchError, LayerNotFoundError, MissingCRSError
from cityplan.crs import SourceCRS
from cityplan.io.gk import prefixed_zone
from cityplan.io.rings import close_ring, rings_to_polygons

logger = logging.getLogger(__name__)

#: chord tolerance when arcs, bulges and splines are turned into vertices (drawing units)
FLATTEN = 0.01
CURVES = ("LWPOLYLINE", "POLYLINE", "LINE", "ARC", "CIRCLE", "ELLIPSE", "SPLINE")


def _open(path: Path):
    try:
        doc, auditor = recover.readfile(str(path))
    except (OSError, ezdxf.DXFError, UnicodeDecodeError, ValueError) as exc:
        msg = f"{path}: not a readable DXF file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        raise LayerNotFoundError(msg) from None
    if auditor.has_errors:
        logger.warning("%s: DXF has %d structure errors (recovered)", path, len(auditor.errors))
    return doc


def dxf_layers(path: Path) -> list[str]:
    """DXF layers that hold at least one model-space entity."""
    return sorted({e.dxf.layer for e in _open(path).modelspace()})


def _vertices(entity) -> tuple[list[tuple[float, float]], bool]:
    p = dxfpath.make_path(entity)
    pts = [(v.x, v.y) for v in p.flattening(FLATTEN)] if len(p) or p.has_sub_paths else []
    if not pts and entity.dxftype() != "LINE":
        pts = [(p.start.x, p.start.y)]
    closed = entity.dxftype() in ("CIRCLE",) or (
        entity.dxftype() in ("LWPOLYLINE", "POLYLINE") and bool(entity.closed if entity.dxftype() == "LWPOLYLINE"
                                                                 else entity.is_closed))
    if entity.dxftype() == "ELLIPSE" and p.is_closed:
        closed = True
    return pts, closed


def read_dxf(path: Path, *, layer: str | None = None, crs: SourceCRS | None = None) -> gpd.GeoDataFrame:
    """Read model-space entities of a DXF.

    Closed LWPOLYLINE/POLYLINE, CIRCLE and closed ELLIPSE outlines of one DXF layer, and
    the boundary paths of each HATCH, become polygons (a ring inside another is a hole);
    open ones become lines; POINT and INSERT (block references) become points. TEXT,
    dimensions and other entities carry no geometry to analyse: they are counted in the
    log and in ``attrs["skipped_entities"]``.

    Parameters
    ----------
    path : Path
        The DXF file.
    layer : str, optional
        Only this DXF layer (default: all, with a ``layer`` column).
    crs : SourceCRS
        Required: the CRS of the drawing's coordinates.

    Returns
    -------
    GeoDataFrame
        Columns ``layer, entity, handle, block`` and the geometry, with ``crs`` set.
    """
    doc = _open(path)
    msp = doc.modelspace()
    names = sorted({e.dxf.layer for e in msp})
    if layer is not None and layer not in names:
        msg = f"{path}: no DXF layer {layer!r}; layers with entities: {names}"
        raise LayerNotFoundError(msg)
    rows: list[dict] = []
    skipped: Counter[str] = Counter()
    closed_by_layer: dict[str, list[tuple[dict, list]]] = {}
    for e in msp:
        t = e.dxftype()
        lyr = e.dxf.layer
        if layer is not None and lyr != layer:
            continue
        base = {"layer": lyr, "entity": t, "handle": e.dxf.handle, "block": None}
        if t == "POINT":
            loc = e.dxf.location
            rows.append({**base, "geometry": shapely.Point(loc.x, loc.y)})
        elif t == "INSERT":
            loc = e.dxf.insert
            rows.append({**base, "block": e.dxf.name, "geometry": shapely.Point(loc.x, loc.y)})
        elif t == "HATCH":
            rings = [close_ring([(v.x, v.y) for v in p.flattening(FLATTEN)]) for p in dxfpath.from_hatch(e)]
            polys = rings_to_polygons([r for r in rings if len(r) >= 4])
            if polys:
                rows.append({**base, "geometry": polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)})
            else:
                skipped["HATCH without a closed boundary"] += 1
        elif t in CURVES and not (t == "POLYLINE" and (e.is_poly_face_mesh or e.is_polygon_mesh)):
            pts, closed = _vertices(e)
            if closed and len(set(pts)) >= 3:
                closed_by_layer.setdefault(lyr, []).append((base, close_ring(pts)))
            elif len(pts) >= 2:
                rows.append({**base, "geometry": shapely.LineString(pts)})
            else:
                skipped[f"{t} with fewer than 2 vertices"] += 1
        else:
            skipped[t] += 1
    for items in closed_by_layer.values():
        polys = rings_to_polygons([r for _, r in items])
        # attribute each polygon to the entity whose ring is its outline
        shells = {tuple(np.round(p.exterior.coords[0], 6)): p for p in polys}
        for base, ring in items:
            key = tuple(np.round(ring[0], 6))
            if key in shells:
                rows.append({**base, "geometry": shells.pop(key)})
    if skipped:
        logger.warning("%s: skipped DXF entities without analysable geometry: %s", path, dict(skipped))
    gdf = gpd.GeoDataFrame(rows, columns=["layer", "entity", "handle", "block", "geometry"], geometry="geometry")
    gdf.attrs["skipped_entities"] = dict(skipped)
    return _with_crs(gdf, crs, path)


def _with_crs(gdf: gpd.GeoDataFrame, crs: SourceCRS | None, path: Path) -> gpd.GeoDataFrame:
    if crs is None:
        xs = shapely.get_coordinates(np.asarray(gdf.geometry.values, dtype=object))[:, 0]
        try:
            zone = prefixed_zone(xs)
        except CRSMismatchError:
            zone = None
        hint = (f"; its eastings look like {zone.describe()}, so probably --crs EPSG:{zone.epsg}"
                if zone is not None else
                ", e.g. --crs EPSG:4551 (CGCS2000 3-degree GK, CM 126E, Harbin) or EPSG:4530 for "
                "zone-prefixed eastings")
        msg = f"{path}: a DXF has no coordinate system; declare the drawing's CRS with --crs{hint}"
        raise MissingCRSError(msg)
    if crs.datum != "crs":
        return gdf  # lon/lat in an Amap/Baidu datum: converted by the caller
    return gdf.set_crs(crs.crs)
