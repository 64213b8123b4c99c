"""The progress desk and district dashboards.

``GET /districts`` lists the districts; ``GET /districts/{adcode}`` shows the district's progress
per target, the burn-up chart of a task (``?task=``), coverage per preset with its gaps on the map
and its uncovered compounds listed with their 街道 (``?preset=``; exported by
``GET /districts/{adcode}/uncovered.{csv,xlsx,geojson}?preset=``) and the district's sites with a
status form. Coverage figures are the build's stored results (:mod:`cityplan.services.coverage`),
the same for every server process and the district report; while they are being computed the page
says so and reloads itself. A district office (bound to one
adcode) and admins may write: ``POST /districts/{adcode}/progress`` (the filled-in template, all
rows or none, with the importer's per-row report) and ``POST /districts/{adcode}/sites/{site}/status``.
Every other account gets 403: the role is checked here; the ownership rule (the account's
adcode *and* the district of every site and row written; rows naming no district get the
office's) is :mod:`cityplan.services.progress`'s, which this desk calls.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cityplan._errors import CityplanError
from cityplan.coverage.run import HEADLINE, covered_definition, scenario_label, uncovered_compounds
from cityplan.maps.payload import LayerView, layer_payload
from cityplan.progress.asof import quota_basis_text
from cityplan.progress.context import ProgressContext
from cityplan.progress.events import STATUSES
from cityplan.progress.history import task_history
from cityplan.progress.importer import problem_text
from cityplan.progress.report import attach_standards
from cityplan.progress.template import write_template
from cityplan.server import csrf, uploads
from cityplan.server.auth import current_user, session_of
from cityplan.server.chart import burnup_series
from cityplan.server.context import context
from cityplan.server.web import login_redirect, page_json, record, refuse, render
from cityplan.services.coverage import (
    COMPUTING,
    UNCOVERED_FORMATS,
    uncovered_list,
    write_uncovered,
)
from cityplan.services.progress import (
    DistrictWriteRefusedError,
    SiteNotFoundError,
    import_district_progress,
    record_site_status,
)
from cityplan.text import bilingual, code_label, languages_of

logger = logging.getLogger(__name__)

PROGRESS_SHOW = ["task_id", "title_zh", "metric", "unit", "quota", "quota_basis", "planned", "achieved", "ratio",
                 "sites_completed", "status", "checked_by", "last_report"]
#: the uncovered compounds' columns on the dashboard (the exports have every column and the geometry)
UNCOVERED_SHOW = ["name", "subdistrict", "population_est", "nearest_facility", "distance_m", "time_min",
                  "land_in_service_area", "status"]
#: uncovered compounds listed on the page (all of them are in the exports)
UNCOVERED_LIMIT = 300
#: seconds between reloads of a dashboard whose coverage is still being computed
REFRESH_S = 15
SITE_SHOW = ["site_id", "name", "task_id", "metric", "unit", "planned", "status", "achieved_quantity", "last_report"]
#: the upload's refusals (``server/uploads.py``) in Chinese: English pattern -> (中文, English)
_UPLOAD_ZH = [
    (r"the upload is (.*); the limit is (.*)", "上传文件 {0}, 超过上限 {1}", "the upload is {0}; the limit is {1}"),
    (r"the (?:upload|file) exceeds the limit of (.*)", "文件超过上限 {0}", "the file exceeds the limit of {0}"),
    (r"no file in the upload; choose a file", "没有收到文件; 请选择文件", "no file in the upload; choose a file"),
    (r"(.*): the file is empty", "{0}: 文件为空", "{0}: the file is empty"),
    (r"(.*): the content is (.*); expected (.*)", "{0}: 文件内容是 {1}, 应为 {2}", "{0}: the content is {1}; expected {2}"),
    (r"(.*): named (.*) but the content is (.*); .*", "{0}: 扩展名为 {1}, 但内容是 {2}; 请改名或上传正确的文件",
     "{0}: named {1} but the content is {2}; rename the file or upload the right one"),
    (r"malformed multipart body .*", "上传内容格式错误; 请用本页表单重新上传", "malformed upload; upload again with the form on this page"),
    (r"missing or wrong CSRF token.*", "表单已过期或无效; 请刷新页面后重试", "missing or wrong CSRF token (reload the page and try again)"),
    (r"send the file as multipart/form-data.*", "请用本页表单上传文件", "upload the file with the form on this page"),
]
_UPLOAD = [(re.compile(pat + r"\Z", re.S), zh, en) for pat, zh, en in _UPLOAD_ZH]


def _message(msg: str, langs: Any) -> str:
    """An upload's or import's refusal on the page: Chinese first, the web's words (no CLI)."""
    for pat, zh, en in _UPLOAD:
        m = pat.match(msg)
        if m:
            return bilingual(zh.format(*m.groups()), en.format(*m.groups()), langs)
    return problem_text(msg, langs)


