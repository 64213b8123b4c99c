"""The review desk: upload a red line, get the verdict, findings and the map zoomed to it.

A thin adapter over :mod:`cityplan.services.reviews` (the use case the CLI's ``cityplan review
--store`` / ``review list`` / ``review opinion`` share): it parses the request, checks the role,
calls the service (the review runs in :class:`cityplan.services.review_pool.ReviewPool`) and
renders. The form asks what the review is about - 项目名称 project, 申请单位 applicant, 项目类型
project type (required; the codes of :data:`cityplan.review.rules.PROJECT_TYPES`) and the 坐标系
CRS when the file carries none - so the web gives the verdict the CLI gives with the same ``--type``.
Times are stored in UTC and shown in the city profile's time zone.
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import BrokenExecutor
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from cityplan._errors import CityplanError
from cityplan.review.check import IMPACT_PRESETS, verdict_text
from cityplan.review.clock import local_text
from cityplan.review.intake import PROJECT_TYPE_LABELS, Intake, choose_crs, crs_choices, crs_text
from cityplan.review.report import by_severity
from cityplan.server import csrf, uploads
from cityplan.server.auth import client_address, current_user, session_of
from cityplan.server.context import context
from cityplan.server.web import login_redirect, page_json, record, refuse, render
from cityplan.services.review_pool import ReviewBusyError
from cityplan.services.reviews import (
    INTAKE_FIELDS,
    get_review,
    list_reviews,
    new_review_id,
    remember,
    review_layers,
    utc_now,
)
from cityplan.services.reviews import cell_text as _text
from cityplan.text import bilingual, code_label, languages_of

logger = logging.getLogger(__name__)

CRS_RE = re.compile(r"^[A-Za-z0-9:_.\- ]{0,64}$")
#: findings columns of the verdict page (area columns only where the map's profile lists the unit)
FINDING_SHOW = ["feature_name", "rule", "title", "severity", "hit", "area_m2", "area_ha", "area_mu", "area_km2",
                "share", "length_m", "distance_m", "message"]


def _tz(request: Request) -> str:
    return context(request).om.profile.settings.timezone


def _langs(request: Request) -> tuple[str, ...]:
    return languages_of(context(request).om)


def _listed(r: dict[str, Any], tz: str, langs: tuple[str, ...]) -> dict[str, Any]:
    """A stored review's row as the list shows it: intake fields as text, times in ``tz``, the
    project type in words (the verdict stays a code: the page shows it through ``code``)."""
    out = {**dict.fromkeys(INTAKE_FIELDS, ""), **{k: _text(v) for k, v in r.items()}}
    out["created_local"] = local_text(out.get("created_at"), tz)
    out["built_local"] = local_text(out.get("built_at"), tz)
    out["project_type_label"] = code_label("project_type", out.get("project_type", ""), langs)
    return out


def review_form(request: Request, *, message: str = "", status: int = 200,
                form: dict[str, str] | None = None) -> Response:
    """The upload form and the stored reviews (``form``: the values to fill in again)."""
    tz, langs = _tz(request), _langs(request)
    reviews = [_listed(r, tz, langs) for r in list_reviews(context(request).om.store).head(200).to_dict("records")]
    settings = context(request).om.profile.settings
    china = settings.country == "CN" or bool(settings.datum_checks)
    return render(request, "review_form.html.j2", status=status, title=bilingual("审查", "Review desk", langs),
                  message=message, reviews=reviews,
                  facility_types=[(t, code_label("facility_type", t, langs)) for t in sorted(IMPACT_PRESETS)],
                  project_types={t: code_label("project_type", t, langs) for t in PROJECT_TYPE_LABELS},
                  crs_groups=crs_choices(china), form=form or {},
                  max_mb=context(request).max_upload // (1024 * 1024))


def read_intake(fields: dict[str, str]) -> tuple[Intake, str | None]:
    """The form's intake and facility type; :class:`CityplanError` naming the field otherwise."""
    ptype = (fields.get("project_type") or "").strip()
    if not ptype:
        msg = "项目类型 Project type: choose one (the review's rules depend on it)"
        raise CityplanError(msg)
    if ptype not in PROJECT_TYPE_LABELS:
        msg = f"项目类型 Project type: {ptype!r} 不是可选类型 is not one of the list; choose one from the form"
        raise CityplanError(msg)
    crs_other = (fields.get("crs_epsg") or "").strip()
    if crs_other and not CRS_RE.match(crs_other):
        msg = "其他 EPSG 代码 Other EPSG code: 请填写 EPSG 代码 give an EPSG code (EPSG:4326, 4530)"
        raise CityplanError(msg)
    choice = (fields.get("crs") or "").strip()
    if not CRS_RE.match(choice):
        msg = "坐标系 CRS: 请从列表中选择 choose one from the list (an EPSG code, gcj02 or bd09)"
        raise CityplanError(msg)
    if crs_other and choice in ("", "file"):
        choice = "epsg"  # a code typed in without choosing "other"
    crs = choose_crs(choice, crs_other)
    ftype = (fields.get("facility_type") or "").strip() or None
    if ftype is not None and ftype not in IMPACT_PRESETS:
        msg = "设施类型 Facility type: 请从列表中选择 choose one from the list"
        raise CityplanError(msg)
    intake = Intake.make(project=fields.get("project", ""), applicant=fields.get("applicant", ""),
                         project_type=ptype, crs=crs)
    return intake, ftype


