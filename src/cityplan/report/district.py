"""Assemble and write one district office's report (HTML, XLSX, PNG/PDF maps, interactive map)."""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages

from cityplan._errors import CityplanError
from cityplan.coverage import (
    CoverageResult,
    get_preset,
    load_presets,
    preset_availability,
)
from cityplan.coverage.run import (
    HEADLINE,
    SCENARIO_NAMES,
    covered_definition,
    scenario_label,
    uncovered_compounds,
)
from cityplan.districts import district_population, population_text, resolve_district
from cityplan.fonts import cjk_figures
from cityplan.io.write import atomic_folder, atomic_path, write_table
from cityplan.maps.coverage_map import METHOD_NAMES
from cityplan.maps.render import GAP_STYLE
from cityplan.onemap import OneMap
from cityplan.progress.asof import quota_basis_text
from cityplan.progress.context import compute_progress
from cityplan.report import static
from cityplan.report.edges import extract_edge, split_outline
from cityplan.report.headers import html_table, number_blank_note, report_table
from cityplan.report.templating import render
from cityplan.tasks.link import assign_districts
from cityplan.text import BOTH, bilingual, languages_of, localize

logger = logging.getLogger(__name__)

PROGRESS_COLUMNS = ["task_id", "chapter", "title_zh", "title_en", "adcode", "district", "metric", "unit",
                    "target", "quota", "quota_basis", "planned", "planned_illustrative", "achieved", "ratio",
                    "achieved_ratio", "features", "illustrative_features", "sites_overdue", "status", "checked_by",
                    "last_report"]
COVERAGE_COLUMNS = ["preset", "scenario", "network", "title_en", "method", "within", "speed_kmh", "district", "adcode", "population",
                    "population_covered", "population_share", "residential_area_m2",
                    "residential_area_covered_m2", "area_share", "features", "features_covered",
                    "not_snapped_or_unreachable", "extract_share", "target_metric", "target_min", "meets_target",
                    "note"]
#: the coverage table's ``note`` of a preset the map cannot run (followed by the reason)
SKIPPED = "skipped"
#: the uncovered-compound list's columns (:func:`cityplan.coverage.run.uncovered_compounds`, per preset)
UNCOVERED_COLUMNS = ["preset", "scenario", "name", "osm_ref", "population_est", "nearest_facility", "distance_m",
                     "time_min", "land_in_service_area", "covered", "status"]


@dataclass
class SharedInputs:
    """What every district's report needs, computed once (progress, coverage of every preset)."""

    onemap: OneMap
    progress: pd.DataFrame
    coverage: dict[str, CoverageResult]
    districts: gpd.GeoDataFrame
    catalog: pd.DataFrame
    build_info: dict[str, str]
    progress_context: object = None  # cityplan.progress.ProgressContext: the ledger, sites, register
    _assigned: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    #: each district's map context (water, sub-districts, major roads), read once for all its pages
    _context: dict[str, object] = field(default_factory=dict)
    #: time-limited presets by transit (walk + metro), with and without the planned metro sections
    transit: dict[str, CoverageResult] = field(default_factory=dict)
    #: presets the map cannot run, with the reason (``not available here: needs parks``)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """The city's languages (``profile.yaml``); Chinese and English when there is no map."""
        return languages_of(self.onemap)

    def assigned(self, layer: str) -> gpd.GeoDataFrame:
        """A one-map layer with the ``adcode`` of the district each feature lies in most (read once)."""
        if layer not in self._assigned:
            gdf = self.onemap.layer(layer)
            adcode = assign_districts(gdf, self.districts).adcode if len(gdf) else pd.Series(dtype=str)
            self._assigned[layer] = gdf.assign(_adcode=adcode.to_numpy())
        return self._assigned[layer]


