"""Print the map from the web: ``GET /map/print.pdf`` - the current view on an A4/A3 page with the 图框.

``/map/print.pdf?paper=A4|A3&orient=landscape|portrait&bbox=W,S,E,N&layers=id1,id2&title=...
[&scale=1:N]`` answers a one-page PDF made by the same layout engine as ``cityplan report``
(:mod:`cityplan.report.layout` through :mod:`cityplan.report.static`): the data frame at a true
numeric scale (the smallest nice scale holding the view, or ``scale``), and the title block with
the title, the numeric scale and a scale bar, the north arrow, the legend, the sources and
licences, the date in the profile's time zone and the 示意 note when illustrative features are
shown. The layers are the map recipe's (``/api/layers``: login required, the same layers for every
logged-in account); the view's features are drawn in the one map's working CRS. The page is made
in a worker thread, one at a time per process, bounded in layers, features and title length.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.backends.backend_pdf import PdfPages
from pyproj import Transformer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan._errors import CityplanError
from cityplan.crs import gcj02_to_wgs84
from cityplan.fonts import cjk_figures
from cityplan.maps.payload import layer_style
from cityplan.maps.tiles import ViewRequestError, parse_bbox
from cityplan.onemap import OneMap
from cityplan.report import static
from cityplan.report.layout import ORIENTATIONS, PAPERS_MM, PageSpec, parse_scale
from cityplan.review.clock import now
from cityplan.server.auth import current_user
from cityplan.server.context import context
from cityplan.server.viewlayers import MapLayers
from cityplan.text import bilingual, languages_of, localize
from cityplan.tools.geometry import FAMILIES

logger = logging.getLogger(__name__)

#: layers one print may name
MAX_LAYERS = 32
#: features one print may draw (a larger view: zoom in or switch layers off)
MAX_FEATURES = 150_000
#: characters of the title
MAX_TITLE = 120
#: the page's resolution for raster parts (the PDF's vectors are resolution-free)
PRINT_DPI = 150
#: pages made at once per process (each holds a figure of all the view's features)
PRINT_AT_ONCE = 1
_gates: dict[int, asyncio.Semaphore] = {}


class PrintRequestError(ValueError):
    """A parameter of ``/map/print.pdf`` that cannot be used (answered with 400 and the fix)."""


@dataclass(frozen=True)
class PrintRequest:
    """What to print: paper, orientation, lon/lat view (WGS 84), layer ids, title, scale."""

    paper: str
    orientation: str
    bbox: tuple[float, float, float, float]
    layers: tuple[str, ...]
    title: str
    scale: int | None = None


def parse_request(params: dict[str, str], ml: MapLayers, *, gcj02: bool = False) -> PrintRequest:
    """Check ``/map/print.pdf``'s query; :class:`PrintRequestError` naming the parameter and the fix.

    ``bbox`` is the map's view as the browser has it (GCJ-02 when the basemap is Amap's: shifted
    back to WGS 84 here); ``layers`` default to the recipe's layers shown at start.
    """
    paper = (params.get("paper") or "A4").strip().upper()
    if paper not in PAPERS_MM:
        raise PrintRequestError(f"paper={paper!r}: 纸张 use A4 or A3")
    orient = (params.get("orient") or params.get("orientation") or "landscape").strip().lower()
    if orient not in ORIENTATIONS:
        raise PrintRequestError(f"orient={orient!r}: 方向 use landscape or portrait")
    try:
        bbox = parse_bbox(params.get("bbox") or "")
    except ViewRequestError as exc:
        raise PrintRequestError(f"{exc} (范围 the map's view: W,S,E,N in degrees)") from None
    if bbox[2] - bbox[0] <= 0 or bbox[3] - bbox[1] <= 0:
        raise PrintRequestError(f"bbox={params.get('bbox')!r}: 范围 the view has no area")
    if gcj02:
        lon, lat = gcj02_to_wgs84(np.array([bbox[0], bbox[2]]), np.array([bbox[1], bbox[3]]))
        bbox = (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
    asked = [x for x in (params.get("layers") or "").split(",") if x.strip()]
    if len(asked) > MAX_LAYERS:
        raise PrintRequestError(f"layers: {len(asked)} named; 图层 at most {MAX_LAYERS}")
    if asked:
        ids = tuple(dict.fromkeys(x.strip() for x in asked))
        unknown = [lid for lid in ids if ml.get(lid) is None]
        if unknown:
            raise PrintRequestError(f"layers: no map layer {unknown[0]!r} (图层 use the ids of the map's layer list)")
    else:
        ids = tuple(p["id"] for p in ml.page_config()["layers"] if p.get("show", True))
    title = " ".join(str(params.get("title") or "").split())
    if len(title) > MAX_TITLE:
        raise PrintRequestError(f"title: {len(title)} characters; 标题 at most {MAX_TITLE}")
    try:
        scale = parse_scale(params.get("scale") or None)
    except CityplanError as exc:  # it names the CLI's --scale; the web says the parameter
        raise PrintRequestError(f"scale={params.get('scale')!r}: 比例尺 give 1:N (e.g. 1:10000) or leave it out") from exc
    return PrintRequest(paper=paper, orientation=orient, bbox=bbox, layers=ids, title=title, scale=scale)


def _in_view(gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """The rows of ``gdf`` meeting the lon/lat ``bbox`` (through its spatial index)."""
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        return gdf
    view = shapely.box(*bbox)
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        view = shapely.box(*Transformer.from_crs(4326, gdf.crs, always_xy=True).transform_bounds(*bbox, densify_pts=21))
    return gdf.iloc[np.unique(gdf.sindex.query(view, predicate="intersects"))]


def _style(view, languages) -> dict:
    st = layer_style(view)
    return {"color": st.get("color", "#3366cc"), "fill": st.get("fill") or None, "weight": st.get("weight", 1),
            "radius": st.get("radius", 4), "alpha": st.get("fillOpacity", 0.35), "dash": bool(st.get("dashArray")),
            "label": localize(view.title, languages)}


@cjk_figures
def print_figure(om: OneMap, ml: MapLayers, req: PrintRequest):  # noqa: ANN201 - a matplotlib Figure
    """The page of ``req`` as a figure (``cityplan report``'s layout: :func:`cityplan.report.static.new_map`,
    ``plot_layer``, ``finish``); :class:`PrintRequestError` when the view holds more than
    :data:`MAX_FEATURES` features."""
    langs = languages_of(om)
    crs = om.working_crs
    parts: list[tuple[str, gpd.GeoDataFrame, dict, bool]] = []
    total = 0
    for lid in req.layers:
        prepared = ml.get(lid)
        if prepared is None:
            continue
        view = prepared.view
        gdf = _in_view(view.gdf, req.bbox)
        total += len(gdf)
        if total > MAX_FEATURES:
            raise PrintRequestError(f"the view holds more than {MAX_FEATURES:,} features: 要素过多, zoom in or "
                                    "switch layers off 请放大地图或关闭部分图层")
        if gdf.empty:
            continue
        ill = (gdf["illustrative"].fillna(False).astype(bool).to_numpy() if "illustrative" in gdf.columns
               else np.zeros(len(gdf), dtype=bool)) | bool(view.illustrative)
        style = _style(view, langs)
        for flag in (False, True):
            sub = gdf[ill == flag]
            if len(sub):
                parts.append((lid, sub, style, flag))
    recipe = ml.recipe
    title = req.title or bilingual(recipe.title_zh, recipe.title_en, langs)
    spec = PageSpec(paper=req.paper, orientation=req.orientation, scale=req.scale, dpi=PRINT_DPI)
    fig, ax = static.new_map(title, crs=crs, page=spec, subtitle=f"{om.city} · {bilingual('一张图', 'one map', langs)}")
    page = ax.cityplan_page
    page.languages = langs
    page.date = now(om.profile.settings.timezone).date()
    handles = []
    for z, (lid, gdf, style, ill) in enumerate(parts):
        shown_ill = ill and "示意" not in style["label"] and "illustrative" not in style["label"].lower()
        label = style["label"] + (localize(" (示意 illustrative)", langs) if shown_ill else "")
        family = gdf.geometry.geom_type.map(FAMILIES)
        base = lid.split("__")[0]  # "plan_x__completed" is drawn from plan_x: credit plan_x
        source = om.catalog_row(base) if base in om.layer_ids else None
        for fam in ("polygon", "line", "point"):  # plot_layer styles one geometry family at a time
            sub = gdf[(family == fam).to_numpy()]
            if len(sub):
                handles.append(static.plot_layer(ax, gpd.GeoDataFrame(geometry=sub.geometry.values, crs=gdf.crs),
                                                 {**style, "label": label}, illustrative=ill, zorder=2 + z / 100,
                                                 source=source))
    t = Transformer.from_crs(4326, crs, always_xy=True)
    bounds = t.transform_bounds(*req.bbox, densify_pts=21)
    static.finish(ax, [h for h in handles if h is not None], bounds)
    return fig


def render_pdf(om: OneMap, ml: MapLayers, req: PrintRequest) -> bytes:
    """The PDF page of ``req`` (one page, exactly the paper's size)."""
    fig = print_figure(om, ml, req)
    title = fig.cityplan_page.title
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": title, "Creator": "cityplan"}) as pdf:
        static.save(fig, None, pdf)
    return buf.getvalue()


def _gate() -> asyncio.Semaphore:
    loop = id(asyncio.get_running_loop())
    if loop not in _gates:
        _gates[loop] = asyncio.Semaphore(PRINT_AT_ONCE)
    return _gates[loop]


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}, ensure_ascii=False), status_code=status,
                    media_type="application/json")


async def map_print(request: Request) -> Response:
    """``GET /map/print.pdf``: the map's view as a printed page (PDF)."""
    if current_user(request) is None:
        return _error(401, "请先登录 log in first")
    state = context(request)
    ml = state.map_layers
    if ml.ready_build() is None:
        await run_in_threadpool(ml.warm)
    try:
        req = parse_request(dict(request.query_params), ml, gcj02=ml.basemap.gcj02)
        async with _gate():
            body = await run_in_threadpool(render_pdf, state.om, ml, req)
    except PrintRequestError as exc:
        return _error(400, str(exc))
    name = f"map-{req.paper}-{req.orientation}.pdf"
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"})


def routes() -> list[Route]:
    """The print route (``app.py`` lists it with the other routes)."""
    return [Route("/map/print.pdf", map_print)]