def _cannot_write(state: Any, user: Any, adcode: str) -> str:
    """Why ``user`` may not write district ``adcode``, in the profile's languages."""
    langs = languages_of(state.om)
    return (f"{code_label('role', user.role, langs)} {user.name}: "
            + bilingual(f"不能填报区 {adcode}", f"cannot write district {adcode}", langs))


def _not_found(state: Any, zh: str, en: str) -> Response:
    """A 404 of a download route, in the profile's languages (plain UTF-8 text)."""
    return Response(bilingual(zh, en, languages_of(state.om)), status_code=404, media_type="text/plain; charset=utf-8")


def _web_problems(problems: pd.DataFrame, langs: Any) -> list[dict[str, Any]]:
    """Rejected rows for the page: problem and fix in the profile's languages (codes unchanged)."""
    rows = problems.astype(object).where(problems.notna(), "").to_dict("records")
    for r in rows:
        r["problem"], r["fix"] = problem_text(r["problem"], langs), problem_text(r["fix"], langs)
    return rows


def _district(ctx: ProgressContext, adcode: str) -> pd.Series | None:
    hit = ctx.districts[ctx.districts["adcode"].astype(str) == str(adcode)]
    return None if hit.empty else hit.iloc[0]


def districts_index(request: Request) -> Response:
    """``GET /districts``."""
    if current_user(request) is None:
        return login_redirect(request)
    ctx = context(request).progress.context()
    rows = ctx.districts[["adcode", "name"] + [c for c in ("name_en",) if c in ctx.districts.columns]]
    return render(request, "districts.html.j2", title=bilingual("分区", "Districts", languages_of(context(request).om)), districts=rows.to_dict("records"))


