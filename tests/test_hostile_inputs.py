"""What a careless office or a hostile insider sends to the review desk (issue #25), in-process:
a 2 km red line over point and polygon plan sites, markup in the file name, NaN coordinates, an
XLSX with an external entity; what pages and downloads reveal of the server; headers on errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from starlette.testclient import TestClient

from cityplan.onemap import OneMap
from cityplan.server import create_app
from cityplan.services.accounts import UserStore

PASSWORD = "correct-horse-battery"
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


@pytest.fixture(scope="module")
def served(onemap: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("hostile")
    p = folder / "harbin.gpkg"
    shutil.copy(onemap, p)
    om = OneMap.open(p)
    UserStore(om.store).add("rev", "reviewer", PASSWORD, by="tests")
    app = create_app(str(p), data_dir=folder / "server-data", warm=False, review_workers=0)
    with TestClient(app, raise_server_exceptions=False) as _:
        yield app, om, folder


def _login(app) -> TestClient:
    c = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": "rev", "password": PASSWORD, "next": "/", "csrf_token": token})
    assert r.status_code == 303
    return c


def _submit(c: TestClient, name: str, body: bytes, mime: str = "application/geo+json", **fields: str):
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/review").text).group(1)
    data = {"csrf_token": token, "project": "测试项目", "applicant": "测试单位", "project_type": "building",
            "crs": "EPSG:4326", **fields}
    return c.post("/review", data=data, files={"file": (name, body, mime)})


def _two_km_square(om: OneMap) -> bytes:
    """A 2 km square around the plan parking site with the most plan sites (points and polygons) near it."""
    work = om.working_crs
    pts = om.layer("plan_parking").to_crs(work)
    polys = om.layer("plan_renovation").to_crs(work)
    best = max(pts.geometry, key=lambda p: int(polys.intersects(p.buffer(1000, cap_style="square")).sum()
                                            + pts.intersects(p.buffer(1000, cap_style="square")).sum()))
    box = shapely.box(best.x - 1000, best.y - 1000, best.x + 1000, best.y + 1000)
    return gpd.GeoDataFrame({"name": ["2 km"]}, geometry=[box], crs=work).to_crs(4326).to_json().encode()


def test_a_2km_red_line_over_point_and_polygon_sites_is_reviewed(served) -> None:
    app, om, _ = served
    c = _login(app)
    r = _submit(c, "two_km.geojson", _two_km_square(om))
    assert r.status_code == 303, r.text[:500]
    page = c.get(r.headers["location"])
    assert page.status_code == 200
    rid = r.headers["location"].rsplit("/", 1)[1]
    doc = c.get(f"/review/{rid}/report.json").json()["report"]
    kinds = {f["geometry"]["type"] for f in doc["overlaps_geojson"]["features"]}
    assert kinds and "GeometryCollection" not in kinds
    assert len(kinds) > 1  # the case this test is about: overlaps of more than one geometry family


def test_markup_in_the_file_name_never_reaches_a_page_raw(served) -> None:
    app, om, _ = served
    c = _login(app)
    name = '<img src=x onerror=alert(1)>.geojson'
    r = _submit(c, name, _two_km_square(om))
    assert r.status_code == 303, r.text[:500]
    rid = r.headers["location"].rsplit("/", 1)[1]
    for url in (f"/review/{rid}", f"/review/{rid}/report.html", "/review"):
        body = c.get(url).text
        assert "<img src=x" not in body, url


def test_nan_and_infinite_coordinates_are_one_line_refusals(served) -> None:
    app, _, _ = served
    c = _login(app)
    for bad in ("NaN", "Infinity"):
        body = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":'
                '{"type":"Polygon","coordinates":[[[126.6,45.7],[126.61,45.7],[' + bad + ',45.71],[126.6,45.7]]]}}]}')
        r = _submit(c, f"{bad}.geojson", body.encode())
        assert 400 <= r.status_code < 500, (bad, r.status_code, r.text[:300])
        assert all(h in r.headers for h in SECURITY_HEADERS)


def test_xlsx_with_an_external_entity_is_refused_not_resolved(served, tmp_path: Path) -> None:
    import zipfile

    app, _, folder = served
    c = _login(app)
    secret = folder / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
           '<si><t>&x;</t></si></sst>')
    path = tmp_path / "points.xlsx"
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["经度", "纬度"])
    wb.active.append([126.6, 45.7])
    wb.save(path)
    patched = tmp_path / "xxe.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, xxe.encode() if item.filename == "xl/sharedStrings.xml" else data)
        if "xl/sharedStrings.xml" not in src.namelist():
            dst.writestr("xl/sharedStrings.xml", xxe)
    r = _submit(c, "xxe.xlsx", patched.read_bytes(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert "TOP-SECRET-LINE" not in r.text
    assert all(h in r.headers for h in SECURITY_HEADERS)


def test_no_server_path_in_pages_or_downloads(served) -> None:
    app, om, folder = served
    c = _login(app)
    r = _submit(c, "two_km.geojson", _two_km_square(om))
    rid = r.headers["location"].rsplit("/", 1)[1]
    for url in (f"/review/{rid}", f"/review/{rid}/report.html", f"/review/{rid}/report.json", "/review", "/"):
        body = c.get(url).text
        assert str(folder) not in body and "/tmp/" not in body, url


def test_an_internal_error_page_carries_the_security_headers(onemap: Path, tmp_path: Path) -> None:
    from starlette.routing import Route

    def boom(_request):
        raise RuntimeError("/srv/secret/path exploded")

    app = create_app(str(onemap), data_dir=tmp_path / "sd", warm=False, review_workers=0)
    app.router.routes.append(Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert all(h in r.headers for h in SECURITY_HEADERS), dict(r.headers)
    assert "/srv/secret" not in r.text and "Traceback" not in r.text


def test_a_review_is_stored_with_its_audit_row_or_not_at_all(served, tmp_path: Path) -> None:
    """The review and its audit row go in one transaction: when the audit insert fails inside it
    (a trigger refuses it), no review is left behind; a normal submission leaves both."""
    import sqlite3

    import pandas as pd

    app, om, _ = served
    c = _login(app)
    r = _submit(c, "two_km.geojson", _two_km_square(om))
    rid = r.headers["location"].rsplit("/", 1)[1]
    audit = om.store.read("cityplan_audit")
    assert ((audit["action"] == "review.create") & (audit["target"] == rid) & (audit["outcome"] == "ok")).sum() == 1
    copy = tmp_path / "copy.gpkg"
    shutil.copy(om.path, copy)
    with sqlite3.connect(copy) as con:
        con.execute("CREATE TRIGGER no_audit BEFORE INSERT ON cityplan_audit BEGIN SELECT RAISE(ABORT, 'refused'); END")
    store = OneMap.open(copy).store
    before = len(store.read("cityplan_reviews"))
    batches = {"cityplan_reviews": pd.DataFrame([{"review_id": "f" * 32, "verdict": "pass"}]),
               "cityplan_audit": pd.DataFrame([{"event_id": "e1", "action": "review.create"}])}
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        store.append_many(batches)
    assert len(store.read("cityplan_reviews")) == before  # rolled back with the audit row
