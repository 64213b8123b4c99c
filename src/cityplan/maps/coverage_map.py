"""The coverage map: per-district choropleth of the covered share, isochrone, gaps, facilities."""

from __future__ import annotations

import numpy as np

from cityplan.coverage.run import (
    HEADLINE,
    SCENARIO_NAMES,
    covered_definition,
    planned_basis,
    scenario_label,
)
from cityplan.maps.payload import LayerView
from cityplan.maps.render import (
    GAP_STYLE,
    MapResult,
    compose,
    map_labels,
    share_classes,
    share_color,
    source_credits,
)
from cityplan.onemap import OneMap
from cityplan.text import bilingual, languages_of, localize

METHOD_NAMES = {"euclid": ("直线距离", "straight-line radius"), "walk": ("步行", "walking"),
                "bike": ("骑行", "cycling"), "drive": ("驾车", "driving"), "transit": ("公交+步行", "transit + walking")}


def reach_title(method: str, within: str, languages=None) -> str:
    """The service-area layer named by its method: a straight-line radius is not a reachable area
    (in the city's ``languages``; default Chinese and English)."""
    zh, en = METHOD_NAMES.get(method, (method, method))
    if method == "euclid":
        return bilingual(f"{zh} {within} 缓冲区", f"Straight-line radius {within} (not a route)", languages)
    return bilingual(f"{zh} {within} 可达范围", f"Reachable by {en} within {within} (road network)", languages)


