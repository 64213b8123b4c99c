"""Shared fixtures: the real Harbin sample data and one one-map build per test session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cityplan.build import BuildResult, build_onemap
from cityplan.profile import load_profile
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
    """The one map built once from the real sample data."""
    out = tmp_path_factory.mktemp("onemap") / "harbin.gpkg"
    return build_onemap(city="harbin", data=data, out=out)


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quick tier (``pytest -m unit``): every test that needs none of :data:`HEAVY_FIXTURES`
    and drives no browser is marked ``unit`` (tests may also mark themselves)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if not names & HEAVY_FIXTURES and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.unit)
