"""Sessions and the login rate limit, kept in the one map's shared state.

Every ``cityplan serve`` process (``--workers N``, or hosts behind one proxy) reads and writes the
same rows (:meth:`cityplan.store.base.Store.shared`: a SQLite file beside a GeoPackage, tables in
the PostGIS schema): a session made by one is valid on the others, a restart logs nobody out, and
failed logins are counted across all of them. Session ids are stored only as their SHA-256.
Used by the web (cookies) and the CLI (``cityplan users password`` ends an account's sessions).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cityplan.store.shared import SharedState
from cityplan.store.tables import LOGIN_FAILURES, SESSIONS, epoch, utc_now

IDLE_SECONDS = 8 * 3600
MAX_AGE_SECONDS = 24 * 3600
#: a session's last use is written back at most this often (seconds)
TOUCH_SECONDS = 60.0

Clock = Callable[[], float]


@dataclass
class Session:
    """One logged-in browser (times in epoch seconds)."""

    id: str
    user: str
    csrf: str
    created: float
    seen: float


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    """Sessions in the map's shared state, valid in every server process.

    Parameters
    ----------
    state : SharedState
        ``store.shared()`` of the one map.
    clock : callable, optional
        Epoch seconds now (tests pass their own).
    idle, max_age : float
        Seconds a session lives without use, and at most.
    """

    def __init__(self, state: SharedState, *, clock: Clock = time.time, idle: float = IDLE_SECONDS,
                 max_age: float = MAX_AGE_SECONDS) -> None:
        self.state, self.clock, self.idle, self.max_age = state, clock, idle, max_age

    def create(self, user: str) -> Session:
        """A fresh session (new id and CSRF token) for ``user``; expired sessions are removed."""
        now = self.clock()
        s = Session(id=secrets.token_urlsafe(32), user=user, csrf=secrets.token_urlsafe(32), created=now, seen=now)
        self.state.delete(SESSIONS, before=("seen_at", utc_now(now - self.idle)))
        self.state.delete(SESSIONS, before=("created_at", utc_now(now - self.max_age)))
        self.state.upsert(SESSIONS, {"sid_hash": _hash(s.id), "user": user, "csrf": s.csrf,
                                     "created_at": utc_now(now), "seen_at": utc_now(now)})
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session with id ``sid`` (its use recorded), or None."""
        if not sid or len(sid) > 128:
            return None
        rows = self.state.select(SESSIONS, {"sid_hash": _hash(sid)})
        if not rows:
            return None
        r = rows[0]
        now = self.clock()
        s = Session(id=sid, user=r["user"], csrf=r["csrf"], created=epoch(r["created_at"]), seen=epoch(r["seen_at"]))
        if now - s.seen > self.idle or now - s.created > self.max_age:
            self.drop(sid)
            return None
        if now - s.seen >= TOUCH_SECONDS:
            s.seen = now
            self.state.upsert(SESSIONS, {**r, "seen_at": utc_now(now)})
        return s

    def drop(self, sid: str | None) -> None:
        """End a session."""
        if sid:
            self.state.delete(SESSIONS, {"sid_hash": _hash(sid)})

    def drop_user(self, user: str) -> int:
        """End every session of an account (its password changed); how many ended."""
        return self.state.delete(SESSIONS, {"user": user})


class RateLimiter:
    """At most ``limit`` login attempts that fail per account name (6 x ``limit`` per client
    address) in ``window`` seconds, counted in the shared state across server processes.

    An attempt is counted *before* the password is checked (:meth:`attempt`), so simultaneous
    guesses cannot all slip under the limit; a successful one is taken back (:meth:`succeeded`).
    """

    def __init__(self, state: SharedState, limit: int = 5, window: float = 300.0, *,
                 clock: Clock = time.time) -> None:
        self.state, self.limit, self.window, self.clock = state, limit, window, clock

    def _limit(self, key: str) -> int:
        # a client address may stand for a whole office behind NAT: it gets more tries than an account
        return self.limit * 6 if key.startswith("ip:") else self.limit

    def _wait(self, keys: tuple[str, ...], now: float, *, extra: int = 0) -> int:
        cutoff = utc_now(now - self.window)
        wait = 0.0
        for k in keys:
            times = sorted(r["at"] for r in self.state.select(LOGIN_FAILURES, {"key": k}) if r["at"] > cutoff)
            if len(times) + extra > self._limit(k):
                wait = max(wait, self.window - (now - epoch(times[0])), 1.0)
        return int(wait) + (1 if wait % 1 else 0)

    def retry_after(self, *keys: str) -> int:
        """Seconds until a login may be tried again for any of ``keys`` (0 = now)."""
        return self._wait(keys, self.clock(), extra=1)

    def attempt(self, *keys: str) -> tuple[int, list[str]]:
        """Count an attempt against each key: (seconds to wait - 0 when it may go ahead, its ids).
        A refused attempt is not counted (the lock-out does not grow while refused)."""
        now = self.clock()
        self.state.delete(LOGIN_FAILURES, before=("at", utc_now(now - self.window)))
        ids = []
        for k in keys:
            fid = uuid.uuid4().hex
            self.state.insert(LOGIN_FAILURES, {"fail_id": fid, "key": k, "at": utc_now(now)})
            ids.append(fid)
        wait = self._wait(keys, now)
        if wait:
            self._forget(ids)
        return wait, ids

    def _forget(self, ids: list[str]) -> None:
        for fid in ids:
            self.state.delete(LOGIN_FAILURES, {"fail_id": fid})

    def succeeded(self, ids: list[str], *reset: str) -> None:
        """The attempt ``ids`` succeeded: take them back and forget the failures of ``reset`` keys."""
        self._forget(ids)
        for k in reset:
            self.state.delete(LOGIN_FAILURES, {"key": k})

    def fail(self, *keys: str) -> None:
        """Count a failed attempt against each key (an attempt not begun with :meth:`attempt`)."""
        now = self.clock()
        for k in keys:
            self.state.insert(LOGIN_FAILURES, {"fail_id": uuid.uuid4().hex, "key": k, "at": utc_now(now)})
