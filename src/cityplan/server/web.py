"""Shared helpers of the HTML routes: templates, the page's user, role checks, refusals."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cityplan.maps.payload import json_for_script
from cityplan.server.auth import client_address, current_user, session_of
from cityplan.server.context import context
from cityplan.services import audit
from cityplan.services.accounts import User


@cache
def environment() -> Environment:
    """Templates of ``cityplan/server/templates``; every value autoescaped, nothing marked safe."""
    env = Environment(loader=PackageLoader("cityplan.server", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    return env


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
    text = environment().get_template(template).render(
        user=user.public() if user else None, csrf=s.csrf if s else "", path=request.url.path,
        city=context(request).om.city, **ctx)
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
    return render(request, "error.html.j2", status=status, title=f"{status} refused", message=why)


def record(request: Request, user: User, action: str, target: str, outcome: str = "ok", **detail: Any) -> None:
    """Audit a write by ``user``."""
    audit.record(context(request).om.store, who=user.name, role=user.role, action=action, target=target,
                 outcome=outcome, detail=detail, client=client_address(request))
