"""Compact geometry encoding for maps: simplify in metres, quantise, polyline-encode.

folium embeds raw GeoJSON (full double precision, ``{"type": ..., "coordinates"``
boilerplate per feature). Here each ring/line becomes one string in the Google
polyline format, delta-encoded so most vertices cost 2-4 bytes. Map payloads hold
Web-Mercator coordinates normalised to [0, 1] and quantised to 2**-28 (0.10 m at
Harbin's latitude, so <= 0.05 m error per axis): the browser then draws them with a
multiply-add, no trigonometry per vertex. :func:`encode_rings` also writes standard
lat/lng polylines (precision 6). Encoding is vectorised with numpy over every
coordinate of a layer at once; the decoder is ``cityplan.js``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from cityplan.crs import to_working

PRECISION = 6
_SCALE = 10**PRECISION
MERC_SCALE = 2**28  # normalised Web Mercator units per 1.0
_MAX_LAT = 85.0511287798


def lonlat_to_mercator(coords: np.ndarray) -> np.ndarray:
    """(lon, lat) degrees -> normalised Web Mercator (x, y) in [0, 1], y down (as Leaflet)."""
    lat = np.clip(coords[:, 1], -_MAX_LAT, _MAX_LAT)
    s = np.sin(np.radians(lat))
    return np.column_stack([(coords[:, 0] + 180.0) / 360.0,
                            0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)])


def mercator_to_lonlat(xy: np.ndarray) -> np.ndarray:
    """Inverse of :func:`lonlat_to_mercator`."""
    lat = np.degrees(2 * np.arctan(np.exp((0.5 - xy[:, 1]) * 2 * np.pi))) - 90.0
    return np.column_stack([xy[:, 0] * 360.0 - 180.0, lat])


def simplify_metric(gdf: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoSeries:
    """Douglas-Peucker in the metric working CRS (Hausdorff error <= ``tolerance_m``), back to the input CRS."""
    if tolerance_m <= 0 or gdf.empty:
        return gdf.geometry
    work = to_working(gdf[[gdf.geometry.name]])
    simple = shapely.simplify(np.asarray(work.geometry.values, dtype=object), tolerance_m,
                              preserve_topology=True)
    return gpd.GeoSeries(simple, index=gdf.index, crs=work.crs).to_crs(gdf.crs)


def _encode_values(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Polyline-encode signed ints; returns the bytes and each value's char count."""
    v = values.astype(np.int64)
    z = np.where(v < 0, ~(v << 1), v << 1).astype(np.uint64)
    bits = np.zeros(len(z), dtype=np.int64)
    nz = z > 0
    bits[nz] = np.floor(np.log2(z[nz].astype(np.float64))).astype(np.int64) + 1
    # float log2 can be off by one near powers of two: fix exactly
    bits[nz] += (z[nz] >> bits[nz].astype(np.uint64)) > 0
    bits[nz] -= (z[nz] >> (bits[nz] - 1).astype(np.uint64)) == 0
    nchunks = np.maximum(1, (bits + 4) // 5)
    idx = np.repeat(np.arange(len(z)), nchunks)
    starts = np.cumsum(nchunks) - nchunks
    k = np.arange(len(idx)) - np.repeat(starts, nchunks)
    chunk = (z[idx] >> (5 * k).astype(np.uint64)) & np.uint64(31)
    chunk |= np.where(k < nchunks[idx] - 1, np.uint64(0x20), np.uint64(0))
    return (chunk + np.uint64(63)).astype(np.uint8).tobytes(), nchunks


def encode_rings(coords: np.ndarray, ring_offsets: np.ndarray, *, mercator: bool = False) -> list[str]:
    """Encode each ring/line ``coords[o[i]:o[i+1]]`` as one polyline string.

    ``coords`` are (lon, lat) degrees. By default the strings are standard Google
    polylines (lat, lng at precision 6); with ``mercator`` they hold normalised Web
    Mercator (x, y) quantised to 2**-28, the form map payloads use.
    """
    if mercator:
        q = np.round(lonlat_to_mercator(coords) * MERC_SCALE).astype(np.int64)
    else:
        q = np.round(coords[:, ::-1] * _SCALE).astype(np.int64)  # (lat, lng) as in the format
    d = q.copy()
    d[1:] -= q[:-1]
    starts = ring_offsets[:-1]
    d[starts] = q[starts]
    data, nchunks = _encode_values(d.ravel())
    per_point = nchunks.reshape(-1, 2).sum(axis=1)
    char_off = np.concatenate([[0], np.cumsum(per_point)])[ring_offsets]
    text = data.decode("ascii")
    return [text[a:b] for a, b in zip(char_off[:-1], char_off[1:], strict=True)]


def decode_polyline(text: str, *, mercator: bool = False) -> np.ndarray:
    """Decode one polyline string to (lon, lat) degrees (used by tests and benchmarks)."""
    vals, cur, shift = [], 0, 0
    for ch in text.encode("ascii"):
        b = ch - 63
        cur |= (b & 0x1F) << shift
        shift += 5
        if b < 0x20:
            vals.append(~(cur >> 1) if cur & 1 else cur >> 1)
            cur, shift = 0, 0
    ints = np.cumsum(np.array(vals, dtype=np.int64).reshape(-1, 2), axis=0)
    if mercator:
        return mercator_to_lonlat(ints / MERC_SCALE)
    return (ints / _SCALE)[:, ::-1]


def encode_geometries(geoms: gpd.GeoSeries, *, mercator: bool = True) -> tuple[str, list]:
    """Encode a homogeneous geometry column (lon/lat) for ``cityplan.js`` (see :func:`encode_rings`).

    Returns
    -------
    (kind, features)
        ``kind`` is ``point``, ``line`` or ``polygon``; ``features[i]`` is a polyline
        string (point), a list of strings (line parts) or a list of lists of
        strings (polygon parts -> rings).
    """
    arr = np.asarray(geoms.values, dtype=object)
    if len(arr) == 0:  # an empty layer still gets a legend entry and a place in the layer control
        return "polygon", []
    gtype, coords, offsets = shapely.to_ragged_array(arr)

    def enc(o: np.ndarray) -> list[str]:
        return encode_rings(coords, o, mercator=mercator)

    name = gtype.name.upper()
    if name in ("POINT",):
        return "point", enc(np.arange(len(coords) + 1))
    if name == "MULTIPOINT":
        (geom_off,) = offsets
        rings = enc(np.arange(len(coords) + 1))
        return "point", [rings[a] for a in geom_off[:-1]]
    if name == "LINESTRING":
        (line_off,) = offsets
        rings = enc(line_off)
        return "line", [[r] for r in rings]
    if name == "MULTILINESTRING":
        line_off, geom_off = offsets
        rings = enc(line_off)
        return "line", [rings[a:b] for a, b in zip(geom_off[:-1], geom_off[1:], strict=True)]
    if name == "POLYGON":
        ring_off, geom_off = offsets
        rings = enc(ring_off)
        return "polygon", [[rings[a:b]] for a, b in zip(geom_off[:-1], geom_off[1:], strict=True)]
    ring_off, part_off, geom_off = offsets
    rings = enc(ring_off)
    parts = [rings[a:b] for a, b in zip(part_off[:-1], part_off[1:], strict=True)]
    return "polygon", [parts[a:b] for a, b in zip(geom_off[:-1], geom_off[1:], strict=True)]
