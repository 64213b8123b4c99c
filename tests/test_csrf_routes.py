"""CSRF on every state-changing route of the server, in process (Starlette's TestClient).

The routes are enumerated from the app object: a new POST/PUT/PATCH/DELETE route without a case
here fails :func:`test_every_state_changing_route_has_a_case`. For each route, a forged request is
refused - no token, a wrong token, another user's token, the right token from a foreign
``Origin`` (or ``Referer``, or the opaque ``null`` origin) - and nothing is stored (reviews,
progress events, accounts, audit rows other than the refusal itself, uploaded files); the same
request with the right token from the same origin is accepted and stored.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from conftest import HARBIN_DIR
from server_process import ACCOUNTS, PASSWORD

NANGANG, DAOLI = "230103", "230102"
WORKBOOK = HARBIN_DIR / "examples" / "progress" / "nangang-2023-06.xlsx"
REDLINE = HARBIN_DIR / "examples" / "proposals" / "clean_site.geojson"
BASE = "http://testserver"
SAME_ORIGIN = {"Origin": BASE}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: tables whose rows a refused request must leave alone
TABLES = ("cityplan_reviews", "cityplan_progress_events", "cityplan_users", "cityplan_audit", "cityplan_bookmarks")
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# ------------------------------------------------------------------------------ the app
@dataclass
class Server:
    app: object
    location: str
    data_dir: Path

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=BASE, follow_redirects=False)

    def login(self, name: str) -> TestClient:
        c = self.client()
        tok = _token(c.get("/login").text)
        r = c.post("/login", data={"username": name, "password": PASSWORD, "next": "/", "csrf_token": tok},
                   headers=SAME_ORIGIN)
        assert r.status_code == 303, r.text[:300]
        return c

    def stored(self) -> dict[str, object]:
        """What a refused write must not change: the tables (audit: all but refusal rows) and files."""
        from cityplan.onemap import OneMap

        om = OneMap.open(self.location)
        try:
            out: dict[str, object] = {}
            for t in TABLES:
                df = om.store.table_or_empty(t)
                if t == "cityplan_audit" and "outcome" in df.columns:
                    df = df[df["outcome"] != "denied"]
                df = df.drop(columns=[c for c in ("geometry", "fid") if c in df.columns]).astype(str)
                out[t] = sorted(map(tuple, df.to_numpy().tolist()))
        finally:
            om.close()
        for sub in ("uploads", "reports"):
            out[sub] = sorted(p.name for p in (self.data_dir / sub).glob("*"))
        out["tmp"] = sorted(p.name for p in (self.data_dir / "tmp").glob("upload-*"))
        return out


def _token(html: str) -> str:
    m = TOKEN_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture(scope="module")
def server(onemap, tmp_path_factory):
    from cityplan.onemap import OneMap
    from cityplan.server.app import create_app
    try:
        from cityplan.services.accounts import UserStore
    except ImportError:  # before the accounts moved to the services
        from cityplan.server.users import UserStore  # type: ignore[no-redef]

    work = tmp_path_factory.mktemp("csrf")
    loc = str(work / "harbin.gpkg")
    shutil.copy(onemap, loc)
    om = OneMap.open(loc)
    users = UserStore(om.store)
    for name, (role, district) in ACCOUNTS.items():
        users.add(name, role, PASSWORD, adcode=district or "")
    om.close()
    app = create_app(loc, data_dir=work / "data", basemap="none", warm=False, review_workers=0)
    yield Server(app, loc, work / "data")
    app.state.ctx.reviews.shutdown()


def _write_routes(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route that accepts a state-changing method (mounts included;
    a route without a method list - an endpoint class - counts as accepting them all)."""
    out: set[tuple[str, str]] = set()
    for r in routes:
        if isinstance(r, Mount):
            out |= _write_routes(list(r.routes or []), prefix + r.path)
        elif isinstance(r, Route):
            methods = r.methods if r.methods is not None else WRITES
            out |= {(m, prefix + r.path) for m in methods & WRITES}
        else:  # a WebSocketRoute or a custom route: state-changing until a case says otherwise
            out.add(("?", prefix + getattr(r, "path", repr(r))))
    return out


# ------------------------------------------------------------------------------ the cases
@dataclass
class Case:
    """How to send a route's request as ``user`` and how to tell it was accepted."""

    user: str | None
    #: (client, token or None, extra headers) -> response
    send: Callable[[TestClient, str | None, dict[str, str]], object]
    #: (server, client, response, stored before) -> None; asserts the write took place
    accepted: Callable[[Server, TestClient, object, dict], None]
    #: (server, client, response) -> None; asserts the write did not take place (beyond ``stored``)
    refused: Callable[[Server, TestClient, object], None]
    #: a page whose form carries the user's token (the session's: the same on every page)
    page: str = "/districts"


