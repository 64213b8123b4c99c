"""Accounts: append-only user events in ``cityplan_users``; passwords hashed with argon2id.

Each row is an event (``created``, ``password``, ``disabled``, ``enabled``); the current state of
an account is its latest event. Nothing is updated or deleted, so the table is its own history
and survives rebuilds of the one map like the other ``cityplan_*`` tables.

Roles: ``admin`` (everything), ``reviewer`` (review desk), ``district`` (progress of one district,
bound by adcode), ``viewer`` (read only). Everyone logged in reads everything.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cityplan._errors import CityplanError
from cityplan.store.tables import USERS, utc_now

logger = logging.getLogger(__name__)

USERS_TABLE = USERS.name
USER_COLUMNS = USERS.names
ROLES = ("admin", "reviewer", "district", "viewer")
NAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u3400-\u9fff]{1,64}$")
MIN_PASSWORD = 10
#: argon2id, RFC 9106 "second recommended" memory-hard parameters (64 MiB, 3 passes)
HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
#: argon2 computations at once in this process (each takes 64 MiB and ~0.1 s of a core): a burst
#: of logins or Basic-authenticated requests queues here instead of exhausting memory and cores
HASH_CONCURRENCY = 2
_HASH_SLOTS = threading.BoundedSemaphore(HASH_CONCURRENCY)
#: a fixed hash verified against when the user does not exist (same time as a real check)
_DUMMY = HASHER.hash("not a password of anyone")


class UserError(CityplanError):
    """Bad account input (name, role, district, password) or an unknown account."""


@dataclass(frozen=True)
class User:
    """The current state of an account."""

    name: str
    role: str
    adcode: str = ""
    district: str = ""
    active: bool = True
    password_hash: str = ""

    def can_write_district(self, adcode: str) -> bool:
        """True for admins and for the district office bound to ``adcode``."""
        return self.active and (self.role == "admin" or (self.role == "district" and self.adcode == str(adcode)))

    @property
    def can_review(self) -> bool:
        """Admins and reviewers submit reviews."""
        return self.active and self.role in ("admin", "reviewer")

    def public(self) -> dict[str, Any]:
        """What pages show (no hash)."""
        return {"name": self.name, "role": self.role, "adcode": self.adcode, "district": self.district,
                "active": self.active}


def check_name(name: str) -> str:
    """The account name, or UserError naming the allowed characters."""
    if not NAME_RE.match(name or ""):
        msg = (f"user name {name!r} is not allowed: use 1-64 letters, digits, CJK characters or . _ - @ "
               "(no spaces or markup)")
        raise UserError(msg)
    return name


def check_password(password: str) -> str:
    """The password, or UserError when it is too short."""
    if len(password or "") < MIN_PASSWORD:
        msg = f"password too short ({len(password or '')} characters); use at least {MIN_PASSWORD}"
        raise UserError(msg)
    return password


def _event(user: str, event: str, *, role: str = "", adcode: str = "", district: str = "",
           password_hash: str = "", by: str = "") -> pd.DataFrame:
    return pd.DataFrame([{"event_id": uuid.uuid4().hex, "user": user, "event": event, "role": role,
                          "adcode": adcode, "district": district, "password_hash": password_hash,
                          "at": utc_now(), "by": by}], columns=USER_COLUMNS)


class UserStore:
    """Accounts of one one-map store, with a short read cache (changes by other processes
    - ``cityplan users disable`` - take effect within ``ttl`` seconds)."""

    def __init__(self, store: Any, *, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: tuple[float, dict[str, User]] | None = None
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------
    def _events(self) -> pd.DataFrame:
        t = self.store.table_or_empty(USERS_TABLE)
        if t.empty:
            return pd.DataFrame(columns=USER_COLUMNS)
        for c in USER_COLUMNS:
            if c not in t.columns:
                t[c] = ""
        return t[USER_COLUMNS].fillna("").astype(str)

    def all(self, *, fresh: bool = False) -> dict[str, User]:
        """Every account's current state, by name."""
        with self._lock:
            if not fresh and self._cache and time.monotonic() - self._cache[0] < self.ttl:
                return self._cache[1]
        ev = self._events()
        users: dict[str, User] = {}
        for r in ev.sort_values("at", kind="stable").itertuples():
            cur = users.get(r.user)
            if r.event == "created":
                users[r.user] = User(r.user, r.role, r.adcode, r.district, True, r.password_hash)
            elif cur is None:
                continue
            elif r.event == "password":
                users[r.user] = User(cur.name, cur.role, cur.adcode, cur.district, cur.active, r.password_hash)
            elif r.event in ("disabled", "enabled"):
                users[r.user] = User(cur.name, cur.role, cur.adcode, cur.district, r.event == "enabled",
                                     cur.password_hash)
        with self._lock:
            self._cache = (time.monotonic(), users)
        return users

    def get(self, name: str) -> User | None:
        """The account, or None."""
        return self.all().get(name)

    def list(self) -> pd.DataFrame:
        """name, role, district, active - for ``cityplan users list``."""
        rows = [u.public() for u in self.all(fresh=True).values()]
        return pd.DataFrame(rows, columns=["name", "role", "adcode", "district", "active"])

    # -- authentication ---------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> User | None:
        """The active account when the password matches, else None (constant work either way)."""
        u = self.get(name) if NAME_RE.match(name or "") else None
        with _HASH_SLOTS:
            try:
                HASHER.verify(u.password_hash if u else _DUMMY, password or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            if u is None or not u.active:
                return None
            rehash = HASHER.hash(password) if HASHER.check_needs_rehash(u.password_hash) else None
        if rehash:
            self._append(_event(u.name, "password", password_hash=rehash, by=u.name))
        return u

    # -- writing ----------------------------------------------------------------------------
    def _append(self, row: pd.DataFrame) -> None:
        self.store.append_rows(USERS_TABLE, row, key=["event_id"])
        with self._lock:
            self._cache = None

    def add(self, name: str, role: str, password: str, *, adcode: str = "", district: str = "",
            by: str = "cli") -> User:
        """Create an account (UserError if it exists, or for a bad name/role/password)."""
        check_name(name)
        if role not in ROLES:
            msg = f"--role {role!r} is unknown; choose one of {', '.join(ROLES)}"
            raise UserError(msg)
        if role == "district" and not adcode:
            msg = "--role district needs --district NAME (the district this office reports for)"
            raise UserError(msg)
        if role != "district" and adcode:
            msg = f"--district is only for --role district, not {role}"
            raise UserError(msg)
        check_password(password)
        if name in self.all(fresh=True):
            msg = f"user {name!r} exists already; pick another name (or disable the old account)"
            raise UserError(msg)
        self._append(_event(name, "created", role=role, adcode=adcode, district=district,
                            password_hash=HASHER.hash(password), by=by))
        return self.all(fresh=True)[name]

    def _require(self, name: str) -> User:
        u = self.all(fresh=True).get(name)
        if u is None:
            msg = f"no user {name!r}; `cityplan users list` shows the accounts"
            raise UserError(msg)
        return u

    def disable(self, name: str, *, by: str = "cli") -> None:
        """Disable an account (its sessions end at their next request)."""
        self._require(name)
        self._append(_event(name, "disabled", by=by))

    def enable(self, name: str, *, by: str = "cli") -> None:
        """Enable a disabled account again."""
        self._require(name)
        self._append(_event(name, "enabled", by=by))

    def set_password(self, name: str, password: str, *, by: str = "cli") -> None:
        """Change an account's password; the account's open sessions end (on every server process)."""
        from cityplan.services.sessions import Sessions

        self._require(name)
        check_password(password)
        self._append(_event(name, "password", password_hash=HASHER.hash(password), by=by))
        ended = Sessions(self.store.shared()).drop_user(name)
        logger.info("password of %s changed; %d session(s) ended", name, ended)