def _dashboard(request: Request, adcode: str, *, report: dict[str, Any] | None = None, status: int = 200,
               message: str = "") -> Response:
    state = context(request)
    with state.progress.lock:
        ctx = state.progress.context()
        d = _district(ctx, adcode)
        if d is None:
            return render(request, "error.html.j2", status=404, title="404",
                          message=bilingual(f"没有区 {adcode}", f"no district {adcode}", languages_of(state.om)))
        table = ctx.table(by="district")
        mine = table[table["adcode"].astype(str) == adcode]
        sites = ctx.site_status()
        sites = sites[sites["adcode"].astype(str) == adcode]
        tasks = list(sites["task_id"].value_counts().index) + [t for t in mine["task_id"].unique()
                                                               if t not in set(sites["task_id"])]
        task = request.query_params.get("task") or (tasks[0] if tasks else "")
        charts: list[dict[str, Any]] = []
        if task in ctx.register.ids:
            charts = burnup_series(task_history(ctx, task, district=adcode))
    cov = state.coverage
    cov.start()  # computes in the background when no process has stored this build's coverage yet
    langs = languages_of(state.om)
    states = cov.states()  # read once per page: every process reads the same stored rows
    preset = request.query_params.get("preset") or (cov.presets[0] if cov.presets else "")
    cov_rows, static = [], []
    stored: dict[str, Any] = {}
    for pid in cov.presets:
        st = cov.result(pid, states)
        if st is None:
            what, why = cov.state(pid, states)
            cov_rows.append({"preset": pid, "state": what, "reason": why})
            continue
        stored[pid] = st
        res = st.result
        cov_rows.append(coverage_row(res, pid, adcode, langs))
        gaps = res.gaps[res.gaps["district"] == d["name"]] if "district" in res.gaps.columns else res.gaps.iloc[:0]
        if pid == preset and len(gaps):
            static.append(layer_payload(LayerView(
                id="coverage_gaps", title=f"{bilingual('未覆盖', 'Gaps', langs)} {pid} · {scenario_label(res.scenario, langs)}", gdf=gaps,
                group="district", style={"color": "#b2182b", "fill": "#ef8a62", "fillOpacity": 0.6, "weight": 1},
                fields=[c for c in ("district", "gap_area_m2", "population_uncovered") if c in gaps.columns],
                source="cityplan coverage")))
    computing = any(r["state"] == COMPUTING for r in cov_rows)
    # reload until stored, but never away from an import's per-row report or a message
    refresh = computing and request.method == "GET" and report is None and not message

    def lookup(pid: str) -> Any:
        if pid in stored:
            return stored[pid].result
        return cov.lookup(pid)

    uncovered, uncovered_total = _uncovered_rows(state.om, stored.get(preset), preset, adcode)
    mine = attach_standards(mine, lookup, langs)
    mine = mine.assign(quota_basis=[quota_basis_text(v, langs) for v in mine["quota_basis"]]) \
        if "quota_basis" in mine.columns else mine
    standards = standard_rows(ctx.register, lookup, adcode, langs)
    boundary = ctx.districts[ctx.districts["adcode"].astype(str) == adcode]
    static.insert(0, layer_payload(LayerView(
        id="district_boundary", title=f"{d['name']}", gdf=boundary, group="district",
        style={"color": "#222222", "weight": 3, "fill": False}, fields=["name", "adcode"], source="one map")))
    b = static[0]["bounds"]
    ml = state.map_layers
    plan_ids = [lid for lid in state.om.plan_layer_ids if ml.get(lid) is not None]
    cfg = ml.page_config(ids=["residential", *plan_ids], show=set(plan_ids))
    cfg["groups"] = [{"id": "district", "title": bilingual("分区", "District", langs)}, *cfg["groups"]]
    cfg.update({"static": static, "fit": [[b[1], b[0]], [b[3], b[2]]] if b else None})
    user = current_user(request)
    can_write = bool(user and user.can_write_district(adcode))
    resp = render(request, "district.html.j2", status=status, title=f"{d['name']} {bilingual('进度', 'progress', langs)}", district=d.to_dict(),
                  adcode=adcode, progress=mine[[c for c in PROGRESS_SHOW if c in mine.columns]].to_dict("records"),
                  progress_columns=[c for c in PROGRESS_SHOW if c in mine.columns],
                  sites=sites[[c for c in SITE_SHOW if c in sites.columns]].to_dict("records"),
                  site_columns=[c for c in SITE_SHOW if c in sites.columns], tasks=tasks, task=task, charts=charts,
                  coverage=cov_rows, preset=preset, can_write=can_write, statuses=STATUSES, report=report,
                  message=_message(message, langs) if message else "", page=page_json({"map": cfg}), max_mb=state.max_upload // (1024 * 1024),
                  standards=standards, headline=scenario_label(HEADLINE, langs),
                  planned_label=scenario_label("planned", langs), covered_definition=covered_definition(langs),
                  computing=computing, refresh_s=REFRESH_S if refresh else None, uncovered=uncovered, uncovered_total=uncovered_total,
                  uncovered_columns=UNCOVERED_SHOW, uncovered_limit=UNCOVERED_LIMIT,
                  uncovered_preset=preset if preset in stored else "", formats=UNCOVERED_FORMATS)
    if refresh:  # the page asks again until every preset is stored (also <meta http-equiv=refresh>)
        resp.headers["Refresh"] = str(REFRESH_S)
    return resp


def _uncovered_rows(om: Any, st: Any, preset: str, adcode: str) -> tuple[list[dict[str, Any]], int]:
    """The first :data:`UNCOVERED_LIMIT` uncovered compounds of the district for ``preset`` (the
    stored result ``st``) and how many there are."""
    if st is None:
        return [], 0
    table = uncovered_list(om, preset, adcode, stored=st)
    rows = pd.DataFrame(table.drop(columns="geometry")).reindex(columns=UNCOVERED_SHOW).head(UNCOVERED_LIMIT)
    return rows.astype(object).where(rows.notna(), None).to_dict("records"), len(table)


def coverage_row(res: Any, preset: str, adcode: str, languages: Any = None) -> dict[str, Any]:
    """One preset's row on the district dashboard: the existing scenario's shares (the headline),
    the planned population share beside them with how much of planned is illustrative, and the
    uncovered compounds counted as the district report counts them
    (:func:`cityplan.coverage.run.uncovered_compounds`)."""
    head = res.scenario_rows(HEADLINE)
    r = head[head["adcode"].astype(str) == adcode]
    r = r.iloc[0].to_dict() if len(r) else {}
    gaps = res.gaps[res.gaps["adcode"].astype(str) == adcode] if "adcode" in res.gaps.columns else None
    if gaps is None:
        name = r.get("district")
        gaps = res.gaps[res.gaps["district"] == name] if "district" in res.gaps.columns else res.gaps.iloc[:0]
    planned = res.share("planned", adcode, "population_share")
    return {"preset": preset, "state": "done", "scenario": res.scenario,
            "population_share": r.get("population_share"), "area_share": r.get("area_share"),
            "population": r.get("population"),
            "planned_population_share": planned if planned == planned else None,
            "planned_basis": res.planned_basis(languages) if len(res.scenario_rows("planned")) else "",
            "uncovered": len(uncovered_compounds(res, adcode)),
            "gap_area_m2": float(gaps["gap_area_m2"].sum()) if "gap_area_m2" in gaps.columns else None}


