"""Print-quality static maps with matplotlib in the metric CRS, laid out on paper (A4/A3) at a true
numeric scale with a 图框 title block (:mod:`cityplan.report.layout`); Chinese text in the CJK font
a pip dependency ships (:mod:`cityplan.fonts`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import matplotlib
import matplotlib.patheffects as pe
import shapely
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from pyproj import CRS

from cityplan.fonts import cjk_font, cjk_rc
from cityplan.report.layout import PageSpec, new_page, save_page, set_scale, title_block

logger = logging.getLogger(__name__)
__all__ = ["MAJOR_ROAD_CLASSES", "PageSpec", "cjk_font", "finish", "label", "label_areas", "label_lines",
           "new_map", "plot_layer", "save"]
#: OSM ``highway`` classes labelled as major roads
MAJOR_ROAD_CLASSES = ("motorway", "trunk", "primary")
_HALO = [pe.withStroke(linewidth=2, foreground="white")]


def label(zh: str, en: str) -> str:
    """Bilingual label when a CJK font exists (the shipped one does), English otherwise (no tofu)."""
    return f"{zh} {en}".strip() if cjk_font() else en


def new_map(title: str, *, crs: CRS, page: PageSpec | None = None, subtitle: str = ""):
    """A page (default A4 portrait, scale auto, 300 dpi) with a data frame in the metric ``crs``."""
    return new_page(title, crs=crs, spec=page or PageSpec(), subtitle=subtitle)


def finish(ax, handles: list, bounds: tuple[float, float, float, float] | None = None) -> int:
    """Set the true scale for ``bounds`` (default: the axis' limits) and draw the title block with
    the legend outside the frame; returns the scale denominator."""
    n = set_scale(ax, bounds)
    title_block(ax, handles)
    return n


def plot_layer(ax, gdf: gpd.GeoDataFrame, style: dict, *, illustrative: bool = False, zorder: int = 2,
               source: Mapping[str, Any] | None = None):
    """Draw one layer (metric CRS) and return its legend handle; ``source`` (a catalog row) is
    credited in the title block."""
    page = getattr(ax, "cityplan_page", None)
    if gdf.empty:
        return None
    if page is not None:
        page.add_source(dict(source) if source is not None else None)
        page.illustrative |= bool(illustrative)
    g = gdf.to_crs(ax.cityplan_crs)
    color = style.get("color", "#3366cc")
    fill = style.get("fill", color)
    ls = "--" if illustrative or style.get("dash") else "-"
    kind = g.geom_type.iloc[0]
    if "Point" in kind:
        g.plot(ax=ax, color=color, markersize=style.get("radius", 4) * 4, zorder=zorder)
        return Line2D([], [], marker="o", ls="", color=color, label=style["label"])
    if "Line" in kind:
        g.plot(ax=ax, color=color, linewidth=style.get("weight", 1.5), linestyle=ls, zorder=zorder)
        return Line2D([], [], color=color, ls=ls, label=style["label"])
    g.plot(ax=ax, facecolor=fill if fill else "none", edgecolor=color, linewidth=style.get("weight", 1),
           linestyle=ls, alpha=style.get("alpha", 0.6), zorder=zorder)
    return Patch(facecolor=fill if fill else "none", edgecolor=color, linestyle=ls, label=style["label"])


def label_areas(ax, gdf: gpd.GeoDataFrame, column: str = "name", *, size: float = 6.5,
                color: str = "#444444") -> int:
    """Name each polygon at its representative point (e.g. sub-districts); returns labels drawn."""
    if gdf.empty or column not in gdf.columns:
        return 0
    g = gdf.to_crs(ax.cityplan_crs)
    n = 0
    for name, geom in zip(g[column], g.geometry, strict=True):
        if not isinstance(name, str) or not name or geom is None or geom.is_empty:
            continue
        p = geom.representative_point()
        ax.text(p.x, p.y, name, fontsize=size, color=color, ha="center", va="center", zorder=8,
                path_effects=_HALO, clip_on=True, gid="area_label")
        n += 1
    return n


def line_label_places(gdf: gpd.GeoDataFrame, column: str = "name", *,
                      min_length_m: float = 400.0) -> list[tuple[float, float, float, str]]:
    """Where each named line (e.g. a major road; metric CRS) is named once: ``(x, y, angle, name)``
    at the middle of its longest merged piece, none for a line shorter than ``min_length_m``."""
    out: list[tuple[float, float, float, str]] = []
    if gdf.empty or column not in gdf.columns:  # (a mask of an empty object Series would select columns)
        return out
    g = gdf[gdf[column].map(lambda v: isinstance(v, str) and bool(v)).astype(bool).to_numpy()]
    for name, part in g.groupby(column):
        merged = shapely.line_merge(shapely.union_all(part.geometry.to_numpy()))
        pieces = [p for p in shapely.get_parts(merged) if p.geom_type == "LineString"]
        if not pieces:
            continue
        line = max(pieces, key=lambda p: p.length)
        if line.length < min_length_m:
            continue
        mid = line.interpolate(0.5, normalized=True)
        a, b = line.interpolate(0.45, normalized=True), line.interpolate(0.55, normalized=True)
        out.append((mid.x, mid.y, _angle(a, b), str(name)))
    return out


def draw_line_labels(ax, places: list[tuple[float, float, float, str]], *, size: float = 5.5) -> int:
    """Draw the labels :func:`line_label_places` placed; returns how many."""
    for x, y, angle, name in places:
        ax.text(x, y, name, fontsize=size, rotation=angle, rotation_mode="anchor", ha="center", va="center",
                color="#222222", zorder=8, path_effects=_HALO, clip_on=True, gid="road_label")
    return len(places)


def label_lines(ax, gdf: gpd.GeoDataFrame, column: str = "name", *, size: float = 5.5,
                min_length_m: float = 400.0) -> int:
    """Name each named line once (e.g. major roads), along its longest merged piece."""
    if gdf.empty or column not in gdf.columns:
        return 0
    places = line_label_places(gdf.to_crs(ax.cityplan_crs), column, min_length_m=min_length_m)
    return draw_line_labels(ax, places, size=size)


def _angle(a, b) -> float:
    import math

    deg = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
    return deg - 180 if deg > 90 else deg + 180 if deg < -90 else deg


def save(fig, png, pdf_pages=None, dpi: int | None = None) -> None:
    """Write the page (PNG at the page's dpi, and a page of a PDF) at exact paper size."""
    if getattr(fig, "cityplan_page", None) is not None:
        save_page(fig, png, pdf_pages)
        return
    with matplotlib.rc_context(cjk_rc()):
        fig.savefig(png, dpi=dpi or 150, bbox_inches="tight", format="png")
        if pdf_pages is not None:
            pdf_pages.savefig(fig, bbox_inches="tight")
