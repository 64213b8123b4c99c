"""OGC API - Features Part 1: Core over the one map's layers, read-only, under ``/ogc``.

Conformance classes: Core, OpenAPI 3.0, GeoJSON and HTML.

* ``/ogc`` landing page (links ``self``, ``alternate``, ``service-desc``, ``service-doc``,
  ``conformance``, ``data``), ``/ogc/api`` the OpenAPI 3.0 definition (JSON, generated from the
  collections the client may see), ``/ogc/api.html`` the same for people, ``/ogc/conformance``.
* ``/ogc/collections``, ``/ogc/collections/{id}`` (``extent.spatial.bbox`` in CRS84, ``itemType``
  ``feature``, links to the items as GeoJSON and HTML).
* ``/ogc/collections/{id}/items?bbox=&limit=&offset=`` (``limit`` default 100, at most 10,000: a
  larger value is served as 10,000; ``next``/``prev`` links, ``numberMatched``,
  ``numberReturned``, ``timeStamp``) and ``/ogc/collections/{id}/items/{featureId}``.

Features are GeoJSON in WGS84 (CRS84); the bbox filter keeps the features whose geometry
intersects the box. A feature's id is its row number in the layer of the current build. Every
resource is JSON (GeoJSON for features) or HTML: ``f=json|html`` (items also ``f=geojson``), else
the ``Accept`` header (HTML only when it prefers ``text/html``). Errors are OGC exceptions
(``{"code", "description"}``): 400 for a bad or unknown query parameter, 404 for an unknown
collection, feature or path, 401 for a restricted collection without valid credentials.

Layers the catalog marks ``redistribute: false`` are restricted: they are listed and served only
to a logged-in account - a session cookie, or HTTP Basic credentials for GIS clients such as
QGIS (a Basic authentication configuration); an anonymous request gets 401 with
``WWW-Authenticate: Basic``. Everything else needs no login. The endpoints are synchronous, so
Starlette runs them in its thread pool: password hashing and GeoJSON encoding stay off the event
loop.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cityplan import __version__
from cityplan.server.auth import current_user
from cityplan.server.context import context
from cityplan.server.web import render

logger = logging.getLogger(__name__)

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CONFORMANCE = [_CONF + c for c in ("core", "oas30", "geojson", "html")]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
REALM = 'Basic realm="cityplan", charset="UTF-8"'
#: query parameters each kind of resource takes (anything else is a 400)
PARAMS = {"page": {"f"}, "items": {"f", "bbox", "bbox-crs", "limit", "offset"}}


class OgcError(Exception):
    """An OGC exception answer (status, code, description, extra headers)."""

    def __init__(self, status: int, code: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.headers = status, code, description, headers


def _json(obj: Any, status: int = 200, media: str = JSON, headers: dict | None = None) -> Response:
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


def _endpoint(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Answer an :class:`OgcError` raised by ``fn`` as an OGC exception document; an answer that
    depends on a logged-in account (restricted collections) is marked ``Cache-Control: private``."""

    def run(request: Request) -> Response:
        try:
            resp = fn(request)
        except OgcError as exc:
            resp = _error(exc.status, exc.code, exc.description, exc.headers)
        if request.scope.get("cp_user") is not None:
            resp.headers["Cache-Control"] = "private"
        return resp

    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


def _base(request: Request) -> str:
    """The API's absolute base: the configured public URL (``cityplan serve --public-url``), else
    the request's own (its Host checked against ``--allowed-hosts`` by the app)."""
    public = context(request).public_url
    return (public or str(request.base_url)).rstrip("/") + "/ogc"


def _link(href: str, rel: str, media: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media, "title": title}


# ------------------------------------------------------------------------------ negotiation
def _accept_q(accept: str, media: str) -> float:
    """The q of ``media`` in an Accept header (its most specific matching range), 0 if none."""
    best, spec = 0.0, -1
    media = media.split(";")[0].strip()
    major = media.split("/")[0]
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        rng = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        s = 2 if rng == media else 1 if rng == f"{major}/*" else 0 if rng == "*/*" else -1
        if s > spec:
            best, spec = q, s
    return best if spec >= 0 else 0.0


