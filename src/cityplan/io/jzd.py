"""自然资源部 界址点坐标 TXT: the land-survey exchange format of parcel boundaries.

Layout::

    [属性描述]
    坐标系=2000国家大地坐标系
    几度分带=3
    投影类型=高斯克吕格
    带号=42
    [地块坐标]
    5,1.0000,D1,地块一,面,,商业用地,0501,@
    J1,1,5061000.000,42500000.000
    ...

A parcel header line (界址点数, 地块面积, 地块编号, 地块名称, 记录图形属性, 图幅号,
地块用途, 地类编码, ``@``) is followed by its point lines (点号, 圈号, X = northing,
Y = easting). Ring 1 is the outline; rings 2.. are holes or further parts (decided by
containment). The declared area is in hectares (公顷) by the standard; some offices write
m² - whichever matches is noted, and a mismatch over 1 % is reported in ``area_warning``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from cityplan._errors import CRSMismatchError, GeometryError, MissingCRSError, SchemaError
from cityplan.crs import SourceCRS
from cityplan.io.encoding import decode_text
from cityplan.io.gk import GKZone, datum_from_text, prefixed_zone, zone_from_cm
from cityplan.io.rings import close_ring, rings_to_polygons

logger = logging.getLogger(__name__)

MARKER = "[地块坐标]"
HEADER_FIELDS = ("points_declared", "area_declared", "parcel_id", "name", "shape_kind", "sheet",
                 "land_use", "land_class")
#: declared-area units tried in order, with their size in m²
AREA_UNITS = (("ha", 10_000.0), ("m2", 1.0), ("mu", 10_000.0 / 15.0))
AREA_TOLERANCE = 0.01


def is_jzd(data: bytes) -> bool:
    """True when ``data`` holds a ``[地块坐标]`` section (in UTF-8 or GBK)."""
    return MARKER.encode("utf-8") in data or MARKER.encode("gbk") in data


def _number(text: str, *, source: str, line: int, what: str) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        msg = f"{source}: line {line}: {what} {text.strip()!r} is not a number; fix the point line"
        raise GeometryError(msg)
    return v


def _parse(text: str, source: str) -> tuple[dict[str, str], list[dict]]:
    header: dict[str, str] = {}
    parcels: list[dict] = []
    section = None
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().replace("，", ",")
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line
            continue
        if section == "[属性描述]":
            key, _, value = line.partition("=")
            header[key.strip()] = value.strip()
            continue
        if section != MARKER:
            continue
        fields = [f.strip() for f in line.split(",")]
        if fields[-1] == "@":
            attrs = dict(zip(HEADER_FIELDS, fields[:-1], strict=False))
            parcels.append({"attrs": attrs, "line": no, "points": []})
            continue
        if len(fields) < 4:
            msg = (f"{source}: line {no}: {line[:60]!r} is neither a parcel header (ending in ,@) "
                   "nor a point line (name,ring,X,Y)")
            raise SchemaError(msg)
        if not parcels:
            msg = f"{source}: line {no}: point line before any parcel header line (…,@)"
            raise SchemaError(msg)
        ring = int(_number(fields[1], source=source, line=no, what="ring number"))
        x = _number(fields[2], source=source, line=no, what="X (northing)")
        y = _number(fields[3], source=source, line=no, what="Y (easting)")
        parcels[-1]["points"].append((fields[0], ring, y, x))  # store easting, northing
    if not parcels:
        msg = f"{source}: no parcel in the {MARKER} section; is this a 界址点坐标 file?"
        raise SchemaError(msg)
    return header, parcels


def _zone(header: dict[str, str], eastings: np.ndarray, source: str) -> tuple[GKZone | None, str, str]:
    """The zone the file names, how (``detected``: the eastings' zone prefix; ``file``: the
    header's 中央经线 / 带号) and on what basis; ``(None, "", "")`` when it names none."""
    datum = datum_from_text(header.get("坐标系", "")) or "cgcs2000"
    try:
        width = int(float(header.get("几度分带", "3") or 3))
    except ValueError:
        width = 3
    zone_text = header.get("带号", "").strip()
    pref = prefixed_zone(eastings)
    if pref is not None:
        if zone_text and zone_text.isdigit() and int(zone_text) != pref.zone:
            msg = (f"{source}: header says 带号={zone_text} but the eastings carry zone prefix "
                   f"{pref.zone}; fix the header or the coordinates")
            raise CRSMismatchError(msg)
        zone = GKZone(pref.width, pref.zone, datum, prefixed=True)
        return zone, "detected", f"zone prefix {pref.zone} of the 界址点 eastings ({zone.describe()})"
    cm_key = next((k for k in ("中央经线", "中央子午线", "中央经度") if header.get(k)), "")
    if cm_key:
        zone = zone_from_cm(float(header[cm_key].rstrip("°度E ")), width, datum)
        return zone, "file", f"界址点 header {cm_key}={header[cm_key]} ({zone.describe()})"
    if zone_text.isdigit() and width in (3, 6):
        cm = int(zone_text) * 3 if width == 3 else int(zone_text) * 6 - 3
        zone = zone_from_cm(cm, width, datum)
        return zone, "file", f"界址点 header 带号={zone_text}, 几度分带={width} ({zone.describe()})"
    return None, "", ""


def _geometry(kind: str, points: list[tuple], source: str, line: int):
    rings: dict[int, list[tuple[float, float]]] = {}
    order: list[int] = []
    for _, ring, e, n in points:
        if ring not in rings:
            rings[ring] = []
            order.append(ring)
        rings[ring].append((e, n))
    if kind in ("线", "line"):
        lines = [shapely.LineString(rings[r]) for r in order if len(rings[r]) >= 2]
        return lines[0] if len(lines) == 1 else shapely.MultiLineString(lines)
    if kind in ("点", "point"):
        return shapely.MultiPoint([(e, n) for _, _, e, n in points])
    bad = [r for r in order if len(set(rings[r])) < 3]
    if bad:
        msg = f"{source}: parcel at line {line}: ring {bad[0]} has fewer than 3 distinct points"
        raise GeometryError(msg)
    polys = rings_to_polygons([close_ring(rings[r]) for r in order])
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _area_check(declared: str, area_m2: float) -> tuple[float | None, str, str]:
    try:
        value = float(declared)
    except (TypeError, ValueError):
        return None, "", "no declared area" if not declared else f"declared area {declared!r} is not a number"
    if value <= 0 or not math.isfinite(value):
        return None, "", f"declared area {declared!r} is not positive"
    for unit, size in AREA_UNITS:
        if abs(value * size - area_m2) <= AREA_TOLERANCE * area_m2:
            return value * size, unit, ""
    diff = (value * 10_000.0 - area_m2) / area_m2
    return value * 10_000.0, "ha", (f"declared {value:g} ha differs from the computed "
                                    f"{area_m2 / 10_000.0:.4f} ha by {diff:+.1%}")


def read_jzd(path: Path, *, encoding: str | None = None, crs: SourceCRS | None = None) -> gpd.GeoDataFrame:
    """Read a 界址点坐标 TXT into one row per parcel, in its Gauss-Krueger CRS.

    Parameters
    ----------
    path : Path
        The TXT file (UTF-8 or GBK, detected).
    encoding : str, optional
        Force the text encoding.
    crs : SourceCRS, optional
        Overrides the header; needed when neither header nor eastings name the zone.

    Returns
    -------
    GeoDataFrame
        Columns ``parcel_id, name, points_declared, points, area_declared, area_m2,
        area_declared_m2, area_unit, area_warning, shape_kind, sheet, land_use,
        land_class, line`` (line of the parcel header in the file); ``attrs["jzd_header"]``
        holds the ``[属性描述]`` block, ``attrs["crs_as_read"]`` the CRS's EPSG code and how it
        is known (``detected`` from the eastings' zone prefix, ``file`` from the header's
        带号 / 中央经线, ``declared``) with the basis in words.
    """
    source = str(path)
    text, used = decode_text(path.read_bytes(), encoding, source=source)
    header, parcels = _parse(text, source)
    eastings = np.array([e for p in parcels for _, _, e, _ in p["points"]], dtype=float)
    rows, geoms = [], []
    for p in parcels:
        if not p["points"]:
            msg = f"{source}: parcel at line {p['line']} has no point lines"
            raise GeometryError(msg)
        a = p["attrs"]
        g = _geometry(a.get("shape_kind", "面"), p["points"], source, p["line"])
        row = {"parcel_id": a.get("parcel_id", ""), "name": a.get("name", ""),
               "points_declared": a.get("points_declared", ""),
               "points": len(p["points"]), "area_declared": a.get("area_declared", "")}
        row.update({k: a.get(k, "") for k in ("shape_kind", "sheet", "land_use", "land_class")})
        row["line"] = p["line"]
        rows.append(row)
        geoms.append(g)
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=None)
    if crs is not None:
        if crs.datum != "crs":
            msg = f"{source}: a 界址点 file holds projected metres, not {crs.label}; declare its GK EPSG"
            raise CRSMismatchError(msg)
        gdf = gdf.set_crs(crs.crs)
        provenance = {"epsg": crs.crs.to_epsg(), "how": "declared", "basis": "declared by the user"}
    else:
        zone, how, basis = _zone(header, eastings, source)
        if zone is None:
            msg = (f"{source}: the header names no zone (带号/中央经线) and the eastings carry no zone "
                   "prefix; declare the CRS, e.g. --crs EPSG:4551 (CGCS2000 3-degree GK, CM 126E)")
            raise MissingCRSError(msg)
        logger.info("%s: %s (%s)", source, zone.describe(), used)
        gdf = gdf.set_crs(zone.epsg)
        provenance = {"epsg": zone.epsg, "how": how, "basis": basis}
    area = gdf.geometry.area.to_numpy() if gdf.crs.is_projected else np.full(len(gdf), np.nan)
    checks = [_area_check(d, a) if a > 0 else (None, "", "") for d, a in zip(gdf.area_declared, area, strict=True)]
    gdf.insert(5, "area_m2", area.round(2))
    gdf.insert(6, "area_declared_m2", [c[0] for c in checks])
    gdf.insert(7, "area_unit", [c[1] for c in checks])
    gdf.insert(8, "area_warning", [c[2] for c in checks])
    for w, pid in zip(gdf.area_warning, gdf.parcel_id, strict=True):
        if w:
            logger.warning("%s: parcel %s: %s", source, pid, w)
    gdf.attrs["jzd_header"] = header
    gdf.attrs["crs_as_read"] = provenance
    return gdf