def standard_rows(register: Any, lookup: Any, adcode: str, languages: Any = None) -> list[dict[str, Any]]:
    """The register's standards (targets with ``check:``) with this district's coverage figure."""
    from cityplan.progress.asof import check_preset
    from cityplan.progress.report import standard_figure

    out = []
    for item in register.items:
        for t in item.targets:
            preset = check_preset(t.check)
            if preset is None:
                continue
            res = lookup(preset)
            out.append({"task_id": item.id, "title_zh": item.title_zh, "metric": t.metric,
                        "standard": f"{t.value:g} {t.unit}",
                        "checked_by": res if isinstance(res, str) else standard_figure(res, adcode, languages)})
    return out


def district_page(request: Request) -> Response:
    """``GET /districts/{adcode}``."""
    if current_user(request) is None:
        return login_redirect(request)
    return _dashboard(request, request.path_params["adcode"])


def template_download(request: Request) -> Response:
    """``GET /districts/{adcode}/template.xlsx``: the district's reporting sheet."""
    if current_user(request) is None:
        return login_redirect(request)
    adcode = request.path_params["adcode"]
    state = context(request)
    with state.progress.lock:
        ctx = state.progress.context()
        if _district(ctx, adcode) is None:
            return _not_found(state, f"没有区 {adcode}", f"no such district {adcode}")
        tmp = state.data_dir / "tmp" / f"template-{secrets.token_hex(8)}.xlsx"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_template(ctx, adcode, tmp)
            body = tmp.read_bytes()
        finally:
            tmp.unlink(missing_ok=True)
    return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="progress-{adcode}.xlsx"'})


