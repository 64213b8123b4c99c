"""Shared fixtures: the real Harbin sample data and one one-map build per test run.

Expensive session fixtures (the Harbin GeoPackage, the PostGIS cluster and its Harbin build, the
synthetic city) are made once per run even under pytest-xdist (run_once.py). Every test is
marked by what it needs, found from its fixtures and from what it (and they) call: see
:func:`pytest_collection_modifyitems`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cityplan.build import BuildResult, build_onemap
from cityplan.profile import load_profile
from run_once import once, run_cleanups, worker
from synthetic_city import synthetic_onemap  # noqa: F401 (the tiny synthetic city, a session fixture)

#: the repository (tests may know it; the package never does)
REPO = Path(__file__).resolve().parents[1]
#: the Harbin sample data: $CITYPLAN_DATA, else ../shared/data/harbin beside the repository
HARBIN_DATA = Path(os.environ.get("CITYPLAN_DATA") or REPO.parent / "shared" / "data" / "harbin")
#: the built-in Harbin profile, and its folder (sample proposals and progress workbooks)
HARBIN = load_profile("harbin")
HARBIN_DIR = HARBIN.folder
assert HARBIN_DIR is not None
PROPOSALS = HARBIN_DIR / "examples" / "proposals"


@pytest.fixture(scope="session")
def data() -> Path:
    """The Harbin sample data folder (tests fail, not skip, if it is missing)."""
    assert HARBIN_DATA.is_dir(), f"Harbin sample data missing: {HARBIN_DATA} (set CITYPLAN_DATA)"
    return HARBIN_DATA


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, data: Path) -> BuildResult:
    """The one map built once per run from the real sample data (read-only: copy it to write)."""
    return once(tmp_path_factory, "onemap",
                lambda folder: build_onemap(city="harbin", data=data, out=folder / "harbin.gpkg"))


@pytest.fixture(scope="session")
def onemap(built: BuildResult) -> Path:
    """Path of the session's one-map GeoPackage."""
    return built.path


def write_geojson(path: Path, features: list[dict], *, crs: str | None = None) -> Path:
    """Write a tiny GeoJSON FeatureCollection (optionally with a legacy crs member)."""
    fc: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def feature(geometry: dict | None, **props: object) -> dict:
    """A GeoJSON feature."""
    return {"type": "Feature", "properties": props, "geometry": geometry}


def square(x: float, y: float, d: float = 0.001) -> dict:
    """A small square polygon at (x, y) in degrees."""
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


from pg_fixtures import pg_harbin_url, pg_server, pg_url  # noqa: E402,F401  (PostgreSQL/PostGIS fixtures)


