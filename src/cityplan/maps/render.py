"""Compose interactive maps from recipes and the one map: onemap, task, district, file."""

from __future__ import annotations

import html
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from cityplan.districts import population_text, resolve_district
from cityplan.io.read import read_vector
from cityplan.io.write import atomic_path, check_output
from cityplan.maps.basemaps import Basemap, get_basemap
from cityplan.maps.elements import Assets, Chrome, CityMap, CompactLayer, Raw, ui_texts
from cityplan.maps.payload import LayerView, layer_payload, split_by_family
from cityplan.maps.recipes import Recipe, load_labels, load_recipe
from cityplan.onemap import OneMap
from cityplan.paths import output_dir
from cityplan.progress.context import compute_progress
from cityplan.tasks import load_register
from cityplan.tasks.link import assign_districts
from cityplan.text import bilingual, languages_of, localize, localize_all
from cityplan.tools.geometry import FAMILIES

logger = logging.getLogger(__name__)

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
# coverage colours, colour-blind safe (ColorBrewer): covered share light -> dark blue (PuBu),
# gaps orange (PuOr's orange end), newly covered / planned purple (PuOr's purple end)
COVERAGE_COLORS = ["#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d"]
GAP_STYLE = {"color": "#b35806", "fill": "#f1a340", "fillOpacity": 0.75, "weight": 1.5}
NO_DATA = "#d9d9d9"
FAMILY_STYLE = {
    "polygon": {"color": "#2b6cb0", "fill": "#90cdf4", "weight": 1},
    "line": {"color": "#c53030", "weight": 2},
    "point": {"color": "#dd6b20", "radius": 5},
}
#: the panel note of maps showing illustrative plan sites (Chinese part dropped for English-only cities)
ILLUSTRATIVE_NOTE = "示意 Illustrative sites are placed by a documented rule, not real project sites."


@dataclass
class MapResult:
    """A composed map and what is on it."""

    map: CityMap
    title: str
    layers: dict[str, int] = field(default_factory=dict)  # layer id -> features drawn
    notes: list[str] = field(default_factory=list)

    def html(self) -> str:
        """The complete HTML page."""
        return self.map.get_root().render()


def default_map_path(name: str) -> Path:
    """``out/maps/NAME.html`` under the current folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return output_dir(None, "maps") / f"{safe}.html"


def save_map(result: MapResult, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the map's HTML atomically; refuse to overwrite without ``overwrite``."""
    check_output(out, overwrite=overwrite)
    text = result.html()
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s (%.1f MB)", out, len(text.encode()) / 1e6)
    return Path(out)


# ---------------------------------------------------------------------------- composition
def _plain(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split()).casefold()


def dedupe_attributions(items: list[str]) -> list[str]:
    """Each source credited once: same text (tags and entities aside) or contained in a longer credit.

    ``© OpenStreetMap contributors`` (a layer's credit) and the OSM tiles' linked
    ``&copy; <a ...>OpenStreetMap</a> contributors`` are one credit (the linked one is kept);
    ``Aliyun DataV`` goes when ``Aliyun DataV / Amap administrative boundaries`` is there.
    """
    plain = [_plain(a) for a in items]
    keep: dict[str, str] = {}
    for a, p in zip(items, plain, strict=True):
        if not p or any(p != q and p in q for q in plain):
            continue
        if p not in keep or ("<a " in a and "<a " not in keep[p]):
            keep[p] = a
    return list(keep.values())


def finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by ``None`` (JSON has no NaN), recursively."""
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def share_classes(languages=None) -> tuple[list[float], list[list[str]]]:
    """Class breaks 0, 20 %, ..., 100 % and legend stops for a covered share in :data:`COVERAGE_COLORS`
    (the no-data stop named in the profile's ``languages``; default Chinese and English)."""
    breaks = [i / len(COVERAGE_COLORS) for i in range(len(COVERAGE_COLORS) + 1)]
    stops = [[f"{breaks[i]:.0%}–{breaks[i + 1]:.0%}", c] for i, c in enumerate(COVERAGE_COLORS)]
    return breaks, [*stops, [bilingual("无数据", "no data", languages, legacy="no data 无数据"), NO_DATA]]


def share_color(v: float) -> str:
    """The :data:`COVERAGE_COLORS` class of a share in [0, 1]; :data:`NO_DATA` for NaN."""
    if v is None or not np.isfinite(v):
        return NO_DATA
    i = min(int(np.floor(float(v) * len(COVERAGE_COLORS))), len(COVERAGE_COLORS) - 1)
    return COVERAGE_COLORS[max(i, 0)]


def compose(
    views: list[LayerView], *, title: str, groups: list[dict[str, Any]], basemap: str | Basemap = "osm",
    offline: bool = False, minimap: tuple[str, ...] = (), panel: dict[str, Any] | None = None,
    extra_legend: list[dict[str, Any]] | None = None, attributions: list[str] | None = None,
    fit_bounds: tuple[float, float, float, float] | None = None, languages=None,
) -> MapResult:
    """Assemble a Leaflet map from layer views.

    Parameters
    ----------
    views : list of LayerView
        Layers in drawing order (later on top).
    title : str
        Map title (page title and legend header).
    groups : list of dict
        ``{"id", "title"}`` groups of the layer control; views refer to them by ``group``.
    basemap : {"osm", "tianditu", "gaode", "none"} or Basemap
        Tiles. ``gaode`` tiles are GCJ-02, so overlays are shifted for display; a
        :class:`~cityplan.maps.basemaps.Basemap` from ``custom_basemap`` for the office's tile server.
        When tiles fail to load, the page falls back to a neutral background with a notice.
    offline : bool
        Inline Leaflet and every asset: the page needs no network (tiles aside).
    fit_bounds : (minlon, minlat, maxlon, maxlat), optional
        Open the map on this box (e.g. the reviewed proposal) instead of every visible layer.
    languages : sequence of {"zh", "en"}, optional
        The city's languages (``om.profile.settings.languages``) for the map's own texts (legend
        head, buttons, geometry families); default Chinese and English.
    """
    bm: Basemap = get_basemap(basemap)
    views = split_by_family(views, languages)
    # the view opens on the layers' bounds (below); the whole world until they are known
    m = CityMap(location=[0.0, 0.0], zoom_start=2, tiles=None, prefer_canvas=True)
    m.get_root().header.add_child(Raw(f"<title>{html.escape(title)}</title>"), name="title")
    m.add_child(Assets(offline=offline))
    for url, attr, subdomains in bm.tiles:
        folium.TileLayer(tiles=url, attr=attr, subdomains=subdomains, max_zoom=bm.max_zoom,
                         control=False, name=bm.name).add_to(m)
    result = MapResult(map=m, title=title)
    shown, hidden = [], []
    for v in views:
        payload = layer_payload(v, gcj02=bm.gcj02)
        m.add_child(CompactLayer(payload))
        result.layers[v.id] = len(payload["geoms"])
        if payload["bounds"] is not None:
            (shown if v.show else hidden).append(payload["bounds"])
    bounds = [tuple(fit_bounds)] if fit_bounds is not None else shown or hidden  # else fit what is on
    fit = None
    if bounds:
        b = np.array(bounds)
        fit = [[float(b[:, 1].min()), float(b[:, 0].min())], [float(b[:, 3].max()), float(b[:, 2].max())]]
        m.location = [(fit[0][0] + fit[1][0]) / 2, (fit[0][1] + fit[1][1]) / 2]
        m.options["zoom"] = 12
    attrs = dedupe_attributions([a for _, a, _ in bm.tiles] + [html.escape(a) for a in (attributions or [])])
    control_groups = [{"title": g["title"], "layers": [v.id for v in views if v.group == g["id"]]}
                      for g in groups]
    mini_tiles = ({"url": bm.tiles[0][0], "subdomains": bm.tiles[0][2], "maxZoom": bm.max_zoom}
                  if bm.tiles else None)
    chrome = {
        "title": title, "groups": control_groups, "attributions": attrs, "bounds": fit,
        "minimap": [i for i in minimap if i in result.layers], "minimapTiles": mini_tiles,
        "panel": finite(panel), "extraLegend": finite(extra_legend or []), "basemap": bm.name,
    }
    texts = ui_texts(languages)
    if texts:  # only where the city does not read both languages: bilingual maps stay as they were
        chrome["texts"] = texts
    m.add_child(Chrome(chrome))
    return result


# ---------------------------------------------------------------------------- recipe layers
def _task_label(register, task_id: str, languages=None) -> str:
    it = register.get(task_id)
    return f"{it.id} {bilingual(it.title_zh, it.title_en, languages, sep=' / ')}"


def _groups(recipe: Recipe, languages) -> list[dict[str, Any]]:
    """The recipe's layer groups, titles (``基础 Base``) in the city's languages."""
    return [{**g, "title": localize(g["title"], languages)} for g in recipe.groups]


def map_labels(onemap: OneMap, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Popup labels of the city's maps (``maps/labels.yaml``, then ``extra``) in its languages."""
    return localize_all({**load_labels(onemap.profile), **(extra or {})}, languages_of(onemap))


def _plan_fields(meta: pd.Series) -> list[str]:
    qcols = [q["column"] for q in meta["quantities"]]
    return ["task", "site_id", *qcols, "status", "achieved", "last_report", "rule", "osm_ref"]


def recipe_views(
    recipe: Recipe, onemap: OneMap | str | os.PathLike[str] | None = None, *, task: str | None = None,
    district: pd.Series | None = None,
) -> list[LayerView]:
    """The layer views a recipe asks for, filtered to ``task`` / ``district`` when given."""
    om = OneMap.coerce(onemap)
    langs = languages_of(om)
    cat = om.catalog.set_index("layer")
    labels = map_labels(om)
    register = load_register(om.profile)
    dist_gdf = om.layer_for("districts")
    views: list[LayerView] = []
    events = None  # the progress ledger, read once when a plan layer is shown
    for rl in recipe.layers:
        ids = list(cat.index[cat.role == "plan"]) if rl.plan_layers else [rl.layer]
        for lid in ids:
            if lid not in cat.index:  # a recipe may name layers another city's map lacks
                logger.warning("%s: layer %r is not in the one map %s; left out of the map",
                               recipe.path, lid, om.label)
                continue
            meta = cat.loc[lid]
            gdf = om.layer(lid)
            for col, value in rl.filter.items():
                gdf = gdf[gdf[col].astype(str) == value.format(task=task)]
            if rl.within == "district" and district is not None and not gdf.empty:
                if "adcode" in gdf.columns:
                    gdf = gdf[gdf["adcode"].astype(str) == str(district["adcode"])]
                elif meta["role"] == "plan":
                    gdf = gdf[assign_districts(gdf, dist_gdf).adcode.to_numpy() == district["adcode"]]
                else:
                    gdf = gdf[gdf.intersects(district.geometry)]
            if rl.plan_layers and gdf.empty:
                continue
            if "task_id" in gdf.columns:
                gdf = gdf.assign(task=[_task_label(register, t, langs) for t in gdf["task_id"].astype(str)])
            if meta["role"] == "plan":  # status and achieved as the districts reported them
                from cityplan.progress.events import read_events
                from cityplan.progress.report import attach_ledger_status

                events = read_events(om.store) if events is None else events
                gdf = attach_ledger_status(gdf, events)
            fields = list(rl.fields) or (_plan_fields(meta) if meta["role"] == "plan" else ["osm_ref"])
            title = localize(rl.title, langs) if rl.title else bilingual(meta["title_zh"], meta["title_en"], langs)
            style = {**meta["style"], **rl.style}
            parts = [(lid, title, gdf, style)]
            if meta["role"] == "plan" and "status" in gdf.columns and gdf["status"].eq("completed").any():
                # reported completed: solid; the rest: outline (illustrative ones stay dashed)
                done = gdf["status"].eq("completed").to_numpy()
                parts = [(f"{lid}__completed", f"{title} · {bilingual('已完成', 'completed', langs)}", gdf[done],
                          {**style, "fillOpacity": 0.85, "weight": float(style.get("weight", 1)) + 1}),
                         (lid, title, gdf[~done], {**style, "fill": False})]
                parts = [p for p in parts if len(p[2])]
            for vid, vtitle, vgdf, vstyle in parts:
                views.append(LayerView(
                    id=vid, title=vtitle, gdf=vgdf, group=rl.group, show=rl.show, style=vstyle, fields=fields,
                    labels=labels, illustrative=bool(meta["illustrative"]),
                    source=f"{meta['source']} · {meta['licence']} · {meta['attribution']}",
                    note=str(meta.get("description") or "") if meta["illustrative"] else "",
                    simplify_m=rl.simplify_m))
    return views


def source_credits(onemap, views: list[LayerView], layer_ids: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Distinct source credits of the layers shown (and of ``layer_ids``), © OpenStreetMap contributors first."""
    cat = OneMap.coerce(onemap).catalog.set_index("layer")
    ids = [v.id.split("__")[0] for v in views] + list(layer_ids)  # "plan_x__completed" credits plan_x
    parts = [p.strip() for i in ids if i in cat.index for p in str(cat.loc[i, "attribution"]).split(";")]
    out = []
    for p in parts:
        if p.startswith(OSM_ATTRIBUTION):
            out.append(OSM_ATTRIBUTION)
            p = p[len(OSM_ATTRIBUTION):].strip(" ()")
        if p:
            out.append(p)
    out = dedupe_attributions(out)
    return sorted(out, key=lambda a: a != OSM_ATTRIBUTION)


def _version_note(onemap) -> str:
    info = OneMap.coerce(onemap).build_info
    return f"one map built {info.get('built_at', '?')} from {info.get('data_dir', '?')}"


# ---------------------------------------------------------------------------- the four maps
def onemap_map(onemap=None, *, recipe: str = "onemap", basemap: str = "osm", offline: bool = False) -> MapResult:
    """Every layer of the recipe, grouped (base / plan / facilities / constraints)."""
    onemap = OneMap.coerce(onemap)
    langs = languages_of(onemap)
    r = load_recipe(recipe, onemap.profile)
    views = recipe_views(r, onemap)
    res = compose(views, title=bilingual(r.title_zh, r.title_en, langs), groups=_groups(r, langs), basemap=basemap,
                  offline=offline, minimap=r.minimap, attributions=source_credits(onemap, views),
                  panel=None, languages=langs)
    res.notes.append(_version_note(onemap))
    return res


def task_map(task_id: str, onemap=None, *, basemap: str = "osm", offline: bool = False) -> MapResult:
    """The task's plan sites with its targets and progress (overall and by district) in a side panel."""
    onemap = OneMap.coerce(onemap)
    langs = languages_of(onemap)
    register = load_register(onemap.profile)
    item = register.get(task_id)
    r = load_recipe("task", onemap.profile)
    views = recipe_views(r, onemap, task=task_id)
    prog = compute_progress(onemap, by="district").table
    mine = prog[prog.task_id == task_id]
    tot = mine[mine.district == "(all)"]
    per = mine[mine.district != "(all)"]
    if "checked_by" in tot.columns and tot["checked_by"].astype(bool).any():
        from cityplan.progress.report import attach_standards, coverage_lookup

        tot = attach_standards(tot, coverage_lookup(onemap), langs)  # a standard: the coverage figure checking it
    sections = [{"title": bilingual("目标与进度", "Targets and progress (achieved as reported)", langs,
                                    legacy="Targets and progress 目标与进度 (achieved as reported)"),
                 "columns": ["metric", "unit", "target", "planned", "of which illustrative", "achieved",
                             "achieved / target", "status", "last report"],
                 "rows": [[x.metric, x.unit, _num(x.target), _num(x.planned), _num(x.planned_illustrative),
                           _num(x.achieved), _num(x.ratio), _status_text(x), x.last_report]
                          for x in tot.itertuples()]}]
    if len(per):
        sections.append({"title": bilingual("分区", "By district", langs, legacy="By district 分区"),
                         "columns": ["district", "metric", "quota", "quota basis", "planned", "achieved",
                                     "achieved / quota"],
                         "rows": [[x.district, x.metric, _num(x.quota), _basis(x, langs), _num(x.planned),
                                   _num(x.achieved), _num(x.ratio)] for x in per.itertuples()]})
    notes = [_version_note(onemap)]
    if not any(v.group == "plan" for v in views):
        notes.insert(0, "This task has no plan sites on the map (not mapped).")
    if any(v.illustrative for v in views if v.group == "plan"):
        notes.insert(0, localize(ILLUSTRATIVE_NOTE, langs))
    head = bilingual(item.title_zh, item.title_en, langs[:1])  # the headline language; the other below
    rest = bilingual(item.title_zh, item.title_en, langs[1:]) if len(langs) > 1 else ""
    panel = {"title": f"{item.id} {head}", "subtitle": "" if rest == head else rest, "sections": sections,
             "notes": notes}
    res = compose(views, title=f"{item.id} {bilingual(item.title_zh, item.title_en, langs)}", groups=_groups(r, langs),
                  basemap=basemap, offline=offline, minimap=r.minimap, panel=panel,
                  attributions=source_credits(onemap, views), languages=langs)
    res.notes = notes
    return res


def _num(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _status_text(row: Any) -> str:
    """A progress row's status; a standard's with the coverage figure that checks it."""
    by = getattr(row, "checked_by", "")
    return f"{row.status} — {by}" if isinstance(by, str) and by else row.status


def _basis(row: Any, languages: Any) -> str:
    """What a district quota is (``derived (assumption) 推算(假设)`` for cityplan's assumed split)."""
    from cityplan.progress.asof import quota_basis_text

    return quota_basis_text(getattr(row, "quota_basis", ""), languages)


def subdistricts_of(onemap, district: pd.Series) -> gpd.GeoDataFrame:
    """The sub-districts (catalog role ``subdistricts``) lying mostly in ``district``."""
    om = OneMap.coerce(onemap)
    if om.layer_id_for("subdistricts", required=False) is None:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    subs = om.layer_for("subdistricts")
    if subs.empty:
        return subs
    where = assign_districts(subs, om.layer_for("districts"))
    return subs[where.adcode.astype(str).to_numpy() == str(district["adcode"])].copy()


def integer_classes(values: np.ndarray, k: int = 5) -> list[tuple[int, int]]:
    """At most ``k`` classes of whole numbers ``(lo, hi)`` (inclusive) for counts: 0 alone, then
    one class per value when few, else quantile breaks rounded up to whole numbers."""
    v = np.asarray(values, dtype=int)
    top = int(v.max()) if len(v) else 0
    classes = [(0, 0)]
    if top <= 0:
        return classes
    if top <= k - 1:
        return classes + [(i, i) for i in range(1, top + 1)]
    pos = v[v > 0]
    qs = np.ceil(np.quantile(pos, np.linspace(0, 1, k)[1:])).astype(int)
    his = sorted({int(q) for q in qs} | {top})
    lo = 1
    for hi in his:
        if hi >= lo:
            classes.append((lo, hi))
            lo = hi + 1
    return classes


COUNT_COLORS = ["#f7f7f7", "#fee391", "#fec44f", "#fe9929", "#d95f0e", "#993404"]  # 0 grey, then YlOrBr


def subdistrict_choropleth(onemap, district: pd.Series, views: list[LayerView]) -> tuple[LayerView, dict]:
    """Sub-districts of ``district`` coloured by the number of plan sites in each, in whole-number classes.

    The popup breaks each count down by task (``2.3.3 ×4; 4.2.1 ×1``), so mixed site types are
    not read as one quantity.
    """
    om = OneMap.coerce(onemap)
    langs = languages_of(om)
    subs = subdistricts_of(om, district)
    plan = [v.gdf for v in views if v.group == "plan" and not v.gdf.empty]
    counts = np.zeros(len(subs), dtype=int)
    by_task = [""] * len(subs)
    if plan and len(subs):
        pts = gpd.GeoDataFrame(
            {"task_id": pd.concat([g["task_id"].astype(str) if "task_id" in g.columns
                                   else pd.Series("?", index=g.index) for g in plan], ignore_index=True)},
            geometry=pd.concat([g.geometry.representative_point() for g in plan], ignore_index=True), crs=subs.crs)
        j = gpd.sjoin(pts, subs[["geometry"]], predicate="within")
        counts = j.groupby("index_right").size().reindex(subs.index, fill_value=0).to_numpy()
        per = j.groupby(["index_right", "task_id"]).size()
        by_task = ["; ".join(f"{t} ×{n}" for t, n in per.loc[i].items()) if i in per.index.get_level_values(0)
                   else "" for i in subs.index]
    subs["plan_sites"] = counts
    subs["plan_sites_by_task"] = by_task
    classes = integer_classes(counts, k=len(COUNT_COLORS) - 1)
    ramp = COUNT_COLORS[1:]
    picks = np.round(np.linspace(0, len(ramp) - 1, len(classes) - 1)).astype(int) if len(classes) > 2 else [1]
    colors = [COUNT_COLORS[0]] + [ramp[i] for i in picks][:len(classes) - 1]
    ci = np.searchsorted([hi for _, hi in classes], counts)
    subs["_color"] = [colors[i] for i in ci]
    view = LayerView(id="progress_subdistricts", title=localize("街道规划点位数 Plan sites per sub-district", langs),
                     gdf=subs, group="progress", style={"color": "#555555", "weight": 1, "fillOpacity": 0.6},
                     fields=["name_en", "division_code", "plan_sites", "plan_sites_by_task"],
                     labels=map_labels(om, {"plan_sites": "规划点位(个) plan sites", "plan_sites_by_task": "按任务 by task"}),
                     source="OSM sub-districts; counts by cityplan", color_column="_color")
    stops = [[str(lo) if lo == hi else f"{lo}–{hi}", c] for (lo, hi), c in zip(classes, colors, strict=True)]
    return view, {"title": localize("规划点位数(个) Plan sites per sub-district (count, all tasks)", langs),
                  "stops": stops}


def coverage_choropleth(onemap, district: pd.Series, coverage) -> tuple[list[LayerView], dict]:
    """Sub-districts coloured by the share of residential land covered, and the gaps, for one run."""
    om = OneMap.coerce(onemap)
    langs = languages_of(om)
    subs = subdistricts_of(om, district)
    feats = coverage.features[coverage.features.geometry.notna()]
    pts = gpd.GeoDataFrame(feats[["area_m2", "covered_area_m2"]], geometry=feats.geometry.representative_point(),
                           crs=feats.crs)
    j = gpd.sjoin(pts, subs[["geometry"]], predicate="within")
    agg = j.groupby("index_right")[["area_m2", "covered_area_m2"]].sum().reindex(subs.index, fill_value=0)
    subs["area_share"] = np.where(agg.area_m2 > 0, agg.covered_area_m2 / agg.area_m2.where(agg.area_m2 > 0, 1), np.nan)
    subs["_color"] = [share_color(v) for v in subs["area_share"]]
    preset = coverage.params.get("preset") or coverage.params["within"]
    from cityplan.coverage.run import HEADLINE, SCENARIO_NAMES, scenario_label

    scen = getattr(coverage, "scenario", None) or HEADLINE
    zh, _ = SCENARIO_NAMES.get(scen, (scen, scen))
    label = scenario_label(scen, langs)
    labels = map_labels(om, {"area_share": f"住宅用地覆盖率({zh}) area share ({scen})"})
    gaps = coverage.gaps[coverage.gaps["district"] == district["name"]]
    head = ""
    if hasattr(coverage, "headline_text"):  # the district's figure, planned beside it with its basis
        head = " — " + coverage.headline_text(str(district["adcode"]), langs, metric="area_share")
    views = [
        LayerView(id="coverage_subdistricts",
                  title=bilingual(f"覆盖率 {preset}", f"Coverage {preset}", langs,
                                  legacy=f"覆盖率 Coverage {preset}") + f" · {label}",
                  gdf=subs, group="progress", show=False, style={"color": "#555555", "weight": 1, "fillOpacity": 0.6},
                  color_column="_color",
                  fields=["name_en", "area_share"], labels=labels, source="cityplan coverage" + head),
        LayerView(id="coverage_gaps",
                  title=bilingual(f"未覆盖 {preset}", f"Gaps {preset}", langs, legacy=f"未覆盖 Gaps {preset}")
                  + f" · {label}", gdf=gaps, group="progress",
                  show=False, style=GAP_STYLE, fields=["district", "gap_area_m2", "population_uncovered"], labels=labels,
                  source="cityplan coverage"),
    ]
    _, stops = share_classes(langs)
    return views, {"title": bilingual(f"覆盖率({zh})", f"Residential land covered ({preset}, {scen})", langs,
                                      legacy=f"Residential land covered ({preset}, {label}) 覆盖率"), "stops": stops}


def district_map(name: str, onemap=None, *, basemap: str = "osm", offline: bool = False,
                 coverage=None) -> MapResult:
    """One district: boundary, sub-district choropleths (plan sites; coverage if given), sites, panel."""
    onemap = OneMap.coerce(onemap)
    langs = languages_of(onemap)
    dist = resolve_district(name, onemap.layer_for("districts"))
    r = load_recipe("district", onemap.profile)
    views = recipe_views(r, onemap, district=dist)
    chor, legend = subdistrict_choropleth(onemap, dist, views)
    views.insert(1, chor)
    legends = [legend]
    if coverage is not None:
        cov_views, cov_legend = coverage_choropleth(onemap, dist, coverage)
        views[2:2] = cov_views
        legends.append(cov_legend)
    prog = compute_progress(onemap, by="district").table
    mine = prog[prog.adcode.astype(str) == str(dist["adcode"])]
    share = dist.get("extract_share")
    notes = [f"The sample extract covers {share:.0%} of the district's area." if share == share else "",
             localize(ILLUSTRATIVE_NOTE, langs), _version_note(onemap)]
    if coverage is not None and hasattr(coverage, "headline_text"):
        preset = coverage.params.get("preset") or coverage.params["within"]
        notes.insert(0, f"coverage {preset} ({coverage.params['method']} {coverage.params['within']}), "
                        f"population share: {coverage.headline_text(str(dist['adcode']), langs)}")
    from cityplan.progress.asof import QUOTA_DERIVED

    if "quota_basis" in mine.columns and mine["quota_basis"].eq(QUOTA_DERIVED).any():
        notes.insert(0, bilingual("推算(假设): 本区任务量由 cityplan 按假定规则分解 (quotas.yaml), 非市里下达",
                                  "derived (assumption): the quota is cityplan's split of the city target by an "
                                  "assumed rule (quotas.yaml), not one the city gave", langs))
    title = district_title(dist, langs)
    panel = {"title": title,
             "subtitle": f"adcode {dist['adcode']} · {population_text(dist)}",
             "sections": [{"title": bilingual("区级任务进度", "Progress vs the district's quota", langs,
                                             legacy="Progress vs the district's quota 区级任务进度"),
                           "columns": ["task", "metric", "quota", "quota basis", "planned", "achieved",
                                       "achieved / quota", "last report"],
                           "rows": [[f"{x.task_id} {bilingual(x.title_zh, x.title_en, langs[:1])}", x.metric,
                                     _num(x.quota), _basis(x, langs), _num(x.planned), _num(x.achieved),
                                     _num(x.ratio), x.last_report]
                                    for x in mine.itertuples()]}],
             "notes": [n for n in notes if n]}
    res = compose(views, title=title, groups=_groups(r, langs),
                  basemap=basemap, offline=offline, minimap=r.minimap, panel=panel,
                  extra_legend=legends, attributions=source_credits(onemap, views), languages=langs)
    res.notes = panel["notes"]
    return res


def district_title(dist: pd.Series, languages=None) -> str:
    """A district's name and English name (``南岗区 Nangang``) as the city's languages have them;
    an English name equal to the name (a city outside China) is not repeated."""
    return bilingual(dist.get("name"), dist.get("name_en"), languages)


def file_map(path: str | os.PathLike[str], *, layer: str | None = None, crs: str | None = None,
             encoding: str | None = None, basemap: str = "osm", offline: bool = False) -> MapResult:
    """A quick look at any vector file: styled by geometry type, every attribute in popups."""
    gdf = read_vector(path, layer=layer, crs=crs, encoding=encoding)
    name = Path(path).name + (f" [{layer}]" if layer else "")
    fam = gdf.geometry.geom_type.map(FAMILIES)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    views = []
    for f in ("polygon", "line", "point"):
        sub = gdf[fam == f]
        if len(sub):
            views.append(LayerView(id=f"file_{f}", title=f"{name} ({f})", gdf=sub, group="file",
                                   style=FAMILY_STYLE[f], fields=cols, source=str(path), simplify_m=0))
    skipped = int(fam.isna().sum())
    notes = [f"{len(gdf) - skipped} of {len(gdf)} features drawn"]
    if skipped:
        notes.append(f"{skipped} feature(s) not drawn: empty, null or GeometryCollection geometry")
    res = compose(views, title=name, groups=[{"id": "file", "title": name}], basemap=basemap,
                  offline=offline, panel={"title": name, "subtitle": f"{len(gdf)} features",
                                          "sections": [], "notes": notes})
    res.notes = notes
    return res
