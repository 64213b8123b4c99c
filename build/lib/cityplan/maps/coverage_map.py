"""The coverage map: per-district choropleth of the covered share, isochrone, gaps, facilities."""

from __future__ import annotations

import numpy as np

from cityplan.maps.payload import LayerView
from cityplan.maps.recipes import load_labels
from cityplan.maps.render import (
    GAP_STYLE,
    MapResult,
    compose,
    share_classes,
    share_color,
    source_credits,
)
from cityplan.onemap import OneMap

METHOD_NAMES = {"euclid": ("直线距离", "straight-line radius"), "walk": ("步行", "walking"),
                "bike": ("骑行", "cycling"), "drive": ("驾车", "driving"), "transit": ("公交+步行", "transit + walking")}


def reach_title(method: str, within: str) -> str:
    """The service-area layer named by its method: a straight-line radius is not a reachable area."""
    zh, en = METHOD_NAMES.get(method, (method, method))
    if method == "euclid":
        return f"{zh} {within} 缓冲区 Straight-line radius {within} (not a route)"
    return f"{zh} {within} 可达范围 Reachable by {en} within {within} (road network)"


def coverage_map(res, onemap=None, *, basemap="none", offline: bool = True) -> MapResult:
    """Map a :class:`~cityplan.coverage.CoverageResult` (polygon or point demand).

    Colours are colour-blind safe: the covered share in blues, the gaps in orange, newly
    covered demand and planned sites in purple. With point demand (compounds as points)
    the gaps are the demand points not covered.
    """
    onemap = OneMap.coerce(onemap)
    labels = {**load_labels(onemap.profile), "area_share": "住宅用地覆盖率 area share",
              "population_share": "人口覆盖率 population share", "distance_m": "距离 distance (m)",
              "time_min": "时间 time (min)", "nearest_facility": "最近设施 nearest",
              "covered_share": "覆盖比例 covered share", "status": "状态 status",
              "gap_area_m2": "未覆盖面积 gap (m²)", "population_uncovered": "未覆盖人口 people (est.)",
              "population": "人口(估算) population (est.)"}
    onemap = OneMap.coerce(onemap)
    districts = onemap.layer_for("districts")
    per = res.districts.set_index("adcode")
    metric = res.params.get("target_metric") or "area_share"
    if metric == "area_share" and not np.isfinite(per["area_share"].astype(float)).any():
        metric = "population_share"  # point demand has no residential land area
    d = districts.assign(area_share=districts["adcode"].astype(str).map(per["area_share"]),
                         population_share=districts["adcode"].astype(str).map(per["population_share"]))
    d["_color"] = [share_color(v) for v in d[metric].astype(float)]
    _, stops = share_classes()
    title = res.params.get("preset") or f"{res.params['method']} {res.params['within']}"
    feats = res.features[res.features.geometry.notna()]
    points = len(feats) > 0 and feats.geom_type.isin(["Point", "MultiPoint"]).all()
    gaps, gap_fields = res.gaps, ["district", "gap_area_m2", "population_uncovered"]
    if points:  # no land to cut: the gaps are the demand points left uncovered
        gaps = feats[~feats["covered"].astype(bool)]
        gap_fields = ["district", "population", "nearest_facility", "distance_m", "time_min", "status"]
    tag = f" ({res.scenario})" if getattr(res, "scenario", None) else ""
    views = [
        LayerView(id="coverage_districts", title=f"区县覆盖率 District {metric}{tag}", gdf=d, group="cov",
                  style={"color": "#333333", "weight": 2, "fillOpacity": 0.45}, color_column="_color",
                  fields=["name_en", "area_share", "population_share"], labels=labels,
                  source="cityplan coverage"),
        LayerView(id="coverage_isochrone", title=reach_title(res.params["method"], res.params["within"]) + tag,
                  gdf=res.isochrones, group="cov", style={"color": "#252525", "fill": "#ffffff",
                  "fillOpacity": 0.2, "weight": 1.5, "dash": "6 4"}, fields=["method", "within", "area_m2"],
                  labels=labels, source="cityplan coverage", simplify_m=1.0),
        LayerView(id="coverage_gaps", title=(f"未覆盖居住点 Demand points not covered{tag}" if points else
                                             f"未覆盖居住用地 Residential land not covered{tag}"), gdf=gaps,
                  group="cov", style={**GAP_STYLE, "radius": 5} if points else GAP_STYLE, fields=gap_fields,
                  labels=labels, source="cityplan coverage"),
        LayerView(id="coverage_demand", title="居住用地 Demand (residential)", gdf=feats, group="cov",
                  show=False, style={"color": "#666666", "fill": "#bbbbbb", "weight": 1},
                  fields=["district", "population", "nearest_facility", "distance_m", "time_min",
                          "covered_share", "status"], labels=labels, source=str(res.params.get("demand"))),
    ]
    fac = res.facilities.rename(columns={"facility_name": "name"})
    scen = fac["scenario"] if "scenario" in fac.columns else None
    existing = fac[scen == "existing"] if scen is not None else fac
    planned = fac[scen == "planned"] if scen is not None else fac.iloc[:0]
    fields = ["facility_layer", "facility_ref", "is_illustrative", "reachable"]
    src = ", ".join(res.params.get("facilities", []))
    views.append(LayerView(id="coverage_facilities", title="现有设施 Existing facilities (real)", gdf=existing,
                           group="cov", style={"color": "#1a1a1a", "fill": "#ffffff", "radius": 7, "weight": 2.5},
                           fields=[*fields, "scenario"], labels=labels, source=src))
    if len(planned):
        planned = planned.assign(illustrative=planned["is_illustrative"].astype(bool))
        views.append(LayerView(id="coverage_facilities_planned", title="规划设施 Planned facilities (dashed = illustrative 示意)",
                               gdf=planned, group="cov", style={"color": "#5e3c99", "fill": "#b2abd2", "radius": 5,
                                                                "weight": 2}, fields=[*fields, "scenario"],
                               labels=labels, source=src))
    if "newly_covered" in res.features.columns:
        new = feats[feats["newly_covered"].astype(bool)]
        views.insert(3, LayerView(id="coverage_newly_covered", title="规划后新覆盖 Newly covered by planned sites",
                                  gdf=new, group="cov", style={"color": "#5e3c99", "fill": "#b2abd2",
                                                               "fillOpacity": 0.7, "weight": 2},
                                  fields=["district", "population", "nearest_facility", "time_min", "status"],
                                  labels=labels, source="cityplan coverage (planned minus existing)"))
    scen_note = (f"scenario {res.scenario}: " + str(res.params.get("scenarios", {}).get(res.scenario, ""))
                 if getattr(res, "scenario", None) else "")
    notes = [f"method {res.params['method']}, within {res.params['within']}"
             + (f", speed {res.params['speed_kmh']} km/h" if res.params.get("speed_kmh") else ""),
             f"population: {res.params.get('population')}", scen_note]
    if res.params.get("citation"):
        notes.append(str(res.params["citation"]))
    tot = per.loc[""] if "" in per.index else None
    rows = [[r.district, r.population_share, r.area_share] for r in res.districts.itertuples()]
    panel = {"title": f"Coverage 覆盖分析: {title}", "subtitle": notes[0],
             "sections": [{"title": "By district 分区", "columns": ["district", "population share", "area share"],
                           "rows": rows}], "notes": notes[1:]}
    if tot is not None and np.isfinite(tot.get("area_share", np.nan)):
        panel["subtitle"] += f" · overall area share {tot['area_share']:.0%}"
    return compose(views, title=f"Coverage {title}", groups=[{"id": "cov", "title": "覆盖 Coverage"}],
                   basemap=basemap, offline=offline, panel=panel,
                   extra_legend=[{"title": f"{metric} 覆盖率", "stops": stops}],
                   attributions=source_credits(onemap, [], [onemap.layer_id_for("districts"),
                                                            *res.params.get("facilities", [])]))
