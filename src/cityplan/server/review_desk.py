"""The review desk: upload a red line, get the verdict, findings and the map zoomed to it.

The form asks what the review is about - 项目名称 project, 申请单位 applicant, 项目类型 project
type (required; the codes of :data:`cityplan.review.rules.PROJECT_TYPES`) and the 坐标系 CRS when
the file carries none - and the review runs with them, so the web gives the verdict the CLI gives
with the same ``--type``.

Every review is stored in ``cityplan_reviews`` (append-only, in the one map's store) with the
uploaded file's sha256, the intake (project, applicant, project type, declared CRS), the facility
type, the one map's build and the full JSON report (findings, notes, impact, the CRS as read,
proposal and overlaps as GeoJSON), so it can be listed and re-opened after rebuilds; the uploaded
file stays in ``DATA/uploads/<sha256>.<ext>`` and the HTML report in ``DATA/reports/<id>.html``.
Times are stored in UTC and shown in the city profile's time zone.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from cityplan._errors import CityplanError, MissingCRSError
from cityplan.io.write import atomic_path
from cityplan.maps.payload import LayerView, layer_payload
from cityplan.review.check import IMPACT_PRESETS, review_file, verdict_text
from cityplan.review.clock import local_text
from cityplan.review.intake import PROJECT_TYPE_LABELS, Intake, choose_crs, crs_choices, crs_text
from cityplan.review.report import DRAW_ORDER, by_severity
from cityplan.server import csrf, uploads
from cityplan.server.audit import utc_now
from cityplan.server.auth import current_user, session_of
from cityplan.server.review_pool import Outcome, ReviewBusyError
from cityplan.server.web import login_redirect, page_json, record, refuse, render

logger = logging.getLogger(__name__)

REVIEWS_TABLE = "cityplan_reviews"
REVIEW_COLUMNS = ["review_id", "created_at", "user", "file_name", "sha256", "stored_file", "kind", "crs",
                  "facility_type", "project", "applicant", "project_type", "verdict", "hits", "build_id", "built_at",
                  "report_json"]
#: the intake fields of a stored review (rows of older versions lack them)
INTAKE_FIELDS = ("project", "applicant", "project_type")
CRS_RE = re.compile(r"^[A-Za-z0-9:_.\- ]{0,64}$")
ID_RE = re.compile(r"^[0-9a-f]{32}$")
#: findings columns of the verdict page (area columns only where the map's profile lists the unit)
FINDING_SHOW = ["feature_name", "rule", "title", "severity", "hit", "area_m2", "area_ha", "area_mu", "area_km2",
                "share", "length_m", "distance_m", "message"]
SEVERITY_STYLE = {"forbidden": "#d7191c", "needs_approval": "#fdae61", "note": "#2b83ba"}


def list_reviews(store: Any) -> pd.DataFrame:
    """Stored reviews, newest first (without the report JSON)."""
    t = store.table_or_empty(REVIEWS_TABLE, columns=REVIEW_COLUMNS[:-1])
    if t.empty:
        return pd.DataFrame(columns=REVIEW_COLUMNS[:-1])
    return t[[c for c in REVIEW_COLUMNS[:-1] if c in t.columns]].sort_values("created_at", ascending=False)


def get_review(store: Any, review_id: str) -> dict[str, Any] | None:
    """One stored review (its row with ``report`` parsed), or None."""
    if not ID_RE.match(review_id):
        return None
    key = (store.label, review_id)
    with _RECENT_LOCK:
        if key in _RECENT:
            _RECENT.move_to_end(key)
            return dict(_RECENT[key])
    hit = store.table_or_empty(REVIEWS_TABLE, where={"review_id": review_id})
    if hit.empty:
        return None
    return _remember(store, hit.iloc[0].to_dict())


#: reviews are append-only and never change: the recent ones are kept (the verdict page that
#: follows an upload, and re-opened ones) instead of being read back from the store
_RECENT: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
_RECENT_LOCK = threading.Lock()
_RECENT_MAX = 256


def _remember(store: Any, row: dict[str, Any], *, layers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Keep a stored review's row (plain Python values; ``report_json`` parsed as ``report``;
    its map ``layers`` when made already)."""
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    out["report"] = json.loads(out.pop("report_json"))
    if layers is not None:
        out["_layers"] = layers
    with _RECENT_LOCK:
        _RECENT[(store.label, str(out["review_id"]))] = out
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.popitem(last=False)
    return dict(out)


