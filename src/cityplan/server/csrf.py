"""CSRF protection: every state-changing request carries a token bound to the session.

Forms hold the token in a hidden ``csrf_token`` field (first field of the form, so an upload is
refused before its body is stored); scripts send it in the ``X-CSRF-Token`` header. The login
form, before any session exists, uses a double-submit cookie (``cp_login_csrf``, HttpOnly,
SameSite=Strict) compared with its hidden field. A request whose ``Origin`` (or, lacking it,
``Referer``) names another site is refused as well.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from cityplan.services.sessions import Session

LOGIN_COOKIE = "cp_login_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


def new_token() -> str:
    """A random token."""
    return secrets.token_urlsafe(32)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.netloc == host


def token_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False when either is missing."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def check(request: Request, session: Session | None, form_value: str | None = None) -> bool:
    """True when the request carries the session's token (header or form field) from this origin."""
    if session is None or not same_origin(request):
        return False
    return token_matches(session.csrf, request.headers.get(HEADER) or form_value)


def check_login(request: Request, form_value: str | None) -> bool:
    """The login form's double-submit check."""
    return same_origin(request) and token_matches(request.cookies.get(LOGIN_COOKIE), form_value)
