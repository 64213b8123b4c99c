"""Record-by-record geometry checks of a large file with fiona (``cityplan layers validate``).

pyogrio reads a layer into memory in one call, which is what building the one map wants; a
user's multi-gigabyte file only needs every record looked at once. fiona iterates records
through OGR one at a time, so memory stays flat whatever the size: here each geometry is
checked (null/empty, allowed type, validity) and its bounds compared with the study area in
chunks. CRS, encoding and column checks and the GCJ-02 alignment test run on a sample read
the ordinary way (:func:`cityplan.io.read.read_vector`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import fiona
import numpy as np
import shapely
from pyproj import CRS, Transformer

from cityplan.tools.geometry import FAMILIES

#: files at least this large are streamed by default
STREAM_BYTES = 256 * 1024**2
#: formats fiona streams (the point tables, OSM, DXF, KML and zips go through read_vector whole)
STREAM_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".geojsonl", ".geojsons", ".fgb", ".gml", ".sqlite")
_CHUNK = 20_000


def should_stream(path: str | os.PathLike[str]) -> bool:
    """True for a file of a streamable format of at least :data:`STREAM_BYTES`."""
    p = Path(path)
    return p.suffix.lower() in STREAM_SUFFIXES and p.is_file() and p.stat().st_size >= STREAM_BYTES


def count_records(path: str | os.PathLike[str], layer: str | None = None) -> int:
    """Number of records of the layer (OGR's count; fiona reads it without the features)."""
    with fiona.open(path, layer=layer) as src:
        return len(src)


def _records(path, layer) -> Iterator[tuple[int, dict | None]]:
    with fiona.open(path, layer=layer) as src:
        for i, rec in enumerate(src):
            geom = rec.geometry
            yield i, (None if geom is None else {"type": geom.type, "coordinates": geom.coordinates}
                      if geom.type != "GeometryCollection" else dict(geom))


def stream_geometry_findings(
    path: str | os.PathLike[str], *, families: tuple[str, ...], role: str, layer: str | None = None,
    crs: CRS | None = None, bbox: tuple[float, float, float, float] | None = None,
) -> list[tuple[str, int | None, str]]:
    """``(level, row, message)`` for every record's geometry, read one record at a time.

    Parameters
    ----------
    families : tuple of str
        Geometry families the role allows (``point``, ``line``, ``polygon``).
    crs : pyproj.CRS, optional
        The file's CRS (declared or its own), to compare bounds with ``bbox`` (lon/lat).
    """
    out: list[tuple[str, int | None, str]] = []
    to_ll = None
    if bbox is not None and crs is not None:
        to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    outside, first_out = 0, None
    rows: list[int] = []
    bounds: list[tuple[float, float, float, float]] = []

    def flush() -> None:
        nonlocal outside, first_out
        if not rows or to_ll is None:
            rows.clear()
            bounds.clear()
            return
        b = np.array(bounds)
        x0, y0 = to_ll.transform(b[:, 0], b[:, 1])
        x1, y1 = to_ll.transform(b[:, 2], b[:, 3])
        far = (x1 < bbox[0]) | (x0 > bbox[2]) | (y1 < bbox[1]) | (y0 > bbox[3])
        if far.any():
            outside += int(far.sum())
            first_out = rows[int(np.argmax(far))] if first_out is None else first_out
        rows.clear()
        bounds.clear()

    for i, gj in _records(path, layer):
        g = None if gj is None else shapely.geometry.shape(gj)
        if g is None or g.is_empty:
            out.append(("error", i, "null or empty geometry (would be dropped)"))
            continue
        fam = FAMILIES.get(g.geom_type)
        if fam not in families:
            out.append(("error", i, f"{g.geom_type} not allowed for role {role!r} (allowed: {families})"))
        elif not shapely.is_valid(g):
            out.append(("warning", i, f"invalid geometry ({shapely.is_valid_reason(g)}); make_valid will repair it"))
        rows.append(i)
        bounds.append(g.bounds)
        if len(rows) >= _CHUNK:
            flush()
    flush()
    if outside:
        out.append(("warning", first_out, f"{outside} feature(s) entirely outside the study area {bbox}"))
    return out


def file_crs(path: str | os.PathLike[str], layer: str | None = None) -> CRS | None:
    """The layer's own CRS, or None."""
    with fiona.open(path, layer=layer) as src:
        wkt = src.crs_wkt
    return CRS.from_wkt(wkt) if wkt else None