def _format(request: Request, kind: str = "page", json_types: tuple[str, ...] = (JSON,)) -> str:
    """``json`` or ``html``: the ``f`` parameter, else the Accept header; checks the parameters."""
    unknown = set(request.query_params) - PARAMS[kind]
    if unknown:
        raise OgcError(400, "InvalidParameterValue", f"unknown parameter(s) {sorted(unknown)}; this resource "
                       f"takes {', '.join(sorted(PARAMS[kind]))} (see {_base(request)}/api)")
    f = request.query_params.get("f")
    if f is not None:
        allowed = ("json", "html", "geojson") if kind == "items" else ("json", "html")
        if f.lower() not in allowed:
            raise OgcError(400, "InvalidParameterValue", f"f={f!r}: one of {', '.join(allowed)}")
        return "html" if f.lower() == "html" else "json"
    accept = request.headers.get("accept", "")
    if not accept:
        return "json"
    q_json = max(_accept_q(accept, t) for t in json_types)
    return "html" if _accept_q(accept, HTML) > q_json else "json"


def _self_links(url: str, fmt: str, media: str, what: str) -> list[dict[str, str]]:
    """``self`` and ``alternate`` links of a resource at ``url`` answered as ``fmt``."""
    sep = "&" if "?" in url else "?"
    js = _link(f"{url}{sep}f=json", "self", media, f"{what} (JSON)")
    ht = _link(f"{url}{sep}f=html", "self", HTML, f"{what} (HTML)")
    if fmt == "html":
        js["rel"] = "alternate"
        return [ht, js]
    ht["rel"] = "alternate"
    return [js, ht]


def _page(request: Request, title: str, links: list[dict[str, str]], **ctx: Any) -> Response:
    """The HTML representation (``ogc.html.j2``; every value autoescaped)."""
    data = {"description": "", "facts": [], "conformance": [], "collections": [], "columns": [],
            "features": None, "feature": None, "how_to": False, **ctx}
    resp = render(request, "ogc.html.j2", title=title, links=links, ogc=data)
    resp.headers["Vary"] = "Accept"
    return resp


# ------------------------------------------------------------------------------ collections
def _spatial(r: dict[str, Any]) -> bool:
    return str(r.get("geometry", "")) not in ("table", "", "None")


def _collections(request: Request) -> list[dict[str, Any]]:
    """Catalog rows of the layers this client may see (spatial layers only)."""
    om = context(request).om
    logged_in = current_user(request) is not None
    out = []
    for r in om.catalog.to_dict("records"):
        if not _spatial(r):
            continue
        restricted = not bool(r.get("redistribute", True))
        if restricted and not logged_in:
            continue
        out.append({**r, "restricted": restricted})
    return out


def _title(r: dict[str, Any]) -> str:
    return f"{r.get('title_zh', '') or ''} {r.get('title_en', '') or ''}".strip() or str(r["layer"])


def _collection_doc(request: Request, r: dict[str, Any], fmt: str = "json") -> dict[str, Any]:
    base = _base(request)
    lid = str(r["layer"])
    ext = context(request).layer_extent(lid)
    url = f"{base}/collections/{lid}"
    doc = {
        "id": lid, "title": _title(r),
        "description": str(r.get("description") or ""), "itemType": "feature", "crs": [CRS84],
        "attribution": str(r.get("attribution") or ""), "license": str(r.get("licence") or ""),
        "links": [
            *_self_links(url, fmt, JSON, "this collection"),
            _link(f"{url}/items", "items", GEOJSON, "features (GeoJSON)"),
            _link(f"{url}/items?f=html", "items", HTML, "features (HTML)"),
        ],
    }
    if ext is not None:
        doc["extent"] = {"spatial": {"bbox": [list(ext)], "crs": CRS84}}
    if r.get("restricted"):
        doc["restricted"] = True
    return doc


def _find(request: Request) -> dict[str, Any]:
    """The catalog row of the path's collection (404 unknown, 401 restricted without login)."""
    lid = request.path_params["cid"]
    om = context(request).om
    rows = [r for r in om.catalog.to_dict("records") if str(r["layer"]) == lid and _spatial(r)]
    if not rows:
        raise OgcError(404, "NotFound", f"no collection {lid!r}; see {_base(request)}/collections")
    r = rows[0]
    r["restricted"] = not bool(r.get("redistribute", True))
    if r["restricted"] and current_user(request) is None:
        raise OgcError(401, "Unauthorized", f"collection {lid!r} is restricted (its licence does not allow "
                       "redistribution): log in, or send the credentials of an account (HTTP Basic)",
                       headers={"WWW-Authenticate": REALM})
    return r