def review_index(request: Request) -> Response:
    """``GET /review``."""
    if current_user(request) is None:
        return login_redirect(request)
    return review_form(request)


async def review_submit(request: Request) -> Response:
    """``POST /review``: stream the upload, review it, store the review, show it."""
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    if not user.can_review:
        return await run_in_threadpool(refuse, request, user, "review.create", "", f"只有审查员可以提交审查 only reviewers submit reviews (role {user.role})")
    session = session_of(request)
    state = context(request)
    try:
        up = await uploads.receive(request, state.data_dir, max_bytes=state.max_upload, kinds=uploads.REDLINE_KINDS,
                                   csrf_ok=lambda f: csrf.check(request, session, f.get(csrf.FIELD)))
    except uploads.UploadError as exc:
        if exc.status == 403:
            return await run_in_threadpool(refuse, request, user, "review.create", "", str(exc), 403)
        await run_in_threadpool(record, request, user, "review.create", "", "rejected", why=str(exc))
        return await run_in_threadpool(review_form, request, message=str(exc), status=exc.status)
    form = {k: v for k, v in up.fields.items() if k != csrf.FIELD}
    try:
        intake, ftype = read_intake(up.fields)
    except CityplanError as exc:
        return await run_in_threadpool(review_form, request, message=str(exc), status=400, form=form)
    crs = intake.crs
    rid = new_review_id()
    asked = {"project": intake.project, "applicant": intake.applicant, "project_type": intake.project_type or ""}
    store_as = json.dumps({
        "review_id": rid, "created_at": utc_now(), "user": user.name, "file_name": up.file_name, "sha256": up.sha256,
        "stored_file": str(up.path.relative_to(state.data_dir)), "kind": up.kind, "crs": crs or "",
        "facility_type": ftype or "", **asked, "data_dir": str(state.data_dir),
        "audit": {"who": user.name, "role": user.role, "client": client_address(request)}}, ensure_ascii=False)
    try:
        out = await state.reviews.review(str(up.path), crs=crs, facility_type=ftype, display=up.file_name,
                                         store_as=store_as, intake=asked)
    except (ReviewBusyError, BrokenExecutor) as exc:
        logger.warning("review refused: %s", exc)
        return await run_in_threadpool(review_form, request, message=f"审查服务繁忙, 请稍后再试 the review desk is busy, try again shortly ({exc})", status=503)
    if out.error:
        await run_in_threadpool(record, request, user, "review.create", up.sha256, "rejected", why=out.error,
                                file=up.file_name)
        return await run_in_threadpool(review_form, request, message=out.error, status=out.status, form=form)
    row = json.loads(out.row_json)
    remember(state.om.store, row, layers=json.loads(out.layers_json))
    # its audit row was stored with the review, in one transaction (services.reviews.store_review)
    return RedirectResponse(f"/review/{rid}", status_code=303)


def _context_layers(om: Any) -> tuple[list[str], list[str]]:
    """The review map's context, found by role: (shown: districts, water, the catalog's constraint
    layers, parks; listed but off: metro lines)."""
    cat = om.catalog
    constraints = cat.loc[cat["role"] == "constraint", "layer"].astype(str).tolist()
    shown = [*om.layers_with_role("districts")[:1], *om.layers_with_role("water"), *constraints,
             *om.layers_with_role("parks")]
    return shown, om.layers_with_role("metro_lines")


def review_show(request: Request) -> Response:
    """``GET /review/{id}``: verdict, findings, notes, impact, map zoomed to the proposal."""
    if current_user(request) is None:
        return login_redirect(request)
    return _show(request)


