"""Review report in Markdown / HTML, and the review map."""

from __future__ import annotations

import html

import pandas as pd

from cityplan.onemap import OneMap
from cityplan.review.check import (
    SEVERITY_RANK,
    VERDICT_TEXT,
    ReviewReport,
    unchecked_note,
    unchecked_text,
    verdict_text,
)
from cityplan.review.clock import local_iso, local_text
from cityplan.review.intake import crs_text, project_type_label
from cityplan.review.proposal import AREA_UNITS, format_area

__all__ = ["SHOW", "VERDICT_COLOUR", "VERDICT_TEXT", "areas_line", "by_severity", "finding_table", "intake_lines",
           "notes_shown", "proposal_lines", "review_map", "to_html", "to_markdown", "unchecked_lines", "verdict_lines"]

SHOW = ["feature_name", "project_type", "rule", "severity", "hit", "area_m2", "share", "length_m", "distance_m",
        "features_hit", "illustrative_hit", "message"]
VERDICT_COLOUR = {"pass": "#1a9641", "needs_approval": "#e08214", "incomplete": "#5e3c99", "fail": "#d7191c"}
#: overlaps are drawn weakest first, so the decisive (forbidden) one lies on top
DRAW_ORDER = ("note", "needs_approval", "forbidden")


def by_severity(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings ordered as a reviewer reads them: hits first, forbidden before needs approval
    before notes; otherwise in their order (rule, then feature)."""
    if findings.empty:
        return findings
    rank = findings["severity"].map(SEVERITY_RANK).fillna(-1)
    key = pd.DataFrame({"hit": findings["hit"].astype(bool), "rank": rank}, index=findings.index)
    order = key.sort_values(["hit", "rank"], ascending=False, kind="stable").index
    return findings.loc[order]


def finding_table(rep: ReviewReport, columns: list[str] | None = None) -> pd.DataFrame:
    """The findings to show, ordered by :func:`by_severity`: ``columns`` (default :data:`SHOW`)
    with the area columns of the profile's units in place of ``area_m2`` (``area_m2`` only where
    the profile lists m²)."""
    cols = []
    for c in columns or SHOW:
        if c == "area_m2":
            cols += [f"area_{u}" for u in rep.area_units if u in AREA_UNITS]
        else:
            cols.append(c)
    f = by_severity(rep.findings)
    return f[[c for c in cols if c in f.columns]]


def intake_lines(rep: ReviewReport, *, iso: bool = False, blank: str = "(未填写 not given)") -> list[tuple[str, str]]:
    """(label, value) lines of what the review was asked: project, applicant, project type, the
    CRS the file was read in (and how it is known) and when it was reviewed, in the profile's time
    zone (``iso``: ``2026-12-06T21:05:00+08:00`` as Markdown / HTML give it; else
    ``2026-12-06 21:05 北京时间 (UTC+8)``)."""
    i = rep.intake or {}
    ptype = i.get("project_type_label") or project_type_label(i.get("project_type"))
    if not ptype:
        types = (rep.summary or {}).get("project_types") or []
        ptype = ", ".join(project_type_label(t) for t in types) + " (按文件属性 from the file's attributes)" \
            if types else blank
    return [("项目名称 Project", i.get("project") or blank),
            ("申请单位 Applicant", i.get("applicant") or blank),
            ("项目类型 Project type", ptype),
            ("坐标系 CRS as read", crs_text(rep.input_crs or {"crs": (rep.summary or {}).get("input_crs", "?")})),
            ("审查时间 Reviewed", (local_iso if iso else local_text)(rep.reviewed_at, rep.timezone)
             if rep.reviewed_at else "-")]


def areas_line(rep: ReviewReport) -> str:
    """``"m², ha in EPSG:32723 (WGS 84 / UTM zone 23S)"``: the units and CRS areas are given in."""
    units = ", ".join(AREA_UNITS[u][1] for u in rep.area_units if u in AREA_UNITS)
    return f"{units} in {rep.areas_crs or rep.summary.get('working_crs', '?')}"


def proposal_lines(rep: ReviewReport) -> list[tuple[str, str]]:
    """(label, value) lines about the proposal itself: area, centroid, CRSs, project types."""
    s = rep.summary
    if not s:
        return []
    area = (format_area(s, rep.area_units) if s.get("area_m2")
            else f"no area (line length {s.get('length_m') or 0:,.2f} m or points)")
    return [("面积 Area", area),
            ("中心点 Centroid", f"{s['centroid_lon']:.6f}°E {s['centroid_lat']:.6f}°N "
                                f"({s['working_crs']} x {s['centroid_x']:,.2f} y {s['centroid_y']:,.2f})"),
            ("测量坐标系 Measured in", s.get("working_crs_name") or s["working_crs"]),
            ("面积单位 Areas", areas_line(rep)),
            ("项目类型 Project type", ", ".join(project_type_label(t) for t in s.get("project_types", []))),
            ("要素 Features", str(s["features"]))]


def verdict_lines(rep: ReviewReport) -> list[str]:
    """Why the verdict, then the approvals needed whatever the verdict (rule, feature, condition)."""
    lines = [rep.verdict_reason]
    for r in rep.approvals.itertuples():
        cond = f": {r.condition}" if r.condition else ""
        lines.append(f"需审批 needs approval - {r.rule} ({r.feature_name}, {r.project_type}){cond}")
    return lines


def unchecked_lines(rep: ReviewReport) -> list[str]:
    """One line per rule not checked (those that could forbid the proposal first, then statutory)."""
    rows = sorted(rep.unchecked, key=lambda u: (not u.get("blocks_pass"), not u["statutory"]))
    return [f"{u['title_zh']} {u['title_en']} ({u['rule']}){' (法定 statutory)' if u['statutory'] else ''}"
            f"{' (禁止性 forbidden)' if u.get('blocks_pass') else ''}: {unchecked_text(u)}" for u in rows]


def notes_shown(rep: ReviewReport) -> list[str]:
    """The notes without the per-rule "not checked" ones (reports list those in their own section)."""
    own = {unchecked_note(u) for u in rep.unchecked}
    return [n for n in rep.notes if n not in own]


def to_markdown(rep: ReviewReport) -> str:
    """A Markdown report: verdict, findings table, notes, impact, data version, citations."""
    lines = [f"# One-map review 一张图审查: **{verdict_text(rep.verdict)}**", "",
             *[f"- {md_text(x)}" for x in verdict_lines(rep)], "",
             "## 项目 Project", *[f"- {md_text(k)}: {md_text(v)}" for k, v in intake_lines(rep, iso=True)], ""]
    props = proposal_lines(rep)
    if props:
        lines += ["## Proposal", *[f"- {md_text(k)}: {md_text(v)}" for k, v in props], ""]
    f = finding_table(rep).copy()
    lines += ["## Findings", f"Areas 面积: {md_text(areas_line(rep))}", "", _md_table(f), ""]
    if rep.unchecked:
        lines += ["## 未核查 Not checked (no data)", *[f"- {md_text(x)}" for x in unchecked_lines(rep)], ""]
    notes = notes_shown(rep)
    if notes:
        lines += ["## Notes", *[f"- {md_text(n)}" for n in notes], ""]
    if rep.impact is not None and len(rep.impact):
        lines += ["## Coverage impact", _md_table(rep.impact), ""]
    lines += ["## Data checked against", *[f"- {md_text(k)}: {md_text(v)}" for k, v in rep.data_version.items()], "",
              "## Rules", *[f"- **{md_text(r.id)}** ({md_text(r.severity)}): {md_text(r.title_en)} - "
                            f"{md_text(r.citation)}" for r in rep.rules]]
    return "\n".join(lines) + "\n"


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|~"})


def md_text(value: object) -> str:
    """User text made inert in Markdown: HTML escaped, Markdown syntax backslash-escaped, one line."""
    text = " ".join(str(value).split())
    return html.escape(text, quote=True).translate(_MD_SPECIAL)


def _md_table(df: pd.DataFrame) -> str:
    cells = df.astype(object).where(df.notna(), "")
    head = "| " + " | ".join(md_text(c) for c in df.columns) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(md_text(v) for v in row) + " |" for row in cells.to_numpy()]
    return "\n".join([head, sep, *body])


def to_html(rep: ReviewReport, *, map_file: str | None = None) -> str:
    """A self-contained HTML report (no external resources); every value escaped."""
    def table(df: pd.DataFrame) -> str:
        cells = df.astype(object).where(df.notna(), "")
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                       for r in cells.to_numpy())
        return f"<table><tr>{head}</tr>{rows}</table>"

    colour = VERDICT_COLOUR.get(rep.verdict, "#777777")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>One-map review</title><style>"
        "body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px}th{background:#eee}.v{padding:6px 12px;color:#fff;display:inline-block}</style></head><body>",
        f"<h1>One-map review 一张图审查 <span class='v' style='background:{colour}'>"
        f"{html.escape(verdict_text(rep.verdict))}</span></h1>",
        "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in verdict_lines(rep)) + "</ul>",
        "<h2>项目 Project</h2><ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                                             for k, v in intake_lines(rep, iso=True)) + "</ul>",
        "<h2>Proposal</h2><ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                                          for k, v in proposal_lines(rep)) + "</ul>",
        "<h2>Findings</h2>", f"<p>Areas 面积: {html.escape(areas_line(rep))}</p>", table(finding_table(rep)),
    ]
    if rep.unchecked:
        parts.append("<h2>未核查 Not checked (no data)</h2><ul>" + "".join(
            f"<li>{html.escape(x)}</li>" for x in unchecked_lines(rep)) + "</ul>")
    if map_file:
        parts.append(f"<p><a href='{html.escape(map_file)}'>Review map</a></p>")
    notes = notes_shown(rep)
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    if rep.impact is not None and len(rep.impact):
        parts += ["<h2>Coverage impact</h2>", table(rep.impact)]
    parts.append("<h2>Data checked against</h2><ul>" + "".join(
        f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in rep.data_version.items()) + "</ul>")
    parts.append("<h2>Rules</h2><ul>" + "".join(
        f"<li><b>{html.escape(r.id)}</b> ({html.escape(r.severity)}): {html.escape(r.title_en)} - "
        f"{html.escape(r.citation)}</li>" for r in rep.rules) + "</ul></body></html>")
    return "".join(parts)


def review_map(rep: ReviewReport, onemap=None, *, basemap: str = "none", offline: bool = True):
    """The proposal, the constraint layers it touches, and the overlaps highlighted."""
    from cityplan.maps.payload import LayerView
    from cityplan.maps.recipes import Recipe, RecipeLayer, load_labels
    from cityplan.maps.render import compose, recipe_views, source_credits

    touched = rep.findings[rep.findings.hit]
    rules = {r.id: r for r in rep.rules}
    layer_ids = list(dict.fromkeys(lid for rid in touched.rule.unique() for lid in _layer_ids(rules[rid], onemap)))
    recipe = Recipe(path=None, id="review", title_zh="", title_en="",  # type: ignore[arg-type]
                    groups=({"id": "ctx", "title": "约束 Constraints touched"},),
                    layers=tuple(RecipeLayer(layer=lid, group="ctx") for lid in layer_ids))
    views = recipe_views(recipe, onemap) if layer_ids else []
    labels = load_labels(OneMap.coerce(onemap).profile)
    prop = rep.proposal.rename(columns={"feature_name": "name"})
    views.append(LayerView(id="review_proposal", title="拟建项目 Proposal", gdf=prop, group="review",
                           style={"color": "#000000", "fill": "#ffff99", "weight": 3, "fillOpacity": 0.3,
                                  "radius": 7}, fields=["feature"], labels=labels, source="proposal"))
    sev_colour = {"forbidden": "#d7191c", "needs_approval": "#fdae61", "note": "#2b83ba"}
    for sev in DRAW_ORDER:  # the forbidden overlap last: on top
        col = sev_colour[sev]
        part = rep.overlaps[rep.overlaps.severity == sev]
        if len(part):
            views.append(LayerView(id=f"review_overlap_{sev}", title=f"重叠 Overlap: {sev}", gdf=part,
                                   group="review", style={"color": col, "fill": col, "fillOpacity": 0.6,
                                                          "weight": 2}, fields=["rule", "feature"],
                                   labels=labels, source="cityplan review"))
    panel = {"title": f"Review: {verdict_text(rep.verdict)}",
             "sections": [{"title": "Findings", "columns": ["feature", "rule", "severity", "area m²", "overlaps"],
                           "rows": [[r.feature_name, r.rule, r.severity, r.area_m2, r.features_hit]
                                    for r in by_severity(touched).itertuples()]}],
             "notes": [rep.verdict_reason, *rep.notes,
                       f"areas in {rep.areas_crs}; one map built "
                       f"{local_iso(rep.data_version.get('onemap_built_at', '?'), rep.timezone)}"]}
    return compose(views, title=f"One-map review {verdict_text(rep.verdict)}",
                   groups=[{"id": "review", "title": "审查 Review"}, {"id": "ctx", "title": "约束 Constraints"}],
                   basemap=basemap, offline=offline, panel=panel, fit_bounds=_focus(rep),
                   attributions=source_credits(onemap, views))


def _layer_ids(rule, onemap) -> list[str]:
    """The one map's layers behind a rule (its ``layers``, or those with its ``role``)."""
    from cityplan.review.constraints import rule_layers

    return rule_layers(rule, OneMap.coerce(onemap))[0]


def _focus(rep: ReviewReport, pad_m: float = 150.0) -> tuple[float, float, float, float]:
    """The proposal's lon/lat box with a margin: the review map opens zoomed to it."""
    from cityplan.crs import working_crs

    prop = rep.proposal
    metric = prop.to_crs(working_crs(prop))
    x0, y0, x1, y1 = metric.total_bounds
    pad = max(pad_m, 0.15 * max(x1 - x0, y1 - y0))
    import geopandas as gpd

    corners = gpd.GeoSeries.from_xy([x0 - pad, x1 + pad], [y0 - pad, y1 + pad], crs=metric.crs).to_crs(4326)
    b = corners.total_bounds
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
