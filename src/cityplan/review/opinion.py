"""审查意见: the formal review opinion as an A4 PDF a planning bureau can file and sign.

Pages of text (project, applicant, submitted file and its sha256, the proposal's area, centroid and
CRS, the verdict, one entry per rule with the finding and its citation, the statutory layers not
checked, the data version, signature and stamp fields), then a map of the proposal at a true
numeric scale with a 图框 title block. Chinese text uses the CJK font of :mod:`cityplan.report.fonts`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cityplan.io.write import atomic_path  # noqa: E402
from cityplan.onemap import OneMap  # noqa: E402
from cityplan.report import static  # noqa: E402
from cityplan.report.fonts import font_families  # noqa: E402
from cityplan.report.layout import MM_PER_INCH, PageSpec, _wrap  # noqa: E402
from cityplan.review.check import SEVERITY_RANK, VERDICT_TEXT, ReviewReport, unchecked_text  # noqa: E402
from cityplan.review.proposal import format_area  # noqa: E402
from cityplan.review.report import VERDICT_COLOUR, notes_shown, proposal_lines, verdict_lines  # noqa: E402

#: the verdict as the 审查意见 prints it (Chinese first): the report's :data:`VERDICT_TEXT`
VERDICT_ZH = VERDICT_TEXT
RESULT_ZH = {"forbidden": "不符合 conflict", "needs_approval": "需审批 approval needed", "note": "提示 note"}
SEVERITY_COLOUR = {"forbidden": "#d7191c", "needs_approval": "#fdae61", "note": "#2b83ba"}
MARGIN_MM = 18.0


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
        fig = plt.figure(figsize=(pw / MM_PER_INCH, ph / MM_PER_INCH))
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
    hit = f[f.hit]
    if hit.empty:
        return None, hit
    worst = max(hit.severity, key=SEVERITY_RANK.__getitem__)
    return worst, hit


def _area(r: pd.Series, units: tuple[str, ...]) -> str:
    """``"; 面积 Area 1,234.50 m² = 0.1235 ha"`` in the profile's units; ``""`` without an overlap area."""
    if r.get("area_m2") is not None and r["area_m2"] == r["area_m2"] and r["area_m2"] > 0:
        return f"; 面积 Area {format_area(dict(r), units)}"
    return ""


def text_pages(rep: ReviewReport, *, project: str, applicant: str, submitted: str, spec: PageSpec) -> list:
    """The opinion's text pages as matplotlib figures."""
    plt.rcParams["font.sans-serif"] = font_families()
    plt.rcParams["font.family"] = "sans-serif"
    dv = rep.data_version
    w = _Writer(spec, footer=f"cityplan 一张图审查 · {dt.date.today().isoformat()} · proposal sha256 "
                              f"{dv.get('proposal_sha256', '-')[:16]}…")
    w.text("建设项目一张图审查意见书", size=17)
    w.text("One-map planning review opinion", size=10, color="#444444")
    w.space(3)
    w.rule_line()
    w.field("项目名称 Project", project or "(未填写 not given)")
    w.field("申请单位 Applicant", applicant or "(未填写 not given)")
    w.field("提交文件 File", submitted or dv.get("proposal", "-"))
    w.field("SHA-256", dv.get("proposal_sha256", "-"), size=7.5)
    for label, value in proposal_lines(rep):
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
    w.text("逐条审查 Rule by rule", size=11)
    w.rule_line()
    for i, rule in enumerate(rep.rules, 1):
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
    w.space(2)
    w.text("数据版本 Data version", size=10)
    for k in ("onemap", "onemap_built_at", "onemap_build_id", "data_dir", "catalog_sha256", "rules_sha256",
              "working_crs"):
        if dv.get(k):
            w.text(f"{k}: {dv[k]}", size=6.5, indent=3)
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


def map_page(rep: ReviewReport, onemap, *, spec: PageSpec, project: str = ""):
    """The proposal, the constraint layers it touches and the overlaps, at a true scale."""
    from cityplan.report.context import draw_context

    om = OneMap.coerce(onemap)
    crs = om.working_crs
    prop = rep.proposal.to_crs(crs)
    x0, y0, x1, y1 = prop.total_bounds
    pad = max(100.0, 0.3 * max(x1 - x0, y1 - y0))
    bounds = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    title = f"{project or '拟建项目 Proposal'} 审查图 Review map"
    fig, ax = static.new_map(title, crs=crs, page=spec,
                             subtitle=f"审查结论 Verdict: {VERDICT_ZH.get(rep.verdict, rep.verdict)}")
    handles = draw_context(ax, om, prop.assign(geometry=prop.envelope.buffer(pad)), pad_m=pad * 4)
    touched = rep.findings[rep.findings.hit]
    rules = {r.id: r for r in rep.rules}
    clip = prop.union_all().envelope.buffer(pad * 6)
    seen = set()
    for rid in touched.rule.unique():
        for lid in rules[rid].layers or om.layers_with_role(rules[rid].role or ""):
            if lid in seen or not om.has_layer(lid):
                continue
            seen.add(lid)
            row = dict(om.catalog_row(lid))
            gdf = om.layer(lid).to_crs(crs).clip(clip)
            style = {**(row.get("style") or {}), "label": static.label(row["title_zh"], row["title_en"])}
            style.setdefault("alpha", 0.35)
            handles.append(static.plot_layer(ax, gdf, style, illustrative=bool(row["illustrative"]), zorder=2,
                                             source=row))
    handles.append(static.plot_layer(ax, prop, {"color": "#000000", "fill": "#ffff99", "weight": 1.6, "alpha": 0.7,
                                                "label": static.label("拟建项目红线", "Proposal red line")}, zorder=6))
    for sev, col in SEVERITY_COLOUR.items():
        part = rep.overlaps[rep.overlaps.severity == sev]
        handles.append(static.plot_layer(ax, part, {"color": col, "fill": col, "weight": 0.8, "alpha": 0.75,
                                                    "label": static.label(f"重叠 {RESULT_ZH[sev].split()[0]}",
                                                                          f"Overlap: {sev}")}, zorder=7))
    static.finish(ax, [h for h in handles if h is not None], bounds=bounds)
    return fig


def write_opinion(rep: ReviewReport, out: str | os.PathLike[str], *, onemap=None, project: str = "",
                  applicant: str = "", submitted: str = "", scale: int | None = None, dpi: int = 300,
                  overwrite: bool = False) -> Path:
    """Write the 审查意见 PDF (A4 portrait pages) atomically; returns its path."""
    spec = PageSpec(paper="A4", orientation="portrait", scale=scale, dpi=dpi)
    figs = text_pages(rep, project=project, applicant=applicant, submitted=submitted, spec=spec)
    figs.append(map_page(rep, onemap, spec=spec, project=project))
    out = Path(out)
    with atomic_path(out, overwrite=overwrite) as tmp, PdfPages(tmp, metadata={
            "Title": f"一张图审查意见 {project}".strip(), "Subject": "One-map planning review opinion",
            "Creator": "cityplan"}) as pdf:
        for f in figs:
            pdf.savefig(f)
            plt.close(f)
    return out
