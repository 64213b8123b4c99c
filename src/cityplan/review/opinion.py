"""审查意见: the formal review opinion as an A4 PDF a planning bureau can file and sign.

Pages of text (project, applicant, project type, submitted file and its sha256, the CRS the file
was read in and how that is known, the proposal's area and centroid, the verdict, one entry per rule
with the finding and its citation - the decisive ones first -, the statutory layers not checked, the
界址点坐标表 of the red line in the map's working CRS, the data version as build id and hashes,
signature and stamp fields), then a map of the proposal at a true numeric scale with a 图框 title
block, the overlaps drawn by severity (forbidden on top, labelled). Times are in the profile's time
zone; no folder of the machine is printed. Chinese text uses the CJK font of
:mod:`cityplan.fonts`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import matplotlib.patheffects as pe
import pandas as pd
import shapely
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.patches import Rectangle
from pyproj import CRS

from cityplan.fonts import agg_figure, cjk_figures
from cityplan.io.write import atomic_path
from cityplan.onemap import OneMap
from cityplan.report import static
from cityplan.report.layout import MM_PER_INCH, PageSpec, _wrap
from cityplan.review.check import SEVERITY_RANK, VERDICT_TEXT, ReviewReport, unchecked_text
from cityplan.review.clock import local_date, local_text
from cityplan.review.proposal import area_values, format_area
from cityplan.review.report import (
    DRAW_ORDER,
    VERDICT_COLOUR,
    by_severity,
    intake_lines,
    notes_shown,
    proposal_lines,
    verdict_lines,
)

#: the verdict as the 审查意见 prints it (Chinese first): the report's :data:`VERDICT_TEXT`
VERDICT_ZH = VERDICT_TEXT
RESULT_ZH = {"forbidden": "不符合 conflict", "needs_approval": "需审批 approval needed", "note": "提示 note"}
SEVERITY_COLOUR = {"forbidden": "#d7191c", "needs_approval": "#fdae61", "note": "#2b83ba"}
MARGIN_MM = 18.0
#: the 界址点坐标表 prints at most this many points of one ring, and this many rows in all
MAX_RING_ROWS = 60
MAX_TABLE_ROWS = 400
#: the title block's legend cell (millimetres in the block, as :func:`cityplan.report.layout.title_block` lays it out)
LEGEND_LEFT_MM = 78.0
SOURCES_TOP_MM = 17.0
_HALO = [pe.withStroke(linewidth=2.2, foreground="white")]


class _Writer:
    """Flowing text on A4 pages (top to bottom, new page when full)."""

    def __init__(self, spec: PageSpec, footer: str) -> None:
        self.spec = spec
        self.footer = footer
        self.pages: list = []
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        pw, ph = self.spec.size_mm
        fig = agg_figure(figsize=(pw / MM_PER_INCH, ph / MM_PER_INCH))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, pw)
        ax.set_ylim(0, ph)
        ax.set_axis_off()
        self.pages.append((fig, ax))
        self.y = ph - MARGIN_MM

    @property
    def ax(self):
        return self.pages[-1][1]

    def space(self, mm: float) -> None:
        self.y -= mm

    def need(self, mm: float) -> None:
        if self.y - mm < MARGIN_MM + 8:
            self._new_page()

    def text(self, text: str, *, size: float = 9.0, indent: float = 0.0, color: str = "black",
             width: float | None = None) -> None:
        pw, _ = self.spec.size_mm
        w = width or (pw - 2 * MARGIN_MM - indent)
        for line in _wrap(text, w, size).split("\n"):
            h = size * 1.45 * 25.4 / 72
            self.need(h)
            self.ax.text(MARGIN_MM + indent, self.y, line, fontsize=size, va="top", color=color)
            self.y -= h

    def field(self, label: str, value: str, *, size: float = 9.0) -> None:
        top = self.y
        self.need(size * 1.45 * 25.4 / 72)
        if self.y != top:
            top = self.y
        self.ax.text(MARGIN_MM, top, label, fontsize=size, va="top", color="#333333")
        self.text(value, size=size, indent=42)

    def row(self, cells: list[str], xs: list[float], *, size: float = 7.0, color: str = "black",
            ha: list[str] | None = None) -> None:
        """One table row: ``cells`` at ``xs`` (mm from the left margin), one line each."""
        h = size * 1.45 * 25.4 / 72
        self.need(h)
        for j, (c, x) in enumerate(zip(cells, xs, strict=True)):
            self.ax.text(MARGIN_MM + x, self.y, c, fontsize=size, va="top", color=color,
                         ha=(ha[j] if ha else "left"))
        self.y -= h

    def rule_line(self) -> None:
        pw, _ = self.spec.size_mm
        self.ax.plot([MARGIN_MM, pw - MARGIN_MM], [self.y, self.y], color="#999999", linewidth=0.4)
        self.y -= 1.5

    def finish(self, extra_pages: int = 0) -> list:
        pw, _ = self.spec.size_mm
        n = len(self.pages) + extra_pages
        for i, (_fig, ax) in enumerate(self.pages, 1):
            ax.text(MARGIN_MM, MARGIN_MM - 6, self.footer, fontsize=6, color="#666666", va="top")
            ax.text(pw - MARGIN_MM, MARGIN_MM - 6, f"第 {i} / {n} 页 page {i} of {n}", fontsize=6,
                    color="#666666", va="top", ha="right")
        return [f for f, _ in self.pages]


def _rule_result(rep: ReviewReport, rule_id: str) -> tuple[str | None, pd.DataFrame]:
    f = rep.findings[rep.findings.rule == rule_id]
    hit = by_severity(f[f.hit])
    if hit.empty:
        return None, hit
    worst = max(hit.severity, key=SEVERITY_RANK.__getitem__)
    return worst, hit


def rule_order(rep: ReviewReport) -> list:
    """The rules as the opinion lists them: forbidden hits, then forbidden-severity rules not
    checked, then needs-approval hits, notes, other rules not checked, no conflict (the verdict's
    own order: fail > incomplete > needs approval)."""
    unchecked = {u["rule"]: u for u in rep.unchecked}

    def key(pair):
        i, rule = pair
        worst, _ = _rule_result(rep, rule.id)
        u = unchecked.get(rule.id)
        if worst == "forbidden":
            k = 0
        elif u is not None and u.get("blocks_pass"):
            k = 1
        elif worst == "needs_approval":
            k = 2
        elif worst is not None:
            k = 3
        elif u is not None:
            k = 4 if u["statutory"] else 5
        else:
            k = 6
        return (k, i)

    return [r for _, r in sorted(enumerate(rep.rules), key=key)]


def _area(r: pd.Series, units: tuple[str, ...]) -> str:
    """``"; 面积 Area 1,234.50 m² = 0.1235 ha"`` in the profile's units; ``""`` without an overlap area."""
    if r.get("area_m2") is not None and r["area_m2"] == r["area_m2"] and r["area_m2"] > 0:
        return f"; 面积 Area {format_area(dict(r), units)}"
    return ""