_MEDIA = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def uncovered_download(request: Request) -> Response:
    """``GET /districts/{adcode}/uncovered.{csv|xlsx|geojson}?preset=P``: the district's uncovered
    compounds of a preset (headline scenario: real facilities only) with their 街道, from the stored
    coverage; the dashboard's role rule (any logged-in account). 503 while it is being computed."""
    if current_user(request) is None:
        return login_redirect(request)
    adcode, fmt = request.path_params["adcode"], request.path_params["fmt"]
    state = context(request)
    if fmt not in UNCOVERED_FORMATS:
        return _not_found(state, f"未知格式 {fmt!r}; 可用 {', '.join(UNCOVERED_FORMATS)}",
                          f"unknown format {fmt!r}; use {', '.join(UNCOVERED_FORMATS)}")
    with state.progress.lock:
        if _district(state.progress.context(), adcode) is None:
            return _not_found(state, f"没有区 {adcode}", f"no such district {adcode}")
    cov = state.coverage
    preset = request.query_params.get("preset") or (cov.presets[0] if cov.presets else "")
    if preset not in cov.presets:
        return _not_found(state, f"没有覆盖标准 {preset!r}", f"no coverage preset {preset!r}")
    cov.start()
    st = cov.result(preset)
    if st is None:
        what, why = cov.state(preset)
        return Response(f"coverage {preset}: {what} {why}".strip(), status_code=503,
                        headers={"Retry-After": str(REFRESH_S)})
    table = uncovered_list(state.om, preset, adcode, stored=st)
    tmp = state.data_dir / "tmp" / f"uncovered-{secrets.token_hex(8)}.{fmt}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_uncovered(table, tmp, fmt)
        body = tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    return Response(body, media_type=_MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="uncovered-{adcode}-{preset}.{fmt}"'})


async def progress_upload(request: Request) -> Response:
    """``POST /districts/{adcode}/progress``: import the filled-in template (all rows or none)."""
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    adcode = request.path_params["adcode"]
    state = context(request)
    if not user.can_write_district(adcode):
        return await run_in_threadpool(refuse, request, user, "progress.import", adcode, _cannot_write(state, user, adcode))
    session = session_of(request)
    try:
        up = await uploads.receive(request, state.data_dir, max_bytes=state.max_upload, kinds=uploads.PROGRESS_KINDS,
                                   csrf_ok=lambda f: csrf.check(request, session, f.get(csrf.FIELD)))
    except uploads.UploadError as exc:
        if exc.status == 403:
            return await run_in_threadpool(refuse, request, user, "progress.import", adcode,
                                           _message(str(exc), languages_of(state.om)))
        await run_in_threadpool(record, request, user, "progress.import", adcode, "rejected", why=str(exc))
        return await run_in_threadpool(_dashboard, request, adcode, status=exc.status, message=str(exc))
    try:  # parsed in a worker process, bounded in rows, size and time, outside the progress lock
        sheet = await state.reviews.parse_progress(str(up.path))
    except CityplanError as exc:
        msg = str(exc).replace(str(up.path), up.file_name)
        await run_in_threadpool(record, request, user, "progress.import", adcode, "rejected", why=msg, file=up.file_name)
        return await run_in_threadpool(_dashboard, request, adcode, status=422, message=msg)
    return await run_in_threadpool(_import, request, user, adcode, up, sheet)


def _office(user: Any) -> str | None:
    """The district a district office's account is bound to (None: admins write any district)."""
    return user.adcode if user.role == "district" else None


def _import(request: Request, user: Any, adcode: str, up: uploads.Upload, sheet: tuple[Any, dict[str, str]]) -> Response:
    state = context(request)
    with state.progress.lock:
        ctx = state.progress.context()
        try:
            res = import_district_progress(ctx, up.path, reported_by=user.name, district=adcode, office=_office(user),
                                           sheet=sheet)
        except DistrictWriteRefusedError as exc:
            return refuse(request, user, "progress.import", adcode, str(exc))
        except CityplanError as exc:
            msg = str(exc).replace(str(up.path), up.file_name)
            record(request, user, "progress.import", adcode, "rejected", why=msg, file=up.file_name)
            return _dashboard(request, adcode, status=422, message=msg)
    report = {"file": up.file_name, "rows_read": res.rows_read, "rows_reported": res.rows_reported,
              "recorded": res.recorded, "already": res.already_recorded, "ok": res.ok,
              "problems": _web_problems(res.problems, languages_of(state.om))}
    record(request, user, "progress.import", adcode, "ok" if res.ok else "rejected", file=up.file_name,
           sha256=up.sha256, recorded=res.recorded, problems=len(res.problems))
    return _dashboard(request, adcode, report=report, status=200 if res.ok else 422)


async def site_status(request: Request) -> Response:
    """``POST /districts/{adcode}/sites/{site}/status``: one site's status from the form."""
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    form = await request.form(max_files=0, max_fields=20)
    return await run_in_threadpool(_site_status, request, user, dict(form))


def _site_status(request: Request, user: Any, form: dict[str, Any]) -> Response:
    adcode, sid = request.path_params["adcode"], request.path_params["site"]
    if not csrf.check(request, session_of(request), str(form.get(csrf.FIELD) or "")):
        return refuse(request, user, "progress.status", sid, _message("missing or wrong CSRF token (reload the page and try again)",
                                                                      languages_of(context(request).om)))
    if not user.can_write_district(adcode):
        return refuse(request, user, "progress.status", sid, _cannot_write(context(request), user, adcode))
    state = context(request)
    with state.progress.lock:
        ctx = state.progress.context()
        try:
            change = record_site_status(ctx, adcode=adcode, site_id=sid, status=str(form.get("status") or ""),
                                        reported_by=user.name, as_of=str(form.get("as_of") or "") or None,
                                        achieved=str(form.get("achieved") or "") or None,
                                        note=str(form.get("note") or ""), office=_office(user), source="web form")
        except SiteNotFoundError:
            return render(request, "error.html.j2", status=404, title="404", message=bilingual(f"没有点位 {sid}", f"no site {sid}", languages_of(state.om)))
        except DistrictWriteRefusedError as exc:
            return refuse(request, user, "progress.status", sid, str(exc))
    if not change.ok:
        report = {"file": "form", "ok": False, "rows_read": 1, "rows_reported": 0, "recorded": 0, "already": 0,
                  "problems": _web_problems(change.problems, languages_of(state.om))}
        record(request, user, "progress.status", sid, "rejected", problems=len(change.problems))
        return _dashboard(request, adcode, report=report, status=422)
    ev = change.event
    record(request, user, "progress.status", sid, status=ev["status"], as_of=ev["as_of"], recorded=change.recorded)
    return RedirectResponse(f"/districts/{adcode}?task={change.task_id}", status_code=303)


def routes() -> list[Route]:
    """Progress desk routes."""
    return [Route("/districts", districts_index), Route("/districts/{adcode}", district_page),
            Route("/districts/{adcode}/template.xlsx", template_download),
            Route("/districts/{adcode}/uncovered.{fmt}", uncovered_download),
            Route("/districts/{adcode}/progress", progress_upload, methods=["POST"]),
            Route("/districts/{adcode}/sites/{site}/status", site_status, methods=["POST"])]
