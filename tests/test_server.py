"""`cityplan serve` end to end: a real uvicorn subprocess over the GeoPackage and over PostGIS,
driven by httpx (OGC API client, permissions, hostile uploads) and headless Chromium."""

from __future__ import annotations

import io
import json
import shutil
import socket
import tempfile
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
import shapely

from browser import launch, log_in, served_page, wait_for
from conftest import HARBIN_DIR
from server_process import (
    PASSWORD,
    add_accounts,
    cityplan,
    login,
    login_form,
    serve_copy,
    start,
    token,
)

ROOT = HARBIN_DIR
PROPOSALS = ROOT / "examples" / "proposals"
WORKBOOK = ROOT / "examples" / "progress" / "nangang-2023-06.xlsx"
NANGANG, DAOLI = "230103", "230102"
BBOX = (126.60, 45.72, 126.70, 45.78)


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def served(request, tmp_path_factory, onemap):
    """The server over a copy of the session's GeoPackage, or over a copy of its PostGIS build."""
    work = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "gpkg":
        loc = str(work / "harbin.gpkg")
        shutil.copy(onemap, loc)
    else:
        from pg_fixtures import copy_database

        loc = copy_database(request.getfixturevalue("pg_server"), request.getfixturevalue("pg_harbin_url"), "serve")
    add_accounts(loc)
    s = start(loc, work)
    yield s
    s.stop()


def _site_of(served, adcode: str) -> str:
    from cityplan.progress.context import load_context

    ctx = load_context(served.location)
    sites = ctx.sites[ctx.sites["adcode"].astype(str) == adcode]
    return str(sites["site_id"].iloc[0])


