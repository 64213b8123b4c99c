"""Print-quality static maps with matplotlib in the metric CRS: legend, scale bar, north arrow."""

from __future__ import annotations

import datetime as dt
import logging

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib_scalebar.scalebar import ScaleBar  # noqa: E402
from pyproj import CRS  # noqa: E402

logger = logging.getLogger(__name__)
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN")
ATTRIBUTION = "© OpenStreetMap contributors (ODbL); census: NBS 2020; cityplan"


def cjk_font() -> str | None:
    """A CJK-capable font installed on this machine, if any (labels fall back to English)."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FONTS if f in names), None)


def label(zh: str, en: str) -> str:
    """Bilingual label when a CJK font exists, English otherwise (no tofu boxes in print)."""
    return f"{zh} {en}" if cjk_font() else en


def new_map(title: str, *, crs: CRS, figsize=(8.27, 8.27)):
    """A figure with one axis in the metric ``crs`` (the one map's working CRS); title, date, attribution."""
    font = cjk_font()
    if font:
        plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=13, loc="left")
    code = crs.to_epsg()
    fig.text(0.01, 0.01, f"{dt.date.today().isoformat()} · {f'EPSG:{code}' if code else crs.name} · {ATTRIBUTION}",
             fontsize=7, color="#555555")
    ax.cityplan_crs = crs  # plot_layer projects into the axis' CRS
    return fig, ax


def finish(ax, handles: list) -> None:
    """Legend, scale bar (metres: the axis is metric) and north arrow."""
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.9)
    ax.add_artist(ScaleBar(1.0, units="m", location="lower right", length_fraction=0.25, box_alpha=0.8))
    ax.annotate("N", xy=(0.95, 0.96), xytext=(0.95, 0.86), xycoords="axes fraction", ha="center",
                va="center", fontsize=12, fontweight="bold", gid="north_arrow",
                arrowprops={"facecolor": "black", "width": 4, "headwidth": 12, "headlength": 10})


def plot_layer(ax, gdf: gpd.GeoDataFrame, style: dict, *, illustrative: bool = False, zorder: int = 2):
    """Draw one layer (metric CRS) and return its legend handle."""
    if gdf.empty:
        return None
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


def save(fig, png, pdf_pages=None, dpi: int = 150) -> None:
    """Write the PNG (and a page of the district PDF)."""
    fig.savefig(png, dpi=dpi, bbox_inches="tight", format="png")
    if pdf_pages is not None:
        pdf_pages.savefig(fig, bbox_inches="tight")
    plt.close(fig)