# ------------------------------------------------------------------------------ landing, conformance
@_endpoint
def landing(request: Request) -> Response:
    """``/ogc``: the landing page."""
    fmt = _format(request)
    base = _base(request)
    om = context(request).om
    title = f"cityplan one map {om.city}".strip()
    description = f"OGC API - Features of the one map built {om.build_info.get('built_at', '')}"
    links = [
        *_self_links(base, fmt, JSON, "this document"),
        _link(f"{base}/api", "service-desc", OPENAPI, "the API definition (OpenAPI 3.0)"),
        _link(f"{base}/api.html", "service-doc", HTML, "the API documentation"),
        _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
        _link(f"{base}/collections", "data", JSON, "collections (JSON)"),
        _link(f"{base}/collections?f=html", "data", HTML, "collections (HTML)"),
    ]
    if fmt == "html":
        return _page(request, title, links, description=description, how_to=True)
    return _json({"title": title, "description": description, "links": links}, headers={"Vary": "Accept"})


@_endpoint
def conformance(request: Request) -> Response:
    """``/ogc/conformance``."""
    fmt = _format(request)
    links = _self_links(f"{_base(request)}/conformance", fmt, JSON, "conformance classes")
    if fmt == "html":
        return _page(request, "Conformance classes", links, conformance=CONFORMANCE)
    return _json({"conformsTo": CONFORMANCE, "links": links}, headers={"Vary": "Accept"})


@_endpoint
def collections(request: Request) -> Response:
    """``/ogc/collections``."""
    fmt = _format(request)
    base = _base(request)
    docs = [_collection_doc(request, r) for r in _collections(request)]
    links = _self_links(f"{base}/collections", fmt, JSON, "collections")
    if fmt == "html":
        return _page(request, "Collections", links, collections=docs,
                     description="The layers of the one map. Restricted layers are listed after logging in.")
    return _json({"links": links, "collections": docs}, headers={"Vary": "Accept"})


@_endpoint
def collection(request: Request) -> Response:
    """``/ogc/collections/{id}``."""
    r = _find(request)
    fmt = _format(request)
    doc = _collection_doc(request, r, fmt)
    if fmt == "html":
        facts = [("id", doc["id"]), ("item type", "feature"), ("CRS", CRS84),
                 ("extent (CRS84)", ", ".join(f"{v:.6f}" for v in doc["extent"]["spatial"]["bbox"][0])
                  if "extent" in doc else "-"),
                 ("attribution", doc["attribution"]), ("licence", doc["license"]),
                 ("restricted", "yes (login needed)" if r["restricted"] else "no")]
        return _page(request, doc["title"], doc["links"], description=doc["description"], facts=facts)
    return _json(doc, headers={"Vary": "Accept"})


# ------------------------------------------------------------------------------ items
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
        raise OgcError(400, "InvalidParameterValue", f"{name}={raw!r}: an integer") from None
    if v < lo:
        raise OgcError(400, "InvalidParameterValue", f"{name}={v}: at least {lo}")
    return min(v, hi)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@_endpoint