@dataclass
class DistrictReport:
    """One district's tables and the files written."""

    district: pd.Series
    progress: pd.DataFrame
    coverage: pd.DataFrame
    uncovered: pd.DataFrame
    illustrative: pd.DataFrame
    sources: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    reports: pd.DataFrame = field(default_factory=pd.DataFrame)  # the district's latest progress reports


def prepare_inputs(onemap=None, *, presets: list[str] | None = None,
                   progress: Callable[[str], None] | None = None,
                   plan: Callable[[int], None] | None = None, store: bool = True) -> SharedInputs:
    """Progress by district and coverage for every preset (default: all presets).

    Coverage comes from the results stored in the one map for its build
    (:mod:`cityplan.services.coverage`: what the dashboards show); a run not stored yet is computed
    and, with ``store``, stored for the next report and the dashboards.

    A preset the map cannot run (:func:`cityplan.coverage.preset_availability`: a role it lacks)
    is skipped, not an error: :attr:`SharedInputs.skipped` holds its reason and every district's
    coverage table a row saying ``skipped: not available here: needs ROLE``. ``plan`` is told the
    number of ``progress`` steps before the first one (a progress bar that knows its length).
    """
    from cityplan.services.coverage import RunSpec, compute_run, run_states, stored_result

    step = progress or (lambda _s: None)
    om = OneMap.coerce(onemap)
    wanted = presets or list(load_presets(om.profile))
    skipped: dict[str, str] = {}
    for pid in wanted:
        available, reason = preset_availability(get_preset(pid, om.profile), om)
        if not available:
            logger.warning("report: preset %s skipped: %s", pid, reason)
            skipped[pid] = reason
    run = [pid for pid in wanted if pid not in skipped]
    transit = _transit_presets(om, run)
    if plan is not None:
        plan(1 + len(run) + len(transit))
    step("progress")
    prog_res = compute_progress(om, by="district")
    states = run_states(om)

    def result(pid: str, variant: str = "") -> CoverageResult:
        st = stored_result(om, pid, variant=variant, states=states)
        if st is not None:
            return st.result
        _state, why, res = compute_run(om, RunSpec(pid, variant), store=store)
        if res is None:
            raise CityplanError(f"coverage {RunSpec(pid, variant).run}: {why}")
        return res

    cov = {}
    for pid in run:
        step(f"coverage {pid}")
        cov[pid] = result(pid)
    by_transit = {}
    for pid in transit:
        step(f"coverage {pid} by transit")
        by_transit[pid] = result(pid, "transit")
    return SharedInputs(transit=by_transit, onemap=om, progress=prog_res.table,
                        progress_context=prog_res.context, coverage=cov, districts=om.layer_for("districts"),
                        catalog=om.catalog, build_info=dict(om.build_info), skipped=skipped)


def _transit_presets(om: OneMap, presets: list[str]) -> list[str]:
    """The time-limited walking presets run again by transit (walk + metro), with and without the
    planned metro sections (e.g. the Line 3 north-west loop), when the map has a metro."""
    from cityplan.services.coverage import coverage_runs

    return [s.preset for s in coverage_runs(om, presets) if s.variant == "transit"]


