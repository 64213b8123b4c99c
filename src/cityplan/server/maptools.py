"""The map page's tools over HTTP: search, attribute table and export, bookmarks.

* ``GET /api/search?q=TEXT&limit=N``: features of every map layer whose name (zh/en), id or
  address matches, real ones first (:mod:`cityplan.services.search`), the whole map (not only the
  view), each with its layer, fid and WGS84 (display) bounds to zoom to;
* ``GET /api/attributes/{layer}?format=json|csv|xlsx|geojson|gpkg&bbox=W,S,E,N&fids=1,2&f.COL=TEXT
  &sort=COL&desc=1``: the layer's attribute table (JSON, at most
  :data:`cityplan.services.mapdata.MAX_TABLE_ROWS` rows) or an export of the same selection
  (:mod:`cityplan.services.mapdata`);
* ``GET /api/bookmarks``, ``POST /api/bookmarks`` (name, view, layers), ``POST /api/bookmarks/delete``
  (name): the user's named views (:mod:`cityplan.services.bookmarks`), CSRF-checked.

Who may ask is decided as for the layer API (``/api/layers``, :mod:`cityplan.server.viewlayers`):
a logged-in account sees every layer of the map recipe, including restricted ones (licence
``redistribute: false``); without a login every route answers 401 and names no layer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import shapely
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan.maps.encode import mercator_to_lonlat
from cityplan.maps.payload import clean_value, shown_rows
from cityplan.maps.tiles import ViewRequestError, _to_merc, parse_bbox
from cityplan.server import csrf
from cityplan.server.auth import current_user, session_of
from cityplan.server.context import context
from cityplan.server.viewlayers import MapLayers
from cityplan.server.web import record, refuse
from cityplan.services import bookmarks as bm
from cityplan.services import mapdata
from cityplan.services.search import MAX_HITS

logger = logging.getLogger(__name__)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False, allow_nan=False), status_code=status,
                    media_type="application/json", headers={"Cache-Control": "private, no-store"})


def _hit_bounds(ml: MapLayers, lid: str, fid: int) -> list[float] | None:
    """[west, south, east, north] (display lon/lat) of a feature."""
    p = ml.get(lid)
    if p is None or fid >= len(p.merc) or not len(p.merc):
        return None
    b = p.bounds if fid < 0 else shapely.bounds(p.merc[fid])  # fid -1: the layer itself
    ll = mercator_to_lonlat(np.array([[b[0], b[3]], [b[2], b[1]]]))
    return [float(ll[0, 0]), float(ll[0, 1]), float(ll[1, 0]), float(ll[1, 1])]


async def search(request: Request) -> Response:
    """``GET /api/search?q=``: the best hits over every layer of the map."""
    if current_user(request) is None:
        return _json({"error": "log in first"}, 401)
    q = request.query_params.get("q", "").strip()
    try:
        limit = min(max(int(request.query_params.get("limit", "20")), 1), MAX_HITS)
    except ValueError:
        return _json({"error": "limit: a whole number 1-50"}, 400)
    ml: MapLayers = context(request).map_layers

    def run() -> list[dict[str, Any]]:
        hits = ml.search_index().search(q, limit=limit)
        return [{"layer": h.layer, "title": h.title, "fid": h.fid, "label": h.label, "matched": h.matched,
                 "value": h.value, "illustrative": h.illustrative, "bounds": _hit_bounds(ml, h.layer, h.fid)}
                for h in hits]

    return _json({"q": q, "hits": await run_in_threadpool(run)})


def _ints(text: str, name: str) -> list[int] | None:
    if not text:
        return None
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise mapdata.SelectionError(f"{name}: whole numbers separated by commas") from None
    if len(vals) > mapdata.MAX_EXPORT_ROWS:
        raise mapdata.SelectionError(f"{name}: at most {mapdata.MAX_EXPORT_ROWS} ids")
    return vals


async def attributes(request: Request) -> Response:
    """``GET /api/attributes/{layer}``: the attribute table of a layer, or an export of it."""
    if current_user(request) is None:
        return _json({"error": "log in first"}, 401)
    ml: MapLayers = context(request).map_layers
    lid = request.path_params["lid"]
    p = await run_in_threadpool(ml.get, lid)
    if p is None:
        return _json({"error": f"no map layer {lid!r}"}, 404)
    q = request.query_params
    fmt = q.get("format", "json")
    if fmt != "json" and fmt not in mapdata.FORMATS:
        return _json({"error": f"format {fmt!r}: json or one of {', '.join(mapdata.FORMATS)}"}, 400)
    filters = {k[2:]: v for k, v in q.items() if k.startswith("f.")}
    tmp = context(request).data_dir / "tmp"

    def run() -> tuple[bytes, str] | dict[str, Any]:
        gdf = shown_rows(p.view)
        within = None
        if q.get("bbox"):
            x0, y0, x1, y1 = parse_bbox(q["bbox"])
            box = _to_merc(np.array([shapely.box(x0, y0, x1, y1)], dtype=object))[0]
            within = np.sort(p.tree.query(box, predicate="intersects"))
        fids = mapdata.select(gdf, fids=_ints(q.get("fids", ""), "fids"), within=within, filters=filters,
                              sort=q.get("sort") or None, descending=q.get("desc") in ("1", "true"))
        if fmt == "json":
            cols = mapdata.attribute_columns(gdf)
            shown = fids[:mapdata.MAX_TABLE_ROWS]
            sub = gdf.iloc[shown]
            rows = [[int(f), *[clean_value(v) for v in r]]
                    for f, r in zip(shown, sub[cols].itertuples(index=False, name=None), strict=True)]
            labels = p.view.labels
            fb = shapely.bounds(p.merc[shown]).reshape(-1, 4) if len(shown) else np.zeros((0, 4))
            sw = mercator_to_lonlat(fb[:, [0, 3]]) if len(fb) else np.zeros((0, 2))
            ne = mercator_to_lonlat(fb[:, [2, 1]]) if len(fb) else np.zeros((0, 2))
            bounds = [[round(float(a), 6), round(float(b), 6), round(float(c), 6), round(float(d), 6)]
                      for (a, b), (c, d) in zip(sw, ne, strict=True)]
            return {"layer": lid, "title": p.view.title, "fields": cols, "labels": [labels.get(c, c) for c in cols],
                    "total": int(len(fids)), "rows": rows, "bounds": bounds, "truncated": bool(len(fids) > len(shown)),
                    "max_rows": mapdata.MAX_TABLE_ROWS}
        return mapdata.export_bytes(gdf.iloc[fids], fmt, layer=lid, tmpdir=tmp), mapdata.FORMATS[fmt]

    try:
        out = await run_in_threadpool(run)
    except (mapdata.SelectionError, ViewRequestError) as exc:
        return _json({"error": str(exc)}, 400)
    if isinstance(out, dict):
        return _json(out)
    body, media = out
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{lid}.{fmt}"',
                             "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


async def bookmarks_list(request: Request) -> Response:
    """``GET /api/bookmarks``: the user's bookmarks."""
    user = current_user(request)
    if user is None:
        return _json({"error": "log in first"}, 401)
    store = context(request).om.store
    items = await run_in_threadpool(bm.list_bookmarks, store, user.name)
    return _json({"bookmarks": [b.public() for b in items]})


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        if len(body) > 64_000:
            raise bm.BookmarkError("body: at most 64 kB")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise bm.BookmarkError("body: JSON with name, view, layers") from None
        if not isinstance(data, dict):
            raise bm.BookmarkError("body: a JSON object with name, view, layers")
        return {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in data.items()}
    form = await request.form(max_files=0, max_fields=10)
    return {k: str(v) for k, v in form.items()}