def items(request: Request) -> Response:
    """``/ogc/collections/{id}/items?bbox=&limit=&offset=``."""
    r = _find(request)
    fmt = _format(request, "items", (GEOJSON, JSON))
    lid = str(r["layer"])
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 10**12)
    bbox = None
    if request.query_params.get("bbox"):
        from cityplan.maps.tiles import ViewRequestError, parse_bbox

        try:
            bbox = parse_bbox(request.query_params["bbox"])
        except ViewRequestError as exc:
            raise OgcError(400, "InvalidParameterValue", str(exc)) from None
    if request.query_params.get("bbox-crs", CRS84) != CRS84:
        raise OgcError(400, "InvalidParameterValue", f"bbox-crs: only {CRS84} is supported")
    gdf = context(request).om.layer(lid)
    if bbox is not None:
        matched = np.sort(gdf.sindex.query(shapely.box(*bbox), predicate="intersects"))
    else:
        matched = np.arange(len(gdf))
    page = matched[offset: offset + limit]
    feats = _features(gdf, page)
    coll = f"{_base(request)}/collections/{lid}"
    q = {k: request.query_params[k] for k in ("bbox", "bbox-crs") if request.query_params.get(k)}

    def href(off: int, f: str | None = None) -> str:
        return f"{coll}/items?{urlencode({**q, 'limit': limit, 'offset': off, **({'f': f} if f else {})})}"

    media = HTML if fmt == "html" else GEOJSON
    f = "html" if fmt == "html" else None
    links = [_link(href(offset, f), "self", media, "this page"),
             _link(href(offset, "json" if fmt == "html" else "html"), "alternate",
                   GEOJSON if fmt == "html" else HTML, "this page (GeoJSON)" if fmt == "html" else "this page (HTML)")]
    if offset + limit < len(matched):
        links.append(_link(href(offset + limit, f), "next", media, "next page"))
    if offset > 0:
        links.append(_link(href(max(0, offset - limit), f), "prev", media, "previous page"))
    links.append(_link(f"{coll}?f=html", "collection", HTML, "the collection") if fmt == "html"
                 else _link(coll, "collection", JSON, "the collection"))
    body = {"type": "FeatureCollection", "features": feats, "numberMatched": int(len(matched)),
            "numberReturned": len(feats), "timeStamp": _now(), "links": links}
    if fmt == "html":
        columns = [c for c in gdf.columns if c != gdf.geometry.name]
        rows = [{"id": ft["id"], "href": f"{coll}/items/{ft['id']}?f=html",
                 "geometry": (ft["geometry"] or {}).get("type", ""),
                 "values": [ft["properties"].get(c) for c in columns]} for ft in feats]
        facts = [("matched", body["numberMatched"]), ("returned", body["numberReturned"]),
                 ("offset", offset), ("limit", limit), ("bbox", request.query_params.get("bbox", "-"))]
        return _page(request, f"{_title(r)}: features", links, facts=facts, columns=columns, features=rows)
    return _json(body, media=GEOJSON, headers={"Vary": "Accept"})


@_endpoint
def item(request: Request) -> Response:
    """``/ogc/collections/{id}/items/{featureId}``."""
    r = _find(request)
    fmt = _format(request, "page", (GEOJSON, JSON))
    lid = str(r["layer"])
    gdf = context(request).om.layer(lid)
    raw = request.path_params["fid"]
    fid = int(raw) if raw.isascii() and raw.isdigit() else -1
    if not 0 <= fid < len(gdf):
        raise OgcError(404, "NotFound", f"no feature {raw!r} in {lid!r}")
    feat = _features(gdf, np.array([fid]))[0]
    coll = f"{_base(request)}/collections/{lid}"
    feat["links"] = [*_self_links(f"{coll}/items/{fid}", fmt, GEOJSON, "this feature"),
                     _link(f"{coll}?f=html", "collection", HTML, "the collection") if fmt == "html"
                     else _link(coll, "collection", JSON, "the collection")]
    if fmt == "html":
        facts = [("id", fid), ("geometry", (feat["geometry"] or {}).get("type", "")),
                 *((k, v) for k, v in feat["properties"].items())]
        return _page(request, f"{_title(r)}: feature {fid}", feat["links"], facts=facts)
    return _json(feat, media=GEOJSON, headers={"Vary": "Accept"})


# ------------------------------------------------------------------------------ OpenAPI
_api_lock = threading.Lock()


def _prop_type(dtype: Any) -> dict[str, Any]:
    kind = getattr(dtype, "kind", "O")
    if kind in "iu":
        return {"type": "integer", "nullable": True}
    if kind == "f":
        return {"type": "number", "nullable": True}
    if kind == "b":
        return {"type": "boolean", "nullable": True}
    if kind == "M":
        return {"type": "string", "format": "date-time", "nullable": True}
    return {"type": "string", "nullable": True}