def district_tables(name: str, shared: SharedInputs) -> DistrictReport:
    """The report's tables for one district (the same rows the progress / coverage commands print)."""
    d = resolve_district(name, shared.districts)
    adcode = str(d["adcode"])
    langs = shared.languages
    prog = shared.progress[shared.progress["adcode"].astype(str) == adcode].reindex(columns=PROGRESS_COLUMNS)
    prog = prog.reset_index(drop=True)
    prog["quota_basis"] = [quota_basis_text(v, langs) for v in prog["quota_basis"]]  # derived quotas marked
    presets = load_presets(shared.onemap.profile)
    rows, unc = [], []
    for pid, res in [*shared.coverage.items(), *shared.transit.items()]:
        p = presets[pid]
        by = res.by_scenario if res.by_scenario is not None else res.districts  # existing/planned/difference
        per = by[by["adcode"].astype(str) == adcode]
        for _, r in per.iterrows():
            rows.append({"preset": pid, "title_en": p.title_en, "method": res.params["method"],
                         "within": res.params["within"], "speed_kmh": res.params.get("speed_kmh"), **r.to_dict(),
                         "note": _scenario_note(res, r.get("scenario"), langs)})
        if res.params["method"] == "transit":
            continue
        unc.append(uncovered_compounds(res, adcode).assign(preset=pid))  # the dashboard counts the same list
    for pid, reason in shared.skipped.items():
        p = presets[pid]
        rows.append({"preset": pid, "title_en": p.title_en, "method": p.method, "within": p.within.text,
                     "speed_kmh": p.speed_kmh, "district": d["name"], "adcode": adcode,
                     "note": f"{SKIPPED}: {reason}"})
    cov = pd.DataFrame(rows).reindex(columns=COVERAGE_COLUMNS)
    uncovered = (pd.concat(unc, ignore_index=True) if unc else pd.DataFrame()).reindex(columns=UNCOVERED_COLUMNS)
    cat = shared.catalog.set_index("layer")
    ill_rows = []
    for lid in cat.index[cat.illustrative]:
        n = int((shared.assigned(lid)["_adcode"] == adcode).sum())
        ill_rows.append({"layer": lid, "title_zh": cat.loc[lid, "title_zh"], "title_en": cat.loc[lid, "title_en"],
                         "features_in_district": n, "how": cat.loc[lid, "description"]})
    sources = shared.catalog[["layer", "title_en", "source", "licence", "attribution", "illustrative"]].copy()
    from cityplan.progress.report import last_reports

    return DistrictReport(district=d, progress=prog, coverage=cov, uncovered=uncovered,
                          illustrative=pd.DataFrame(ill_rows), sources=sources,
                          reports=last_reports(shared.progress_context, adcode))


def _scenario_note(res: CoverageResult, scenario: object, languages) -> str:
    """The coverage table's note on a scenario row: what the headline counts, how much of planned is
    illustrative."""
    if scenario == HEADLINE:
        n = int(res.params.get("facility_count_existing") or 0)
        return f"headline: {scenario_label(HEADLINE, languages)}, {n} real facilities"
    if scenario == "planned":
        return f"{scenario_label('planned', languages)}: {res.planned_basis(languages)}"
    return scenario_label(str(scenario), languages) if isinstance(scenario, str) and scenario else ""


def standard_lines(shared: SharedInputs, adcode: str) -> list[str]:
    """Each standard of the register (a target with ``check:``) with the district's coverage figure
    that checks it: ``标准 Standard 5.6.2 fitness_circle_time 30 min: coverage ice-30min ...``."""
    from cityplan.progress.asof import check_preset
    from cityplan.progress.report import standard_figure

    ctx = shared.progress_context
    if ctx is None:
        return []
    out = []
    for item in ctx.register.items:
        for t in item.targets:
            preset = check_preset(t.check)
            res = shared.coverage.get(preset) if preset else None
            if res is None:
                continue
            what = bilingual("标准", "Standard", shared.languages)
            kind = bilingual("非完成量", "not a quantity to achieve", shared.languages)
            out.append(f"{what} {item.id} {t.metric} {t.value:g} {t.unit} ({kind}): "
                       f"{standard_figure(res, adcode, shared.languages)}")
    return out


# ------------------------------------------------------------------------------------ maps
def _label(shared: SharedInputs, zh: str, en: str) -> str:
    """A printed map's text in the city's languages (:func:`static.label` for a bilingual city:
    English alone when no CJK font is there)."""
    langs = shared.languages
    if set(BOTH) <= set(langs):
        return static.label(zh, en)
    return bilingual(zh, en, langs) if "zh" not in langs or static.cjk_font() else en