def _working_crs(rep: ReviewReport) -> CRS | None:
    text = (rep.summary or {}).get("working_crs") or ""
    try:
        return CRS.from_user_input(text) if text else None
    except Exception:  # noqa: BLE001 - a stored report of another version: no table then
        return None


def boundary_rings(rep: ReviewReport) -> list[dict[str, Any]]:
    """The 界址点坐标表's rings: per polygon feature, part and ring, its points in the map's
    working CRS (``x`` easting, ``y`` northing; the ring closed), the ring's area (m²) and
    whether it is a hole."""
    crs = _working_crs(rep)
    if crs is None or rep.proposal.empty:
        return []
    work = rep.proposal.to_crs(crs)
    out = []
    for fno, (_, f) in enumerate(work.iterrows(), 1):
        g = f.geometry
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        parts = list(shapely.get_parts(g))
        for pno, poly in enumerate(parts, 1):
            rings = [(poly.exterior, False), *((r, True) for r in poly.interiors)]
            for rno, (ring, hole) in enumerate(rings, 1):
                pts = list(ring.coords)
                out.append({"feature": fno, "feature_name": str(f.get("feature_name") or f"feature {fno}"),
                            "part": pno, "parts": len(parts), "ring": rno, "hole": hole, "points": pts,
                            "area_m2": float(shapely.Polygon(pts).area)})
    return out