async def _bookmark_write(request: Request, action: str) -> tuple[Any, dict[str, str]] | Response:
    """The user and form of a bookmark write, or the refusal (not logged in, bad form, CSRF)."""
    user = current_user(request)
    if user is None:
        return _json({"error": "log in first"}, 401)
    try:
        form = await _form(request)
    except bm.BookmarkError as exc:
        return _json({"error": str(exc)}, 400)
    if not csrf.check(request, session_of(request), form.get(csrf.FIELD)):
        return refuse(request, user, action, form.get("name", ""), "missing or wrong CSRF token")
    return user, form


async def bookmark_save(request: Request) -> Response:
    """``POST /api/bookmarks``: save (or replace) a named view of the user."""
    got = await _bookmark_write(request, "bookmark.save")
    if isinstance(got, Response):
        return got
    user, form = got
    store = context(request).om.store
    layers = [x for x in form.get("layers", "").split(",") if x]
    try:
        b = await run_in_threadpool(bm.save_bookmark, store, user.name, form.get("name", ""), form.get("view", ""),
                                    layers)
    except bm.BookmarkError as exc:
        return _json({"error": str(exc)}, 400)
    record(request, user, "bookmark.save", b.name, view=b.view)
    return _json({"bookmark": b.public()})


async def bookmark_delete(request: Request) -> Response:
    """``POST /api/bookmarks/delete``: delete a named view of the user."""
    got = await _bookmark_write(request, "bookmark.delete")
    if isinstance(got, Response):
        return got
    user, form = got
    gone = await run_in_threadpool(bm.delete_bookmark, context(request).om.store, user.name, form.get("name", ""))
    if not gone:
        return _json({"error": f"no bookmark {form.get('name', '')!r}"}, 404)
    record(request, user, "bookmark.delete", form.get("name", ""))
    return _json({"deleted": form.get("name", "")})


def routes() -> list[Route]:
    """The map tools' routes."""
    return [Route("/api/search", search), Route("/api/attributes/{lid}", attributes),
            Route("/api/bookmarks", bookmarks_list, methods=["GET"]),
            Route("/api/bookmarks", bookmark_save, methods=["POST"]),
            Route("/api/bookmarks/delete", bookmark_delete, methods=["POST"])]
