"""The supervision page (实施监督): the district x indicator matrix in red / yellow / green with the
figures, the warnings list, an as-of date, what changed since an earlier build, and an old build
opened read-only. Thin: :mod:`cityplan.services.monitor` computes; this parses, checks the login
and renders. District users see their district first (and its warnings); admins the city."""

from __future__ import annotations

import datetime as dt
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cityplan._errors import CityplanError
from cityplan.server.auth import current_user
from cityplan.server.context import context
from cityplan.server.web import login_redirect, render

WARN_SHOW = ["level", "task_id", "district", "indicator", "value_pct", "expected_pct", "gap_points", "since",
             "last_report", "reported_by", "reason", "link"]
LEVEL_ZH = {"red": "红 red", "yellow": "黄 yellow", "green": "绿 green", "grey": "未检查 not checked"}


def _as_of(request: Request) -> tuple[dt.date | None, str]:
    raw = (request.query_params.get("as_of") or "").strip()[:10]
    if not raw:
        return None, ""
    try:
        return dt.date.fromisoformat(raw), ""
    except ValueError:
        return None, f"as_of {raw!r} is not a date (YYYY-MM-DD); today is shown"


def supervision_page(request: Request) -> Response:
    """``GET /supervision[?as_of=YYYY-MM-DD]``."""
    from cityplan.services.monitor import supervise

    user = current_user(request)
    if user is None:
        return login_redirect(request)
    state = context(request)
    day, problem = _as_of(request)
    with state.progress.lock:
        ctx = state.progress.context()
        res = supervise(ctx, as_of=day)
    mine = user.adcode if user.role == "district" and user.adcode else None
    columns, rows = res.matrix(first=mine)
    warn = res.warnings
    if mine:
        warn = warn[warn["adcode"] == mine]
    builds = state.om.builds()[["build_id", "built_at", "current"]].to_dict("records")
    chart = (request.query_params.get("chart") or "").strip()[:20]
    chart_district = (request.query_params.get("district") or "").strip()[:20]
    return render(request, "supervision.html.j2", title="Supervision 实施监督", as_of=res.as_of.isoformat(),
                  problem=problem, columns=columns, rows=rows, counts=res.counts(), levels=LEVEL_ZH,
                  warnings=warn[[*WARN_SHOW, "adcode"]].to_dict("records"), warn_columns=WARN_SHOW,
                  assumptions=list(res.rules.assumptions), rules=res.rules.source, mine=mine or "",
                  build=res.build_info, builds=builds, chart=chart, chart_district=chart_district)


def diff_page(request: Request) -> Response:
    """``GET /supervision/diff[?old=ID&new=ID]``: what changed since build ``old`` (default the
    build before the current one)."""
    from cityplan.services.monitor import compare_builds, diff_payload

    if current_user(request) is None:
        return login_redirect(request)
    state = context(request)
    old = (request.query_params.get("old") or "").strip()[:40] or None
    new = (request.query_params.get("new") or "").strip()[:40] or None
    try:
        d = diff_payload(compare_builds(state.om, old, new))
    except CityplanError as exc:
        return render(request, "error.html.j2", status=404, title="404", message=str(exc))
    return render(request, "supervision_diff.html.j2", title="What changed 变化", diff=d)


def build_page(request: Request) -> Response:
    """``GET /supervision/builds/{bid}``: a kept build, read-only - its build info and layers."""
    if current_user(request) is None:
        return login_redirect(request)
    state = context(request)
    try:
        om = state.om.open_build(request.path_params["bid"][:40])
    except CityplanError as exc:
        return render(request, "error.html.j2", status=404, title="404", message=str(exc))
    cat = om.catalog
    layers = [{"layer": r["layer"], "title": f"{r.get('title_zh', '')} {r.get('title_en', '')}",
               "features": int(r["features"])} for _, r in cat.iterrows()]
    return render(request, "supervision_build.html.j2", title="Build 构建", info=om.build_info, layers=layers,
                  current=om is state.om)


def sites_json(request: Request) -> Response:
    """``GET /supervision/sites.json[?as_of=]``: plan sites completed by the date, for the map slider."""
    from cityplan.services.monitor import completed_sites

    if current_user(request) is None:
        return JSONResponse({"error": "log in"}, status_code=401)
    state = context(request)
    day, _problem = _as_of(request)
    with state.progress.lock:
        data = completed_sites(state.progress.context(), day)
    return JSONResponse(data)


def chart_svg(request: Request) -> Response:
    """``GET /supervision/chart.svg?task=ID[&district=ADCODE][&as_of=]``: the task's burn-up chart with
    the profile's pace and thresholds (SVG, shown in an ``<img>``)."""
    from cityplan.monitor.rules import chart_pace
    from cityplan.progress.history import burnup_svg, task_history

    if current_user(request) is None:
        return Response("log in", status_code=401)
    state = context(request)
    tid = (request.query_params.get("task") or "").strip()[:20]
    district = (request.query_params.get("district") or "").strip()[:20] or None
    day, _problem = _as_of(request)
    with state.progress.lock:
        ctx = state.progress.context()
        if tid not in ctx.register.ids:
            return Response("no such task", status_code=404)
        try:
            h = task_history(ctx, tid, district=district, until=day)
        except CityplanError as exc:
            return Response(str(exc), status_code=404, media_type="text/plain; charset=utf-8")
    item = ctx.register.get(tid)
    where = h.district.iloc[0] if len(h) else "(all)"
    svg = burnup_svg(h, title=f"{tid} {item.title_zh} · {where}", title_en=f"{tid} {item.title_en}",
                     pace=chart_pace(state.om.profile, tid))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


def script(_request: Request) -> Response:
    """``GET /supervision/supervision.js``: the page's own script (CSP: scripts from this server only)."""
    body = (resources.files("cityplan.server") / "static" / "supervision.js").read_bytes()
    return Response(body, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "public, max-age=3600"})


def routes() -> list[Route]:
    """The supervision routes (all GET, read-only)."""
    return [Route("/supervision", supervision_page), Route("/supervision/diff", diff_page),
            Route("/supervision/builds/{bid}", build_page), Route("/supervision/sites.json", sites_json),
            Route("/supervision/supervision.js", script), Route("/supervision/chart.svg", chart_svg)]
