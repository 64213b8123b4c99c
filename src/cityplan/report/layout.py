"""Print layouts: a paper page (A4/A3) with a data frame at a true numeric scale and a 图框 title block.

The data frame's size on paper is fixed in millimetres and its axis limits are set to
``frame_mm × N / 1000`` metres, so 1 cm on paper is exactly ``N / 100`` m on the ground (in the
one map's metric CRS). The title block below the frame holds the title, the numeric scale and a
scale bar, the north arrow, the CRS, the date, the legend (outside the data: it never covers it),
and the data sources with their licences and the 示意 note for illustrative data.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from matplotlib.patches import FancyArrow, Rectangle
from pyproj import CRS

from cityplan._errors import CityplanError
from cityplan.fonts import agg_figure, cjk_figures, cjk_font
from cityplan.text import BOTH, bilingual, languages_of

MM_PER_INCH = 25.4
PAPERS_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
ORIENTATIONS = ("portrait", "landscape")
#: scales ``auto`` chooses from (the smallest that fits the data)
NICE_SCALES = (500, 1000, 2000, 2500, 5000, 7500, 10000, 15000, 20000, 25000, 30000, 40000, 50000, 60000, 75000,
               100000, 150000, 200000, 250000, 500000, 1000000)
MARGIN_MM = 10.0
GAP_MM = 3.0
ILLUSTRATIVE_NOTE = "示意 Illustrative: features marked 示意 are placed by documented rules, not surveyed project sites"
#: the title block's texts (Chinese, English), in the city's languages (:func:`block_text`)
BLOCK_TEXTS = {
    "scale": ("比例尺", "Scale"),
    "crs": ("坐标系", "CRS"),
    "date": ("日期", "Date"),
    "legend": ("图例", "Legend"),
    "sources": ("数据来源与许可", "Sources and licences"),
    "north": ("北", "N"),
    "restricted": ("不得再分发", "not for redistribution: internal use only"),
    "illustrative": ("示意: 标注示意的要素按既定规则布设, 并非实测项目点位",
                     "Illustrative: features marked illustrative (dashed) are placed by documented rules, not "
                     "surveyed project sites"),
}


def block_text(key: str, languages=None) -> str:
    """A title-block text in the page's ``languages`` (Chinese first for a bilingual city, as printed
    so far; English alone when a Chinese-reading page has no CJK font)."""
    langs = languages_of(languages)
    zh, en = BLOCK_TEXTS[key]
    if set(BOTH) <= set(langs):
        legacy = {"north": "N 北", "restricted": "不得再分发 not for redistribution: internal use only",
                  "illustrative": ILLUSTRATIVE_NOTE}.get(key, f"{zh} {en}")
        return legacy
    if "zh" in langs and not cjk_font():
        langs = ("en",)
    return bilingual(zh, en, langs)


def label_text(zh: str, en: str, languages=None) -> str:
    """A legend label of a printed map in the city's ``languages``: ``中文 English`` for a bilingual
    city (English alone without a CJK font: no empty boxes), one language otherwise."""
    langs = languages_of(languages)
    if set(BOTH) <= set(langs):
        return f"{zh} {en}".strip() if cjk_font() else en
    return bilingual(zh, en, langs) if "zh" not in langs or cjk_font() else en


@dataclass(frozen=True)
class PageSpec:
    """Paper, orientation, numeric scale (``None`` = auto) and raster resolution."""

    paper: str = "A4"
    orientation: str = "portrait"
    scale: int | None = None
    dpi: int = 300

    def __post_init__(self) -> None:
        if self.paper not in PAPERS_MM:
            msg = f"--paper {self.paper!r} is unknown; use one of {list(PAPERS_MM)}"
            raise CityplanError(msg)
        if self.orientation not in ORIENTATIONS:
            msg = f"--orientation {self.orientation!r} is unknown; use portrait or landscape"
            raise CityplanError(msg)
        if self.scale is not None and not (isinstance(self.scale, int) and self.scale >= 100):
            msg = f"--scale 1:{self.scale!r} is not a usable map scale; give e.g. 1:2000 or auto"
            raise CityplanError(msg)
        if not (isinstance(self.dpi, int) and 50 <= self.dpi <= 1200):
            msg = f"--dpi {self.dpi!r} must be a whole number from 50 to 1200, e.g. 300"
            raise CityplanError(msg)

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) of the page in millimetres."""
        w, h = PAPERS_MM[self.paper]
        return (h, w) if self.orientation == "landscape" else (w, h)

    @property
    def block_mm(self) -> float:
        """Height of the title block."""
        return 58.0 if self.paper == "A3" else 52.0

    @property
    def frame_mm(self) -> tuple[float, float, float, float]:
        """Data frame (left, bottom, width, height) in millimetres from the page's lower left."""
        w, h = self.size_mm
        bottom = MARGIN_MM + self.block_mm + GAP_MM
        return MARGIN_MM, bottom, w - 2 * MARGIN_MM, h - MARGIN_MM - bottom


