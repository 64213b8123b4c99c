"""Run `cityplan serve` in a subprocess on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD = "correct-horse-battery"
#: name -> (role, district)
ACCOUNTS = {"admin": ("admin", None), "rev": ("reviewer", None), "view": ("viewer", None),
            "nangang": ("district", "230103"), "daoli": ("district", "230102")}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cityplan(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the CLI (``python -m cityplan``)."""
    return subprocess.run([sys.executable, "-m", "cityplan", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)


def add_accounts(location: str, accounts: dict[str, tuple[str, str | None]] = ACCOUNTS) -> None:
    """Create ``accounts`` in-process, as ``cityplan users add`` does (the CLI itself is tested in
    test_cli and test_abroad): districts named by adcode resolved on the map's districts layer."""
    from cityplan.districts import resolve_district
    from cityplan.onemap import OneMap
    from cityplan.services.accounts import UserStore

    om = OneMap.open(location)
    users = UserStore(om.store)
    for name, (role, district) in accounts.items():
        adcode = dname = ""
        if district:
            d = resolve_district(district, om.layer_for("districts"))
            adcode, dname = str(d["adcode"]), str(d["name"])
        users.add(name, role, PASSWORD, adcode=adcode, district=dname, by="tests")
    om.store.close()


@dataclass
class Served:
    """A running server."""

    url: str
    location: str
    data_dir: Path
    proc: subprocess.Popen
    tmpdir: Path

    def stop(self) -> None:
        """Terminate the server (its own process only)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(location: str, workdir: Path, *, extra: tuple[str, ...] = (), timeout: float = 120) -> Served:
    """Start ``cityplan serve`` over ``location``; returns once ``/ogc`` answers."""
    port = free_port()
    data = workdir / "server-data"
    tmpdir = workdir / "process-tmp"  # the server must write nothing here (it uses data/tmp)
    tmpdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityplan", "serve", "--onemap", location, "--port", str(port), "--data-dir",
         str(data), "--basemap", "none", *extra],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmpdir)})
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError((workdir / "server.log").read_text())
        try:
            if httpx.get(url + "/ogc", timeout=5).status_code == 200:
                return Served(url, location, data, proc, tmpdir)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start in {timeout} s: {(workdir / 'server.log').read_text()}")


def login(url: str, name: str, password: str = PASSWORD) -> httpx.Client:
    """An httpx client logged in as ``name`` (asserts success)."""
    c = httpx.Client(base_url=url, timeout=120, follow_redirects=False)
    r = c.post("/login", data=login_form(c, name, password))
    assert r.status_code == 303, r.text[:500]
    return c


def login_form(c: httpx.Client, name: str, password: str = PASSWORD) -> dict[str, str]:
    """Fields of the login form (with its fresh CSRF token)."""
    return {"username": name, "password": password, "next": "/", "csrf_token": token(c.get("/login").text)}


def token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def serve_copy(onemap: Path, work: Path, **kwargs: object) -> Served:
    """``cityplan serve`` over a copy of the GeoPackage ``onemap`` in ``work``, with ACCOUNTS added."""
    import shutil

    loc = str(work / Path(onemap).name)
    shutil.copy(onemap, loc)
    add_accounts(loc)
    return start(loc, work, **kwargs)  # type: ignore[arg-type]
