"""Check-up outputs: the table (CSV, XLSX, GeoParquet), errors, task times and the national overview map."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan.io.write import atomic_path, write_table

if TYPE_CHECKING:
    from cityplan.checkup.run import CheckupResult

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("checkup.csv", "checkup.xlsx", "checkup.parquet", "errors.csv", "tasks.csv", "overview.html")
ALL = "(all)"


def headline_scenario(table: pd.DataFrame) -> str | None:
    """The scenario the overview counts: ``existing`` (the city as it is) when present, else the first."""
    scen = [s for s in dict.fromkeys(table["scenario"].astype(str)) if s != "difference"]
    return "existing" if "existing" in scen else (scen[0] if scen else None)


#: how the overview names a scenario (the check-up's outputs are bilingual, Chinese first)
SCENARIO_WORDS = {"existing": "现有 existing (real facilities only)", "planned": "规划 planned (existing + plan sites)"}


def _met_counts(t: pd.DataFrame, scen: str | None) -> pd.DataFrame:
    sel = t[(t["scenario"] == scen) & (t["district"] != ALL) & t["target"].notna()] if scen else t.iloc[0:0]
    return sel.groupby("city")["met"].agg(checked="size", met=lambda s: int(s.fillna(False).sum()))


def city_summary(res: CheckupResult) -> pd.DataFrame:
    """Per city: district x preset pairs with a target, how many meet it, the share, and the status.

    The counts are the headline scenario's (``existing``: real facilities only, named in
    ``scenario_label``); the planned scenario's share met is beside them (``share_met_planned``:
    plan sites included, most of them illustrative)."""
    t = res.table
    scen = headline_scenario(t) if len(t) else None
    g = _met_counts(t, scen)
    gp = _met_counts(t, "planned") if len(t) and scen != "planned" and (t["scenario"] == "planned").any() else None
    rows = []
    failed = dict(zip(res.errors["city"], res.errors["error"], strict=False))
    for c in res.cities:
        checked = int(g["checked"].get(c.name, 0)) if len(g) else 0
        met = int(g["met"].get(c.name, 0)) if len(g) else 0
        p_checked = int(gp["checked"].get(c.name, 0)) if gp is not None and len(gp) else 0
        p_met = int(gp["met"].get(c.name, 0)) if gp is not None and len(gp) else 0
        rows.append({"city": c.name, "location": c.label, "scenario": scen or "",
                     "scenario_label": SCENARIO_WORDS.get(scen or "", scen or ""),
                     "district_targets_checked": checked, "district_targets_met": met,
                     "share_met": round(met / checked, 4) if checked else np.nan,
                     "share_met_planned": round(p_met / p_checked, 4) if p_checked else np.nan,
                     "status": "failed" if c.name in failed and c.name not in res.outlines else
                     ("partial" if c.name in failed else "ok"),
                     "error": failed.get(c.name, "")})
    return pd.DataFrame(rows)


def _outline_frame(res: CheckupResult) -> gpd.GeoDataFrame:
    """One row per city and district (lon/lat), plus the city's union as district ``(all)``."""
    parts = []
    for city, o in res.outlines.items():
        geoms = shapely.from_wkb(np.array(o["wkb"], dtype=object))
        parts.append(pd.DataFrame({"city": city, "adcode": [*o["adcode"], ""],
                                   "geometry": [*geoms, shapely.union_all(geoms)]}))
    if not parts:
        return gpd.GeoDataFrame({"city": [], "adcode": []}, geometry=[], crs=4326)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)


