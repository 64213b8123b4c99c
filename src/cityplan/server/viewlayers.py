"""The one map's recipe layers for the browser: metadata for the page, features per view (API).

``GET /api/layers/{id}?bbox=minlon,minlat,maxlon,maxlat&zoom=Z`` answers the compact payload of
:mod:`cityplan.server.tiles` (login required). The layers are the map recipe's (default
``maps/onemap.yaml``, as ``cityplan map onemap`` draws them), read and projected once per build.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan.maps.basemaps import get_basemap
from cityplan.maps.recipes import load_recipe
from cityplan.maps.render import recipe_views, source_credits
from cityplan.onemap import OneMap
from cityplan.server.auth import current_user
from cityplan.server.tiles import Prepared, TileCache, ViewRequestError, meta, parse_bbox, prepare

logger = logging.getLogger(__name__)


class MapLayers:
    """The recipe's layers of the current build, prepared for tiling on first use."""

    def __init__(self, om: OneMap, *, recipe: str = "onemap", basemap: str = "osm") -> None:
        self.om = om
        self.recipe_name = recipe
        self.basemap = get_basemap(basemap)
        self.tiles = TileCache()
        self._lock = threading.Lock()
        self._build = ""
        self._prepared: dict[str, Prepared] = {}
        self._order: list[str] = []
        self._attributions: list[str] = []
        self.recipe = load_recipe(recipe)

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
            self._prepared, self._order, self._build = prepared, [v.id for v in views], stamp
            logger.info("map layers of build %s prepared in %.1f s", stamp, time.perf_counter() - t0)

    def warm(self) -> None:
        """Prepare every layer now (``cityplan serve`` does this in the background at start)."""
        self._ensure()

    @property
    def build(self) -> str:
        """The build the prepared layers come from."""
        self._ensure()
        return self._build

    def get(self, layer_id: str) -> Prepared | None:
        """The prepared layer, or None when the recipe has no such layer."""
        self._ensure()
        return self._prepared.get(layer_id)

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


def layer_view(request: Request) -> Response:
    """``GET /api/layers/{id}``: the layer's features in view, simplified for the zoom."""
    if current_user(request) is None:
        return Response('{"error": "log in first"}', status_code=401, media_type="application/json")
    ml: MapLayers = request.app.state.map_layers
    prep = ml.get(request.path_params["lid"])
    if prep is None:
        return Response(json.dumps({"error": f"no map layer {request.path_params['lid']!r}"}), status_code=404,
                        media_type="application/json")
    try:
        bbox = parse_bbox(request.query_params.get("bbox", ""))
        zoom = int(request.query_params.get("zoom", "12"))
        payload = ml.tiles.payload(ml.build, prep, bbox, zoom)
    except (ViewRequestError, ValueError) as exc:
        return Response(json.dumps({"error": str(exc)}), status_code=400, media_type="application/json")
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(body, media_type="application/json", headers={"Cache-Control": "private, max-age=300"})


def routes() -> list[Route]:
    """The layer API route."""
    return [Route("/api/layers/{lid}", layer_view)]