def coverage_map(res, onemap=None, *, basemap="none", offline: bool = True) -> MapResult:
    """Map a :class:`~cityplan.coverage.CoverageResult` (polygon or point demand).

    Colours are colour-blind safe: the covered share in blues, the gaps in orange, newly
    covered demand and planned sites in purple. With point demand (compounds as points)
    the gaps are the demand points not covered.
    """
    onemap = OneMap.coerce(onemap)
    langs = languages_of(onemap)
    head = getattr(res, "scenario", None) or HEADLINE
    labels = map_labels(onemap, {
        "area_share": f"住宅用地覆盖率({SCENARIO_NAMES[head][0]}) area share ({head})",
        "population_share": f"人口覆盖率({SCENARIO_NAMES[head][0]}) population share ({head})",
        "planned_area_share": "住宅用地覆盖率(规划) area share (planned)",
        "planned_population_share": "人口覆盖率(规划) population share (planned)",
        "distance_m": "距离 distance (m)", "time_min": "时间 time (min)", "nearest_facility": "最近设施 nearest",
        "covered_share": "服务范围内用地比例 land in service area (share)",
        "covered": "覆盖(入口在时限内可达) covered (entrance reached within the limit)",
        "status": "状态 status", "gap_area_m2": "未覆盖面积 gap (m²)",
        "population_uncovered": "未覆盖人口 people (est.)", "population": "人口(估算) population (est.)"})
    districts = onemap.layer_for("districts")
    per = res.districts.set_index("adcode")
    metric = res.params.get("target_metric") or "area_share"
    if metric == "area_share" and not np.isfinite(per["area_share"].astype(float)).any():
        metric = "population_share"  # point demand has no residential land area
    codes = districts["adcode"].astype(str)
    d = districts.assign(area_share=codes.map(per["area_share"]), population_share=codes.map(per["population_share"]))
    planned_rows = res.scenario_rows("planned") if head != "planned" and hasattr(res, "scenario_rows") else None
    planned_fields: list[str] = []
    if planned_rows is not None and len(planned_rows):
        pp = planned_rows.set_index(planned_rows["adcode"].astype(str))
        d["planned_area_share"] = codes.map(pp["area_share"])
        d["planned_population_share"] = codes.map(pp["population_share"])
        planned_fields = ["planned_population_share", "planned_area_share"]
    d["_color"] = [share_color(v) for v in d[metric].astype(float)]
    _, stops = share_classes(langs)
    title = res.params.get("preset") or f"{res.params['method']} {res.params['within']}"
    feats = res.features[res.features.geometry.notna()]
    points = len(feats) > 0 and feats.geom_type.isin(["Point", "MultiPoint"]).all()
    gaps, gap_fields = res.gaps, ["district", "gap_area_m2", "population_uncovered"]
    if points:  # no land to cut: the gaps are the demand points left uncovered
        gaps = feats[~feats["covered"].astype(bool)]
        gap_fields = ["district", "population", "nearest_facility", "distance_m", "time_min", "status"]
    tag = f" · {scenario_label(head, langs)}"
    views = [
        LayerView(id="coverage_districts", title=bilingual("区县覆盖率", f"District {metric}", langs) + tag, gdf=d,
                  group="cov",
                  style={"color": "#333333", "weight": 2, "fillOpacity": 0.45}, color_column="_color",
                  fields=["name_en", "population_share", "area_share", *planned_fields], labels=labels,
                  source="cityplan coverage"),
        LayerView(id="coverage_isochrone", title=reach_title(res.params["method"], res.params["within"], langs) + tag,
                  gdf=res.isochrones, group="cov", style={"color": "#252525", "fill": "#ffffff",
                  "fillOpacity": 0.2, "weight": 1.5, "dash": "6 4"}, fields=["method", "within", "area_m2"],
                  labels=labels, source="cityplan coverage", simplify_m=1.0),
        LayerView(id="coverage_gaps", title=(localize("未覆盖居住点 Demand points not covered", langs) if points else
                                             localize("未覆盖居住用地 Residential land not covered", langs)) + tag,
                  gdf=gaps,
                  group="cov", style={**GAP_STYLE, "radius": 5} if points else GAP_STYLE, fields=gap_fields,
                  labels=labels, source="cityplan coverage"),
        LayerView(id="coverage_demand", title=localize("居住用地 Demand (residential)", langs), gdf=feats, group="cov",
                  show=False, style={"color": "#666666", "fill": "#bbbbbb", "weight": 1},
                  fields=["district", "population", "nearest_facility", "distance_m", "time_min",
                          "covered", "covered_share", "status"], labels=labels, source=str(res.params.get("demand"))),
    ]
    fac = res.facilities.rename(columns={"facility_name": "name"})
    scen = fac["scenario"] if "scenario" in fac.columns else None
    existing = fac[scen == "existing"] if scen is not None else fac
    planned = fac[scen == "planned"] if scen is not None else fac.iloc[:0]
    fields = ["facility_layer", "facility_ref", "is_illustrative", "reachable"]
    src = ", ".join(res.params.get("facilities", []))
    views.append(LayerView(id="coverage_facilities", title=localize("现有设施 Existing facilities (real)", langs),
                           gdf=existing,
                           group="cov", style={"color": "#1a1a1a", "fill": "#ffffff", "radius": 7, "weight": 2.5},
                           fields=[*fields, "scenario"], labels=labels, source=src))
    if len(planned):
        planned = planned.assign(illustrative=planned["is_illustrative"].astype(bool))
        views.append(LayerView(id="coverage_facilities_planned",
                               title=bilingual("规划设施", "Planned facilities (dashed = illustrative)", langs,
                                               legacy="规划设施 Planned facilities (dashed = illustrative 示意)"),
                               gdf=planned, group="cov", style={"color": "#5e3c99", "fill": "#b2abd2", "radius": 5,
                                                                "weight": 2}, fields=[*fields, "scenario"],
                               labels=labels, source=src))
    if "newly_covered" in res.features.columns:
        new = feats[feats["newly_covered"].astype(bool)]
        views.insert(3, LayerView(id="coverage_newly_covered",
                                  title=localize("规划后新覆盖 Newly covered by planned sites", langs),
                                  gdf=new, group="cov", style={"color": "#5e3c99", "fill": "#b2abd2",
                                                               "fillOpacity": 0.7, "weight": 2},
                                  fields=["district", "population", "nearest_facility", "time_min", "status"],
                                  labels=labels, source="cityplan coverage (planned minus existing)"))
    scen_text = res.params.get("scenarios", {})
    scen_notes = [f"{scenario_label(head, langs)}: {scen_text.get(head, '')}"]
    if planned_fields:
        scen_notes.append(f"{scenario_label('planned', langs)}: {scen_text.get('planned', '')}; "
                          f"{planned_basis(res.params, langs)}")
    notes = [f"method {res.params['method']}, within {res.params['within']}"
             + (f", speed {res.params['speed_kmh']} km/h" if res.params.get("speed_kmh") else ""),
             f"population: {res.params.get('population')}", *scen_notes, covered_definition(langs)]
    if res.params.get("citation"):
        notes.append(str(res.params["citation"]))
    pr = planned_rows.set_index("adcode") if planned_fields else None
    rows = [[r.district, r.population_share, r.area_share]
            + ([pr.loc[r.adcode, "population_share"], pr.loc[r.adcode, "area_share"]]
               if pr is not None and r.adcode in pr.index else [])
            for r in res.districts.itertuples()]
    short = {s: bilingual(SCENARIO_NAMES[s][0], s, langs) for s in SCENARIO_NAMES}
    columns = ["district", f"{short[head]}: population share", f"{short[head]}: area share"]
    if planned_fields:
        columns += [f"{short['planned']}: population share", f"{short['planned']}: area share"]
    panel = {"title": bilingual("覆盖分析", "Coverage", langs, legacy="Coverage 覆盖分析") + f": {title}",
             "subtitle": notes[0],
             "sections": [{"title": bilingual("分区", "By district", langs, legacy="By district 分区")
                           + f" — {scenario_label(head, langs)}"
                           + (f"; {scenario_label('planned', langs)}" if planned_fields else ""),
                           "columns": columns, "rows": rows}], "notes": notes[1:]}
    if hasattr(res, "headline_text") and head == HEADLINE:
        what = "population share" if res.share_metric == "population_share" else "land share"
        panel["subtitle"] += f" · {what}: {res.headline_text(None, langs)}"
    tot = per.loc[""] if "" in per.index else None
    if tot is not None and np.isfinite(tot.get("area_share", np.nan)):
        panel["subtitle"] += f" · {scenario_label(head, langs)} area share {tot['area_share']:.1%}"
    return compose(views, title=f"Coverage {title}", groups=[{"id": "cov", "title": localize("覆盖 Coverage", langs)}],
                   basemap=basemap, offline=offline, panel=panel, languages=langs,
                   extra_legend=[{"title": bilingual("覆盖率", metric, langs, legacy=f"{metric} 覆盖率"),
                                  "stops": stops}],
                   attributions=source_credits(onemap, [], [onemap.layer_id_for("districts"),
                                                            *res.params.get("facilities", [])]))