@functools.cache
def _site(location: str, adcode: str) -> str:
    from cityplan.progress.context import load_context

    ctx = load_context(location)
    return str(ctx.sites.loc[ctx.sites["adcode"].astype(str) == adcode, "site_id"].iloc[0])


def _forbidden(_server, _client, r) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])


def _data(token: str | None, **fields: str) -> dict[str, str]:
    return {**({"csrf_token": token} if token is not None else {}), **fields}


def _review_send(c, token, headers):
    return c.post("/review", data=_data(token, project_type="building", project="CSRF test"),
                  files={"file": (REDLINE.name, REDLINE.read_bytes(), "application/geo+json")}, headers=headers)


def _review_accepted(server, _c, r, before) -> None:
    assert r.status_code == 303 and r.headers["location"].startswith("/review/"), (r.status_code, r.text[:300])
    after = server.stored()
    assert _rows(after["cityplan_reviews"]) == _rows(before["cityplan_reviews"]) + 1
    assert len(after["uploads"]) >= 1


def _progress_send(c, token, headers):
    return c.post(f"/districts/{NANGANG}/progress", data=_data(token),
                  files={"file": (WORKBOOK.name, WORKBOOK.read_bytes())}, headers=headers)


def _progress_accepted(server, _c, r, before) -> None:
    assert r.status_code == 200, (r.status_code, r.text[:500])
    after = server.stored()
    assert _rows(after["cityplan_progress_events"]) > _rows(before["cityplan_progress_events"])


def _status_send_for(server: Server) -> Callable:
    site = _site(server.location, NANGANG)

    def send(c, token, headers):
        return c.post(f"/districts/{NANGANG}/sites/{site}/status",
                      data=_data(token, status="started", as_of="2023-05-02", achieved="", note="csrf test"),
                      headers=headers)
    return send


def _status_accepted(server, _c, r, before) -> None:
    assert r.status_code == 303, (r.status_code, r.text[:500])
    after = server.stored()
    assert _rows(after["cityplan_progress_events"]) == _rows(before["cityplan_progress_events"]) + 1


def _logout_send(c, token, headers):
    return c.post("/logout", data=_data(token), headers=headers)


def _alive(server: Server, sid: str) -> bool:
    c = server.client()
    c.cookies.set("cp_session", sid)
    r = c.get("/districts")
    return r.status_code == 200


def _logout_refused(server, c, r) -> None:
    # the browser's cookie may be cleared, but the session itself must still work
    assert _alive(server, c._sid), "a forged logout ended the session"


def _logout_accepted(server, _c, r, before) -> None:
    assert r.status_code == 303
    assert not _alive(server, _c._sid), "logout with the right token left the session alive"


def _login_send(c, token, headers):
    return c.post("/login", data=_data(token, username="view", password=PASSWORD, next="/"), headers=headers)


def _login_refused(_server, _c, r) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert "cp_session" not in r.headers.get("set-cookie", "")


def _login_accepted(server, _c, r, before) -> None:
    assert r.status_code == 303 and "cp_session=" in r.headers.get("set-cookie", ""), r.text[:300]
    assert _alive(server, r.cookies["cp_session"])


def _bookmark_send(c, token, headers):
    return c.post("/api/bookmarks", data=_data(token, name="csrf view", view="13/45.75/126.65", layers="districts"),
                  headers=headers)


def _bookmarks_of(server: Server, user: str) -> set[str]:
    from cityplan.onemap import OneMap
    from cityplan.services.bookmarks import list_bookmarks

    om = OneMap.open(server.location)
    try:
        return {b.name for b in list_bookmarks(om.store, user)}
    finally:
        om.close()


def _bookmark_accepted(server, _c, r, before) -> None:
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "csrf view" in _bookmarks_of(server, "view")


def _bookmark_delete_send(c, token, headers):
    return c.post("/api/bookmarks/delete", data=_data(token, name="kept view"), headers=headers)


def _bookmark_delete_accepted(server, _c, r, before) -> None:
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "kept view" not in _bookmarks_of(server, "view")


def _keep_bookmark(server: Server) -> None:
    """The bookmark the delete case deletes (made again before every case)."""
    from cityplan.onemap import OneMap
    from cityplan.services.bookmarks import list_bookmarks, save_bookmark

    om = OneMap.open(server.location)
    try:
        if "kept view" not in {b.name for b in list_bookmarks(om.store, "view")}:
            save_bookmark(om.store, "view", "kept view", "12/45.7/126.6", ["districts"])
    finally:
        om.close()


_REVIEWED: dict[str, str] = {}


def _stored_review(server: Server) -> str:
    """A stored review the re-check case re-checks (reviewed once per module, through the desk)."""
    if server.location not in _REVIEWED:
        c = server.login("rev")
        r = _review_send(c, _token(c.get("/review").text), SAME_ORIGIN)
        assert r.status_code == 303, (r.status_code, r.text[:300])
        _REVIEWED[server.location] = r.headers["location"].rsplit("/", 1)[1]
    return _REVIEWED[server.location]