def write_profile(folder: Path, catalog: str, *, pid: str = "test", country: str = "CN") -> Path:
    """A minimal city profile folder: ``profile.yaml`` and the given ``catalog.yaml`` text."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.yaml").write_text(f"version: 1\nid: {pid}\ncountry: {country}\n", encoding="utf-8")
    (folder / "catalog.yaml").write_text(catalog, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def _run_in_an_empty_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in an empty folder of its own: commands that write ``cityplan.toml`` or
    ``out/`` there leave the checkout alone, and no test can lean on a file of the repository
    being in the working directory."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    monkeypatch.delenv("CITYPLAN_ONEMAP", raising=False)


#: fixtures that need the real-Harbin build, PostgreSQL, a served process or a fresh venv
HEAVY_FIXTURES = frozenset({"onemap", "built", "data", "pg_server", "pg_url", "pg_harbin_url", "pg_map",
                            "served", "gpkg_served", "installed"})

#: marker -> fixtures that bring what it names (a fixture's own fixtures count too: pytest lists
#: them all in ``item.fixturenames``)
NEEDS_FIXTURES = {
    "harbin": {"onemap", "built", "data", "pg_harbin_url"},
    "postgis": {"pg_server", "pg_url", "pg_harbin_url"},
}


def _needs_by_calls() -> dict[object, str]:
    """Objects whose use means a marker: found among the names a test (or its fixtures, or the
    helper functions of tests/ they call) refers to."""
    import subprocess

    import browser
    import server_process

    return {subprocess: "subprocess", server_process.start: "server", browser.launch: "browser"}


def _calls(func: object, known: dict[object, str], seen: set[int]) -> set[str]:
    """Markers for what ``func`` refers to, following the functions defined under tests/."""
    code = getattr(func, "__code__", None)
    if code is None or id(code) in seen:
        return set()
    seen.add(id(code))
    found: set[str] = set()
    glob = getattr(func, "__globals__", {})
    codes = [code]
    while codes:  # nested functions and comprehensions too
        c = codes.pop()
        codes.extend(k for k in c.co_consts if hasattr(k, "co_names"))
        for name in (*c.co_names, *c.co_freevars):
            obj = glob.get(name)
            try:
                if obj in known:
                    found.add(known[obj])
            except TypeError:  # unhashable
                continue
            inner = getattr(obj, "__wrapped__", obj)
            if getattr(getattr(inner, "__code__", None), "co_filename", "").startswith(str(TESTS)):
                found |= _calls(inner, known, seen)
    # function-level imports: ``from server_process import start`` inside the test
    for c in [code, *(k for k in code.co_consts if hasattr(k, "co_names"))]:
        names = set(c.co_names)
        if "server_process" in names and names & {"start", "serve_copy"}:
            found.add("server")
        if "browser" in names and "launch" in names:
            found.add("browser")
        if "subprocess" in names:
            found.add("subprocess")
    return found


TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by what it needs: ``harbin`` (the real-Harbin data or build), ``postgis``
    (the PostgreSQL cluster), ``server`` (a ``cityplan serve`` process), ``browser`` (headless
    Chromium), ``subprocess`` (starts a process), from its fixtures and from what the test and
    its fixtures call. The quick tier (``pytest -m unit``): every test that needs none of
    :data:`HEAVY_FIXTURES` and drives no browser or server is marked ``unit`` (tests may also
    mark themselves)."""
    known = _needs_by_calls()
    cache: dict[object, set[str]] = {}
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        needs = {mark for mark, fixtures in NEEDS_FIXTURES.items() if names & fixtures}
        funcs = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        for defs in (info.name2fixturedefs.values() if info else ()):
            funcs.extend(d.func for d in defs)
        for f in funcs:
            if f not in cache:
                cache[f] = _calls(f, known, set())
            needs |= cache[f]
        for mark in sorted(needs):
            if item.get_closest_marker(mark) is None:
                item.add_marker(getattr(pytest.mark, mark))
        if not names & HEAVY_FIXTURES and not needs & {"browser", "server"}:
            item.add_marker(pytest.mark.unit)
    _heaviest_modules_first(items)


def _heaviest_modules_first(items: list[pytest.Item]) -> None:
    """Order the modules by a rough cost (from their markers), heaviest first, keeping each
    module's own order: xdist hands out modules in this order, so the long ones do not start last
    and leave one worker idle at the end."""
    cost = {"server": 20.0, "browser": 10.0, "subprocess": 5.0, "postgis": 3.0, "harbin": 1.0}
    weight: dict[str, float] = {}
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        w = 0.05 if "unit" in marks else 0.5 + sum(v for k, v in cost.items() if k in marks)
        if "installed" in getattr(item, "fixturenames", ()):
            w += 100.0
        weight[item.nodeid.split("::")[0]] = weight.get(item.nodeid.split("::")[0], 0.0) + w
    items.sort(key=lambda it: -weight[it.nodeid.split("::")[0]])  # stable: order within a module kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The xdist controller, once every worker is done: stop what the workers shared."""
    if worker() is None and getattr(session.config.option, "numprocesses", None):
        from pg_fixtures import stop_cluster

        run_cleanups(session.config._tmp_path_factory.getbasetemp(), {"pg_server": stop_cluster})


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Without pytest-xdist (``-p no:xdist``) accept and ignore the ``-n``/``--dist`` of the
    configured addopts, so the suite runs serially instead of failing to parse its options."""
    if pluginmanager.has_plugin("xdist"):
        return
    group = parser.getgroup("xdist", "stand-ins while pytest-xdist is disabled: the run is serial")
    group._addoption("-n", "--numprocesses", dest="numprocesses", default=None,
                     help="ignored: pytest-xdist is disabled")
    group._addoption("--dist", dest="dist", default="no", help="ignored: pytest-xdist is disabled")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Serial under mutmut (it sets ``MUTANT_UNDER_TEST`` and must see the tests run in its own
    process): the ``-n 2`` of addopts is dropped there."""
    if os.environ.get("MUTANT_UNDER_TEST") and hasattr(config.option, "numprocesses"):
        config.option.numprocesses = None
        config.option.dist = "no"


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A real 64 KiB file system (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()

    def mount(opts: str) -> Path:
        if os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("mounting a tmpfs needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mnt)], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount tmpfs: {r.stderr.strip()}")
        return mnt

    yield mount
    subprocess.run(["umount", str(mnt)], capture_output=True)