def _english_name(d: pd.Series) -> str:
    """The district's English name; its name when it has none (a city outside China names it once)."""
    en = d.get("name_en")
    return en if isinstance(en, str) and en.strip() else str(d["name"])


def _plan_layers(shared: SharedInputs, adcode: str) -> list[tuple[str, gpd.GeoDataFrame, dict, bool]]:
    cat = shared.catalog.set_index("layer")
    out = []
    for lid in cat.index[cat.role == "plan"]:
        gdf = shared.assigned(lid)
        gdf = gdf[gdf["_adcode"] == adcode].drop(columns="_adcode")
        if len(gdf):
            style = {**cat.loc[lid, "style"], "label": _label(shared, cat.loc[lid, "title_zh"], cat.loc[lid, "title_en"])}
            out.append((lid, gdf, style, bool(cat.loc[lid, "illustrative"])))
    return out


def _context(ax, shared: SharedInputs, d: pd.Series) -> list:
    """District boundary (credited with its licence), water, labelled sub-districts and major roads."""
    from cityplan.report.context import context_layers, draw_context

    om, crs = shared.onemap, shared.onemap.working_crs
    boundary = shared.districts[shared.districts["adcode"].astype(str) == str(d["adcode"])]
    key = str(d["adcode"])
    if key not in shared._context:  # read and clipped once for all the district's pages
        shared._context[key] = context_layers(om, boundary)
    real, cut = split_outline(om, boundary)  # the extract's edge is no district boundary
    handles = [static.plot_layer(ax, real, {"color": "#000000", "weight": 2,
                                            "label": _label(shared, "区界", "District boundary")}, zorder=5,
                                 source=om.catalog_row(om.layer_id_for("districts")))]
    if len(cut):
        handles.append(static.plot_layer(ax, extract_edge(om), {"color": "#7f7f7f", "weight": 1.2, "dash": True,
                                         "label": _label(shared, "数据范围边界", "Extract edge (district continues)")},
                                         zorder=5))
    handles += draw_context(ax, om, boundary, layers=shared._context[key])
    minx, miny, maxx, maxy = boundary.to_crs(crs).total_bounds
    ax.set_xlim(minx - 300, maxx + 300)
    ax.set_ylim(miny - 300, maxy + 300)
    return [x for x in handles if x is not None]


def _new_map(title: str, **kwargs):
    """:func:`static.new_map` whose canvas ignores ``draw_idle``: geopandas asks for one after every
    layer it plots, and on an Agg canvas that draws the whole 300-dpi page each time (a dozen full
    draws per page, most of a page's time); the page is drawn once, when it is saved."""
    fig, ax = static.new_map(title, **kwargs)
    fig.canvas.draw_idle = _no_draw
    return fig, ax


def _no_draw(*_args, **_kwargs) -> None:
    """A canvas's ``draw_idle`` while a page is being built."""


@cjk_figures
def overview_figure(shared: SharedInputs, d: pd.Series, page: static.PageSpec | None = None):
    """The district's plan sites (illustrative ones dashed) on a printed page in the metric CRS."""
    title = _label(shared, f"{d['name']} 规划项目", f"{_english_name(d)} plan sites")
    fig, ax = _new_map(title, crs=shared.onemap.working_crs, page=page)
    ax.cityplan_page.languages = shared.languages  # the title block's texts in the city's languages
    handles = _context(ax, shared, d)
    for lid, gdf, style, ill in _plan_layers(shared, str(d["adcode"])):
        if ill and "illustrative" not in style["label"]:
            style = {**style, "label": style["label"] + localize(" (示意 illustrative)", shared.languages)}
        h = static.plot_layer(ax, gdf, style, illustrative=ill, zorder=3, source=shared.onemap.catalog_row(lid))
        if h is not None:
            handles.append(h)
    static.finish(ax, handles)
    return fig