def _show(request: Request, *, recheck: dict[str, Any] | None = None, status: int = 200) -> Response:
    """The verdict page (with ``recheck``: the re-check's differences above the stored findings)."""
    rv = get_review(context(request).om.store, request.path_params["rid"])
    if rv is None:
        return render(request, "error.html.j2", status=404, title="404",
                      message=bilingual("没有这条审查记录", "no such review", _langs(request)))
    doc = rv["report"]
    # the verdict in words and why (a stored review of an older version has no reason): first note
    why = f"{verdict_text(str(doc.get('verdict', '')))}: {doc['verdict_reason']}" if doc.get("verdict_reason") else ""
    doc = {**doc, "notes": [*([why] if why else []), *(doc.get("notes") or [])]}
    findings = pd.DataFrame(doc.get("findings") or [])
    if not findings.empty and {"hit", "severity"} <= set(findings.columns):
        findings = by_severity(findings)
    cols = [c for c in FINDING_SHOW if c in findings.columns]
    static = review_layers(context(request).om.store, rv)
    b = static[0]["bounds"]
    fit = [[b[1], b[0]], [b[3], b[2]]] if b else None
    ml = context(request).map_layers
    shown, listed = _context_layers(context(request).om)
    ctx_ids = [lid for lid in dict.fromkeys([*shown, *listed]) if ml.get(lid) is not None]
    cfg = ml.page_config(ids=ctx_ids, show=set(shown))
    cfg["groups"] = [{"id": "review", "title": "审查 Review"}, *cfg["groups"]]
    langs = _langs(request)
    cfg.update({"static": static, "fit": fit, "title": f"{bilingual('审查', 'Review', langs)} {rv['file_name']}"})
    summary = doc.get("proposal")
    summary_rows = summary if isinstance(summary, list) else ([summary] if isinstance(summary, dict) else [])
    return render(request, "review_show.html.j2", status=status,
                  title=f"{bilingual('审查', 'Review', langs)} {rv['file_name']}", rv=rv, doc=doc,
                  recheck=_recheck_view(recheck, _tz(request), langs) if recheck is not None else None,
                  can_review=bool(getattr(current_user(request), "can_review", False)),
                  columns=cols, findings=findings[cols].to_dict("records") if cols else [],
                  summary=summary_rows, impact=doc.get("impact") or [], page=page_json({"map": cfg}),
                  asked=_asked(rv, doc, _tz(request), langs))


#: a finding's change between the review and its re-check, in words
RECHECK_CHANGES = {"new hit": ("新增命中", "new hit"), "no longer hit": ("不再命中", "no longer hit"),
                   "severity changed": ("严重程度变化", "severity changed"), "unchanged": ("未变", "unchanged")}
#: a constraint feature's change between the two builds, in words
FEATURE_CHANGES = {"added": ("新增", "added"), "removed": ("删除", "removed"), "moved": ("移动", "moved"),
                   "reshaped": ("形状变化", "reshaped"), "changed": ("属性变化", "attributes changed")}


def _recheck_view(doc: dict[str, Any], tz: str, langs: tuple[str, ...]) -> dict[str, Any]:
    """The re-check's JSON (:func:`cityplan.services.review_pool.recheck_job`) as the page shows it:
    changed findings first, each change in words."""
    order = {k: i for i, k in enumerate(RECHECK_CHANGES)}
    findings = sorted(doc.get("findings") or [], key=lambda f: order.get(str(f.get("change")), 9))
    for f in findings:
        f["change_text"] = bilingual(*RECHECK_CHANGES.get(str(f.get("change")), (str(f.get("change")),) * 2), langs)
    features = doc.get("features") or []
    for f in features:
        f["change_text"] = bilingual(*FEATURE_CHANGES.get(str(f.get("change")), (str(f.get("change")),) * 2), langs)
    then, now = doc.get("build_then") or {}, doc.get("build_now") or {}
    return {**doc, "findings": findings, "features": features,
            "changed_findings": sum(1 for f in findings if f.get("change") != "unchanged"),
            "then": f"{str(then.get('build_id', ''))[:8]} ({local_text(then.get('built_at'), tz)})",
            "now": f"{str(now.get('build_id', ''))[:8]} ({local_text(now.get('built_at'), tz)})"}