def _schemas() -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/link"}
    links = {"type": "array", "items": ref}
    return {
        "exception": {"type": "object", "required": ["code"],
                      "properties": {"code": {"type": "string"}, "description": {"type": "string"}}},
        "link": {"type": "object", "required": ["href"],
                 "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                                "hreflang": {"type": "string"}, "title": {"type": "string"},
                                "length": {"type": "integer"}}},
        "landingPage": {"type": "object", "required": ["links"],
                        "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                                       "links": links}},
        "confClasses": {"type": "object", "required": ["conformsTo"],
                        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}},
                                       "links": links}},
        "extent": {"type": "object", "properties": {"spatial": {"type": "object", "properties": {
            "bbox": {"type": "array", "minItems": 1, "items": {
                "type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
            "crs": {"type": "string", "enum": [CRS84], "default": CRS84}}}}},
        "collection": {"type": "object", "required": ["id", "links"], "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
            "links": links, "extent": {"$ref": "#/components/schemas/extent"},
            "itemType": {"type": "string", "default": "feature"},
            "crs": {"type": "array", "items": {"type": "string"}, "default": [CRS84]},
            "attribution": {"type": "string"}, "license": {"type": "string"},
            "restricted": {"type": "boolean", "description": "served only to logged-in accounts"}}},
        "collections": {"type": "object", "required": ["links", "collections"], "properties": {
            "links": links, "collections": {"type": "array", "items": {"$ref": "#/components/schemas/collection"}}}},
        "geometryGeoJSON": {"type": "object", "required": ["type"], "properties": {"type": {
            "type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                                       "MultiPolygon", "GeometryCollection"]}}},
        "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "geometry": {"allOf": [{"$ref": "#/components/schemas/geometryGeoJSON"}], "nullable": True},
            "properties": {"type": "object", "nullable": True},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}, "links": links}},
        "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
            "links": links, "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0}}},
    }


def _param_f(values: list[str]) -> dict[str, Any]:
    return {"name": "f", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "the representation (default: from the Accept header, else JSON)",
            "schema": {"type": "string", "enum": values}}


def _parameters() -> dict[str, Any]:
    return {
        "f": _param_f(["json", "html"]),
        "fItems": _param_f(["json", "geojson", "html"]),
        "limit": {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
                  "description": f"the number of features on a page (default {DEFAULT_LIMIT}; a value above "
                                 f"{MAX_LIMIT} is served as {MAX_LIMIT})",
                  "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        "offset": {"name": "offset", "in": "query", "required": False, "style": "form", "explode": False,
                   "description": "the number of matching features skipped (the `next`/`prev` links set it)",
                   "schema": {"type": "integer", "minimum": 0, "default": 0}},
        "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
                 "description": "minlon,minlat,maxlon,maxlat (CRS84): only the features whose geometry "
                                "intersects the box",
                 "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}},
        "bbox-crs": {"name": "bbox-crs", "in": "query", "required": False, "style": "form", "explode": False,
                     "description": "the CRS of bbox (only CRS84)",
                     "schema": {"type": "string", "format": "uri", "enum": [CRS84], "default": CRS84}},
        "featureId": {"name": "featureId", "in": "path", "required": True,
                      "description": "the feature's id (its row number in the layer of the current build)",
                      "schema": {"type": "string"}},
    }


def _responses() -> dict[str, Any]:
    exc = {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}
    return {
        "InvalidParameter": {"description": "a query parameter is unknown or has an invalid value", "content": exc},
        "NotFound": {"description": "no such resource", "content": exc},
        "Unauthorized": {"description": "a restricted collection: log in or send HTTP Basic credentials",
                         "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}, "content": exc},
        "ServerError": {"description": "a server error", "content": exc},
    }


def _op(op_id: str, summary: str, tag: str, params: list[str], ok: str, content: dict[str, Any], *,
        description: str = "", restricted: bool = False, not_found: bool = False) -> dict[str, Any]:
    resp: dict[str, Any] = {"200": {"description": ok, "content": content},
                            "400": {"$ref": "#/components/responses/InvalidParameter"},
                            "500": {"$ref": "#/components/responses/ServerError"}}
    if not_found:
        resp["404"] = {"$ref": "#/components/responses/NotFound"}
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag],
                          "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params],
                          "responses": resp}
    if description:
        op["description"] = description
    if restricted:
        op["security"] = [{"basicAuth": []}, {"sessionCookie": []}]
        resp["401"] = {"$ref": "#/components/responses/Unauthorized"}
    return op


def _html_content() -> dict[str, Any]:
    return {HTML: {"schema": {"type": "string"}}}


