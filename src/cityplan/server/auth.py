"""Sessions, login rate limiting and the role checks every route uses.

Sessions live in the server's memory (one uvicorn process): a random 256-bit id in a cookie
that is ``HttpOnly`` and ``SameSite=Strict`` (``Secure`` with ``--secure-cookies``, behind TLS),
an idle timeout and an absolute lifetime. Each session carries its own CSRF token
(:mod:`cityplan.server.csrf`). The account is looked up again on every request, so a disabled
account loses its sessions at once (within the user cache's few seconds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from starlette.requests import Request

from cityplan.server.users import User, UserStore

SESSION_COOKIE = "cp_session"
IDLE_SECONDS = 8 * 3600
MAX_AGE_SECONDS = 24 * 3600
MAX_SESSIONS = 10_000
#: HTTP Basic credentials verified once are trusted again for this long (seconds) ...
BASIC_CACHE_SECONDS = 60.0
#: ... for at most this many accounts (least recently verified dropped first)
BASIC_CACHE_SIZE = 256
#: longest password taken from a Basic header (as the login form)
MAX_PASSWORD = 1024


@dataclass
class Session:
    """One logged-in browser."""

    id: str
    user: str
    csrf: str
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """In-memory session table (bounded; oldest evicted first)."""

    def __init__(self) -> None:
        self._s: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, user: str) -> Session:
        """A fresh session (new id and CSRF token) for ``user``."""
        s = Session(id=secrets.token_urlsafe(32), user=user, csrf=secrets.token_urlsafe(32))
        with self._lock:
            self._s[s.id] = s
            while len(self._s) > MAX_SESSIONS:
                self._s.popitem(last=False)
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session with id ``sid`` (touching it), or None."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            s = self._s.get(sid)
            if s is None:
                return None
            if now - s.seen > IDLE_SECONDS or now - s.created > MAX_AGE_SECONDS:
                del self._s[sid]
                return None
            s.seen = now
            self._s.move_to_end(sid)
            return s

    def drop(self, sid: str | None) -> None:
        """End a session."""
        with self._lock:
            self._s.pop(sid or "", None)


class RateLimiter:
    """At most ``limit`` failed logins per account name (6 x ``limit`` per client address) in ``window`` s."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._hits.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def _limit(self, key: str) -> int:
        # a client address may stand for a whole office behind NAT: it gets more tries than an account
        return self.limit * 6 if key.startswith("ip:") else self.limit

    def retry_after(self, *keys: str) -> int:
        """Seconds until a login may be tried again for any of ``keys`` (0 = now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for k in keys:
                q = self._trim(k, now)
                if len(q) >= self._limit(k):
                    wait = max(wait, self.window - (now - q[0]))
        return int(wait) + (1 if wait else 0)

    def fail(self, *keys: str) -> None:
        """Count a failed attempt against each key."""
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._trim(k, now).append(now)
            if len(self._hits) > 100_000:  # bounded memory under a spray of names
                self._hits.clear()

    def reset(self, *keys: str) -> None:
        """Forget the failures of ``keys`` (after a successful login)."""
        with self._lock:
            for k in keys:
                self._hits.pop(k, None)


def client_address(request: Request) -> str:
    """The peer address (behind a proxy: uvicorn's ``--forwarded-allow-ips`` sets it)."""
    return request.client.host if request.client else "-"


def session_of(request: Request) -> Session | None:
    """The request's live session, or None."""
    return request.app.state.sessions.get(request.cookies.get(SESSION_COOKIE))


def current_user(request: Request) -> User | None:
    """The logged-in, active account of the request (session cookie or HTTP Basic), or None."""
    if "cp_user" in request.scope:
        return request.scope["cp_user"]
    users: UserStore = request.app.state.users
    user = None
    s = session_of(request)
    if s is not None:
        u = users.get(s.user)
        user = u if u is not None and u.active else None
        if user is None:
            request.app.state.sessions.drop(s.id)
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


_cache_lock = threading.Lock()


def basic_cache(request: Request) -> BasicCache:
    """The application's :class:`BasicCache` (made at first use)."""
    state = request.app.state
    with _cache_lock:
        cache = getattr(state, "basic_cache", None)
        if cache is None:
            cache = state.basic_cache = BasicCache()
    return cache


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
    limiter: RateLimiter = request.app.state.limiter
    keys = (f"ip:{client_address(request)}", f"user:{name}")
    if limiter.retry_after(*keys):
        return None
    users: UserStore = request.app.state.users
    cache = basic_cache(request)
    user = cache.get(users, name, password)
    if user is not None:
        return user
    user = users.authenticate(name, password)
    if user is None:
        limiter.fail(*keys)
        return None
    cache.put(name, password, user)
    return user
