"""The request side of logins: the session cookie, HTTP Basic credentials and who is asking.

Sessions and failed logins live in the one map's shared state (:mod:`cityplan.services.sessions`),
so every ``cityplan serve`` process - ``--workers N``, or hosts behind one proxy - sees the same
logins, a restart logs nobody out and a rate limit counts across all of them. A session is a
random 256-bit id in a cookie that is ``HttpOnly`` and ``SameSite=Strict`` (``Secure`` with ``--secure-cookies``, behind TLS), stored
only as its SHA-256, with an idle timeout and an absolute lifetime. Each session carries its own
CSRF token (:mod:`cityplan.server.csrf`). The account is looked up again on every request, so a
disabled account loses its sessions at once (within the user cache's few seconds); a changed
password ends the account's sessions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from starlette.requests import Request

from cityplan.server.context import context
from cityplan.services.accounts import User, UserStore
from cityplan.services.sessions import RateLimiter, Session

SESSION_COOKIE = "cp_session"
#: HTTP Basic credentials verified once are trusted again for this long (seconds) ...
BASIC_CACHE_SECONDS = 60.0
#: ... for at most this many accounts (least recently verified dropped first)
BASIC_CACHE_SIZE = 256
#: longest password taken from a Basic header (as the login form)
MAX_PASSWORD = 1024


def client_address(request: Request) -> str:
    """The peer address (behind a proxy: uvicorn's ``--forwarded-allow-ips`` sets it)."""
    return request.client.host if request.client else "-"


def session_of(request: Request) -> Session | None:
    """The request's live session, or None (looked up once per request)."""
    if "cp_session" not in request.scope:
        request.scope["cp_session"] = context(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    return request.scope["cp_session"]


def current_user(request: Request) -> User | None:
    """The logged-in, active account of the request (session cookie or HTTP Basic), or None."""
    if "cp_user" in request.scope:
        return request.scope["cp_user"]
    users: UserStore = context(request).users
    user = None
    s = session_of(request)
    if s is not None:
        u = users.get(s.user)
        user = u if u is not None and u.active else None
        if user is None:
            context(request).sessions.drop(s.id)
    elif request.headers.get("authorization", "").lower().startswith("basic "):
        user = basic_user(request)
    request.scope["cp_user"] = user
    return user


class BasicCache:
    """HTTP Basic credentials verified lately, so that a GIS client - which sends them with every
    request - does not cost an argon2 hash (64 MiB, ~0.1 s) per request.

    Per account name it keeps an HMAC-SHA256 of name and password under a random key of this
    process (never the password), the account's password hash when it was verified, and when. A
    hit needs an entry younger than ``ttl`` (from the verification, not refreshed by hits), an
    equal HMAC (constant-time compare) and the account still active with the same password hash:
    a disabled account or a changed password stops hitting within the user cache's few seconds.
    At most ``size`` accounts (least recently verified dropped first).
    """

    def __init__(self, ttl: float = BASIC_CACHE_SECONDS, size: int = BASIC_CACHE_SIZE) -> None:
        self.ttl, self.size = ttl, size
        self._key = secrets.token_bytes(32)
        self._d: OrderedDict[str, tuple[bytes, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _mac(self, name: str, password: str) -> bytes:
        msg = name.encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def get(self, users: UserStore, name: str, password: str) -> User | None:
        """The account when these credentials were verified within ``ttl`` and still hold, else None."""
        mac = self._mac(name, password)
        with self._lock:
            entry = self._d.get(name)
        if entry is None:
            return None
        emac, ehash, at = entry
        if time.monotonic() - at > self.ttl:
            self.drop(name)
            return None
        if not hmac.compare_digest(emac, mac):
            return None
        u = users.get(name)
        if u is None or not u.active or not hmac.compare_digest(u.password_hash.encode(), ehash.encode()):
            self.drop(name)
            return None
        return u

    def put(self, name: str, password: str, user: User) -> None:
        """Remember credentials just verified by argon2."""
        entry = (self._mac(name, password), user.password_hash, time.monotonic())
        with self._lock:
            self._d[name] = entry
            self._d.move_to_end(name)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def drop(self, name: str) -> None:
        """Forget an account's entry."""
        with self._lock:
            self._d.pop(name, None)


def basic_cache(request: Request) -> BasicCache:
    """The application's :class:`BasicCache`."""
    return context(request).basic_cache


def basic_user(request: Request) -> User | None:
    """HTTP Basic credentials (for GIS clients on restricted OGC layers), rate limited.

    Verified with argon2 at most once per :data:`BASIC_CACHE_SECONDS` per account
    (:class:`BasicCache`); a failure counts against the login rate limit. Blocking: call it from a
    worker thread (sync endpoints run in Starlette's thread pool), not on the event loop.
    """
    try:
        raw = base64.b64decode(request.headers["authorization"][6:].strip(), validate=True).decode("utf-8")
        name, _, password = raw.partition(":")
    except (binascii.Error, UnicodeDecodeError, KeyError):
        return None
    if len(password) > MAX_PASSWORD:
        return None
    limiter: RateLimiter = context(request).limiter
    keys = (f"ip:{client_address(request)}", f"user:{name}")
    users: UserStore = context(request).users
    cache = basic_cache(request)
    user = cache.get(users, name, password)
    if user is not None:
        return user
    wait, attempt = limiter.attempt(*keys)
    if wait:
        return None
    user = users.authenticate(name, password)
    if user is None:
        return None
    limiter.succeeded(attempt)
    cache.put(name, password, user)
    return user
