"""The one map's recipe layers for the browser: metadata for the page, features per view (API).

``GET /api/layers/{id}?bbox=minlon,minlat,maxlon,maxlat&zoom=Z`` (or ``?tile=TX,TY&zoom=Z``, one
data tile at level Z - 2, as the map page asks) answers the compact payload of
:mod:`cityplan.maps.tiles` (login required); ``GET /api/view?layers=a,b&…`` several layers at once. The layers are the map recipe's (default
``maps/onemap.yaml``, as ``cityplan map onemap`` draws them), read and projected once per build.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan.maps.basemaps import get_basemap
from cityplan.maps.payload import shown_rows
from cityplan.maps.recipes import load_recipe
from cityplan.maps.render import recipe_views, source_credits
from cityplan.maps.tiles import (
    DATA_TILE_LEVELS,
    LRU,
    Answer,
    Prepared,
    TileCache,
    ViewRequestError,
    answer,
    meta,
    parse_bbox,
    prepare,
    tile_range,
)
from cityplan.onemap import OneMap
from cityplan.server.auth import current_user
from cityplan.server.context import context
from cityplan.services.search import SearchIndex

logger = logging.getLogger(__name__)

#: layers up to this many features are fetched together by the map page (``/api/view``)
BATCH_MAX = 5000
#: zooms whose data tiles are made at start for the layers shown (after a rebuild: on demand)
SEED_MIN_ZOOM, SEED_MAX_ZOOM = 10, 16



class MapLayers:
    """The recipe's layers of the current build, prepared for tiling on first use."""

    def __init__(self, om: OneMap, *, recipe: str = "onemap", basemap: str = "osm") -> None:
        self.om = om
        self.recipe_name = recipe
        self.basemap = get_basemap(basemap)
        self.tiles = TileCache()
        self.batches = LRU(128_000_000)  # answers of /api/view (several layers joined)
        self.seeded = -1  # the highest zoom seeded for the current build
        self._lock = threading.Lock()
        self._build = ""
        self._prepared: dict[str, Prepared] = {}
        self._order: list[str] = []
        self._attributions: list[str] = []
        self._search: tuple[str, SearchIndex] | None = None
        self.recipe = load_recipe(recipe, om.profile)

    def _ensure(self) -> None:
        stamp = self.om.build_stamp
        if stamp == self._build and self._prepared:
            return
        with self._lock:
            if stamp == self._build and self._prepared:
                return
            t0 = time.perf_counter()
            views = recipe_views(self.recipe, self.om)
            prepared = {v.id: prepare(v, gcj02=self.basemap.gcj02) for v in views}
            self._attributions = source_credits(self.om, views)
            self.tiles.clear()
            self.batches.clear()
            self.seeded = -1
            self._prepared, self._order, self._build = prepared, [v.id for v in views], stamp
            logger.info("map layers of build %s prepared in %.1f s", stamp, time.perf_counter() - t0)

    def warm(self) -> None:
        """Prepare every layer now (``cityplan serve`` does this in the background at start)."""
        self._ensure()

    def seed(self, *, max_zoom: int = SEED_MAX_ZOOM, min_zoom: int = SEED_MIN_ZOOM) -> int:
        """Make the answers of every data tile of the layers shown by default, zoom ``min_zoom`` to
        ``max_zoom`` (and their ``/api/view`` batches, as the page asks), so panning meets a
        warm cache (as a tile server is seeded after a build). Returns the answers made."""
        t0 = time.perf_counter()
        self._ensure()
        build = self._build
        shown = [lid for lid in self._order if self._prepared[lid].view.show]
        small = [lid for lid in shown if len(self._prepared[lid].rows) <= BATCH_MAX]
        made = 0
        for z in range(min_zoom, max_zoom + 1):
            tz = max(0, z - DATA_TILE_LEVELS)
            n = 2**tz
            x0, y0, x1, y1 = self.om.extent
            tx0, ty0, tx1, ty1 = tile_range((x0, y0, x1, y1), tz)
            for tx in range(tx0, tx1 + 1):
                for ty in range(ty0, ty1 + 1):
                    if self.om.build_stamp != build:
                        return made  # rebuilt meanwhile: the next request prepares the new build
                    box = (tx / n, ty / n, (tx + 1) / n, (ty + 1) / n)
                    for lid in shown:
                        b = self._prepared[lid].bounds
                        if b[0] <= box[2] and b[2] >= box[0] and b[1] <= box[3] and b[3] >= box[1]:
                            self.tiles.answer(build, self._prepared[lid], (tx, ty), z)
                            made += 1
                    if small:
                        self.batch_answer(build, small, (tx, ty), z)
            self.seeded = z
        logger.info("seeded %d layer answers of build %s in %.1f s", made, build, time.perf_counter() - t0)
        return made

    def batch_answer(self, build: str, ids: list[str], view: tuple, zoom: int,
                     parts: list[Answer] | None = None) -> Answer:
        """The ``/api/view`` answer of ``ids`` (their answers joined), cached per view's tiles."""
        key = (build, "/view", *ids, *self.tiles.where(view, zoom)[::2])
        ans = self.batches.get(key)
        if ans is None:
            if parts is None:
                parts = [self.tiles.answer(build, self._prepared[lid], view, zoom) for lid in ids]
            ans = answer(b'{"layers":[' + b",".join(a.raw for a in parts) + b"]}")
            self.batches.put(key, ans, ans.size)
        return ans

    @property
    def build(self) -> str:
        """The build the prepared layers come from."""
        self._ensure()
        return self._build

    def ready_build(self) -> str | None:
        """The build whose layers are prepared, when it is still the one map's build (else None)."""
        return self._build if self._prepared and self._build == self.om.build_stamp else None

    def has(self, layer_id: str) -> bool:
        """Whether the prepared layers include ``layer_id`` (False before they are prepared)."""
        return layer_id in self._prepared

    def get(self, layer_id: str) -> Prepared | None:
        """The prepared layer, or None when the recipe has no such layer."""
        self._ensure()
        return self._prepared.get(layer_id)

    def search_index(self) -> SearchIndex:
        """The search keys of every layer of the current build (made on first use, per build)."""
        self._ensure()
        build = self._build
        if self._search is not None and self._search[0] == build:
            return self._search[1]
        with self._lock:
            if self._search is None or self._search[0] != build:
                t0 = time.perf_counter()
                index = SearchIndex()
                for i, lid in enumerate(self._order):
                    p = self._prepared[lid]
                    index.add(lid, p.view.title, shown_rows(p.view), illustrative=p.view.illustrative, order=i)
                for i, lid in enumerate(self._order):
                    index.add_title(lid, self._prepared[lid].view.title, order=i,
                                    illustrative=self._prepared[lid].view.illustrative)
                self._search = (build, index)
                logger.info("search index of build %s made in %.1f s", build, time.perf_counter() - t0)
        return self._search[1]

    def order(self) -> list[str]:
        """The layer ids of the current build, in the recipe's order."""
        self._ensure()
        return list(self._order)

    def page_config(self, *, ids: list[str] | None = None, show: set[str] | None = None) -> dict[str, Any]:
        """What the map page needs: groups, layer metadata (no features), extent, tiles, credits."""
        self._ensure()
        layers = []
        for lid in ids if ids is not None else self._order:
            p = self._prepared.get(lid)
            if p is None:
                continue
            m = meta(p.view, len(p.rows))
            m["kind"] = p.kind
            if show is not None:
                m["show"] = lid in show
            layers.append(m)
        x0, y0, x1, y1 = self.om.extent
        tiles = [{"url": u, "attr": a, "subdomains": s, "maxZoom": self.basemap.max_zoom}
                 for u, a, s in self.basemap.tiles]
        return {"groups": list(self.recipe.groups), "layers": layers, "extent": [[y0, x0], [y1, x1]],
                "tiles": tiles, "attributions": self._attributions,
                "title": f"{self.recipe.title_zh} {self.recipe.title_en}"}