def parse_scale(text: str | int | None) -> int | None:
    """``1:2000`` / ``2000`` -> 2000; ``auto`` / empty -> None; :class:`CityplanError` otherwise."""
    if text is None or isinstance(text, int):
        return text
    t = str(text).strip().lower().replace("：", ":").replace(",", "")
    if t in ("", "auto"):
        return None
    m = re.fullmatch(r"(?:1:)?(\d+)", t)
    if not m or int(m.group(1)) < 100:
        msg = f"--scale {text!r} is not a map scale; give 1:N (e.g. 1:2000) or auto"
        raise CityplanError(msg)
    return int(m.group(1))


def auto_scale(width_m: float, height_m: float, frame_w_mm: float, frame_h_mm: float, pad: float = 1.05) -> int:
    """The smallest :data:`NICE_SCALES` entry at which ``width_m × height_m`` fits the frame."""
    need = max(width_m * 1000 / frame_w_mm, height_m * 1000 / frame_h_mm, 1.0) * pad
    return next((n for n in NICE_SCALES if n >= need), int(math.ceil(need / 1e5) * 1e5))


@dataclass
class MapPage:
    """State of one printed map page (kept on the figure and its data axis)."""

    spec: PageSpec
    crs: CRS
    title: str
    subtitle: str = ""
    scale: int | None = None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    illustrative: bool = False
    notes: list[str] = field(default_factory=list)
    #: the city's languages for the title block's texts (default Chinese and English)
    languages: tuple[str, ...] = BOTH
    #: the date printed in the title block (the caller's, e.g. today in the profile's time zone;
    #: default: today on this machine's clock)
    date: dt.date | None = None

    def add_source(self, row: dict[str, Any] | None) -> None:
        """Record a catalog row (layer, titles, attribution, licence, illustrative, redistribute)."""
        if row is not None and row.get("layer"):
            self.sources[str(row["layer"])] = dict(row)


def _mm_axes(fig, spec: PageSpec, left: float, bottom: float, width: float, height: float):
    pw, ph = spec.size_mm
    return fig.add_axes((left / pw, bottom / ph, width / pw, height / ph))


@cjk_figures
def new_page(title: str, *, crs: CRS, spec: PageSpec, subtitle: str = ""):
    """A figure of the paper's exact size with a data frame axis (metric ``crs``) and a page state."""
    pw, ph = spec.size_mm
    fig = agg_figure(figsize=(pw / MM_PER_INCH, ph / MM_PER_INCH), dpi=100)
    ax = _mm_axes(fig, spec, *spec.frame_mm)
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_linewidth(0.8)
    ax.set_aspect("auto")
    page = MapPage(spec=spec, crs=crs, title=title, subtitle=subtitle)
    ax.cityplan_crs = crs
    ax.cityplan_page = page
    fig.cityplan_page = page
    return fig, ax


def set_scale(ax, bounds: tuple[float, float, float, float] | None = None) -> int:
    """Fit ``bounds`` (metric; default: the axis' current limits) at the page's scale, or the
    smallest nice scale that holds them; the axis then spans exactly frame size × scale."""
    page: MapPage = ax.cityplan_page
    if bounds is None:
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    else:
        x0, y0, x1, y1 = bounds
    _, _, fw, fh = page.spec.frame_mm
    n = page.spec.scale or auto_scale(x1 - x0, y1 - y0, fw, fh)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = fw * n / 1000 / 2, fh * n / 1000 / 2
    ax.set_aspect("auto")  # the limits are proportional to the frame: equal, and the frame keeps its size
    ax.set_position(ax.get_position(original=True))  # undo any shrinking an earlier "equal" aspect did
    ax.set_xlim(cx - half_w, cx + half_w)
    ax.set_ylim(cy - half_h, cy + half_h)
    ax.set_xlabel("")
    ax.set_ylabel("")
    if page.spec.scale and (x1 - x0 > 2 * half_w or y1 - y0 > 2 * half_h):
        page.notes.append(f"at 1:{n:,} the frame shows the centre of the area only")
    page.scale = n
    return n