async def review_recheck(request: Request) -> Response:
    """``POST /review/{id}/recheck``: review the stored proposal again on the current build (in the
    review worker, queued and time-limited like a review; nothing stored but the audit row) and show
    what differs: the findings then and now, and the constraint features changed since."""
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    rid = request.path_params["rid"]
    form = await request.form(max_files=0, max_fields=5)
    if not csrf.check(request, session_of(request), str(form.get(csrf.FIELD) or "")):
        return await run_in_threadpool(refuse, request, user, "review.recheck", rid, "missing or wrong CSRF token")
    if not user.can_review:
        return await run_in_threadpool(refuse, request, user, "review.recheck", rid,
                                       f"只有审查员可以重新审查 only reviewers re-check reviews (role {user.role})")
    state = context(request)
    try:
        out = await state.reviews.recheck(rid)
    except (ReviewBusyError, BrokenExecutor) as exc:
        logger.warning("re-check refused: %s", exc)
        return Response(f"审查服务繁忙, 请稍后再试 the review desk is busy, try again shortly ({exc})", status_code=503)
    if out.error:
        await run_in_threadpool(record, request, user, "review.recheck", rid, "rejected", why=out.error)
        if out.status == 404:
            return await run_in_threadpool(render, request, "error.html.j2", status=404, title="404",
                                           message=bilingual("没有这条审查记录", "no such review", _langs(request)))
        return Response(out.error, status_code=out.status)
    doc = json.loads(out.doc_json)
    await run_in_threadpool(record, request, user, "review.recheck", rid, verdict_then=doc["verdict_then"],
                            verdict_now=doc["verdict_now"], changed=bool(doc["changed"]),
                            build=str(doc["build_now"].get("build_id", "")))
    return await run_in_threadpool(_show, request, recheck=doc)


def _asked(rv: dict[str, Any], doc: dict[str, Any], tz: str, langs: tuple[str, ...]) -> dict[str, str]:
    """What the verdict page says the review was asked, and when (in the profile's zone)."""
    i = doc.get("intake") or {}
    ptype = _text(rv.get("project_type")) or i.get("project_type") or ""
    blank = f"({bilingual('未填写', 'not given', langs)})"
    return {"project": _text(rv.get("project")) or i.get("project") or blank,
            "applicant": _text(rv.get("applicant")) or i.get("applicant") or blank,
            "project_type": code_label("project_type", ptype, langs) or f"({bilingual('按文件属性', 'from the file attributes', langs)})",
            "crs": crs_text(doc.get("input_crs")) if doc.get("input_crs") else (rv.get("crs") or "-"),
            "created": local_text(rv.get("created_at"), tz), "built": local_text(rv.get("built_at"), tz)}


async def review_download(request: Request) -> Response:
    """``GET /review/{id}/report.{html,json,pdf}`` (the PDF 审查意见 is made on first download)."""
    if current_user(request) is None:
        return login_redirect(request)
    rid = request.path_params["rid"]
    rv = await run_in_threadpool(get_review, context(request).om.store, rid)
    if rv is None:
        return Response("没有这条审查记录 no such review", status_code=404)
    fmt = request.path_params["fmt"]
    if fmt == "json":
        body = json.dumps({k: v for k, v in rv.items() if not k.startswith("_")}, ensure_ascii=False, default=str, indent=1)
        return Response(body, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="review-{rid}.json"'})
    if fmt == "pdf":
        return await _opinion_pdf(request, rid)
    path = context(request).data_dir / "reports" / f"{rid}.html"
    if fmt != "html" or not path.exists():
        return Response("没有这份报告 no such report", status_code=404)
    return FileResponse(path, media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="review-{rid}.html"'})


async def _opinion_pdf(request: Request, rid: str) -> Response:
    """The stored review's 审查意见 PDF, made once from its stored report in the review worker."""
    state = context(request)
    pdf = state.data_dir / "reports" / f"{rid}.pdf"
    if not pdf.exists():
        try:
            out = await state.reviews.opinion(rid, out_pdf=str(pdf))
        except (ReviewBusyError, BrokenExecutor) as exc:
            return Response(f"审查服务繁忙, 请稍后再试 the review desk is busy ({exc}); try again", status_code=503)
        if out.error:
            return Response(out.error, status_code=out.status)
    return FileResponse(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="review-{rid}.pdf"'})


def routes() -> list[Route]:
    """Review desk routes."""
    return [Route("/review", review_index, methods=["GET"]), Route("/review", review_submit, methods=["POST"]),
            Route("/review/{rid}", review_show), Route("/review/{rid}/recheck", review_recheck, methods=["POST"]),
            Route("/review/{rid}/report.{fmt}", review_download)]