def _recheck_send_for(server: Server) -> Callable:
    rid = _stored_review(server)

    def send(c, token, headers):
        return c.post(f"/review/{rid}/recheck", data=_data(token), headers=headers)
    return send


def _recheck_accepted(server, _c, r, before) -> None:
    assert r.status_code == 200 and 'id="cp-recheck"' in r.text, (r.status_code, r.text[:300])
    after = server.stored()
    # nothing stored but the audit row of the re-check (same build: no finding changed)
    assert after["cityplan_reviews"] == before["cityplan_reviews"]
    new = set(after["cityplan_audit"]) - set(before["cityplan_audit"])
    assert len(new) == 1 and "review.recheck" in next(iter(new)), new
    assert 'data-changed="0"' in r.text


def _rows(v: object) -> int:
    return len(v)  # type: ignore[arg-type]


def _cases(server: Server) -> dict[tuple[str, str], Case]:
    _keep_bookmark(server)
    return {
        ("POST", "/review"): Case("rev", _review_send, _review_accepted, _forbidden),
        ("POST", "/review/{rid}/recheck"): Case("rev", _recheck_send_for(server), _recheck_accepted, _forbidden),
        ("POST", "/districts/{adcode}/progress"): Case("nangang", _progress_send, _progress_accepted, _forbidden),
        ("POST", "/districts/{adcode}/sites/{site}/status"): Case("nangang", _status_send_for(server),
                                                                  _status_accepted, _forbidden),
        ("POST", "/logout"): Case("view", _logout_send, _logout_accepted, _logout_refused),
        ("POST", "/login"): Case(None, _login_send, _login_accepted, _login_refused, page="/login"),
        ("POST", "/api/bookmarks"): Case("view", _bookmark_send, _bookmark_accepted, _forbidden),
        ("POST", "/api/bookmarks/delete"): Case("view", _bookmark_delete_send, _bookmark_delete_accepted, _forbidden),
    }


KEYS = ["POST /review", "POST /review/{rid}/recheck", "POST /districts/{adcode}/progress", "POST /districts/{adcode}/sites/{site}/status",
        "POST /logout", "POST /login", "POST /api/bookmarks", "POST /api/bookmarks/delete"]


def test_every_state_changing_route_has_a_case(server):
    found = _write_routes(list(server.app.routes))
    assert found, "no state-changing route found: the enumeration is broken"
    missing = found - set(_cases(server))
    assert not missing, f"state-changing routes without a CSRF test here: {sorted(missing)}"
    assert {tuple(k.split(" ", 1)) for k in KEYS} == set(_cases(server)) == found


FORGERIES = ["no token", "wrong token", "another user's token", "foreign Origin", "foreign Referer", "null Origin"]


def _session_client(server: Server, case: Case) -> tuple[TestClient, str]:
    """A client for the case's user (or a fresh login form for ``/login``) and its right token."""
    if case.user is None:
        c = server.client()
        return c, _token(c.get("/login").text)
    c = server.login(case.user)
    c._sid = c.cookies["cp_session"]  # type: ignore[attr-defined]
    return c, _token(c.get(case.page).text)


def _other_token(server: Server, case: Case) -> str:
    """A valid token of another user's session (for ``/login``: another browser's login form)."""
    if case.user is None:
        return _token(server.client().get("/login").text)
    other = "admin" if case.user != "admin" else "rev"
    c = server.login(other)
    return _token(c.get(case.page).text)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_request_refused_and_nothing_stored(server, key, forgery):
    case = _cases(server)[tuple(key.split(" ", 1))]
    c, right = _session_client(server, case)
    token, headers = {
        "no token": (None, SAME_ORIGIN),
        "wrong token": ("x" * len(right), SAME_ORIGIN),
        "another user's token": (_other_token(server, case), SAME_ORIGIN),
        "foreign Origin": (right, {"Origin": "https://evil.example"}),
        "foreign Referer": (right, {"Referer": "https://evil.example/form.html"}),
        "null Origin": (right, {"Origin": "null"}),
    }[forgery]
    if forgery == "another user's token":
        assert token != right
    before = server.stored()
    r = case.send(c, token, headers)
    case.refused(server, c, r)
    assert server.stored() == before, f"{key} with {forgery}: something was stored"


@pytest.mark.parametrize("key", KEYS)
def test_right_token_same_origin_accepted(server, key):
    case = _cases(server)[tuple(key.split(" ", 1))]
    c, right = _session_client(server, case)
    before = server.stored()
    r = case.send(c, right, SAME_ORIGIN)
    case.accepted(server, c, r, before)