def _boundary_table(w: _Writer, rep: ReviewReport) -> None:
    """界址点坐标表: numbered points of each ring (X = northing, Y = easting, as survey tables
    write them), the ring's area in the profile's units; long rings are cut with "… N more"."""
    rings = boundary_rings(rep)
    if not rings:
        return
    w.space(2)
    w.need(20)
    w.text("界址点坐标表 Boundary point coordinates", size=10)
    w.text(f"{(rep.summary or {}).get('working_crs_name') or ''}: X = 北坐标 northing, Y = 东坐标 easting, metres; "
           "the last point closes the ring", size=6.5, color="#555555")
    xs, ha = [4.0, 40.0, 80.0], ["left", "right", "right"]
    shown = 0
    for n, ring in enumerate(rings, 1):
        pts = ring["points"]
        unique = len(pts) - 1 if len(pts) > 1 and pts[0] == pts[-1] else len(pts)
        kind = "内环 hole" if ring["hole"] else "外环 outer ring"
        part = f", 第 {ring['part']} 部分 part {ring['part']}" if ring["parts"] > 1 else ""
        w.need(12)
        w.text(f"{ring['feature']}. {ring['feature_name']}{part} - {kind} {ring['ring']}: {unique} 点 points; "
               f"面积 Area {format_area(area_values(ring['area_m2'], rep.area_units), rep.area_units)}",
               size=7.5, indent=0, color="#333333")
        w.row(["点号 No.", "X (m)", "Y (m)"], xs, size=6.5, color="#555555", ha=ha)
        limit = max(0, min(MAX_RING_ROWS, MAX_TABLE_ROWS - shown))
        for k, (x, y) in enumerate(pts[:limit]):
            no = 1 if k == len(pts) - 1 and pts[0] == pts[-1] and k > 0 else k + 1
            w.row([f"J{no}", f"{y:,.3f}", f"{x:,.3f}"], xs, size=6.5, ha=ha)
        shown += min(len(pts), limit)
        if len(pts) > limit:
            w.row([f"… 另有 {len(pts) - limit} 点 {len(pts) - limit} more", "", ""], xs, size=6.5, color="#555555",
                  ha=ha)
        if shown >= MAX_TABLE_ROWS and n < len(rings):
            w.text(f"… 另有 {len(rings) - n} 个环 {len(rings) - n} more ring(s) not listed; see overlaps.gpkg / "
                   "the JSON report", size=6.5, color="#555555")
            break


def data_version_lines(rep: ReviewReport) -> list[str]:
    """The data version as the opinion prints it: build id, build time, hashes, CRS - no folder,
    host or file-system path."""
    dv = rep.data_version
    labels = (("city", "城市 City"), ("onemap_build_id", "一张图版本 Build id"),
              ("onemap_built_at", "构建时间 Built"), ("cityplan_version", "cityplan"),
              ("catalog_sha256", "目录 catalog sha256"), ("rules_sha256", "规则 rules sha256"),
              ("proposal_sha256", "红线文件 proposal sha256"), ("working_crs", "测量坐标系 Working CRS"))
    out = []
    for k, label in labels:
        v = dv.get(k)
        if not v:
            continue
        if k == "onemap_built_at":
            v = local_text(v, rep.timezone)
        out.append(f"{label}: {v}")
    return out