def geo_table(res: CheckupResult) -> gpd.GeoDataFrame:
    """The check-up table with each row's district geometry (the city's outline for ``(all)``)."""
    t = res.table.copy()
    key_adcode = np.where(t["district"].to_numpy() == ALL, "",
                          t["adcode"].astype(str).to_numpy() if "adcode" in t.columns else "")
    geo = _outline_frame(res)
    lookup = dict(zip(zip(geo["city"], geo["adcode"], strict=True), geo.geometry, strict=True))
    geoms = [lookup.get((c, a)) for c, a in zip(t["city"], key_adcode, strict=True)]
    return gpd.GeoDataFrame(t, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def overview_map(res: CheckupResult, *, offline: bool = True):
    """The national overview: one polygon per city coloured by the share of district targets met."""
    import branca.colormap as bcm

    from cityplan.maps.payload import LayerView
    from cityplan.maps.render import compose

    summary = city_summary(res)
    geo = _outline_frame(res)
    outline = geo[geo["adcode"] == ""][["city", "geometry"]]
    cities = gpd.GeoDataFrame(outline.merge(summary, on="city", how="left"), geometry="geometry", crs=4326)
    cmap = bcm.LinearColormap(["#d7191c", "#fdae61", "#a6d96a", "#1a9641"], vmin=0, vmax=1).to_step(5)
    cities["_color"] = [cmap(v)[:7] if v == v else "#bbbbbb" for v in cities["share_met"]]
    scen = summary["scenario"].iloc[0] if len(summary) else ""
    words = SCENARIO_WORDS.get(scen, scen)
    labels = {"city": "城市 city", "scenario_label": "情景 scenario",
              "district_targets_checked": f"考核项 district targets ({scen})",
              "district_targets_met": f"达标 met ({scen})", "share_met": f"达标率 share met ({words})",
              "share_met_planned": f"达标率 share met ({SCENARIO_WORDS['planned']}; plan sites mostly illustrative)",
              "status": "状态 status"}
    view = LayerView(id="checkup_cities", title=f"城市体检 达标率 Share of district targets met · {words}", gdf=cities,
                     group="checkup", style={"color": "#333333", "weight": 1, "fillOpacity": 0.7},
                     fields=["city", "scenario_label", "district_targets_checked", "district_targets_met", "share_met",
                             "share_met_planned", "status"],
                     labels=labels, source="cityplan checkup", color_column="_color", simplify_m=100.0)
    idx = cmap.index
    stops = [[f"{idx[i]:.0%}–{idx[i + 1]:.0%}", cmap(idx[i])[:7]] for i in range(len(idx) - 1)]
    stops.append(["no target checked", "#bbbbbb"])
    n_fail = int((summary["status"] == "failed").sum()) if len(summary) else 0
    return compose([view], title=f"城市体检 City check-up: {len(summary)} cities ({words})"
                   + (f", {n_fail} failed" if n_fail else ""),
                   groups=[{"id": "checkup", "title": "城市体检 Check-up"}], offline=offline,
                   extra_legend=[{"title": f"Share of district targets met 达标率 ({words})", "stops": stops}],
                   attributions=["© OpenStreetMap contributors"])


def write_checkup(res: CheckupResult, out: str | os.PathLike[str], *, overwrite: bool = False,
                  overview_map: bool = True) -> list[Path]:
    """Write :data:`OUTPUT_FILES` into ``out`` (each atomically); return the paths written."""
    from cityplan.maps.render import save_map

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    summary = city_summary(res)
    written = [
        write_table(res.table, folder / "checkup.csv", overwrite=overwrite),
        write_table(res.table, folder / "checkup.xlsx", overwrite=overwrite, sheet_name="checkup",
                    sheets={"cities": summary, "errors": res.errors}),
        write_table(res.errors, folder / "errors.csv", overwrite=overwrite),
        write_table(res.tasks, folder / "tasks.csv", overwrite=overwrite),
    ]
    with atomic_path(folder / "checkup.parquet", overwrite=overwrite) as tmp:
        geo_table(res).to_parquet(tmp, index=False)
    written.append(folder / "checkup.parquet")
    if overview_map:
        written.append(save_map(_overview(res), folder / "overview.html", overwrite=overwrite))
    return written


def _overview(res: CheckupResult):
    return overview_map(res)
