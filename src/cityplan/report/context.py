"""Context drawn under every printed district map: water, sub-districts and major roads with
their names, each credited with its catalog source and licence in the title block."""

from __future__ import annotations

import geopandas as gpd

from cityplan.report import static
from cityplan.report.layout import label_text
from cityplan.text import languages_of


def _row(om, lid: str) -> dict:
    return dict(om.catalog_row(lid))


def draw_context(ax, om, area: gpd.GeoDataFrame, *, pad_m: float = 4000.0) -> list:
    """Draw the layers with roles ``water``, ``subdistricts`` (labelled) and ``roads`` (major
    classes, labelled) around ``area``; returns legend handles."""
    crs = om.working_crs
    langs = languages_of(om)  # labels in the city's languages (Harbin: 中文 English, as before)
    box = tuple(area.to_crs(crs).buffer(pad_m).total_bounds)
    handles = []
    water_id = om.layer_id_for("water", required=False)
    if water_id is not None:
        row = _row(om, water_id)
        water = om.layer(water_id).to_crs(crs).clip(box)
        handles.append(static.plot_layer(ax, water, {"color": "#1f78b4", "fill": "#a6cee3", "weight": 0.5,
                                                     "label": label_text(row["title_zh"], row["title_en"], langs)},
                                         zorder=1, source=row))
    sub_id = om.layer_id_for("subdistricts", required=False)
    if sub_id is not None:
        row = _row(om, sub_id)
        subs = om.layer(sub_id).to_crs(crs)
        subs = subs[subs.intersects(area.to_crs(crs).union_all().buffer(-50))]
        handles.append(static.plot_layer(ax, subs, {"color": "#888888", "fill": None, "weight": 0.4,
                                                    "label": label_text(row["title_zh"], row["title_en"], langs)},
                                         zorder=4, source=row))
        static.label_areas(ax, subs)
    road_id = om.layer_id_for("roads", required=False)
    if road_id is not None:
        row = _row(om, road_id)
        roads = om.layer(road_id)
        if "highway" in roads.columns:
            major = roads[roads["highway"].isin(static.MAJOR_ROAD_CLASSES)].to_crs(crs).clip(box)
            handles.append(static.plot_layer(ax, major, {"color": "#b15928", "weight": 0.9,
                                                         "label": label_text("主要道路", "Major roads", langs)},
                                             zorder=3, source=row))
            static.label_lines(ax, major)
    return [h for h in handles if h is not None]
