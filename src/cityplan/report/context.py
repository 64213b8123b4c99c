"""Context drawn under every printed district map: water, sub-districts and major roads with
their names, each credited with its catalog source and licence in the title block.

The layers are read, reprojected and clipped once per area (:func:`context_layers`); a report
draws the same context under each of its pages from that."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd

from cityplan.report import static
from cityplan.report.layout import label_text
from cityplan.text import languages_of


def _row(om, lid: str) -> dict:
    return dict(om.catalog_row(lid))


@dataclass
class ContextLayers:
    """The context of one area, ready to draw: ``(frame, catalog row)`` per role and where each
    major road's name goes."""

    water: tuple[gpd.GeoDataFrame, dict] | None = None
    subdistricts: tuple[gpd.GeoDataFrame, dict] | None = None
    roads: tuple[gpd.GeoDataFrame, dict] | None = None
    road_labels: list[tuple[float, float, float, str]] = field(default_factory=list)
    languages: tuple[str, ...] = field(default_factory=tuple)


def context_layers(om, area: gpd.GeoDataFrame, *, pad_m: float = 4000.0) -> ContextLayers:
    """Read the layers with roles ``water``, ``subdistricts`` and ``roads`` (major classes) around
    ``area``, in the working CRS."""
    crs = om.working_crs
    out = ContextLayers(languages=tuple(languages_of(om)))  # labels in the city's languages
    box = tuple(area.to_crs(crs).buffer(pad_m).total_bounds)
    water_id = om.layer_id_for("water", required=False)
    if water_id is not None:
        out.water = (om.layer(water_id).to_crs(crs).clip(box), _row(om, water_id))
    sub_id = om.layer_id_for("subdistricts", required=False)
    if sub_id is not None:
        subs = om.layer(sub_id).to_crs(crs)
        out.subdistricts = (subs[subs.intersects(area.to_crs(crs).union_all().buffer(-50))], _row(om, sub_id))
    road_id = om.layer_id_for("roads", required=False)
    if road_id is not None:
        roads = om.layer(road_id)
        if "highway" in roads.columns:
            major = roads[roads["highway"].isin(static.MAJOR_ROAD_CLASSES)].to_crs(crs).clip(box)
            out.roads = (major, _row(om, road_id))
            if "name" in major.columns:
                out.road_labels = road_labels(major)
    return out


def road_labels(roads: gpd.GeoDataFrame, *, min_length_m: float = 400.0) -> list[tuple[float, float, float, str]]:
    """Where :func:`static.label_lines` names each named road (metric CRS): ``(x, y, angle, name)`` at
    the middle of its longest merged piece, none for a road shorter than ``min_length_m``."""
    return static.line_label_places(roads, "name", min_length_m=min_length_m)


def _draw_road_labels(ax, labels: list[tuple[float, float, float, str]], *, size: float = 5.5) -> None:
    """The labels of :func:`road_labels`, drawn as :func:`static.label_lines` draws them."""
    static.draw_line_labels(ax, labels, size=size)


def draw_context(ax, om, area: gpd.GeoDataFrame, *, pad_m: float = 4000.0,
                 layers: ContextLayers | None = None) -> list:
    """Draw the layers with roles ``water``, ``subdistricts`` (labelled) and ``roads`` (major
    classes, labelled) around ``area`` (``layers``: read before by :func:`context_layers`, with the
    road labels placed);
    returns legend handles."""
    ctx = layers if layers is not None else context_layers(om, area, pad_m=pad_m)
    langs = ctx.languages
    handles = []
    if ctx.water is not None:
        water, row = ctx.water
        handles.append(static.plot_layer(ax, water, {"color": "#1f78b4", "fill": "#a6cee3", "weight": 0.5,
                                                     "label": label_text(row["title_zh"], row["title_en"], langs)},
                                         zorder=1, source=row))
    if ctx.subdistricts is not None:
        subs, row = ctx.subdistricts
        handles.append(static.plot_layer(ax, subs, {"color": "#888888", "fill": None, "weight": 0.4,
                                                    "label": label_text(row["title_zh"], row["title_en"], langs)},
                                         zorder=4, source=row))
        static.label_areas(ax, subs)
    if ctx.roads is not None:
        major, row = ctx.roads
        handles.append(static.plot_layer(ax, major, {"color": "#b15928", "weight": 0.9,
                                                     "label": label_text("主要道路", "Major roads", langs)},
                                         zorder=3, source=row))
        _draw_road_labels(ax, ctx.road_labels)
    return [h for h in handles if h is not None]