def ground_per_paper_cm(ax) -> tuple[float, float]:
    """Metres on the ground per centimetre on paper along x and y (from the axis' transform)."""
    fig = ax.figure
    ax.apply_aspect()  # as drawn
    (px0, py0), (px1, py1) = ax.transData.transform([(0.0, 0.0), (1000.0, 1000.0)])
    cm_x = (px1 - px0) / fig.dpi * 2.54
    cm_y = (py1 - py0) / fig.dpi * 2.54
    return 1000.0 / cm_x, 1000.0 / cm_y


def _bar_length(n: int, max_mm: float) -> float:
    best = 1.0
    for exp in range(0, 7):
        for m in (1, 2, 5):
            length = m * 10**exp
            if length * 1000 / n <= max_mm:
                best = float(length)
    return best


def _metres(v: float) -> str:
    return f"{v / 1000:g} km" if v >= 1000 else f"{v:g} m"


def _crs_text(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code} {crs.name}" if code else crs.name


def _wrap(text: str, width_mm: float, size_pt: float) -> str:
    """Wrap by estimated glyph widths (CJK ≈ 1 em, Latin ≈ 0.55 em)."""
    em_mm = size_pt * 25.4 / 72
    lines, cur, w = [], "", 0.0
    for ch in text:
        cw = em_mm * (1.0 if ord(ch) > 0x2E80 else 0.55)
        if w + cw > width_mm and cur:
            cut = cur.rfind(" ")
            if cut > len(cur) * 0.6:
                lines.append(cur[:cut])
                cur = cur[cut + 1:]
            else:
                lines.append(cur)
                cur = ""
            w = sum(em_mm * (1.0 if ord(c) > 0x2E80 else 0.55) for c in cur)
        cur += ch
        w += cw
    lines.append(cur)
    return "\n".join(lines)


def _no_redistribution(row: dict[str, Any]) -> bool:
    v = row.get("redistribute")
    return v is False or str(v).lower() in ("false", "0")


def _line_mm(size_pt: float) -> float:
    return size_pt * 25.4 / 72 * 1.2


def _title_fit(title: str, subtitle: str, width_mm: float, height_mm: float) -> tuple[str, float, str, float]:
    """The title and subtitle wrapped at the largest sizes (title 10 pt down to 7, subtitle 6.5 down
    to 5.5) at which both fit ``height_mm``; the smallest when nothing fits."""
    best = None
    for size, sub_size in ((10, 6.5), (9, 6.5), (8, 6), (7, 5.5)):
        t = _wrap(title, width_mm, size)
        st = _wrap(subtitle, width_mm, sub_size) if subtitle else ""
        h = (t.count("\n") + 1) * _line_mm(size) + ((st.count("\n") + 1) * _line_mm(sub_size) + 1 if st else 0)
        best = (t, size, st, sub_size)
        if h <= height_mm:
            break
    return best


def source_lines(page: MapPage) -> list[str]:
    """One entry per licence: its attributions, and the note for data that may not be passed on."""
    by_licence: dict[str, dict[str, None]] = {}
    restricted: set[str] = set()
    for row in page.sources.values():
        licence = str(row.get("licence") or "licence not stated")
        parts = [p.strip() for p in str(row.get("attribution") or row.get("source") or row["layer"]).split(";")]
        by_licence.setdefault(licence, {}).update(dict.fromkeys(p for p in parts if p))
        if _no_redistribution(row):
            restricted.add(licence)
    out = []
    for licence, attrs in by_licence.items():
        text = f"{', '.join(attrs)} ({licence})"
        if licence in restricted:
            text += f" [{block_text('restricted', page.languages)}]"
        out.append(text)
    return out