@cjk_figures
def coverage_figure(shared: SharedInputs, d: pd.Series, preset: str, page: static.PageSpec | None = None):
    """Residential land covered / not covered (gaps) for one preset, with the facilities."""
    res = shared.coverage[preset]
    adcode = str(d["adcode"])
    title, subtitle, note = coverage_title(shared, d, preset)
    fig, ax = _new_map(title, subtitle=subtitle, crs=shared.onemap.working_crs, page=page)
    ax.cityplan_page.languages = shared.languages
    ax.cityplan_page.notes.append(note)
    handles = _context(ax, shared, d)
    feats = res.features[res.features["adcode"].astype(str) == adcode]
    gaps = res.gaps[res.gaps["district"] == d["name"]]
    iso = res.isochrones.clip(shared.districts[shared.districts["adcode"].astype(str) == adcode])
    zh, en = METHOD_NAMES.get(res.params["method"], (res.params["method"], res.params["method"]))
    scen_zh, scen_en = SCENARIO_NAMES[res.scenario][0], res.scenario
    reach = (_label(shared, f"{zh}{res.params['within']}缓冲区({scen_zh})",
                    f"Straight-line radius {res.params['within']} ({scen_en})")
             if res.params["method"] == "euclid" else
             _label(shared, f"{zh}{res.params['within']}可达范围({scen_zh})",
                    f"Reachable by {en} within {res.params['within']} ({scen_en})"))
    for gdf, style in ((iso, {"color": "#252525", "fill": "#d9d9d9", "weight": 0.6, "alpha": 0.35, "dash": True,
                              "label": reach}),
                       (feats, {"color": "#54278f", "fill": "#9e9ac8", "weight": 0.3,
                                "label": _label(shared, "居住用地", "Residential land")}),
                       (gaps, {**GAP_STYLE, "weight": 0.3, "alpha": 0.8,
                               "label": _label(shared, f"未覆盖({scen_zh})", f"Not covered (gap, {scen_en})")})):
        h = static.plot_layer(ax, gdf, style, zorder=2)
        if h is not None:
            handles.append(h)
    crs = shared.onemap.working_crs
    area = shared.districts[shared.districts["adcode"].astype(str) == adcode].to_crs(crs).buffer(1000)
    fac = res.facilities.to_crs(crs).clip(area)
    layer_col = "facility_layer" if "facility_layer" in fac.columns else None
    for lid, part in (fac.groupby(layer_col, sort=True) if layer_col else [(None, fac)]):
        # each facility layer in its own catalog style and title (parks green, rinks blue, ...)
        row = shared.onemap.catalog_row(lid) if lid in set(shared.catalog["layer"]) else None
        only_planned = "scenario" in part.columns and part["scenario"].eq("planned").all()
        label = (_label(shared, row["title_zh"], row["title_en"]) if row is not None
                 else _label(shared, "设施", f"Facilities ({lid})"))
        if only_planned and res.scenario == HEADLINE:  # drawn for reference; its reach is not on this map
            label += " " + _label(shared, "(仅规划)", "(planned only)")
        style = {**(row["style"] if row is not None else {"color": "#000000", "radius": 3}), "label": label}
        for geom_kind in ("Polygon", "Line", "Point"):  # plot_layer styles one geometry family at a time
            sub = part[part.geom_type.str.contains(geom_kind)]
            h = static.plot_layer(ax, sub, style, illustrative=bool(row is not None and row["illustrative"]), zorder=4,
                                  source=row)
            if h is not None:
                handles.append(h)
    static.finish(ax, handles)
    return fig