@cjk_figures
def text_pages(rep: ReviewReport, *, project: str = "", applicant: str = "", submitted: str = "",
               spec: PageSpec) -> list:
    """The opinion's text pages as matplotlib figures (``project`` / ``applicant``: default the
    review's intake)."""
    dv = rep.data_version
    when = local_text(rep.reviewed_at, rep.timezone) if rep.reviewed_at else "-"
    w = _Writer(spec, footer=f"cityplan 一张图审查 · {when} · proposal sha256 "
                              f"{dv.get('proposal_sha256', '-')[:16]}…")
    w.text("建设项目一张图审查意见书", size=17)
    w.text("One-map planning review opinion", size=10, color="#444444")
    w.space(3)
    w.rule_line()
    given = {"项目名称 Project": project, "申请单位 Applicant": applicant}
    asked = intake_lines(rep)
    for label, value in asked[:3]:
        w.field(label, given.get(label) or value)
    w.field("提交文件 File", submitted or dv.get("proposal", "-"))
    w.field("SHA-256", dv.get("proposal_sha256", "-"), size=7.5)
    for label, value in asked[3:]:
        w.field(label, value)
    for label, value in proposal_lines(rep):
        if label.startswith("项目类型"):
            continue  # given above
        w.field(label, value)
    w.space(2)
    w.need(16)
    pw, _ = spec.size_mm
    w.ax.add_patch(Rectangle((MARGIN_MM, w.y - 12), pw - 2 * MARGIN_MM, 12,
                             facecolor=VERDICT_COLOUR.get(rep.verdict, "#777777"), edgecolor="none", gid="verdict"))
    w.ax.text(MARGIN_MM + 3, w.y - 6, f"审查结论 Verdict: {VERDICT_ZH.get(rep.verdict, rep.verdict)}", fontsize=13,
              color="white", va="center")
    w.space(14)
    for line in verdict_lines(rep):
        w.text(line, size=8, color="#333333")
    w.space(2)
    w.text("逐条审查 Rule by rule (禁止性在前 decisive first)", size=11)
    w.rule_line()
    for i, rule in enumerate(rule_order(rep), 1):
        unchecked = next((u for u in rep.unchecked if u["rule"] == rule.id), None)
        worst, hit = _rule_result(rep, rule.id)
        if unchecked:
            result, colour = "未核查（无数据）not checked (no data)", "#777777"
        elif worst is None:
            result, colour = "符合 no conflict", "#1a9641"
        else:
            result, colour = RESULT_ZH[worst], SEVERITY_COLOUR[worst]
        w.need(14)
        w.text(f"{i}. {rule.title_zh} {rule.title_en}  [{result}]"
               + ("  (法定 statutory)" if rule.statutory else "") + ("  (示意 illustrative)" if rule.illustrative else ""),
               size=8.5, color=colour if colour != "#fdae61" else "#c05a00")
        if unchecked:
            w.text(f"未核查原因 Why: {unchecked_text(unchecked)}", size=7, indent=5, color="#555555")
        for _, r in hit.iterrows():
            w.text(f"{r['feature_name']} ({r['project_type']}): {r['message']}{_area(r, rep.area_units)}", size=7,
                   indent=5)
            if r["condition"]:
                w.text(f"条件 Condition: {r['condition']}", size=7, indent=5, color="#333333")
        citation = "; ".join(dict.fromkeys(hit.citation)) if len(hit) else rule.citation
        w.text(f"依据 Citation: {citation}", size=6.5, indent=5, color="#555555")
        w.space(1)
    statutory = [u for u in rep.unchecked if u["statutory"] or u.get("blocks_pass")]
    if statutory:
        w.space(1)
        w.text("未核查的法定或禁止性图层 Statutory or forbidden-severity layers NOT checked (no data): "
               + "、".join(u["title_zh"] for u in statutory)
               + " - the one map has no features for them; obtain them from the planning office before approval.",
               size=8, color="#b2182b")
    notes = notes_shown(rep)
    if notes:
        w.space(2)
        w.text("说明 Notes", size=10)
        for n in notes:
            w.text(f"- {n}", size=7, indent=3)
    _boundary_table(w, rep)
    w.space(2)
    w.need(20)
    w.text("数据版本 Data version", size=10)
    for line in data_version_lines(rep):
        w.text(line, size=6.5, indent=3)
    _signature(w)
    return w.finish(extra_pages=1)  # the map page follows


def _signature(w: _Writer) -> None:
    w.space(4)
    w.need(48)
    pw, _ = w.spec.size_mm
    ax = w.ax
    top = w.y
    ax.text(MARGIN_MM, top, "审查意见 Opinion: ____________________________________________", fontsize=9, va="top")
    rows = ("审查人 Reviewed by: ______________   日期 Date: ____________",
            "复核人 Checked by:  ______________   日期 Date: ____________",
            "审批人 Approved by: ______________   日期 Date: ____________")
    for j, r in enumerate(rows):
        ax.text(MARGIN_MM, top - 10 - j * 9, r, fontsize=9, va="top", gid="signature")
    ax.add_patch(Rectangle((pw - MARGIN_MM - 42, top - 44), 42, 42, fill=False, linestyle="--", linewidth=0.8,
                           gid="stamp"))
    ax.text(pw - MARGIN_MM - 21, top - 23, "审查单位（盖章）\nReviewing office (stamp)", fontsize=7, ha="center",
            va="center", color="#666666")
    w.y = top - 48


