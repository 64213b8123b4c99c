"""Layers fetched for the current view: the compact payload of ``cityplan.js`` per bbox and zoom.

A request names a layer, a lon/lat ``bbox`` and the map's ``zoom``. The bbox is cut into data
tiles (Web-Mercator tiles two levels coarser than the view, 1024 px at the view's zoom); each
tile's piece - the features whose bounding box meets the tile, simplified to half a pixel at that
zoom and polyline-encoded - is computed once per build and kept in a bounded LRU cache. The
pieces of a view are merged with features counted once (by their row in the layer), so a layer
of 200,000 polygons costs only what the view shows, at the detail the screen can show.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from cityplan.crs import to_display
from cityplan.maps.encode import encode_geometries, lonlat_to_mercator, mercator_to_lonlat
from cityplan.maps.payload import LayerView, _clean, _style

logger = logging.getLogger(__name__)

TILE_PX = 256
DATA_TILE_LEVELS = 2      # data tiles are 2**2 = 4 view tiles wide
MAX_ZOOM = 20
MAX_TILES = 64            # per request: a bbox too big for its zoom is refused
PIECE_BUDGET = 400_000_000  # characters of encoded geometry kept in the tile cache
#: above this many features in view, attributes are left out (tooltips name the layer; zoom in for more)
DENSE_FEATURES = 20_000


class ViewRequestError(ValueError):
    """A bad bbox/zoom (answered with 400)."""


@dataclass
class Prepared:
    """A layer ready for tiling: geometries in normalised Web Mercator with an STR tree."""

    view: LayerView
    merc: np.ndarray
    tree: shapely.STRtree
    rows: list[list[Any]]
    fields: list[str]
    ill: np.ndarray | None
    kind: str
    bounds: tuple[float, float, float, float]  # mercator


def _to_merc(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lonlat_to_mercator)


def prepare(view: LayerView, *, gcj02: bool = False) -> Prepared:
    """Project a layer view once for tiling (drops null and empty geometries)."""
    gdf = view.gdf[view.gdf.geometry.notna() & ~view.gdf.geometry.is_empty]
    shown = to_display(gpd.GeoDataFrame(geometry=gdf.geometry.values, crs=gdf.crs), gcj02=gcj02)
    merc = _to_merc(np.asarray(shown.geometry.values, dtype=object))
    kind, _ = encode_geometries(shown.geometry.iloc[:1]) if len(shown) else ("polygon", [])
    fields = [f for f in view.fields if f in gdf.columns]
    if "name" in gdf.columns and "name" not in fields:
        fields.insert(0, "name")
    rows = [[_clean(v) for v in row] for row in gdf[fields].itertuples(index=False, name=None)]
    ill = None
    if "illustrative" in gdf.columns:
        flags = gdf["illustrative"].fillna(view.illustrative).astype(bool).to_numpy()
        ill = flags if flags.any() else None
    b = shapely.total_bounds(merc) if len(merc) else np.array([0.0, 0.0, 0.0, 0.0])
    return Prepared(view=view, merc=merc, tree=shapely.STRtree(merc), rows=rows, fields=fields, ill=ill,
                    kind=kind, bounds=tuple(float(v) for v in b))


def meta(view: LayerView, count: int | None = None) -> dict[str, Any]:
    """The layer's description without features (what the page needs to list and style it)."""
    fields = [f for f in view.fields if f in view.gdf.columns]
    if "name" in view.gdf.columns and "name" not in fields:
        fields.insert(0, "name")
    return {"id": view.id, "title": view.title, "group": view.group, "show": view.show,
            "style": _style(view), "illustrative": view.illustrative, "fields": fields,
            "labels": [view.labels.get(f, f) for f in fields], "source": view.source, "note": view.note,
            "count": int(count if count is not None else len(view.gdf)), "colors": None}


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` -> floats (ViewRequestError if malformed)."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise ViewRequestError(f"bbox {text!r}: four numbers minlon,minlat,maxlon,maxlat") from None
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise ViewRequestError(f"bbox {text!r}: four numbers minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = vals
    if x0 > x1 or y0 > y1 or x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        raise ViewRequestError(f"bbox {text!r}: min before max, lon in -180..180, lat in -90..90")
    return x0, y0, x1, y1


def tile_range(bbox: tuple[float, float, float, float], tz: int) -> tuple[int, int, int, int]:
    """Data tiles (x0, y0, x1, y1 inclusive) at level ``tz`` covering a lon/lat bbox."""
    m = lonlat_to_mercator(np.array([[bbox[0], bbox[3]], [bbox[2], bbox[1]]]))
    n = 2**tz
    x0, y0 = (np.clip(np.floor(m[0] * n), 0, n - 1)).astype(int)
    x1, y1 = (np.clip(np.floor(m[1] * n), 0, n - 1)).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


class TileCache:
    """Per-build prepared layers and an LRU of encoded tile pieces."""

    def __init__(self, *, budget: int = PIECE_BUDGET) -> None:
        self.budget = budget
        self._pieces: OrderedDict[tuple, tuple[np.ndarray, list, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Forget every piece (after a rebuild)."""
        with self._lock:
            self._pieces.clear()
            self._size = 0

    def _piece(self, key: tuple, prep: Prepared, z: int, tz: int, tx: int, ty: int) -> tuple[np.ndarray, list]:
        with self._lock:
            hit = self._pieces.get(key)
            if hit is not None:
                self._pieces.move_to_end(key)
                self.hits += 1
                return hit[0], hit[1]
        self.misses += 1
        n = 2**tz
        tile = shapely.box(tx / n, ty / n, (tx + 1) / n, (ty + 1) / n)
        idx = np.sort(prep.tree.query(tile)).astype(np.int64)
        enc: list = []
        if len(idx):
            g = prep.merc[idx]
            if prep.kind != "point":
                px = 1.0 / (TILE_PX * 2**z)
                g = shapely.simplify(g, 0.5 * px, preserve_topology=True)
                if prep.kind == "polygon":
                    # under a pixel a polygon is a dot (cityplan.js draws its bounding box): one vertex
                    b = shapely.bounds(g)
                    tiny = np.flatnonzero((b[:, 2] - b[:, 0] < px) & (b[:, 3] - b[:, 1] < px))
                    if len(tiny):
                        g = g.copy()
                        g[tiny] = shapely.polygons(np.repeat(b[tiny, None, :2], 4, axis=1))
            lonlat = gpd.GeoSeries(shapely.transform(g, mercator_to_lonlat))
            _, enc = encode_geometries(lonlat)
        size = sum(len(str(e)) for e in enc) + 8 * len(idx) + 64
        with self._lock:
            self._pieces[key] = (idx, enc, size)
            self._size += size
            while self._size > self.budget and len(self._pieces) > 1:
                _, (_, _, s) = self._pieces.popitem(last=False)
                self._size -= s
        return idx, enc

    def payload(self, build: str, prep: Prepared, bbox: tuple[float, float, float, float],
                zoom: int) -> dict[str, Any]:
        """The compact payload of ``prep``'s features in view (see module docstring)."""
        z = max(0, min(int(zoom), MAX_ZOOM))
        tz = max(0, z - DATA_TILE_LEVELS)
        x0, y0, x1, y1 = tile_range(bbox, tz)
        # nothing outside the layer's own bounds is ever fetched
        n = 2**tz
        bx0, by0, bx1, by1 = prep.bounds
        x0, x1 = max(x0, int(bx0 * n)), min(x1, int(bx1 * n))
        y0, y1 = max(y0, int(by0 * n)), min(y1, int(by1 * n))
        ntiles = max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)
        if ntiles > MAX_TILES:
            msg = f"bbox too large for zoom {z} ({ntiles} data tiles, at most {MAX_TILES}); zoom out"
            raise ViewRequestError(msg)
        pieces = [self._piece((build, prep.view.id, z, tx, ty), prep, z, tz, tx, ty)
                  for tx in range(x0, x1 + 1) for ty in range(y0, y1 + 1)]
        pieces = [p for p in pieces if len(p[0])]
        if pieces:
            all_idx = np.concatenate([p[0] for p in pieces])
            flat = [e for p in pieces for e in p[1]]
            fids, first = np.unique(all_idx, return_index=True)
            geoms = [flat[i] for i in first]
        else:
            fids, geoms = np.zeros(0, dtype=np.int64), []
        out = meta(prep.view, len(prep.rows))
        dense = len(fids) > DENSE_FEATURES
        if dense:
            out.update(fields=[], labels=[])
        out.update({
            "kind": prep.kind, "geoms": geoms, "rows": [[]] * len(fids) if dense else [prep.rows[i] for i in fids],
            "dense": dense,
            "ill": [int(v) for v in prep.ill[fids]] if prep.ill is not None else None,
            "fids": fids.tolist(), "zoom": z, "bounds": None, "colors": None,
        })
        return out