def coverage_title(shared: SharedInputs, d: pd.Series, preset: str) -> tuple[str, str, str]:
    """A printed coverage map's title, subtitle and note: the preset, the scenario drawn (existing:
    real facilities only) with its shares in the district, and the planned shares beside them with
    how many plan sites are illustrative."""
    res = shared.coverage[preset]
    adcode = str(d["adcode"])
    p = load_presets(shared.onemap.profile)[preset]
    langs = shared.languages
    title = _label(shared, f"{d['name']} {p.title_zh}", f"{_english_name(d)}: {p.title_en}")

    def shares(scen: str) -> str:
        land, pop = res.share(scen, adcode, "area_share"), res.share(scen, adcode, "population_share")
        text = _label(shared, "用地", "land") + f" {_pct(land)}"
        if math.isfinite(pop):
            text += ", " + _label(shared, "人口", "population") + f" {_pct(pop)}"
        return text + " " + _label(shared, "覆盖", "covered")

    scen = res.scenario
    subtitle = (f"{res.params['method']} {res.params['within']} · "
                f"{_label(shared, SCENARIO_NAMES[scen][0], SCENARIO_NAMES[scen][1])}: {shares(scen)}")
    note = ""
    if scen == HEADLINE and len(res.scenario_rows("planned")):
        note = (f"{_label(shared, SCENARIO_NAMES['planned'][0], SCENARIO_NAMES['planned'][1])}, "
                f"{_label(shared, '未绘出', 'not drawn')}: {shares('planned')} ({res.planned_basis(langs)})")
    return title, subtitle, note


def _pct(v: float) -> str:
    return f"{v:.0%}" if math.isfinite(v) else "n/a"


# ------------------------------------------------------------------------------------ writers
def _img(path: Path) -> dict[str, str]:
    """An image of the report folder, linked (not embedded: ten 300-dpi A3 pages are ~40 MB)."""
    return {"alt": path.stem, "src": quote(path.name)}


def report_html(rep: DistrictReport, shared: SharedInputs, images: list[Path], map_file: str,
                history: list[Path] = ()) -> str:
    """The report page from ``templates/district.html.j2``, linking the map images and charts beside it
    in the report folder (a few hundred KB, not tens of MB); every value escaped."""
    d = rep.district
    langs = shared.languages
    share = d.get("extract_share")
    cov_view = rep.coverage[["preset", "scenario", "network", "title_en", "method", "within", "population", "population_share",
                             "residential_area_m2", "area_share", "features_covered", "features",
                             "meets_target", "note"]]
    heads = [f"{pid}: {bilingual('人口覆盖率', 'population share', langs)} {res.headline_text(str(d['adcode']), langs)}"
             for pid, res in shared.coverage.items()]
    summary = [
        f"adcode {d['adcode']} · census {population_text(d)}",
        *heads, *(standard_lines(shared, str(d["adcode"])) if shared.onemap is not None else []),
        f"The sample data extract covers {share:.0%} of the district's area; populations are census-based estimates." if share == share else "",
        f"Plan features in the district: {int(rep.progress[rep.progress.metric.notna()].groupby('task_id').features.max().sum())} "
        f"(illustrative ones are placed by documented rules, not real project sites).",
        f"One map built {shared.build_info.get('built_at')} from {shared.build_info.get('data_dir')}; report generated "
        f"{dt.datetime.now().isoformat(timespec='minutes')}.",
    ]
    name, name_en = str(d["name"]), d.get("name_en", "")
    name_en = name_en if isinstance(name_en, str) else ""
    if "zh" not in langs or name_en == name:  # one name (the English one when there is one)
        name, name_en = bilingual(name, name_en, langs), ""
    return render("district.html.j2", name=name, name_en=name_en, languages=list(langs),
                  summary=[x for x in summary if x], map_file=map_file,
                  progress=html_table(rep.progress.drop(columns=["adcode", "district"]), langs),
                  coverage=html_table(cov_view, langs), images=[_img(p) for p in images],
                  uncovered=html_table(rep.uncovered, langs), reports=html_table(rep.reports, langs),
                  history=[_img(p) for p in history], illustrative=html_table(rep.illustrative, langs),
                  sources=html_table(rep.sources, langs), blank_note=number_blank_note(langs),
                  coverage_note=_coverage_note(langs), uncovered_note=covered_definition(langs))


