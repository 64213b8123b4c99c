"""OGC API - Features (Part 1: Core, GeoJSON) over the one map's layers, read-only, under ``/ogc``.

``/ogc`` (landing), ``/ogc/conformance``, ``/ogc/collections``, ``/ogc/collections/{id}``,
``/ogc/collections/{id}/items`` (``bbox``, ``limit``, ``offset``; ``next``/``prev`` links,
``numberMatched``/``numberReturned``) and ``/ogc/collections/{id}/items/{fid}``. Features are
GeoJSON in WGS84 (CRS84); the bbox filter keeps the features whose geometry intersects the box.
A feature's id is its row number in the layer of the current build.

Layers the catalog marks ``redistribute: false`` are restricted: they are listed and served only
to a logged-in account (session cookie, or HTTP Basic for GIS clients such as QGIS); everything
else needs no login.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan.server.auth import current_user

GEOJSON = "application/geo+json"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _json(obj: Any, status: int = 200, media: str = "application/json", headers: dict | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False)
    return Response(body, status_code=status, media_type=media, headers=headers)


def _default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return str(v)


def _error(status: int, code: str, text: str, headers: dict | None = None) -> Response:
    return _json({"code": code, "description": text}, status, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _collections(request: Request) -> list[dict[str, Any]]:
    """Catalog rows of the layers this client may see (spatial layers only)."""
    om = request.app.state.om
    logged_in = current_user(request) is not None
    out = []
    for r in om.catalog.to_dict("records"):
        if str(r.get("geometry", "")) in ("table", "", "None"):
            continue
        restricted = not bool(r.get("redistribute", True))
        if restricted and not logged_in:
            continue
        out.append({**r, "restricted": restricted})
    return out


def _collection_doc(request: Request, r: dict[str, Any]) -> dict[str, Any]:
    base = _base(request)
    lid = str(r["layer"])
    ext = request.app.state.layer_extent(lid)
    doc = {
        "id": lid, "title": f"{r.get('title_zh', '')} {r.get('title_en', '')}".strip(),
        "description": str(r.get("description") or ""), "itemType": "feature", "crs": [CRS84],
        "attribution": str(r.get("attribution") or ""), "license": str(r.get("licence") or ""),
        "links": [
            {"href": f"{base}/collections/{lid}", "rel": "self", "type": "application/json", "title": "this collection"},
            {"href": f"{base}/collections/{lid}/items", "rel": "items", "type": GEOJSON, "title": "features"},
        ],
    }
    if ext is not None:
        doc["extent"] = {"spatial": {"bbox": [list(ext)], "crs": CRS84}}
    if r.get("restricted"):
        doc["restricted"] = True
    return doc


async def landing(request: Request) -> Response:
    """``/ogc``: the landing page."""
    base = _base(request)
    om = request.app.state.om
    return _json({
        "title": f"cityplan one map {om.city}".strip(),
        "description": f"OGC API - Features of the one map built {om.build_info.get('built_at', '')}",
        "links": [
            {"href": base, "rel": "self", "type": "application/json", "title": "this document"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "conformance classes"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json", "title": "collections"},
        ],
    })


async def conformance(request: Request) -> Response:  # noqa: ARG001
    """``/ogc/conformance``."""
    return _json({"conformsTo": CONFORMANCE})


def collections(request: Request) -> Response:
    """``/ogc/collections``."""
    base = _base(request)
    docs = [_collection_doc(request, r) for r in _collections(request)]
    return _json({"links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
                  "collections": docs})


def _find(request: Request) -> tuple[dict[str, Any] | None, Response | None]:
    lid = request.path_params["cid"]
    om = request.app.state.om
    rows = [r for r in om.catalog.to_dict("records") if str(r["layer"]) == lid
            and str(r.get("geometry", "")) not in ("table", "", "None")]
    if not rows:
        return None, _error(404, "NotFound", f"no collection {lid!r}; see /ogc/collections")
    r = rows[0]
    r["restricted"] = not bool(r.get("redistribute", True))
    if r["restricted"] and current_user(request) is None:
        return None, _error(401, "Unauthorized", f"collection {lid!r} is restricted (licence does not allow "
                            "redistribution); log in or send HTTP Basic credentials",
                            headers={"WWW-Authenticate": 'Basic realm="cityplan", charset="UTF-8"'})
    return r, None


def collection(request: Request) -> Response:
    """``/ogc/collections/{id}``."""
    r, err = _find(request)
    return err if err is not None else _json(_collection_doc(request, r))


def _features(gdf: gpd.GeoDataFrame, fids: np.ndarray) -> list[dict[str, Any]]:
    page = gdf.iloc[fids]
    if page.crs is not None and page.crs.to_epsg() != 4326:
        page = page.to_crs(4326)
    props = page.drop(columns=page.geometry.name)
    props = props.astype(object).where(pd.notna(props), None)
    geoms = shapely.to_geojson(np.asarray(page.geometry.values, dtype=object))
    cols = list(props.columns)
    out = []
    for fid, g, vals in zip(fids, geoms, props.itertuples(index=False, name=None), strict=True):
        out.append({"type": "Feature", "id": int(fid), "geometry": json.loads(g) if g else None,
                    "properties": dict(zip(cols, vals, strict=True))})
    return out


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: an integer") from None
    if v < lo:
        raise ValueError(f"{name}={v}: at least {lo}")
    return min(v, hi)


def items(request: Request) -> Response:
    """``/ogc/collections/{id}/items?bbox=&limit=&offset=``."""
    r, err = _find(request)
    if err is not None:
        return err
    lid = str(r["layer"])
    try:
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0, 10**12)
        bbox = None
        if request.query_params.get("bbox"):
            from cityplan.server.tiles import ViewRequestError, parse_bbox

            try:
                bbox = parse_bbox(request.query_params["bbox"])
            except ViewRequestError as exc:
                raise ValueError(str(exc)) from None
        unknown = set(request.query_params) - {"bbox", "limit", "offset", "f", "bbox-crs"}
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; this server takes bbox, limit, offset")
        if request.query_params.get("bbox-crs", CRS84) != CRS84:
            raise ValueError("bbox-crs: only CRS84 is supported")
    except ValueError as exc:
        return _error(400, "InvalidParameterValue", str(exc))
    gdf = request.app.state.om.layer(lid)
    if bbox is not None:
        hit = gdf.sindex.query(shapely.box(*bbox), predicate="intersects")
        matched = np.sort(hit)
    else:
        matched = np.arange(len(gdf))
    page = matched[offset: offset + limit]
    feats = _features(gdf, page)
    base = f"{_base(request)}/collections/{lid}/items"
    q = {k: v for k, v in request.query_params.items() if k in ("bbox",)}

    def link(rel: str, off: int) -> dict[str, str]:
        return {"href": f"{base}?{urlencode({**q, 'limit': limit, 'offset': off})}", "rel": rel, "type": GEOJSON}

    links = [link("self", offset)]
    if offset + limit < len(matched):
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    links.append({"href": f"{_base(request)}/collections/{lid}", "rel": "collection", "type": "application/json"})
    return _json({"type": "FeatureCollection", "features": feats, "numberMatched": int(len(matched)),
                  "numberReturned": len(feats), "timeStamp": request.app.state.om.build_info.get("built_at", ""),
                  "links": links}, media=GEOJSON)


def item(request: Request) -> Response:
    """``/ogc/collections/{id}/items/{fid}``."""
    r, err = _find(request)
    if err is not None:
        return err
    lid = str(r["layer"])
    gdf = request.app.state.om.layer(lid)
    try:
        fid = int(request.path_params["fid"])
    except ValueError:
        fid = -1
    if not 0 <= fid < len(gdf):
        return _error(404, "NotFound", f"no feature {request.path_params['fid']!r} in {lid!r}")
    feat = _features(gdf, np.array([fid]))[0]
    base = f"{_base(request)}/collections/{lid}"
    feat["links"] = [{"href": f"{base}/items/{fid}", "rel": "self", "type": GEOJSON},
                     {"href": base, "rel": "collection", "type": "application/json"}]
    return _json(feat, media=GEOJSON)


def routes() -> list[Route]:
    """The ``/ogc`` routes."""
    return [
        Route("/ogc", landing), Route("/ogc/", landing), Route("/ogc/conformance", conformance),
        Route("/ogc/collections", collections), Route("/ogc/collections/{cid}", collection),
        Route("/ogc/collections/{cid}/items", items), Route("/ogc/collections/{cid}/items/{fid}", item),
    ]

