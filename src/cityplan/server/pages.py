"""Read-only pages: home, the one map, the task list and task pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan.maps.payload import layer_payload
from cityplan.maps.recipes import load_recipe
from cityplan.maps.render import recipe_views
from cityplan.server.auth import current_user
from cityplan.server.context import context
from cityplan.server.web import login_redirect, page_json, render
from cityplan.text import bilingual, languages_of

TASK_SHOW = ["district", "metric", "unit", "target", "quota", "quota_basis", "planned", "achieved", "ratio",
             "sites_completed", "status", "checked_by"]


def home(request: Request) -> Response:
    """``GET /``."""
    if current_user(request) is None:
        return login_redirect(request)
    om = context(request).om
    return render(request, "home.html.j2", title=f"{bilingual('一张图', 'One map', languages_of(om))} {om.city}",
                  build=om.build_info, layers=len(om.layer_ids))


def map_page(request: Request) -> Response:
    """``GET /map``: the one map; layers are fetched for the view by ``server.js``."""
    if current_user(request) is None:
        return login_redirect(request)
    cfg = context(request).map_layers.page_config()
    return render(request, "map.html.j2", title=cfg["title"], page=page_json({"map": cfg}))


def tasks_index(request: Request) -> Response:
    """``GET /tasks``: the register with the city-wide progress of each target."""
    if current_user(request) is None:
        return login_redirect(request)
    state = context(request)
    ctx = state.progress.context()
    table = _labelled(state, ctx.table())
    rows = table[[c for c in ("task_id", "title_zh", "title_en", "metric", "unit", "target", "planned", "achieved",
                              "ratio", "status", "checked_by") if c in table.columns]]
    return render(request, "tasks.html.j2", title=bilingual("任务", "Tasks", languages_of(state.om)), rows=rows.to_dict("records"), columns=list(rows.columns))


def task_page(request: Request) -> Response:
    """``GET /tasks/{id}``: targets, progress per district, the task's sites on the map."""
    if current_user(request) is None:
        return login_redirect(request)
    state = context(request)
    tid = request.path_params["tid"]
    with state.progress.lock:
        ctx = state.progress.context()
        if tid not in ctx.register.ids:
            return render(request, "error.html.j2", status=404, title="404",
                          message=f"{bilingual('没有这项任务', 'no such task', languages_of(state.om))}: {tid}")
        item = ctx.register.get(tid)
        table = ctx.table(by="district")
    mine = _labelled(state, table[table["task_id"] == tid])
    cols = [c for c in TASK_SHOW if c in mine.columns]
    views = [v for v in recipe_views(load_recipe("task", state.om.profile), state.om, task=tid) if v.group == "plan"]
    static = [layer_payload(v) for v in views]
    bounds = [p["bounds"] for p in static if p["bounds"]]
    fit = None
    if bounds:
        fit = [[min(b[1] for b in bounds), min(b[0] for b in bounds)],
               [max(b[3] for b in bounds), max(b[2] for b in bounds)]]
    ml = state.map_layers
    around = [state.om.layer_id_for(role, required=False) for role in ("districts", "metro_lines", "parks")]
    cfg = ml.page_config(ids=[lid for lid in around if lid is not None and ml.get(lid) is not None])
    cfg["groups"] = [{"id": "plan", "title": bilingual("规划任务", "Plan tasks", languages_of(state.om))}, *[g for g in cfg["groups"] if g["id"] != "plan"]]
    cfg.update({"static": static, "fit": fit})
    return render(request, "task.html.j2", title=f"{item.id} {item.title_zh}", item=item, columns=cols,
                  rows=mine[cols].to_dict("records"), page=page_json({"map": cfg}))


def _labelled(state, table):
    """Progress rows saying what a number is: a standard with the coverage figure that checks it
    (the existing scenario, from the background coverage), a quota derived by cityplan marked."""
    from cityplan.progress.asof import quota_basis_text
    from cityplan.progress.report import attach_standards
    from cityplan.text import languages_of

    langs = languages_of(state.om)
    cov = state.coverage
    if "checked_by" in table.columns and table["checked_by"].astype(bool).any():
        cov.start()
        table = attach_standards(table, cov.lookup, langs)
    if "quota_basis" in table.columns:
        table = table.assign(quota_basis=[quota_basis_text(v, langs) for v in table["quota_basis"]])
    return table


def routes() -> list[Route]:
    """Page routes."""
    return [Route("/", home), Route("/map", map_page), Route("/tasks", tasks_index), Route("/tasks/{tid}", task_page)]