def _overlap_labels(ax, rep: ReviewReport, part, crs) -> None:
    """Name each forbidden overlap on the map (the rule's title) at a point inside it."""
    titles = {r.id: r.title_zh or r.title_en for r in rep.rules}
    g = part.to_crs(crs)
    for rule_id, geom in zip(g["rule"], g.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        p = geom.representative_point() if geom.area > 0 else geom.centroid
        ax.text(p.x, p.y, f"禁止 {titles.get(rule_id, rule_id)}\nforbidden: {rule_id}", fontsize=6.5,
                color="black", ha="center", va="center", zorder=12, path_effects=_HALO, clip_on=True,
                gid="overlap_label")


def _block_axes(fig):
    """The title block's axes (added last by the layout)."""
    return fig.axes[-1]


def _fits(artist, box, renderer, pad: float = 0.5) -> bool:
    e = artist.get_window_extent(renderer)
    return (e.x0 >= box.x0 - pad and e.x1 <= box.x1 + pad and e.y0 >= box.y0 - pad and e.y1 <= box.y1 + pad)


#: legend layouts tried in turn: (columns, type size, longest label or None)
LEGEND_LAYOUTS = ((1, 6.0, None), (2, 6.0, None), (2, 5.0, None), (2, 5.0, 46), (3, 5.0, 34), (3, 4.5, 34),
                  (4, 4.5, 26), (4, 4.0, 28))


def _short(text: str, n: int | None) -> str:
    return text if n is None or len(text) <= n else text[: n - 1].rstrip() + "…"


def _legend_title(fig) -> str:
    """The legend's title as the layout words it for the page's languages (``图例 Legend``)."""
    from cityplan.report import layout

    words = getattr(layout, "block_text", None)
    page = getattr(fig, "cityplan_page", None)
    if words is not None and page is not None and getattr(page, "languages", None):
        return words("legend", page.languages)
    return "图例 Legend"


def _fit_legend(fig, handles: list) -> None:
    """The legend in the title block's legend cell (right of the scale, above the sources),
    in as many columns, as small a type and as short labels as it needs to stay inside; what
    still does not fit is left off and counted ("… N more")."""
    from matplotlib.lines import Line2D
    from matplotlib.transforms import Bbox

    blk = _block_axes(fig)
    x1, y1 = blk.get_xlim()[1], blk.get_ylim()[1]
    left = LEGEND_LEFT_MM + 1
    cell = Bbox.from_extents(left, SOURCES_TOP_MM + 0.8, x1 - 1, y1 - 0.8)
    renderer = fig.canvas.get_renderer()
    box = blk.transData.transform_bbox(cell)
    uniq = list({h.get_label(): h for h in handles if h is not None}.values())
    anchor = tuple(blk.transAxes.inverted().transform(blk.transData.transform((left, y1 - 0.8))))
    for keep in range(len(uniq), 0, -1):
        shown = uniq[:keep]
        if keep < len(uniq):
            more = len(uniq) - keep
            shown = [*shown, Line2D([], [], ls="", label=f"… 另有 {more} 项 {more} more")]
        for ncol, size, longest in LEGEND_LAYOUTS:
            leg = blk.legend(handles=shown, labels=[_short(h.get_label(), longest) for h in shown],
                             loc="upper left", bbox_to_anchor=anchor, ncol=ncol, fontsize=size, frameon=False,
                             title=_legend_title(fig), title_fontsize=min(7.0, size + 1), alignment="left",
                             handlelength=2.0, columnspacing=1.0, borderaxespad=0.0, borderpad=0.2,
                             labelspacing=0.3)
            if _fits(leg, box, renderer):
                leg.set_gid("legend")
                return
            leg.remove()


def _fit_block_texts(fig, rep: ReviewReport) -> None:
    """The block's date in the profile's time zone; the sources text kept inside the block."""
    blk = _block_axes(fig)
    renderer = fig.canvas.get_renderer()
    inside = blk.get_window_extent(renderer)
    today = dt.date.today().isoformat()
    for t in blk.texts:
        text = t.get_text()
        if rep.reviewed_at and text.endswith(today) and ":" in text:  # the block's date: the review's, locally
            t.set_text(f"{text[: text.rindex(':') + 1]} {local_date(rep.reviewed_at, rep.timezone)}")
        if t.get_gid() == "sources":
            size = t.get_fontsize()
            while not _fits(t, inside, renderer) and size > 3.5:
                size -= 0.5
                t.set_fontsize(size)
            lines = t.get_text().split("\n")
            while not _fits(t, inside, renderer) and len(lines) > 1:
                lines = lines[:-2] + [lines[-2].rstrip() + " …"] if len(lines) > 1 else lines
                t.set_text("\n".join(lines))


@cjk_figures
def map_page(rep: ReviewReport, onemap, *, spec: PageSpec, project: str = ""):
    """The proposal, the constraint layers it touches and the overlaps, at a true scale: the
    overlaps drawn weakest first so the forbidden one lies on top, named on the map; the legend
    and every text inside the 图框."""
    from cityplan.report.context import draw_context

    om = OneMap.coerce(onemap)
    crs = om.working_crs
    project = project or (rep.intake or {}).get("project", "")
    prop = rep.proposal.to_crs(crs)
    x0, y0, x1, y1 = prop.total_bounds
    pad = max(100.0, 0.3 * max(x1 - x0, y1 - y0))
    bounds = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    title = f"{project or '拟建项目 Proposal'} 审查图 Review map"
    fig, ax = static.new_map(title, crs=crs, page=spec,
                             subtitle=f"审查结论 Verdict: {VERDICT_ZH.get(rep.verdict, rep.verdict)}")
    context = draw_context(ax, om, prop.assign(geometry=prop.envelope.buffer(pad)), pad_m=pad * 4)
    touched = rep.findings[rep.findings.hit]
    rules = {r.id: r for r in rep.rules}
    clip = prop.union_all().envelope.buffer(pad * 6)
    seen = set()
    layers = []
    for rid in by_severity(touched).rule.unique():
        for lid in rules[rid].layers or om.layers_with_role(rules[rid].role or ""):
            if lid in seen or not om.has_layer(lid):
                continue
            seen.add(lid)
            row = dict(om.catalog_row(lid))
            gdf = om.layer(lid).to_crs(crs).clip(clip)
            style = {**(row.get("style") or {}), "label": static.label(row["title_zh"], row["title_en"])}
            style.setdefault("alpha", 0.35)
            layers.append(static.plot_layer(ax, gdf, style, illustrative=bool(row["illustrative"]), zorder=2,
                                            source=row))
    red = static.plot_layer(ax, prop, {"color": "#000000", "fill": "#ffff99", "weight": 1.6, "alpha": 0.7,
                                       "label": static.label("拟建项目红线", "Proposal red line")}, zorder=6)
    overlaps = {}
    for z, sev in enumerate(DRAW_ORDER):  # weakest first: the forbidden overlap is drawn last, on top
        col = SEVERITY_COLOUR[sev]
        part = rep.overlaps[rep.overlaps.severity == sev]
        overlaps[sev] = static.plot_layer(ax, part, {"color": col, "fill": col, "weight": 0.8 + 0.4 * z,
                                                     "alpha": 0.45 + 0.2 * z,
                                                     "label": static.label(f"重叠 {RESULT_ZH[sev].split()[0]}",
                                                                           f"Overlap: {sev}")}, zorder=7 + z)
        if sev == "forbidden" and len(part):
            _overlap_labels(ax, rep, part, crs)
    # the legend: overlaps (decisive first) and the red line, then the rules' layers, then context
    handles = [overlaps[s] for s in reversed(DRAW_ORDER)] + [red, *layers, *context]
    static.finish(ax, [], bounds=bounds)
    fig.canvas.draw()
    _fit_legend(fig, [h for h in handles if h is not None])
    _fit_block_texts(fig, rep)
    return fig


@cjk_figures
def write_opinion(rep: ReviewReport, out: str | os.PathLike[str], *, onemap=None, project: str = "",
                  applicant: str = "", submitted: str = "", scale: int | None = None, dpi: int = 300,
                  overwrite: bool = False) -> Path:
    """Write the 审查意见 PDF (A4 portrait pages) atomically; returns its path. ``project`` and
    ``applicant`` default to the review's intake."""
    intake = rep.intake or {}
    project = project or intake.get("project", "")
    applicant = applicant or intake.get("applicant", "")
    spec = PageSpec(paper="A4", orientation="portrait", scale=scale, dpi=dpi)
    figs = text_pages(rep, project=project, applicant=applicant, submitted=submitted, spec=spec)
    figs.append(map_page(rep, onemap, spec=spec, project=project))
    out = Path(out)
    with atomic_path(out, overwrite=overwrite) as tmp, PdfPages(tmp, metadata={
            "Title": f"一张图审查意见 {project}".strip(), "Subject": "One-map planning review opinion",
            "Creator": "cityplan"}) as pdf:
        for f in figs:
            pdf.savefig(f)
    return out
