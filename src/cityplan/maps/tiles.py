"""Layers per view: the compact payload of ``cityplan.js`` per bbox and zoom (the tiling engine).

A presenter like :mod:`cityplan.maps.payload`: the server's layer API (:mod:`cityplan.server.viewlayers`)
answers with it, but nothing here knows HTTP.

A request names a layer, a lon/lat ``bbox`` and the map's ``zoom``. The bbox is cut into data
tiles (Web-Mercator tiles two levels coarser than the view, 1024 px at the view's zoom); each
tile's piece - the features whose bounding box meets the tile, simplified to half a pixel at that
zoom and polyline-encoded - is computed once per build and kept in a bounded LRU cache. The
pieces of a view are merged with features counted once (by their row in the layer), so a layer
of 200,000 polygons costs only what the view shows, at the detail the screen can show.

Pieces are kept as ready-made JSON text per feature (geometry and attributes), so answering a
view is a join of strings, not a rebuild; whole answers are kept too (raw and gzipped, with an
ETag) per build, layer, zoom and tile range. With more than :data:`AGGREGATE_FEATURES` polygons
or points in view, most of them smaller than :data:`AGGREGATE_PX` pixels, the layer is drawn as a
grid aggregate instead (cells of :data:`CELL_PX`
pixels holding at least one feature, merged along rows into rectangles): a city-wide view of a
200,000-polygon layer is a few hundred rectangles, not 200,000 sub-pixel dots.
"""

from __future__ import annotations

import gzip
import hashlib
import json
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
from cityplan.maps.payload import LayerView, clean_value, display_fields, layer_style

logger = logging.getLogger(__name__)

TILE_PX = 256
DATA_TILE_LEVELS = 2      # data tiles are 2**2 = 4 view tiles wide
MAX_ZOOM = 20
MAX_TILES = 64            # per request: a bbox too big for its zoom is refused
PIECE_BUDGET = 400_000_000  # characters of encoded geometry kept in the tile cache
#: above this many features in view, attributes are left out (tooltips name the layer; zoom in for more)
DENSE_FEATURES = 20_000
#: above this many polygons or points in view, of a median size under AGGREGATE_PX pixels, the layer
#: is drawn as a grid aggregate
AGGREGATE_FEATURES = 20_000
AGGREGATE_PX = 4
CELL_PX = 3               # aggregate cell size in screen pixels (at least)
AGGREGATE_CELLS = 5_000   # rectangles of an aggregate (at most: the cell grows until so)
RESPONSE_BUDGET = 256_000_000  # bytes of whole answers kept (raw + gzip)


class ViewRequestError(ValueError):
    """A bad bbox/zoom (answered with 400)."""


@dataclass
class Prepared:
    """A layer ready for tiling: geometries in normalised Web Mercator with an STR tree."""

    view: LayerView
    merc: np.ndarray
    tree: shapely.STRtree
    rows: list[str]           # each row's attributes as JSON text
    fields: list[str]
    ill: np.ndarray | None
    kind: str
    bounds: tuple[float, float, float, float]  # mercator
    centre: np.ndarray        # (n, 2) bounding-box centres, mercator (grid aggregate)
    extent: np.ndarray        # (n,) larger side of each bounding box, mercator


def _to_merc(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lonlat_to_mercator)


def prepare(view: LayerView, *, gcj02: bool = False) -> Prepared:
    """Project a layer view once for tiling (drops null and empty geometries)."""
    gdf = view.gdf[view.gdf.geometry.notna() & ~view.gdf.geometry.is_empty]
    shown = to_display(gpd.GeoDataFrame(geometry=gdf.geometry.values, crs=gdf.crs), gcj02=gcj02)
    merc = _to_merc(np.asarray(shown.geometry.values, dtype=object))
    kind, _ = encode_geometries(shown.geometry.iloc[:1]) if len(shown) else ("polygon", [])
    fields, _ = display_fields(view)
    rows = [_json([clean_value(v) for v in row]) for row in gdf[fields].itertuples(index=False, name=None)]
    ill = None
    if "illustrative" in gdf.columns:
        flags = gdf["illustrative"].fillna(view.illustrative).astype(bool).to_numpy()
        ill = flags if flags.any() else None
    b = shapely.total_bounds(merc) if len(merc) else np.array([0.0, 0.0, 0.0, 0.0])
    fb = shapely.bounds(merc).reshape(-1, 4)
    centre = np.column_stack([(fb[:, 0] + fb[:, 2]) / 2, (fb[:, 1] + fb[:, 3]) / 2])
    return Prepared(view=view, merc=merc, tree=shapely.STRtree(merc), rows=rows, fields=fields, ill=ill,
                    kind=kind, bounds=tuple(float(v) for v in b), centre=centre,
                    extent=np.maximum(fb[:, 2] - fb[:, 0], fb[:, 3] - fb[:, 1]))


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def meta(view: LayerView, count: int | None = None) -> dict[str, Any]:
    """The layer's description without features (what the page needs to list and style it)."""
    fields, naming = display_fields(view)
    return {**naming, "id": view.id, "title": view.title, "group": view.group, "show": view.show,
            "style": layer_style(view), "illustrative": view.illustrative, "fields": fields,
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
    n = 2**tz

    def cell(lon: float, lat: float) -> tuple[int, int]:
        s = math.sin(math.radians(max(-85.0511287798, min(85.0511287798, lat))))
        x, y = (lon + 180.0) / 360.0, 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)
        return min(max(math.floor(x * n), 0), n - 1), min(max(math.floor(y * n), 0), n - 1)

    (x0, y0), (x1, y1) = cell(bbox[0], bbox[3]), cell(bbox[2], bbox[1])
    return x0, y0, x1, y1