#: answers made at once (cache misses: geometry work in a thread); hits are served without waiting
HEAVY_AT_ONCE = 2
#: layers one ``/api/view`` request may name
MAX_BATCH = 64
_heavy: dict[int, asyncio.Semaphore] = {}


def _semaphore() -> asyncio.Semaphore:
    loop = id(asyncio.get_running_loop())
    if loop not in _heavy:
        _heavy[loop] = asyncio.Semaphore(HEAVY_AT_ONCE)
    return _heavy[loop]


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}, ensure_ascii=False), status_code=status,
                    media_type="application/json")


async def _answers(ml: MapLayers, ids: list[str], bbox: tuple[float, float, float, float], zoom: int) -> list[Answer]:
    """The layers' answers: from the cache when made before, else made in a worker thread (at most
    HEAVY_AT_ONCE at once, so the event loop and cache hits stay responsive)."""
    build = ml.ready_build()
    if build is None:  # not prepared yet (server start, or a rebuild): prepare in a thread
        await run_in_threadpool(ml.warm)
        build = ml.build
    found = [ml.tiles.cached(build, lid, bbox, zoom) for lid in ids]
    missing = [lid for lid, a in zip(ids, found, strict=True) if a is None]
    if missing:
        async with _semaphore():
            made = await run_in_threadpool(
                lambda: {lid: ml.tiles.answer(build, ml.get(lid), bbox, zoom) for lid in missing})
        found = [a if a is not None else made[lid] for lid, a in zip(ids, found, strict=True)]
    return found