def _coverage_note(languages) -> str:
    """What the coverage table's scenario rows are."""
    return bilingual("现有情景为标题数字(仅真实设施); 规划情景 = 现有 + 规划点位(多为示意), 列于其旁",
                     "The existing scenario (real facilities only) is the headline; planned = existing + plan "
                     "sites (most of them illustrative), beside it", languages, sep=" / ")


def report_steps(shared: SharedInputs, *, formats: tuple[str, ...] = ("html", "xlsx"), maps: bool = True) -> int:
    """The ``progress`` steps :func:`build_district_report` takes for one district."""
    return 1 + ((1 + len(shared.coverage) + 1) if maps else 0) + 1 + len(formats)


def build_district_report(name: str, shared: SharedInputs, out: str | os.PathLike[str], *,
                          formats: tuple[str, ...] = ("html", "xlsx"), overwrite: bool = False,
                          maps: bool = True, page: static.PageSpec | None = None,
                          progress: Callable[[str], None] | None = None, workers: int | None = None) -> DistrictReport:
    """Write the report of district ``name`` into ``out`` (a folder); ``progress`` is called after
    each of :func:`report_steps` steps. ``workers``: processes drawing the map pages (default: 2
    when this process may use two cores or more; 1 draws everything here)."""
    from cityplan._cores import usable_cores

    workers = min(2, usable_cores()) if workers is None else workers
    step = progress or (lambda _s: None)
    rep = district_tables(name, shared)
    step(f"{name}: tables")
    target = Path(out)
    with atomic_folder(target, overwrite=overwrite) as folder:  # the whole report or nothing
        _write_report(rep, shared, folder, formats=formats, maps=maps, page=page, step=step, workers=workers)
    rep.files = [target / f.relative_to(folder) for f in rep.files]
    return rep


#: the longest the PNG pages' process may take (a hung process is stopped and the report fails)
PNG_TIMEOUT_S = 900.0


@cjk_figures
def _save_png(fig, path: Path) -> None:
    """A page as PNG at its dpi and paper size, the pixels :func:`static.save` draws: RGB (the page is
    opaque) at zlib level 1, about twice as fast to encode as RGBA at the default level 6 for a
    300-dpi page, about 6 % larger."""
    import numpy as np
    from matplotlib import __version__ as mpl_version
    from PIL import Image, PngImagePlugin

    page = getattr(fig, "cityplan_page", None)
    if page is None:
        static.save(fig, path)
        return
    dpi, before = page.spec.dpi, fig.dpi
    try:
        fig.set_dpi(dpi)
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        pixels = rgba[..., :3] if (rgba[..., 3] == 255).all() else rgba
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", f"Matplotlib version{mpl_version}, https://matplotlib.org/")
        Image.fromarray(np.ascontiguousarray(pixels)).save(path, format="png", compress_level=1, dpi=(dpi, dpi),
                                                           pnginfo=info)
    finally:
        fig.set_dpi(before)


def _side_work(figures: list[tuple[str, Callable]], pngs: list[Path]) -> None:
    """Build and write each page as PNG (in the forked process)."""
    for (_stem, make), png in zip(figures, pngs, strict=True):
        with atomic_path(png, overwrite=True) as tmp:
            _save_png(make(), tmp)