@dataclass
class Answer:
    """A whole answer: JSON bytes, gzipped bytes and ETag."""

    raw: bytes
    gz: bytes
    etag: str

    @property
    def size(self) -> int:
        """Bytes held."""
        return len(self.raw) + len(self.gz) + 128


def answer(raw: bytes) -> Answer:
    """Wrap JSON bytes: gzip them once and name them by content."""
    return Answer(raw=raw, gz=gzip.compress(raw, compresslevel=5, mtime=0),
                  etag='"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"')


class LRU:
    """A byte-budgeted LRU (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._d: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                return None
            self._d.move_to_end(key)
            return hit[0]

    def put(self, key: tuple, value: Any, size: int) -> None:
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._d[key] = (value, size)
            self._size += size
            while self._size > self.budget and len(self._d) > 1:
                _, (_, s) = self._d.popitem(last=False)
                self._size -= s

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._size = 0


class TileCache:
    """Per-build LRUs of encoded tile pieces (JSON text per feature) and of whole answers."""

    def __init__(self, *, budget: int = PIECE_BUDGET, answers: int = RESPONSE_BUDGET) -> None:
        self._pieces = LRU(budget)
        self._answers = LRU(answers)
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Forget every piece and answer (after a rebuild)."""
        self._pieces.clear()
        self._answers.clear()

    # -- pieces -------------------------------------------------------------------------------
    @staticmethod
    def _tile_idx(prep: Prepared, tz: int, tx: int, ty: int) -> np.ndarray:
        n = 2**tz
        return np.sort(prep.tree.query(shapely.box(tx / n, ty / n, (tx + 1) / n, (ty + 1) / n))).astype(np.int64)

    def _piece(self, key: tuple, prep: Prepared, z: int, tz: int, tx: int, ty: int) -> tuple[np.ndarray, list[str]]:
        hit = self._pieces.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        idx = self._tile_idx(prep, tz, tx, ty)
        enc: list[str] = []
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
            _, parts = encode_geometries(lonlat)
            enc = [_json(e) for e in parts]
        self._pieces.put(key, (idx, enc), sum(len(e) for e in enc) + 8 * len(idx) + 64)
        return idx, enc

    # -- answers ------------------------------------------------------------------------------
    @staticmethod
    def view_tiles(bbox: tuple[float, float, float, float], zoom: int) -> tuple[int, int, tuple[int, int, int, int]]:
        """(zoom, data tile level, data tile range) of a view (the answer cache's key)."""
        z = max(0, min(int(zoom), MAX_ZOOM))
        tz = max(0, z - DATA_TILE_LEVELS)
        return z, tz, tile_range(bbox, tz)

    @staticmethod
    def one_tile(tile: tuple[int, int], zoom: int) -> tuple[int, int, tuple[int, int, int, int]]:
        """(zoom, data tile level, range) of one data tile ``(tx, ty)`` at level ``zoom - 2``."""
        z = max(0, min(int(zoom), MAX_ZOOM))
        tz = max(0, z - DATA_TILE_LEVELS)
        tx, ty = tile
        if not (0 <= tx < 2**tz and 0 <= ty < 2**tz):
            raise ViewRequestError(f"tile {tx},{ty}: outside 0..{2**tz - 1} at zoom {z} (data tiles are zoom - 2)")
        return z, tz, (tx, ty, tx, ty)

    def where(self, view: tuple[float, float, float, float] | tuple[int, int], zoom: int) -> tuple[int, int, tuple]:
        return self.one_tile(view, zoom) if len(view) == 2 else self.view_tiles(view, zoom)

    def cached(self, build: str, layer_id: str, view: tuple, zoom: int) -> Answer | None:
        """The answer already made for this view's tiles (a lon/lat bbox or one ``(tx, ty)`` data
        tile), if any (cheap: no geometry touched)."""
        z, _, rng = self.where(view, zoom)
        return self._answers.get((build, layer_id, z, rng))

    def answer(self, build: str, prep: Prepared, view: tuple, zoom: int) -> Answer:
        """The answer (JSON bytes, gzip, ETag) for ``prep``'s features in view (a lon/lat bbox, or one
        ``(tx, ty)`` data tile), made once per tile range."""
        z, tz, rng = self.where(view, zoom)
        key = (build, prep.view.id, z, rng)
        hit = self._answers.get(key)
        if hit is None:
            hit = answer(self._payload_bytes(build, prep, z, tz, rng))
            self._answers.put(key, hit, hit.size)
        return hit

    def payload(self, build: str, prep: Prepared, bbox: tuple[float, float, float, float],
                zoom: int) -> dict[str, Any]:
        """The compact payload of ``prep``'s features in view, parsed (see module docstring)."""
        return json.loads(self.answer(build, prep, bbox, zoom).raw)

    def _payload_bytes(self, build: str, prep: Prepared, z: int, tz: int, rng: tuple[int, int, int, int]) -> bytes:
        x0, y0, x1, y1 = rng
        # nothing outside the layer's own bounds is ever fetched
        n = 2**tz
        bx0, by0, bx1, by1 = prep.bounds
        x0, x1 = max(x0, int(bx0 * n)), min(x1, int(bx1 * n))
        y0, y1 = max(y0, int(by0 * n)), min(y1, int(by1 * n))
        ntiles = max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)
        if ntiles > MAX_TILES:
            msg = f"bbox too large for zoom {z} ({ntiles} data tiles, at most {MAX_TILES}); zoom out"
            raise ViewRequestError(msg)
        tiles = [(tx, ty) for tx in range(x0, x1 + 1) for ty in range(y0, y1 + 1)]
        out = meta(prep.view, len(prep.rows))
        out.update({"kind": prep.kind, "zoom": z, "bounds": None, "colors": None, "dense": False})
        if prep.kind in ("polygon", "point") and len(prep.rows) > AGGREGATE_FEATURES // 4:
            n = 2**tz
            mask = np.zeros(len(prep.rows), dtype=bool)
            for tx, ty in tiles:
                mask[prep.tree.query(shapely.box(tx / n, ty / n, (tx + 1) / n, (ty + 1) / n))] = True
            fids = np.flatnonzero(mask)
            px = 1.0 / (TILE_PX * 2**z)
            limit = AGGREGATE_FEATURES if len(tiles) > 1 else AGGREGATE_FEATURES // 4  # a view is ~4 tiles
            if len(fids) > limit and np.median(prep.extent[fids]) < AGGREGATE_PX * px:
                return self._aggregate(prep, out, fids, z)
        pieces = [self._piece((build, prep.view.id, z, tx, ty), prep, z, tz, tx, ty) for tx, ty in tiles]
        pieces = [p for p in pieces if len(p[0])]
        if pieces:
            all_idx = np.concatenate([p[0] for p in pieces])
            flat = [e for p in pieces for e in p[1]]
            fids, first = np.unique(all_idx, return_index=True)
            geoms = [flat[i] for i in first]
        else:
            fids, geoms = np.zeros(0, dtype=np.int64), []
        dense = len(fids) > DENSE_FEATURES
        if dense:
            out.update(fields=[], labels=[])
        rows = ",".join("[]" for _ in range(len(fids))) if dense else ",".join([prep.rows[i] for i in fids])
        out.update({"dense": dense, "ill": [int(v) for v in prep.ill[fids]] if prep.ill is not None else None,
                    "fids": fids.tolist()})
        text = _json(out)
        return (text[:-1] + ',"geoms":[' + ",".join(geoms) + '],"rows":[' + rows + "]}").encode("utf-8")

    @staticmethod
    def _aggregate(prep: Prepared, out: dict[str, Any], fids: np.ndarray, z: int) -> bytes:
        """Cells of CELL_PX (or 2, 4... times that) pixels holding a feature's centre, merged along
        rows into rectangles; the cell doubles until at most AGGREGATE_CELLS rectangles remain."""
        centre = prep.centre[fids]
        cell_px = CELL_PX
        while True:
            s = cell_px / (TILE_PX * 2**z)
            ij = np.floor(centre / s).astype(np.int64)
            width = int(ij[:, 0].max()) + 2
            key = np.unique(ij[:, 1] * width + ij[:, 0])  # sorted by row, then column
            row, col = key // width, key % width
            new = np.ones(len(key), dtype=bool)
            new[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1] + 1)
            starts = np.flatnonzero(new)
            if len(starts) <= AGGREGATE_CELLS or cell_px >= 64:
                break
            cell_px *= 2
        ends = np.r_[starts[1:], len(key)] - 1
        if prep.kind == "point":
            g = shapely.points((col[starts] + 0.5) * s, (row[starts] + 0.5) * s)
        else:
            g = shapely.box(col[starts] * s, row[starts] * s, (col[ends] + 1) * s, (row[ends] + 1) * s)
        lonlat = gpd.GeoSeries(shapely.transform(g, mercator_to_lonlat))
        _, parts = encode_geometries(lonlat)
        out.update({"fields": [], "labels": [], "dense": True, "ill": None, "fids": [],
                    "aggregate": {"cell_px": cell_px, "features": int(len(fids)), "cells": int(len(starts))}})
        text = _json(out)
        rows = ",".join("[]" for _ in range(len(parts)))
        return (text[:-1] + ',"geoms":[' + ",".join(_json(e) for e in parts) + '],"rows":[' + rows + "]}").encode()