def _send(request: Request, ans: Answer) -> Response:
    headers = {"ETag": ans.etag, "Cache-Control": "private, max-age=300", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == ans.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(ans.gz, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(ans.raw, media_type="application/json", headers=headers)


def _view_args(request: Request) -> tuple[tuple, int]:
    """(bbox or (tx, ty) data tile, zoom) of ``?bbox=…&zoom=Z`` or ``?tile=TX,TY&zoom=Z``."""
    q = request.query_params
    try:
        zoom = int(q.get("zoom", "12"))
    except ValueError:
        raise ViewRequestError(f"zoom {q.get('zoom')!r}: a whole number 0-20") from None
    if "tile" in q:
        try:
            tx, ty = (int(v) for v in q["tile"].split(","))
        except ValueError:
            raise ViewRequestError(f"tile {q['tile']!r}: two whole numbers TX,TY") from None
        TileCache.one_tile((tx, ty), zoom)
        return (tx, ty), zoom
    return parse_bbox(q.get("bbox", "")), zoom


async def layer_view(request: Request) -> Response:
    """``GET /api/layers/{id}``: the layer's features in view, simplified for the zoom."""
    if current_user(request) is None:
        return _error(401, "log in first")
    ml: MapLayers = context(request).map_layers
    lid = request.path_params["lid"]
    if not ml.has(lid):
        if ml.ready_build() is None:
            await run_in_threadpool(ml.warm)
        if not ml.has(lid):
            return _error(404, f"no map layer {lid!r}")
    try:
        bbox, zoom = _view_args(request)
        (ans,) = await _answers(ml, [lid], bbox, zoom)
    except ViewRequestError as exc:
        return _error(400, str(exc))
    return _send(request, ans)


async def view_batch(request: Request) -> Response:
    """``GET /api/view?layers=a,b,c&bbox=&zoom=``: several layers in view in one answer
    (``{"layers": [payload, ...]}``, in the order asked; the map page asks for its small layers so)."""
    if current_user(request) is None:
        return _error(401, "log in first")
    ml: MapLayers = context(request).map_layers
    if ml.ready_build() is None:
        await run_in_threadpool(ml.warm)
    ids = list(dict.fromkeys(x for x in request.query_params.get("layers", "").split(",") if x))
    if not ids or len(ids) > MAX_BATCH:
        return _error(400, f"layers: 1 to {MAX_BATCH} layer ids separated by commas")
    unknown = [lid for lid in ids if not ml.has(lid)]
    if unknown:
        return _error(404, f"no map layer {unknown[0]!r}")
    try:
        bbox, zoom = _view_args(request)
        parts = await _answers(ml, ids, bbox, zoom)
    except ViewRequestError as exc:
        return _error(400, str(exc))
    return _send(request, ml.batch_answer(ml.build, ids, bbox, zoom, parts))


def seed_status(request: Request) -> Response:
    """``GET /api/seed``: the highest zoom whose tiles are made for the current build (-1: none yet)."""
    if current_user(request) is None:
        return _error(401, "log in first")
    ml: MapLayers = context(request).map_layers
    return Response(json.dumps({"build": ml._build, "seeded_zoom": ml.seeded, "max_zoom": SEED_MAX_ZOOM}),
                    media_type="application/json")


def routes() -> list[Route]:
    """The layer API routes."""
    return [Route("/api/layers/{lid}", layer_view), Route("/api/view", view_batch), Route("/api/seed", seed_status)]