def _geojson(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    g = gdf.to_crs(4326) if gdf.crs is not None else gdf
    return json.loads(g.to_json(na="null", drop_id=True, default=str))


def run_review(om: Any, path: Any, *, crs: str | None, facility_type: str | None, display: str,
               intake: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Review the stored file with the desk's ``intake`` (project, applicant, project_type); the
    report's JSON with the proposal and overlaps as GeoJSON."""
    i = intake or {}
    try:
        rep = review_file(path, crs=crs, onemap=om, facility_type=facility_type,
                          project_type=i.get("project_type") or None, project=i.get("project") or "",
                          applicant=i.get("applicant") or "", display=display)
    except MissingCRSError as exc:
        msg = (f"{str(exc).replace(str(path), display)} - 请选择坐标系: choose the file's 坐标系 CRS on the form "
               "(e.g. CGCS2000 3° GK zone, or type its EPSG code)")
        raise CityplanError(msg) from None
    except CityplanError as exc:
        raise CityplanError(str(exc).replace(str(path), display)) from None
    doc = rep.to_dict()
    doc["data_version"] = {k: (display if k == "proposal" else v) for k, v in doc.get("data_version", {}).items()}
    doc["proposal_geojson"] = _geojson(rep.proposal)
    doc["overlaps_geojson"] = _geojson(rep.overlaps)
    return rep, doc


def _tz(request: Request) -> str:
    return request.app.state.om.profile.settings.timezone


def _text(v: Any) -> str:
    """A stored cell as text (None / NaN of a row of an older version: empty)."""
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _listed(r: dict[str, Any], tz: str) -> dict[str, Any]:
    """A stored review's row as the list shows it: intake fields as text, times in ``tz``."""
    out = {**dict.fromkeys(INTAKE_FIELDS, ""), **{k: _text(v) for k, v in r.items()}}
    out["created_local"] = local_text(out.get("created_at"), tz)
    out["built_local"] = local_text(out.get("built_at"), tz)
    out["project_type_label"] = PROJECT_TYPE_LABELS.get(out.get("project_type", ""), out.get("project_type", ""))
    return out


def review_form(request: Request, *, message: str = "", status: int = 200,
                form: dict[str, str] | None = None) -> Response:
    """The upload form and the stored reviews (``form``: the values to fill in again)."""
    tz = _tz(request)
    reviews = [_listed(r, tz) for r in list_reviews(request.app.state.om.store).head(200).to_dict("records")]
    settings = request.app.state.om.profile.settings
    china = settings.country == "CN" or bool(settings.datum_checks)
    return render(request, "review_form.html.j2", status=status, title="Review desk 审查", message=message,
                  reviews=reviews, facility_types=sorted(IMPACT_PRESETS), project_types=PROJECT_TYPE_LABELS,
                  crs_groups=crs_choices(china), form=form or {},
                  max_mb=request.app.state.max_upload // (1024 * 1024))


def read_intake(fields: dict[str, str]) -> tuple[Intake, str | None]:
    """The form's intake and facility type; :class:`CityplanError` naming the field otherwise."""
    ptype = (fields.get("project_type") or "").strip()
    if not ptype:
        msg = "项目类型 Project type: choose one (the review's rules depend on it)"
        raise CityplanError(msg)
    if ptype not in PROJECT_TYPE_LABELS:
        msg = f"项目类型 Project type: {ptype!r} is not one of {list(PROJECT_TYPE_LABELS)}"
        raise CityplanError(msg)
    crs_other = (fields.get("crs_epsg") or "").strip()
    if crs_other and not CRS_RE.match(crs_other):
        msg = "坐标系 CRS: an EPSG code (EPSG:4326, 4530)"
        raise CityplanError(msg)
    choice = (fields.get("crs") or "").strip()
    if not CRS_RE.match(choice):
        msg = "坐标系 CRS: an EPSG code (EPSG:4326), gcj02 or bd09"
        raise CityplanError(msg)
    if crs_other and choice in ("", "file"):
        choice = "epsg"  # a code typed in without choosing "other"
    crs = choose_crs(choice, crs_other)
    ftype = (fields.get("facility_type") or "").strip() or None
    if ftype is not None and ftype not in IMPACT_PRESETS:
        msg = f"facility type: one of {sorted(IMPACT_PRESETS)}"
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
        return await run_in_threadpool(refuse, request, user, "review.create", "", f"role {user.role} cannot submit reviews")
    session = session_of(request)
    state = request.app.state
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
    rid = uuid.uuid4().hex
    asked = {"project": intake.project, "applicant": intake.applicant, "project_type": intake.project_type or ""}
    store_as = json.dumps({
        "review_id": rid, "created_at": utc_now(), "user": user.name, "file_name": up.file_name, "sha256": up.sha256,
        "stored_file": str(up.path.relative_to(state.data_dir)), "kind": up.kind, "crs": crs or "",
        "facility_type": ftype or "", **asked, "data_dir": str(state.data_dir)}, ensure_ascii=False)
    try:
        out = await state.reviews.review(str(up.path), crs=crs, facility_type=ftype, display=up.file_name,
                                         store_as=store_as, intake=asked)
    except (ReviewBusyError, BrokenExecutor) as exc:
        logger.warning("review refused: %s", exc)
        return await run_in_threadpool(review_form, request, message=f"the review desk is busy ({exc})", status=503)
    if out.error:
        await run_in_threadpool(record, request, user, "review.create", up.sha256, "rejected", why=out.error,
                                file=up.file_name)
        return await run_in_threadpool(review_form, request, message=out.error, status=out.status, form=form)
    row = json.loads(out.row_json)
    _remember(state.om.store, row, layers=json.loads(out.layers_json))
    await run_in_threadpool(record, request, user, "review.create", rid, verdict=out.verdict, file=up.file_name,
                            sha256=up.sha256)
    return RedirectResponse(f"/review/{rid}", status_code=303)


def store_review(om: Any, fields: dict[str, Any], out: Outcome) -> dict[str, Any]:
    """Write a finished review's HTML report and append its row to ``cityplan_reviews`` (in the
    review worker); the row as stored. ``fields``: review id, upload fields and ``data_dir``."""
    data_dir = Path(fields.pop("data_dir"))
    reports = data_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    with atomic_path(reports / f"{fields['review_id']}.html", overwrite=True) as tmp:
        tmp.write_text(out.html, encoding="utf-8")
    info = om.build_info
    row = {**dict.fromkeys(INTAKE_FIELDS, ""), **fields, "verdict": out.verdict, "hits": out.hits, "build_id": info.get("build_id", ""),
           "built_at": info.get("built_at", ""), "report_json": out.doc_json}
    om.store.append_rows(REVIEWS_TABLE, pd.DataFrame([row], columns=REVIEW_COLUMNS), key=["review_id"])
    return row


def _review_layers(store: Any, rv: dict[str, Any]) -> list[dict[str, Any]]:
    """The review's own map layers (proposal, overlaps), made once per review and kept with it."""
    key = (store.label, str(rv["review_id"]))
    with _RECENT_LOCK:
        layers = _RECENT.get(key, {}).get("_layers")
    if layers is None:
        layers = static_layers(rv["report"])
        with _RECENT_LOCK:
            if key in _RECENT:
                _RECENT[key]["_layers"] = layers
    return layers


def static_layers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A review report's own map layers: the proposal and its overlaps by severity."""
    out = []
    prop = gpd.GeoDataFrame.from_features(doc["proposal_geojson"]["features"], crs=4326)
    if "feature_name" in prop.columns:
        prop = prop.rename(columns={"feature_name": "name"})
    out.append(layer_payload(LayerView(
        id="review_proposal", title="拟建项目 Proposal", gdf=prop, group="review",
        style={"color": "#000000", "fill": "#ffff99", "weight": 3, "fillOpacity": 0.3, "radius": 7},
        fields=[c for c in ("feature",) if c in prop.columns], source="proposal", simplify_m=0)))
    ov = doc["overlaps_geojson"]["features"]
    if ov:
        gdf = gpd.GeoDataFrame.from_features(ov, crs=4326)
        for sev in DRAW_ORDER:  # weakest first: the forbidden overlap is drawn last, on top
            col = SEVERITY_STYLE[sev]
            part = gdf[gdf["severity"] == sev] if "severity" in gdf.columns else gdf.iloc[:0]
            if len(part):
                out.append(layer_payload(LayerView(
                    id=f"review_overlap_{sev}", title=f"重叠 Overlap: {sev}", gdf=part, group="review",
                    style={"color": col, "fill": col, "fillOpacity": 0.6, "weight": 2},
                    fields=[c for c in ("rule", "feature") if c in part.columns], source="cityplan review",
                    simplify_m=0)))
    return out


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
    rv = get_review(request.app.state.om.store, request.path_params["rid"])
    if rv is None:
        return render(request, "error.html.j2", status=404, title="404", message="no such review")
    doc = rv["report"]
    # the verdict in words and why (a stored review of an older version has no reason): first note
    why = f"{verdict_text(str(doc.get('verdict', '')))}: {doc['verdict_reason']}" if doc.get("verdict_reason") else ""
    doc = {**doc, "notes": [*([why] if why else []), *(doc.get("notes") or [])]}
    findings = pd.DataFrame(doc.get("findings") or [])
    if not findings.empty and {"hit", "severity"} <= set(findings.columns):
        findings = by_severity(findings)
    cols = [c for c in FINDING_SHOW if c in findings.columns]
    static = _review_layers(request.app.state.om.store, rv)
    b = static[0]["bounds"]
    fit = [[b[1], b[0]], [b[3], b[2]]] if b else None
    ml = request.app.state.map_layers
    shown, listed = _context_layers(request.app.state.om)
    ctx_ids = [lid for lid in dict.fromkeys([*shown, *listed]) if ml.get(lid) is not None]
    cfg = ml.page_config(ids=ctx_ids, show=set(shown))
    cfg["groups"] = [{"id": "review", "title": "审查 Review"}, *cfg["groups"]]
    cfg.update({"static": static, "fit": fit, "title": f"Review {rv['file_name']}"})
    summary = doc.get("proposal")
    summary_rows = summary if isinstance(summary, list) else ([summary] if isinstance(summary, dict) else [])
    return render(request, "review_show.html.j2", title=f"Review {rv['file_name']}", rv=rv, doc=doc,
                  columns=cols, findings=findings[cols].to_dict("records") if cols else [],
                  summary=summary_rows, impact=doc.get("impact") or [], page=page_json({"map": cfg}),
                  asked=_asked(rv, doc, _tz(request)))


def _asked(rv: dict[str, Any], doc: dict[str, Any], tz: str) -> dict[str, str]:
    """What the verdict page says the review was asked, and when (in the profile's zone)."""
    i = doc.get("intake") or {}
    ptype = _text(rv.get("project_type")) or i.get("project_type") or ""
    blank = "(未填写 not given)"
    return {"project": _text(rv.get("project")) or i.get("project") or blank,
            "applicant": _text(rv.get("applicant")) or i.get("applicant") or blank,
            "project_type": PROJECT_TYPE_LABELS.get(ptype, ptype) or "(按文件属性 from the file's attributes)",
            "crs": crs_text(doc.get("input_crs")) if doc.get("input_crs") else (rv.get("crs") or "-"),
            "created": local_text(rv.get("created_at"), tz), "built": local_text(rv.get("built_at"), tz)}


async def review_download(request: Request) -> Response:
    """``GET /review/{id}/report.{html,json,pdf}`` (the PDF 审查意见 is made on first download)."""
    if current_user(request) is None:
        return login_redirect(request)
    rid = request.path_params["rid"]
    rv = await run_in_threadpool(get_review, request.app.state.om.store, rid)
    if rv is None:
        return Response("no such review", status_code=404)
    fmt = request.path_params["fmt"]
    if fmt == "json":
        body = json.dumps({k: v for k, v in rv.items() if not k.startswith("_")}, ensure_ascii=False, default=str, indent=1)
        return Response(body, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="review-{rid}.json"'})
    if fmt == "pdf":
        return await _opinion_pdf(request, rid, rv)
    path = request.app.state.data_dir / "reports" / f"{rid}.html"
    if fmt != "html" or not path.exists():
        return Response("no such report", status_code=404)
    return FileResponse(path, media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="review-{rid}.html"'})


async def _opinion_pdf(request: Request, rid: str, rv: dict[str, Any]) -> Response:
    state = request.app.state
    pdf = state.data_dir / "reports" / f"{rid}.pdf"
    if not pdf.exists():
        stored = state.data_dir / str(rv["stored_file"])
        if not stored.resolve().is_relative_to(state.data_dir.resolve()) or not stored.exists():
            return Response("the submitted file is no longer stored", status_code=410)
        intake = {k: _text(rv.get(k)) or (rv.get("report") or {}).get("intake", {}).get(k, "")
                  for k in INTAKE_FIELDS}
        try:
            out = await state.reviews.opinion(str(stored), crs=_text(rv.get("crs")) or None,
                                              facility_type=_text(rv.get("facility_type")) or None,
                                              display=str(rv["file_name"]), out_pdf=str(pdf), intake=intake,
                                              reviewed_at=_text(rv.get("created_at")))
        except (ReviewBusyError, BrokenExecutor) as exc:
            return Response(f"the review desk is busy ({exc}); try again", status_code=503)
        if out.error:
            return Response(out.error, status_code=out.status)
    return FileResponse(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="review-{rid}.pdf"'})


def routes() -> list[Route]:
    """Review desk routes."""
    return [Route("/review", review_index, methods=["GET"]), Route("/review", review_submit, methods=["POST"]),
            Route("/review/{rid}", review_show), Route("/review/{rid}/report.{fmt}", review_download)]