def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of the API as this client sees it (its collections' paths)."""
    state = context(request)
    om = state.om
    base = _base(request)
    colls = _collections(request)
    key = (om.build_stamp, base, tuple(str(r["layer"]) for r in colls))
    with _api_lock:
        cache = state.ogc_openapi
        if key in cache:
            return cache[key]
    schemas = _schemas()
    paths: dict[str, Any] = {
        "/": {"get": _op("getLandingPage", "the landing page", "Capabilities", ["f"], "links to the API",
                         {JSON: {"schema": {"$ref": "#/components/schemas/landingPage"}}, **_html_content()})},
        "/api": {"get": _op("getApiDefinition", "this API definition", "Capabilities", ["f"],
                            "the OpenAPI 3.0 definition", {OPENAPI: {"schema": {"type": "object"}},
                                                           **_html_content()})},
        "/api.html": {"get": _op("getApiDocumentation", "this API definition for people", "Capabilities", [],
                                 "the API documentation", _html_content())},
        "/conformance": {"get": _op("getConformanceDeclaration", "the conformance classes", "Capabilities", ["f"],
                                    "the conformance classes this API implements",
                                    {JSON: {"schema": {"$ref": "#/components/schemas/confClasses"}},
                                     **_html_content()})},
        "/collections": {"get": _op("getCollections", "the collections", "Capabilities", ["f"],
                                    "the feature collections (layers) of the one map",
                                    {JSON: {"schema": {"$ref": "#/components/schemas/collections"}},
                                     **_html_content()})},
    }
    for r in colls:
        lid, restricted = str(r["layer"]), bool(r["restricted"])
        try:
            gdf = om.layer(lid)
            props = {c: _prop_type(t) for c, t in gdf.dtypes.items() if c != gdf.geometry.name}
        except Exception:  # noqa: BLE001 - one unreadable layer must not take the whole API down
            logger.exception("OGC API: the properties of %s are left undescribed", lid)
            props = {}
        schemas[f"{lid}_feature"] = {"allOf": [{"$ref": "#/components/schemas/featureGeoJSON"}, {
            "type": "object", "properties": {"properties": {"type": "object", "nullable": True,
                                                            "properties": props}}}]}
        schemas[f"{lid}_features"] = {"allOf": [{"$ref": "#/components/schemas/featureCollectionGeoJSON"}, {
            "type": "object", "properties": {"features": {"type": "array", "items": {
                "$ref": f"#/components/schemas/{lid}_feature"}}}}]}
        title = _title(r)
        note = " Restricted: log in or send HTTP Basic credentials." if restricted else ""
        desc = f"{title}. {r.get('description') or ''}{note}".strip()
        kw = {"restricted": restricted, "not_found": True}
        paths[f"/collections/{lid}"] = {"get": _op(
            f"describe_{lid}", f"the collection {lid}", "Capabilities", ["f"], "the collection's metadata",
            {JSON: {"schema": {"$ref": "#/components/schemas/collection"}}, **_html_content()},
            description=desc, **kw)}
        paths[f"/collections/{lid}/items"] = {"get": _op(
            f"get_{lid}_features", f"the features of {lid}", "Data",
            ["bbox", "bbox-crs", "limit", "offset", "fItems"], "a page of the collection's features",
            {GEOJSON: {"schema": {"$ref": f"#/components/schemas/{lid}_features"}}, **_html_content()},
            description=desc + " Pages follow the `next` link.", **kw)}
        paths[f"/collections/{lid}/items/{{featureId}}"] = {"get": _op(
            f"get_{lid}_feature", f"one feature of {lid}", "Data", ["featureId", "f"], "the feature",
            {GEOJSON: {"schema": {"$ref": f"#/components/schemas/{lid}_feature"}}, **_html_content()},
            description=desc, **kw)}
    doc = {
        "openapi": "3.0.3",
        "info": {"title": f"cityplan one map {om.city}".strip(), "version": __version__,
                 "description": ("OGC API - Features (Part 1: Core; OpenAPI 3.0, GeoJSON, HTML) over the layers "
                                 f"of the one map built {om.build_info.get('built_at', '')}. Features are in "
                                 "WGS84 (CRS84). Restricted layers (their licence does not allow "
                                 "redistribution) are listed and served to logged-in accounts only."),
                 "contact": {"name": f"cityplan one map {om.city}".strip()}},
        "servers": [{"url": base}],
        "tags": [{"name": "Capabilities", "description": "the API and its collections"},
                 {"name": "Data", "description": "the features"}],
        "paths": paths,
        "components": {"schemas": schemas, "parameters": _parameters(), "responses": _responses(),
                       "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"},
                                           "sessionCookie": {"type": "apiKey", "in": "cookie",
                                                             "name": "cp_session"}}},
    }
    with _api_lock:
        if len(cache) >= 8:  # a new build, other host names: start again (bounded)
            cache.clear()
        cache[key] = doc
    return doc