# ------------------------------------------------------------------------------------- OGC API
def test_ogc_client_sequence(served, onemap):
    c = httpx.Client(base_url=served.url, timeout=60)
    land = c.get("/ogc").json()
    data_link = next(lk["href"] for lk in land["links"] if lk["rel"] == "data")
    conf = c.get(next(lk["href"] for lk in land["links"] if lk["rel"] == "conformance")).json()
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf["conformsTo"]
    colls = {x["id"]: x for x in c.get(data_link).json()["collections"]}
    assert "parks" in colls and "districts_datav" not in colls  # restricted: hidden from anonymous clients
    items = next(lk["href"] for lk in colls["parks"]["links"] if lk["rel"] == "items")
    url, params, feats, pages = items, {"bbox": ",".join(map(str, BBOX)), "limit": 40}, [], 0
    while url:
        r = c.get(url, params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        page = r.json()
        assert page["type"] == "FeatureCollection" and page["numberReturned"] == len(page["features"]) <= 40
        feats += page["features"]
        url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
        params, pages = None, pages + 1
    # independent: the layer read straight from the GeoPackage file, filtered by shapely
    gdf = gpd.read_file(onemap, layer="parks").to_crs(4326)
    want = gdf[gdf.intersects(shapely.box(*BBOX))]
    assert page["numberMatched"] == len(want) == len(feats) > 40 and pages == -(-len(want) // 40)
    got = gpd.GeoDataFrame.from_features(feats, crs=4326)
    key = "osm_ref"
    assert sorted(got[key]) == sorted(want[key])
    g = got.set_index(key).geometry
    for ref, geom in zip(want[key], want.geometry, strict=True):
        assert shapely.equals_exact(g[ref], geom, tolerance=1e-9), ref
    one = c.get(f"{items}/{feats[0]['id']}").json()
    assert one["id"] == feats[0]["id"] and one["properties"][key] == feats[0]["properties"][key]
    # restricted layer: 401 anonymous, served with HTTP Basic credentials
    assert c.get("/ogc/collections/districts_datav/items").status_code == 401
    r = c.get("/ogc/collections/districts_datav/items", auth=("view", PASSWORD))
    assert r.status_code == 200 and r.json()["numberMatched"] > 0
    assert c.get("/ogc/collections/parks/items", params={"bbox": "1,2,3"}).status_code == 400


OGC_CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"


def _rels(doc: dict) -> dict[tuple[str, str], str]:
    return {(lk["rel"], lk["type"]): lk["href"] for lk in doc["links"]}


def test_ogc_core_landing_openapi_and_html(served):
    """Part 1 Core as QGIS reads it: service-desc to a valid OpenAPI 3.0 document, whose schemas the
    answers match; HTML by f= and Accept; OGC exceptions with their status."""
    from openapi_schema_validator import OAS30Validator
    from openapi_spec_validator import validate

    c = httpx.Client(base_url=served.url, timeout=60)
    r = c.get("/ogc")
    assert r.headers["content-type"].startswith("application/json")
    land = r.json()
    rels = _rels(land)
    for rel, media in [("self", "application/json"), ("alternate", "text/html"), ("service-desc", OPENAPI_JSON),
                       ("service-doc", "text/html"), ("conformance", "application/json"),
                       ("data", "application/json")]:
        assert (rel, media) in rels, (rel, media, land["links"])
    assert rels[("service-desc", OPENAPI_JSON)] == served.url + "/ogc/api"
    assert rels[("service-doc", "text/html")] == served.url + "/ogc/api.html"
    conf = c.get(rels[("conformance", "application/json")]).json()["conformsTo"]
    assert {OGC_CONF + k for k in ("core", "oas30", "geojson", "html")} <= set(conf)

    # the OpenAPI document: valid, the limit QGIS reads, one path set per visible collection
    r = c.get(rels[("service-desc", OPENAPI_JSON)],
              headers={"Accept": f"{OPENAPI_JSON}, application/openapi+json;version=3.0, application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == OPENAPI_JSON
    api = r.json()
    validate(api)
    assert api["openapi"].startswith("3.0") and api["servers"] == [{"url": served.url + "/ogc"}]
    limit = api["components"]["parameters"]["limit"]["schema"]
    assert limit["default"] == 100 and limit["maximum"] == 10_000
    colls = {x["id"]: x for x in c.get("/ogc/collections").json()["collections"]}
    for cid in colls:
        for p in (f"/collections/{cid}", f"/collections/{cid}/items", f"/collections/{cid}/items/{{featureId}}"):
            assert p in api["paths"], p
    params = {p["$ref"].rsplit("/", 1)[1] for p in api["paths"]["/collections/parks/items"]["get"]["parameters"]}
    assert {"bbox", "limit", "offset"} <= params and "datetime" not in params
    assert "/collections/districts_datav" not in api["paths"]  # restricted: not described to anonymous clients
    authed = c.get("/ogc/api", auth=("view", PASSWORD)).json()
    validate(authed)
    assert authed["paths"]["/collections/districts_datav/items"]["get"]["security"] == [
        {"basicAuth": []}, {"sessionCookie": []}]

    # every answer matches its schema in the document
    def check(path: str, schema: str, **kw) -> dict:
        doc = c.get(path, **kw).json()
        errors = list(OAS30Validator({"$ref": f"#/components/schemas/{schema}",
                                      "components": api["components"]}).iter_errors(doc))
        assert not errors, (path, [e.message for e in errors[:3]])
        return doc

    check("/ogc", "landingPage")
    check("/ogc/conformance", "confClasses")
    check("/ogc/collections", "collections")
    for cid in ("parks", "metro_stations", "roads"):
        coll = check(f"/ogc/collections/{cid}", "collection")
        assert coll["itemType"] == "feature" and coll["extent"]["spatial"]["crs"].endswith("CRS84")
        assert len(coll["extent"]["spatial"]["bbox"][0]) == 4
        items = {lk["type"] for lk in coll["links"] if lk["rel"] == "items"}
        assert items == {"application/geo+json", "text/html"}
        page = check(f"/ogc/collections/{cid}/items?limit=50", f"{cid}_features")
        assert page["numberReturned"] == 50 and page["timeStamp"].endswith("Z")
        check(f"/ogc/collections/{cid}/items/{page['features'][7]['id']}", f"{cid}_feature")
    check("/ogc/collections/nope", "exception")

    # paging: next and prev, limit above the maximum served as the maximum
    page = c.get("/ogc/collections/parks/items", params={"limit": 100, "offset": 100}).json()
    rels = _rels(page)
    assert "offset=200" in rels[("next", "application/geo+json")] and "offset=0" in rels[("prev", "application/geo+json")]
    assert ("alternate", "text/html") in rels
    big = c.get("/ogc/collections/roads/items", params={"limit": 50_000}).json()
    assert big["numberMatched"] > 10_000 and big["numberReturned"] == 10_000

    # HTML: f=html, or a browser's Accept; JSON for */* and JSON clients
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for path in ("/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/parks",
                 "/ogc/collections/parks/items", "/ogc/collections/parks/items/3", "/ogc/api"):
        r = c.get(path, headers={"Accept": browser})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert r.text.startswith("<!DOCTYPE html>") and "Accept" in r.headers["vary"]
        assert c.get(path, params={"f": "html"}).headers["content-type"].startswith("text/html"), path
        assert not c.get(path, params={"f": "json"}).headers["content-type"].startswith("text/html"), path
        assert not c.get(path).headers["content-type"].startswith("text/html"), path
    html = c.get("/ogc/collections", params={"f": "html"}).text
    assert ">parks</a>" in html and "districts_datav" not in html
    doc = c.get("/ogc/api.html")
    assert doc.status_code == 200 and "/collections/parks/items" in doc.text
    assert 'href="' + served.url + '/ogc/api"' in doc.text

    # errors: OGC exception documents with their status
    for path, params, status in [
        ("/ogc/collections/nope", None, 404), ("/ogc/collections/parks/items/999999", None, 404),
        ("/ogc/collections/parks/items/abc", None, 404), ("/ogc/nothing/here", None, 404),
        ("/ogc/collections/parks/items", {"limit": "0"}, 400), ("/ogc/collections/parks/items", {"limit": "x"}, 400),
        ("/ogc/collections/parks/items", {"offset": "-1"}, 400),
        ("/ogc/collections/parks/items", {"datetime": "2020-01-01T00:00:00Z"}, 400),
        ("/ogc/collections/parks/items", {"bbox": "1,2,x,4"}, 400), ("/ogc", {"f": "xml"}, 400),
        ("/ogc/collections/parks/items", {"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}, 400),
        ("/ogc/collections/<script>alert(1)<%2Fscript>/items", {"f": "html"}, 404),
    ]:
        r = c.get(path, params=params)
        assert r.status_code == status and r.headers["content-type"].startswith("application/json"), (path, params)
        assert set(r.json()) == {"code", "description"}, r.text
    r = c.get("/ogc/collections/districts_datav/items/0")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic realm=")
    assert c.get("/ogc/collections/districts_datav", auth=("view", "wrong password!")).status_code == 401
    one = c.get("/ogc/collections/districts_datav/items/0", auth=("view", PASSWORD))
    assert one.status_code == 200 and one.json()["id"] == 0
    assert one.headers["cache-control"] == "private" and "cache-control" not in c.get("/ogc/collections/parks").headers


@pytest.mark.unit
def test_ogc_basic_credentials_cache():
    """Verified Basic credentials are reused briefly: only for the same password, while the account
    is active with the same password hash, for at most ttl seconds, for a bounded number of accounts."""
    from cityplan.server.auth import BasicCache
    from cityplan.services.accounts import User

    class Users:
        def __init__(self) -> None:
            self.accounts = {f"u{i}": User(f"u{i}", "viewer", password_hash=f"$argon2id$h{i}") for i in range(5)}

        def get(self, name: str) -> User | None:
            return self.accounts.get(name)

    users, cache = Users(), BasicCache(ttl=0.5, size=3)
    assert cache.get(users, "u0", "secret-0") is None
    cache.put("u0", "secret-0", users.accounts["u0"])
    assert cache.get(users, "u0", "secret-0") == users.accounts["u0"]
    assert cache.get(users, "u0", "secret-1") is None and cache.get(users, "u1", "secret-0") is None
    assert "secret-0" not in repr(cache._d)  # only an HMAC is kept
    users.accounts["u0"] = User("u0", "viewer", active=False, password_hash="$argon2id$h0")  # disabled
    assert cache.get(users, "u0", "secret-0") is None
    users.accounts["u0"] = User("u0", "viewer", password_hash="$argon2id$h0")
    assert cache.get(users, "u0", "secret-0") is None  # the entry was dropped: verify again
    cache.put("u0", "secret-0", users.accounts["u0"])
    users.accounts["u0"] = User("u0", "viewer", password_hash="$argon2id$changed")  # password changed
    assert cache.get(users, "u0", "secret-0") is None
    for i in range(5):
        cache.put(f"u{i}", f"secret-{i}", users.accounts[f"u{i}"])
    assert len(cache._d) == 3 and cache.get(users, "u1", "secret-1") is None
    assert cache.get(users, "u4", "secret-4") is not None
    time.sleep(0.6)
    assert cache.get(users, "u4", "secret-4") is None and "u4" not in cache._d


# ------------------------------------------------------------------------------ roles and CSRF
def test_roles_csrf_and_audit(served):
    own, other = _site_of(served, NANGANG), _site_of(served, DAOLI)
    status = {"status": "started", "as_of": "2023-05-02", "achieved": "", "note": "from the test"}
    viewer = login(served.url, "view")
    tok = token(viewer.get(f"/districts/{NANGANG}").text)
    assert viewer.post(f"/districts/{NANGANG}/sites/{own}/status", data={**status, "csrf_token": tok}).status_code == 403
    r = viewer.post("/review", data={"csrf_token": tok}, files={"file": ("a.geojson", b"{}")})
    assert r.status_code == 403
    office = login(served.url, "nangang")
    tok = token(office.get(f"/districts/{NANGANG}").text)
    # another district's site: through its district's URL and smuggled under the office's own
    assert office.post(f"/districts/{DAOLI}/sites/{other}/status", data={**status, "csrf_token": tok}).status_code == 403
    assert office.post(f"/districts/{NANGANG}/sites/{other}/status", data={**status, "csrf_token": tok}).status_code == 403
    daoli_book = ROOT / "examples" / "progress" / "daoli-2023-06.xlsx"
    r = office.post(f"/districts/{NANGANG}/progress", data={"csrf_token": tok},
                    files={"file": (daoli_book.name, daoli_book.read_bytes())})
    assert r.status_code == 403
    # forged: no token / a wrong token
    assert office.post(f"/districts/{NANGANG}/sites/{own}/status", data=status).status_code == 403
    assert office.post(f"/districts/{NANGANG}/sites/{own}/status",
                       data={**status, "csrf_token": "x" * 43}).status_code == 403
    # ... while the same request with the session's token is accepted
    r = office.post(f"/districts/{NANGANG}/sites/{own}/status", data={**status, "csrf_token": tok})
    assert r.status_code == 303, r.text[:400]
    from cityplan.onemap import OneMap
    from cityplan.progress.events import read_events

    om = OneMap.open(served.location)
    ev = read_events(om.store)
    assert ((ev.site_id == own) & (ev.status == "started") & (ev.reported_by == "nangang")).sum() == 1
    assert not (ev.site_id == other).any()
    audit = om.store.read("cityplan_audit")
    denied = audit[audit.outcome == "denied"]
    assert {"view", "nangang"} <= set(denied.who) and (denied.action == "progress.status").sum() >= 5
    assert ((audit.who == "nangang") & (audit.action == "progress.status") & (audit.outcome == "ok")).sum() == 1
    om.close()


# ------------------------------------------------------------------------------ browser flows






def _expected_floor_area(book: Path, task: str, metric: str) -> float:
    """Achieved per the workbook alone: the figure given, else the planned quantity when completed."""
    df = pd.read_excel(book, sheet_name=0, dtype=object)
    col = {c.split("/")[-1].strip(): c for c in df.columns}
    rows = df[(df[col["task_id"]].astype(str) == task) & (df[col["metric"]].astype(str) == metric)]
    total = 0.0
    for _, r in rows.iterrows():
        ach, st = r[col["achieved"]], str(r[col["status"]])
        if pd.notna(ach) and str(ach).strip():
            total += float(ach)
        elif st in ("completed", "已完成"):
            total += float(r[col["planned"]])
    return total


def _browser_flow_on(served, kind: str) -> None:
    """Each browser flow runs on one store (district office: PostGIS; reviewer: GeoPackage)."""
    if ("postgresql" if kind == "postgis" else "gpkg") not in served.location:
        pytest.skip(f"this browser flow runs over {kind} only (the HTTP tests cover both stores)")


def test_district_office_uploads_progress_and_chart_changes(served):
    _browser_flow_on(served, "postgis")
    with launch() as browser:
        ctx, page, errors, outside = served_page(browser, served.url)
        log_in(page, served.url, "nangang")
        page.goto(f"{served.url}/districts/{NANGANG}?task=2.3.3")
        before = page.get_attribute("#cp-burnup figure[data-metric=floor_area]", "data-values")
        page.set_input_files("#cp-progress-form input[type=file]", str(WORKBOOK))
        with page.expect_navigation(timeout=180_000):
            page.click("#cp-progress-submit")
        assert int(page.text_content("#cp-recorded")) > 0
        fig = page.locator("#cp-burnup figure[data-metric=floor_area]")
        after = fig.get_attribute("data-values")
        assert after != before
        assert float(fig.get_attribute("data-achieved")) == pytest.approx(
            _expected_floor_area(WORKBOOK, "2.3.3", "floor_area"), rel=1e-9)
        assert page.locator("#cp-burnup polyline.cp-achieved").first.get_attribute("points").count(",") >= 4
        # the viewer sees the same chart but no form to write with
        log_in(page, served.url, "view")
        page.goto(f"{served.url}/districts/{NANGANG}?task=2.3.3")
        assert page.locator("#cp-progress-form").count() == 0 and page.locator("form.cp-status").count() == 0
        assert page.get_attribute("#cp-burnup figure[data-metric=floor_area]", "data-values") == after
        ctx.close()
    assert not errors and not outside


def test_reviewer_sees_verdict_and_map_zoomed_to_red_line(served):
    _browser_flow_on(served, "gpkg")
    red = PROPOSALS / "river_crossing.geojson"
    bounds = gpd.read_file(red).total_bounds
    with launch() as browser:
        ctx, page, errors, outside = served_page(browser, served.url)
        log_in(page, served.url, "rev")
        page.goto(f"{served.url}/map")
        wait_for(page, "window.cityplan && cityplan.ready && cityplan.fetches > 0 && cityplan.pending === 0")
        city_zoom = page.evaluate("cityplan.map.getZoom()")
        assert page.evaluate("cityplan.layers.districts.data.geoms.length") > 0
        page.goto(f"{served.url}/review")
        page.select_option("#cp-project-type", "bridge")  # a required choice (the file says kind: bridge)
        page.set_input_files("#cp-review-form input[type=file]", str(red))
        with page.expect_navigation(timeout=180_000):
            page.click("#cp-review-submit")
        assert "/review/" in page.url
        review_url = page.url
        assert page.get_attribute("#cp-verdict", "data-code") == "fail"  # the code; the page shows 不通过 fail
        assert page.locator("#cp-findings tr.cp-hit").count() >= 1
        wait_for(page, "window.cityplan && cityplan.ready && cityplan.pending === 0")
        view = page.evaluate("(() => { var b = cityplan.map.getBounds();"
                             " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth(), cityplan.map.getZoom()]; })()")
        assert view[0] <= bounds[0] and view[1] <= bounds[1] and view[2] >= bounds[2] and view[3] >= bounds[3]
        assert view[4] >= city_zoom + 2
        assert page.evaluate("cityplan.layers.review_proposal.data.geoms.length") == len(gpd.read_file(red))
        assert page.evaluate("Object.keys(cityplan.layers).some(k => k.indexOf('review_overlap_') === 0)")
        # re-opened from the list after the fact
        page.goto(f"{served.url}/review")
        assert page.locator("#cp-reviews a").count() >= 1
        ctx.close()
    assert not errors and not outside
    # the signed-off document: the 审查意见 PDF, A4, made on first download in the review worker
    rev = login(served.url, "rev")
    pdf = rev.get(review_url.replace(served.url, "") + "/report.pdf", timeout=300)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text[:300]
    assert pdf.content.startswith(b"%PDF")
    from pdf_read import media_boxes, unicode_chars

    saved = Path(tempfile.mkdtemp()) / "opinion.pdf"
    saved.write_bytes(pdf.content)
    assert all(abs(b[2] - b[0] - 595.28) < 0.5 and abs(b[3] - b[1] - 841.89) < 0.5 for b in media_boxes(saved))  # A4
    assert "审" in unicode_chars(saved)
    assert rev.get(review_url.replace(served.url, "") + "/report.exe").status_code == 404


# ------------------------------------------------------------------------------ hostile input
@pytest.fixture(scope="module")
def gpkg_served(tmp_path_factory, onemap):
    s = serve_copy(onemap, tmp_path_factory.mktemp("serve-hostile"))
    yield s
    s.stop()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def test_hostile_uploads(gpkg_served):
    s = gpkg_served
    rev = login(s.url, "rev")
    tok = token(rev.get("/review").text)
    red = (PROPOSALS / "clean_site.geojson").read_bytes()

    def post(name: str, body: bytes) -> httpx.Response:
        return rev.post("/review", data={"csrf_token": tok, "project_type": "building"}, files={"file": (name, body)})

    bomb = _zip({"site.shp": b"\0" * (200 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    r = post("site.zip", bomb)
    assert r.status_code == 400 and "zip bomb" in r.text
    r = post("site.zip", _zip({"../../../escaped.geojson": red, "site.shp": b"x"}))
    assert r.status_code == 400 and "leaving the archive" in r.text
    r = post("site.geojson", _zip({"a.shp": b"x", "a.dbf": b"y"}))       # a zip named .geojson
    assert r.status_code == 415 and "named .geojson" in r.text
    r = post("site.geojson", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)          # not a vector file at all
    assert r.status_code == 415
    # 200 MB: refused by Content-Length before the body is read ...
    head = (f"POST /review HTTP/1.1\r\nHost: {s.url[7:]}\r\nCookie: cp_session={rev.cookies['cp_session']}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {200 * 1024**2}\r\n\r\n--x\r\n")
    host, port = s.url[7:].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    # ... and by counting a chunked body (no Content-Length) as it streams

    def chunks():
        yield (f'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{tok}\r\n--x\r\n'
               'Content-Disposition: form-data; name="file"; filename="big.geojson"\r\n\r\n').encode()
        for _ in range(200):
            yield b" " * (1024 * 1024)
    try:
        r = httpx.post(f"{s.url}/review", cookies=rev.cookies, content=chunks(), timeout=120,
                       headers={"content-type": "multipart/form-data; boundary=x"})
        assert r.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client still writes; checked below
    # <script> in the file name and in the features' names: shown as text, never markup
    evil = json.loads(red)
    evil["features"][0]["properties"]["name"] = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    r = post("<img src=y onerror=alert(3)>.geojson", json.dumps(evil).encode())
    assert r.status_code == 303, r.text[:400]
    page = rev.get(r.headers["location"])
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=" not in page.text
    assert "&lt;img src=y onerror=alert(3)&gt;.geojson" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # nothing outside the data folder: no escaped member, nothing in the process temp folder,
    # and the data folder holds only sha256-named uploads, reports and an empty tmp
    assert not any(Path(s.data_dir).parent.rglob("escaped.geojson"))
    assert not any(s.tmpdir.iterdir())
    assert not any((s.data_dir / "tmp").iterdir())
    for f in (s.data_dir / "uploads").iterdir():
        assert len(f.stem) == 64 and f.stat().st_size < 2 * 1024 * 1024
    assert {p.name for p in s.data_dir.iterdir()} == {"uploads", "reports", "tmp"}
    # the server still answers
    assert rev.get("/review").status_code == 200


# ------------------------------------------------------------------------------ layers in view
def test_layer_answers_batched_cached_and_revalidated(gpkg_served):
    c = login(gpkg_served.url, "view")
    view = {"bbox": ",".join(map(str, BBOX)), "zoom": 13}
    one = c.get("/api/layers/parks", params=view)
    assert one.status_code == 200 and one.headers["content-encoding"] == "gzip"
    etag = one.headers["etag"]
    again = c.get("/api/layers/parks", params=view, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
    both = c.get("/api/view", params={**view, "layers": "districts,parks"})
    assert both.status_code == 200
    layers = both.json()["layers"]
    assert [d["id"] for d in layers] == ["districts", "parks"] and layers[1] == one.json()
    assert layers[0] == c.get("/api/layers/districts", params=view).json()
    # independent: the parks whose bounding box meets the view (the answer may hold more: whole data tiles)
    gdf = gpd.read_file(gpkg_served.location, layer="parks").to_crs(4326)
    b = gdf.geometry.bounds
    inside = set(gdf.index[(b.minx <= BBOX[2]) & (b.maxx >= BBOX[0]) & (b.miny <= BBOX[3]) & (b.maxy >= BBOX[1])])
    assert inside <= set(layers[1]["fids"]) and len(layers[1]["fids"]) == len(layers[1]["geoms"])
    # one data tile (zoom - 2), as the map page asks: the parks whose box meets the tile, each once
    from cityplan.maps.tiles import tile_range

    tx, ty, _, _ = tile_range(BBOX, 11)
    tile = c.get("/api/view", params={"layers": "parks", "tile": f"{tx},{ty}", "zoom": 13}).json()["layers"][0]
    n = 2**11
    lon0, lon1 = tx / n * 360 - 180, (tx + 1) / n * 360 - 180
    merc = gdf.geometry.apply(lambda g: shapely.bounds(g))
    lat = lambda y: float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * y / n)))))  # noqa: E731
    lat1, lat0 = lat(ty), lat(ty + 1)
    meets = {i for i, (a, b_, c_, d) in zip(gdf.index, merc, strict=True)
             if a <= lon1 and c_ >= lon0 and b_ <= lat1 and d >= lat0}
    assert meets and meets <= set(tile["fids"]) and len(set(tile["fids"])) == len(tile["fids"]) == len(tile["geoms"])
    assert c.get("/api/layers/parks", params={"tile": "-1,0", "zoom": 13}).status_code == 400
    assert c.get("/api/view", params={**view, "layers": "parks,nope"}).status_code == 404
    assert c.get("/api/view", params={**view, "layers": ""}).status_code == 400
    assert httpx.get(gpkg_served.url + "/api/view", params={**view, "layers": "parks"}).status_code == 401


# runs last: it disables the "view" account and rate-limits "admin" on the shared server
def test_login_rate_limit_and_disabled_account(gpkg_served):
    s = gpkg_served
    c = httpx.Client(base_url=s.url, timeout=60)
    codes = [c.post("/login", data=login_form(c, "admin", "wrong password!")).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # the right password is refused too while limited
    assert c.post("/login", data=login_form(c, "admin")).status_code == 429
    # forged login without the double-submit cookie
    fresh = httpx.Client(base_url=s.url, timeout=60)
    assert fresh.post("/login", data={"username": "view", "password": PASSWORD, "csrf_token": "x"}).status_code == 403
    viewer = login(s.url, "view")
    assert viewer.get("/map").status_code == 200
    assert cityplan("users", "disable", "view", "--onemap", s.location).returncode == 0
    time.sleep(6)  # the server's account cache lives 5 s
    assert viewer.get("/map").status_code == 303
    r = cityplan("users", "list", "--format", "json", "--onemap", s.location)
    assert {u["name"]: u["active"] for u in json.loads(r.stdout)}["view"] is False
