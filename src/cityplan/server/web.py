"""Shared helpers of the HTML routes: templates, the page's user, role checks, refusals.

Pages speak the profile's languages, Chinese first (``languages: [zh, en]``: ``中文 English``):
templates write fixed text as ``{{ bi("地图", "Map") }}``, coded values through the one dictionary
:data:`cityplan.text.CODES` (``{{ r.verdict|code("verdict") }}``), column names through the
report's headers (``{{ c|header }}``: :data:`cityplan.report.headers.HEADERS`) and stored UTC
times in the profile's time zone (``{{ t|when }}``). Codes stay codes in storage, JSON and exports.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cityplan.maps.payload import json_for_script
from cityplan.report.headers import HEADERS
from cityplan.review.clock import local_text
from cityplan.server.auth import client_address, current_user, session_of
from cityplan.server.context import context
from cityplan.services import audit
from cityplan.services.accounts import User
from cityplan.text import bilingual, code_label, languages_of


@cache
def environment() -> Environment:
    """Templates of ``cityplan/server/templates``; every value autoescaped, nothing marked safe."""
    env = Environment(loader=PackageLoader("cityplan.server", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["code"] = _code
    env.filters["header"] = _header
    env.filters["when"] = _when
    env.globals["bi"] = _bi
    return env


@pass_context
def _bi(ctx: Any, zh: str, en: str) -> str:
    """``{{ bi("地图", "Map") }}``: fixed text in the page's languages (Chinese first)."""
    return bilingual(zh, en, ctx.get("langs"))


@pass_context
def _code(ctx: Any, value: Any, kind: str) -> str:
    """``{{ v|code("verdict") }}``: a stored code as words (:func:`cityplan.text.code_label`)."""
    return code_label(kind, value, ctx.get("langs"))


def header_text(column: str, languages: Any = None) -> str:
    """A data column's header on a page: ``任务编号 Task no.`` (the report's headers), else the name
    without underscores."""
    zh, en = HEADERS.get(column, ("", ""))
    return bilingual(zh, en, languages) if zh or en else column.replace("_", " ")


@pass_context
def _header(ctx: Any, column: str) -> str:
    return header_text(column, ctx.get("langs"))


@pass_context
def _when(ctx: Any, value: Any) -> str:
    """``{{ t|when }}``: a stored (UTC) time in the profile's time zone."""
    return local_text(value, ctx.get("tz"))


def _num(v: Any) -> str:
    if v is None or v == "" or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def page_json(obj: Any) -> str:
    """JSON for a ``data-page`` attribute (the template escapes it; ``<``/``>``/``&`` are escaped too)."""
    return json_for_script(obj)


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page with the user, CSRF token and navigation."""
    s = session_of(request)
    user = current_user(request)
    om = context(request).om
    text = environment().get_template(template).render(
        user=user.public() if user else None, csrf=s.csrf if s else "", path=request.url.path,
        city=om.city, langs=languages_of(om), tz=om.profile.settings.timezone, **ctx)
    return HTMLResponse(text, status_code=status)


def login_redirect(request: Request) -> RedirectResponse:
    """303 to the login page, coming back here afterwards."""
    from urllib.parse import quote

    nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(nxt, safe='')}", status_code=303)


def refuse(request: Request, user: User | None, action: str, target: str, why: str, status: int = 403) -> Response:
    """Audit a refused write and answer ``status`` with a page (or JSON for API calls)."""
    audit.record(context(request).om.store, who=user.name if user else "-", role=user.role if user else "",
                 action=action, target=target, outcome="denied", detail={"why": why}, client=client_address(request))
    if request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", ""):
        return Response(json.dumps({"error": why}), status_code=status, media_type="application/json")
    return render(request, "error.html.j2", status=status, title=f"{status} {bilingual('拒绝', 'refused', languages_of(context(request).om))}",
                  message=why)


def record(request: Request, user: User, action: str, target: str, outcome: str = "ok", **detail: Any) -> None:
    """Audit a write by ``user``."""
    audit.record(context(request).om.store, who=user.name, role=user.role, action=action, target=target,
                 outcome=outcome, detail=detail, client=client_address(request))
