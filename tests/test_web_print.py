"""``GET /map/print.pdf``: the map's view on an A4/A3 page with the 图框, made by the report's layout
engine - paper size, title block texts and a numeric scale true to ±1 % (measured as
tests/test_print.py measures the report's pages)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pyproj import Transformer
from starlette.testclient import TestClient
from tests.pdf_read import media_boxes, unicode_chars

from cityplan.onemap import OneMap
from cityplan.report.layout import NICE_SCALES, ground_per_paper_cm
from cityplan.server import create_app, print_view
from server_process import PASSWORD, add_accounts

PT_PER_MM = 72 / 25.4
VIEW = "126.60,45.72,126.70,45.78"  # central Harbin: plan sites (illustrative ones too) in view


@pytest.fixture(scope="module")
def app(onemap: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("webprint")
    loc = str(work / "harbin.gpkg")
    shutil.copy(onemap, loc)
    add_accounts(loc, {"view": ("viewer", None)})
    application = create_app(loc, data_dir=work / "data", warm=False, review_workers=0)
    with TestClient(application) as _:
        yield application


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": "view", "password": PASSWORD, "next": "/", "csrf_token": token})
    assert r.status_code == 303
    return c


def test_print_is_an_a3_landscape_page_with_the_title_block(client, app, tmp_path):
    title = "南岗区规划一张图 Nangang plan"
    r = client.get("/map/print.pdf", params={"paper": "A3", "orient": "landscape", "bbox": VIEW, "title": title})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text[:300]
    pdf = tmp_path / "map.pdf"
    pdf.write_bytes(r.content)
    (box,) = media_boxes(pdf)
    assert box[2:] == pytest.approx((420 * PT_PER_MM, 297 * PT_PER_MM), abs=0.01)
    chars = unicode_chars(pdf)
    assert set("南岗区规划一张图比例尺北数据来源与许可日期示意图例") <= chars  # the 图框's texts are on the page

    # the same page as a figure: what each text says, and the scale measured on it
    ctx = app.state.ctx
    req = print_view.parse_request({"paper": "A3", "orient": "landscape", "bbox": VIEW, "title": title}, ctx.map_layers)
    fig = print_view.print_figure(ctx.om, ctx.map_layers, req)
    texts = {t.get_gid(): t.get_text() for a in fig.axes for t in a.texts if t.get_gid()}
    block = " ".join(t.get_text() for t in fig.axes[1].texts)
    assert texts["title"].replace("\n", "") == title
    n = int(re.search(r"1:([\d,]+)", texts["numeric_scale"]).group(1).replace(",", ""))
    today = dt.datetime.now(ZoneInfo(ctx.om.profile.settings.timezone)).date().isoformat()
    assert f"日期 Date: {today}" in block and "N 北" in block
    assert "OpenStreetMap" in texts["sources"] and "示意" in texts["sources"]  # illustrative plan sites in view
    ax = fig.axes[0]
    gx, gy = ground_per_paper_cm(ax)
    assert gx == pytest.approx(n / 100, rel=0.01) and gy == pytest.approx(n / 100, rel=0.01)
    # independently: the frame's width on paper (from the figure's size) times N is its ground span
    w_cm = ax.get_position().width * fig.get_size_inches()[0] * 2.54
    x0, x1 = ax.get_xlim()
    assert (x1 - x0) / w_cm == pytest.approx(n / 100, rel=0.01)
    # the view is on the page, at the smallest nice scale that holds it
    vx0, vy0, vx1, vy1 = Transformer.from_crs(4326, OneMap.coerce(ctx.om).working_crs, always_xy=True).transform_bounds(
        *map(float, VIEW.split(",")))
    (fy0, fy1) = ax.get_ylim()
    assert x0 <= vx0 and vx1 <= x1 and fy0 <= vy0 and vy1 <= fy1
    smaller = max(s for s in NICE_SCALES if s < n)
    assert (vx1 - vx0) > (x1 - x0) * smaller / n or (vy1 - vy0) > (fy1 - fy0) * smaller / n


def test_print_at_a_given_scale_with_chosen_layers(client, app):
    ctx = app.state.ctx
    params = {"paper": "A4", "orient": "portrait", "bbox": VIEW, "layers": "districts,parks", "scale": "1:10000"}
    r = client.get("/map/print.pdf", params=params)
    assert r.status_code == 200 and r.content[:5] == b"%PDF-"
    fig = print_view.print_figure(ctx.om, ctx.map_layers, print_view.parse_request(params, ctx.map_layers))
    assert ground_per_paper_cm(fig.axes[0]) == pytest.approx((100.0, 100.0), rel=0.01)
    assert "1:10,000" in {t.get_gid(): t.get_text() for t in fig.axes[1].texts}["numeric_scale"]


@pytest.mark.parametrize(("params", "status", "says"), [
    ({"paper": "A5", "bbox": VIEW}, 400, "A4 or A3"),
    ({"orient": "sideways", "bbox": VIEW}, 400, "landscape or portrait"),
    ({"bbox": "126.6,45.7"}, 400, "bbox"),
    ({"bbox": VIEW, "layers": "no_such_layer"}, 400, "no_such_layer"),
    ({"bbox": VIEW, "layers": ",".join(f"l{i}" for i in range(40))}, 400, "at most 32"),
    ({"bbox": VIEW, "title": "x" * 500}, 400, "at most 120"),
    ({"bbox": VIEW, "scale": "big"}, 400, "比例尺"),
])
def test_print_refuses_what_it_cannot_print(client, params, status, says):
    r = client.get("/map/print.pdf", params=params)
    assert r.status_code == status and says in r.json()["error"]


def test_print_needs_a_login(app):
    r = TestClient(app).get("/map/print.pdf", params={"bbox": VIEW})
    assert r.status_code == 401