def title_block(ax, handles: list) -> None:
    """Draw the 图框 title block below the frame: title, scale (number and bar), north arrow, CRS,
    date, legend, sources and licences, notes. :func:`set_scale` must have run."""
    page: MapPage = ax.cityplan_page
    fig = ax.figure
    spec = page.spec
    pw, ph = spec.size_mm
    bw, bh = pw - 2 * MARGIN_MM, spec.block_mm
    blk = _mm_axes(fig, spec, MARGIN_MM, MARGIN_MM, bw, bh)
    blk.set_xlim(0, bw)
    blk.set_ylim(0, bh)
    blk.set_axis_off()
    blk.add_patch(Rectangle((0, 0), bw, bh, fill=False, linewidth=0.8))
    fig.add_artist(Rectangle((MARGIN_MM / 2 / pw, MARGIN_MM / 2 / ph), 1 - MARGIN_MM / pw, 1 - MARGIN_MM / ph,
                             transform=fig.transFigure, fill=False, linewidth=1.2))  # outer 图框 line
    left_w = 78.0
    src_h = 17.0
    blk.plot([left_w, left_w], [src_h, bh], color="black", linewidth=0.5)
    blk.plot([0, bw], [src_h, src_h], color="black", linewidth=0.5)
    langs = page.languages
    # the title, then the subtitle right below it, sized to fit above the scale (never over it)
    title, size, subtitle, sub_size = _title_fit(page.title, page.subtitle, left_w - 16, bh - 2 - (src_h + 20))
    blk.text(2, bh - 2, title, fontsize=size, va="top", gid="title")
    if subtitle:
        y = bh - 2 - (title.count("\n") + 1) * _line_mm(size) - 1
        blk.text(2, y, subtitle, fontsize=sub_size, va="top", color="#333333", gid="subtitle")
    n = page.scale or 0
    blk.text(2, src_h + 16.5, f"{block_text('scale', langs)} 1:{n:,}", fontsize=8, va="bottom", gid="numeric_scale")
    bar_m = _bar_length(n, 50.0) if n else 0
    bar_mm = bar_m * 1000 / n if n else 0
    for i in range(4):
        blk.add_patch(Rectangle((2 + i * bar_mm / 4, src_h + 12), bar_mm / 4, 1.6, linewidth=0.5,
                                edgecolor="black", facecolor="black" if i % 2 == 0 else "white", gid="scale_bar"))
    for frac in (0, 0.5, 1):
        blk.text(2 + frac * bar_mm, src_h + 10.5, _metres(bar_m * frac) if frac else "0", fontsize=5.5,
                 ha="center", va="top")
    blk.text(2, src_h + 5.5, f"{block_text('crs', langs)}: {_crs_text(page.crs)}", fontsize=5.5, va="top")
    blk.text(2, src_h + 2.5, f"{block_text('date', langs)}: {(page.date or dt.date.today()).isoformat()}", fontsize=5.5, va="top")
    # north arrow (grid north of the metric CRS)
    ax_x = left_w - 8
    blk.add_patch(FancyArrow(ax_x, src_h + 10, 0, 16, width=1.6, head_width=5, head_length=5, color="black",
                             length_includes_head=True, gid="north_arrow"))
    blk.text(ax_x, src_h + 27, block_text("north", langs), ha="center", va="bottom", fontsize=8)
    handles = list({h.get_label(): h for h in handles if h is not None}.values())  # one entry per label
    if handles:
        legend_w = bw - left_w
        ncol = 3 if legend_w > 200 else 2 if legend_w > 150 or len(handles) > 9 else 1
        size = 6 if len(handles) <= 14 and (ncol > 1 or len(handles) <= 9) else 5
        col_mm = (legend_w - 4) / ncol - 2.2 * size * 25.4 / 72 - 3  # the text beside each handle
        labels = [_wrap(h.get_label(), col_mm, size) for h in handles]  # long labels fold, never leave the block
        blk.legend(handles=handles, labels=labels, loc="upper left", bbox_to_anchor=((left_w + 1) / bw, 1 - 1 / bh),
                   ncol=ncol, fontsize=size, frameon=False, title=block_text("legend", langs), title_fontsize=7,
                   alignment="left", handlelength=2.2, columnspacing=1.2)
    notes = [f"{block_text('sources', langs)}: " + "; ".join(source_lines(page))]
    if page.illustrative:
        notes.append(block_text("illustrative", langs))
    notes += [x for x in page.notes if x]
    blk.text(2, src_h - 1.5, _wrap("  ".join(notes[:1]), bw - 4, 5.5) + "\n" + _wrap("  ".join(notes[1:]), bw - 4, 5.5),
             fontsize=5.5, va="top", linespacing=1.25, gid="sources")


@cjk_figures
def save_page(fig, png=None, pdf_pages=None) -> None:
    """Write the page at paper size (no cropping) as PNG at the page's dpi and/or a PDF page."""
    page: MapPage = fig.cityplan_page
    if png is not None:
        fig.savefig(png, dpi=page.spec.dpi, format="png")
    if pdf_pages is not None:
        pdf_pages.savefig(fig)