def _api_page(request: Request) -> Response:
    doc = openapi(request)
    comp = doc["components"]

    def resolve(obj: dict[str, Any], section: str) -> dict[str, Any]:
        ref = obj.get("$ref", "")
        return comp[section][ref.rsplit("/", 1)[-1]] if ref else obj

    ops = []
    for path, item_ in doc["paths"].items():
        op = item_["get"]
        params = []
        for p in op.get("parameters", []):
            p = resolve(p, "parameters")
            s = p.get("schema", {})
            kind = s.get("type", "")
            if "enum" in s:
                kind += " (" + ", ".join(map(str, s["enum"])) + ")"
            if "default" in s:
                kind += f", default {s['default']}"
            if "maximum" in s:
                kind += f", at most {s['maximum']}"
            params.append({"name": p["name"], "in": p["in"], "kind": kind, "description": p.get("description", "")})
        responses = []
        for code, rsp in op["responses"].items():
            rsp = resolve(rsp, "responses")
            responses.append({"code": code, "description": rsp.get("description", ""),
                              "media": ", ".join(rsp.get("content", {}))})
        ops.append({"method": "GET", "path": path, "href": doc["servers"][0]["url"] + path,
                    "summary": op.get("summary", ""), "description": op.get("description", ""),
                    "restricted": "security" in op, "params": params, "responses": responses})
    base = _base(request)
    links = [_link(f"{base}/api.html", "self", HTML, "this document"),
             _link(f"{base}/api", "alternate", OPENAPI, "the API definition (OpenAPI 3.0 JSON)"),
             _link(base, "up", HTML, "the landing page")]
    resp = render(request, "ogc_api.html.j2", title=doc["info"]["title"] + " - API", links=links,
                  info=doc["info"], server=doc["servers"][0]["url"], openapi_version=doc["openapi"], ops=ops)
    return resp


@_endpoint
def api(request: Request) -> Response:
    """``/ogc/api``: the OpenAPI 3.0 definition (JSON; HTML when asked for)."""
    fmt = _format(request, "page", (OPENAPI, JSON))
    if fmt == "html":
        resp = _api_page(request)
        resp.headers["Vary"] = "Accept"
        return resp
    return _json(openapi(request), media=OPENAPI, headers={"Vary": "Accept"})


@_endpoint
def api_html(request: Request) -> Response:
    """``/ogc/api.html``: the API definition for people."""
    if request.query_params:
        raise OgcError(400, "InvalidParameterValue", f"unknown parameter(s) {sorted(set(request.query_params))}; "
                       f"{_base(request)}/api?f=json is the JSON")
    return _api_page(request)


@_endpoint
def not_found(request: Request) -> Response:
    """Any other path under ``/ogc`` (a trailing slash is redirected away, as elsewhere)."""
    path = request.url.path
    if path.endswith("/") and path.rstrip("/") != path:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(path.rstrip("/") + query, status_code=307)
    raise OgcError(404, "NotFound", f"no resource {request.url.path!r}; the API is described at "
                   f"{_base(request)}/api")


def routes() -> list[Route]:
    """The ``/ogc`` routes."""
    return [
        Route("/ogc", landing), Route("/ogc/", landing), Route("/ogc/conformance", conformance),
        Route("/ogc/api", api), Route("/ogc/api.html", api_html),
        Route("/ogc/collections", collections), Route("/ogc/collections/{cid}", collection),
        Route("/ogc/collections/{cid}/items", items), Route("/ogc/collections/{cid}/items/{fid}", item),
        Route("/ogc/{rest:path}", not_found),
    ]
