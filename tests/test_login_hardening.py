"""Logins that cannot be turned against the server (issue #25): a burst of wrong passwords gets
at most the limit checked, refused attempts are audited once per source and minute, argon2 runs
at most HASH_CONCURRENCY at once, a changed password ends open sessions - in-process, over the
synthetic city."""

from __future__ import annotations

import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityplan.onemap import OneMap
from cityplan.server import create_app
from cityplan.services import accounts
from cityplan.services.accounts import UserStore
from cityplan.services.audit import read_audit

PASSWORD = "correct-horse-battery"


class Spy:
    """The real argon2 hasher, with a hook around ``verify`` (PasswordHasher has slots)."""

    def __init__(self, real, around) -> None:
        self.real, self.around = real, around

    def verify(self, h, p):
        return self.around(self.real.verify, h, p)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def served(synthetic_onemap: Path, tmp_path: Path):
    p = tmp_path / "map.gpkg"
    shutil.copy(synthetic_onemap, p)
    om = OneMap.open(p)
    UserStore(om.store).add("ana", "viewer", PASSWORD, by="tests")
    app = create_app(str(p), data_dir=tmp_path / "sd", warm=False, review_workers=0)
    with TestClient(app) as _:
        yield app, om


def _form(c: TestClient, password: str) -> dict[str, str]:
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    return {"username": "ana", "password": password, "next": "/", "csrf_token": token}


def test_a_burst_of_ten_wrong_passwords_gets_at_most_five_checks(served, monkeypatch) -> None:
    app, _ = served
    checks = []

    def counting(verify, h, p):
        checks.append(1)
        return verify(h, p)

    monkeypatch.setattr(accounts, "HASHER", Spy(accounts.HASHER, counting))
    clients = [TestClient(app, follow_redirects=False) for _ in range(10)]
    forms = [_form(c, "wrong password!") for c in clients]
    barrier = threading.Barrier(10)

    def go(i: int) -> int:
        barrier.wait()
        return clients[i].post("/login", data=forms[i]).status_code

    with ThreadPoolExecutor(10) as ex:
        codes = list(ex.map(go, range(10)))
    assert len(checks) <= 5, (len(checks), codes)
    assert codes.count(401) == len(checks) and codes.count(429) == 10 - len(checks)


def test_refused_logins_are_audited_once_per_source_and_minute(served) -> None:
    app, om = served
    c = TestClient(app, follow_redirects=False)
    for _ in range(12):
        c.post("/login", data=_form(c, "wrong password!"))
    denied = read_audit(om.store)
    denied = denied[(denied["action"] == "login") & (denied["outcome"] == "denied")]
    # at most one row per reason (wrong password, rate limited) per minute - two minutes if the
    # burst straddles a minute boundary
    assert 1 <= len(denied) <= 4, denied[["at", "detail"]]
    assert set(denied["detail"].str.contains("rate limited")) == {True, False}


def test_argon2_runs_at_most_hash_concurrency_at_once(served, monkeypatch) -> None:
    app, om = served
    users = UserStore(om.store)
    busy, peak = [0], [0]
    lock = threading.Lock()

    def slow(verify, h, p):
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        try:
            time.sleep(0.05)
            return verify(h, p)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(accounts, "HASHER", Spy(accounts.HASHER, slow))
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: users.authenticate("ana", PASSWORD), range(8)))
    assert all(u is not None for u in results)
    assert peak[0] == accounts.HASH_CONCURRENCY


def test_a_changed_password_ends_open_sessions(served) -> None:
    app, om = served
    c = TestClient(app, follow_redirects=False)
    assert c.post("/login", data=_form(c, PASSWORD)).status_code == 303
    assert c.get("/").status_code == 200
    UserStore(om.store).set_password("ana", "another-long-password", by="tests")
    assert c.get("/").status_code in (302, 303, 307)
