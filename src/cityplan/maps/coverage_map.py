"""The coverage map: per-district choropleth of the covered share, isochrone, gaps, facilities."""

from __future__ import annotations

import branca.colormap as bcm
import numpy as np

from cityplan.maps.payload import LayerView
from cityplan.maps.recipes import load_labels
from cityplan.maps.render import MapResult, compose, source_credits
from cityplan.onemap import OneMap


def coverage_map(res, onemap=None, *, basemap: str = "none", offline: bool = True) -> MapResult:
    """Map a :class:`~cityplan.coverage.CoverageResult`."""
    labels = {**load_labels(), "area_share": "住宅用地覆盖率 area share",
              "population_share": "人口覆盖率 population share", "distance_m": "距离 distance (m)",
              "time_min": "时间 time (min)", "nearest_facility": "最近设施 nearest",
              "covered_share": "覆盖比例 covered share", "status": "状态 status",
              "gap_area_m2": "未覆盖面积 gap (m²)", "population_uncovered": "未覆盖人口 people (est.)",
              "population": "人口(估算) population (est.)"}
    onemap = OneMap.coerce(onemap)
    districts = onemap.layer_for("districts")
    per = res.districts.set_index("adcode")
    metric = res.params.get("target_metric") or "area_share"
    d = districts.assign(area_share=districts["adcode"].astype(str).map(per["area_share"]),
                         population_share=districts["adcode"].astype(str).map(per["population_share"]))
    cmap = bcm.LinearColormap(["#d7191c", "#fdae61", "#a6d96a", "#1a9641"], vmin=0, vmax=1).to_step(5)
    d["_color"] = [cmap(v)[:7] if v == v else "#cccccc" for v in d[metric]]
    idx = cmap.index
    stops = [[f"{idx[i]:.0%}–{idx[i + 1]:.0%}", cmap(idx[i])[:7]] for i in range(len(idx) - 1)]
    title = res.params.get("preset") or f"{res.params['method']} {res.params['within']}"
    feats = res.features[res.features.geometry.notna()]
    tag = f" ({res.scenario})" if getattr(res, "scenario", None) else ""
    views = [
        LayerView(id="coverage_districts", title=f"区县覆盖率 District {metric}{tag}", gdf=d, group="cov",
                  style={"color": "#333333", "weight": 2, "fillOpacity": 0.45}, color_column="_color",
                  fields=["name_en", "area_share", "population_share"], labels=labels,
                  source="cityplan coverage"),
        LayerView(id="coverage_isochrone", title=f"服务范围 Reachable within {res.params['within']}{tag}",
                  gdf=res.isochrones, group="cov", style={"color": "#2c7fb8", "fill": "#7fcdbb",
                  "fillOpacity": 0.25, "weight": 1}, fields=["method", "within", "area_m2"], labels=labels,
                  source="cityplan coverage", simplify_m=1.0),
        LayerView(id="coverage_gaps", title=f"未覆盖居住用地 Residential land not covered{tag}", gdf=res.gaps,
                  group="cov", style={"color": "#b2182b", "fill": "#ef8a62", "fillOpacity": 0.6,
                  "weight": 1}, fields=["district", "gap_area_m2", "population_uncovered"], labels=labels,
                  source="cityplan coverage"),
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
                           group="cov", style={"color": "#1a1a1a", "fill": "#ffff33", "radius": 7, "weight": 2},
                           fields=[*fields, "scenario"], labels=labels, source=src))
    if len(planned):
        planned = planned.assign(illustrative=planned["is_illustrative"].astype(bool))
        views.append(LayerView(id="coverage_facilities_planned", title="规划设施 Planned facilities (dashed = illustrative 示意)",
                               gdf=planned, group="cov", style={"color": "#6a3d9a", "fill": "#cab2d6", "radius": 5,
                                                                "weight": 2}, fields=[*fields, "scenario"],
                               labels=labels, source=src))
    if "newly_covered" in res.features.columns:
        new = feats[feats["newly_covered"].astype(bool)]
        views.insert(3, LayerView(id="coverage_newly_covered", title="规划后新覆盖 Newly covered by planned sites",
                                  gdf=new, group="cov", style={"color": "#1b7837", "fill": "#5aae61",
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
                   attributions=source_credits(onemap, []) + ["© OpenStreetMap contributors"])