def _side_process(figures: list[tuple[str, Callable]], pngs: list[Path]):
    """A forked process doing :func:`_side_work`; None where processes cannot be forked."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    proc = multiprocessing.get_context("fork").Process(target=_side_work, args=(figures, pngs),
                                                       name="cityplan-report-pages", daemon=True)
    proc.start()
    return proc


def _write_report(rep: DistrictReport, shared: SharedInputs, folder: Path, *, formats: tuple[str, ...],
                  maps: bool, page: static.PageSpec | None, step: Callable[[str], None], workers: int = 1) -> None:
    children: list = []
    try:
        _write_files(rep, shared, folder, formats=formats, maps=maps, page=page, step=step, workers=workers,
                     children=children)
    except BaseException:
        for proc in children:  # a failed report leaves no process writing into its folder
            if proc.is_alive():
                proc.terminate()
                proc.join()
        raise


def _write_files(rep: DistrictReport, shared: SharedInputs, folder: Path, *, formats: tuple[str, ...],
                 maps: bool, page: static.PageSpec | None, step: Callable[[str], None], workers: int,
                 children: list) -> None:
    from cityplan.maps import district_map, save_map

    d = rep.district
    images: list[Path] = []
    child = None
    if maps:
        figures = [("map_overview", lambda: overview_figure(shared, d, page))] + [
            (f"map_coverage_{pid}", lambda pid=pid: coverage_figure(shared, d, pid, page)) for pid in shared.coverage]
        images = [folder / f"{stem}.png" for stem, _ in figures]
        cov = shared.coverage.get("ice-30min") or next(iter(shared.coverage.values()), None)

        def interactive() -> Path:
            return save_map(district_map(str(d["adcode"]), shared.onemap, offline=True, coverage=cov),
                            folder / "district_map.html", overwrite=True)

        # the PNG pages in a second process (forked: it has every input already) while this one
        # writes the PDF pages and the interactive map: a page's PNG and its PDF page are each
        # about half of its time
        # (this process writes the first page's PNG too: the two then take about as long)
        child = _side_process(figures[1:], images[1:]) if workers > 1 else None
        if child is not None:
            children.append(child)
        with atomic_path(folder / "maps.pdf", overwrite=True) as tmp, PdfPages(tmp) as pdf:
            for k, ((stem, make), png) in enumerate(zip(figures, images, strict=True)):
                fig = make()
                if child is None or k == 0:
                    with atomic_path(png, overwrite=True) as tmp_png:
                        _save_png(fig, tmp_png)
                static.save(fig, None, pdf)
                step(f"map {stem}")
        rep.files += [*images, folder / "maps.pdf", interactive()]
        step("interactive map")
    from cityplan.progress.report import district_history_charts

    history = district_history_charts(shared.progress_context, str(d["adcode"]), folder)
    rep.files += [f for p in history for f in (p, p.with_suffix(".svg"))]
    step("burn-up charts")
    if "html" in formats:
        with atomic_path(folder / "report.html", overwrite=True) as tmp:
            tmp.write_text(report_html(rep, shared, images, "district_map.html", history), encoding="utf-8")
        rep.files.append(folder / "report.html")
        step("report.html")
    if "xlsx" in formats:
        summary = pd.DataFrame([{"district": d["name"], "name_en": d.get("name_en"), "adcode": d["adcode"],
                                 "population": district_population(d.to_frame().T).iloc[0], "extract_share": d.get("extract_share"),
                                 "onemap_built_at": shared.build_info.get("built_at")}])
        langs = shared.languages
        rep.files.append(write_table(report_table(summary, langs), folder / "report.xlsx", overwrite=True,
                                     sheet_name="summary", sheets={  # same headers as the HTML (report/headers.py)
            "progress": report_table(rep.progress, langs), "last_reports": report_table(rep.reports, langs),
            "coverage": report_table(rep.coverage, langs), "uncovered": report_table(rep.uncovered, langs),
            "illustrative": report_table(rep.illustrative, langs), "sources": report_table(rep.sources, langs)}))
        step("report.xlsx")
    if child is not None:  # the PNG pages, written meanwhile
        child.join(PNG_TIMEOUT_S)
        if child.is_alive():
            child.terminate()
            child.join()
        if child.exitcode != 0:
            raise CityplanError(f"{folder}: the map pages (PNG) were not written (exit code {child.exitcode}; "
                                "see the messages above); run again with workers=1 to see the error here")
