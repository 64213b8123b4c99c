"""What a planner sees on the maps (issue 17): point demand end to end, the office's own tiles and the
fallback when tiles fail, one credit per source, whole-number classes, colours named by method."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from tests.browser import launch, open_offline
from tests.cli_invoke import invoke

import synthetic_city as syn
from cityplan.maps import district_map, onemap_map, save_map
from cityplan.maps.basemaps import BasemapError, custom_basemap
from cityplan.maps.render import dedupe_attributions, integer_classes
from conftest import HARBIN, HARBIN_DIR

READY = "window.cityplan && window.cityplan.ready === true"
INTRANET = "http://tiles.intranet/{z}/{x}/{y}.png"


def _payloads(html: str) -> dict[str, dict]:
    """The layer payloads of a written map, by layer id (parsed back from the page)."""
    out = {}
    for m in re.finditer(r'cityplan\.addLayer\([^,]+, JSON\.parse\((".*?")\)\);', html):
        d = json.loads(json.loads(m.group(1)))
        out[d["id"]] = d
    return out


def _init(html: str) -> dict:
    """The options of ``cityplan.init`` of a written map."""
    return json.loads(json.loads(re.search(r'cityplan\.init\([^,]+, JSON\.parse\((".*?")\)\);', html).group(1)))


def _points_xlsx(path: Path) -> Path:
    """The synthetic city's 32 compounds as an Excel point list with 名称/经度/纬度."""
    rows = [(n, *syn.lonlat(*g.centroid.coords[0])) for n, g in syn.homes().items()]
    pd.DataFrame(rows, columns=["名称", "经度", "纬度"]).to_excel(path, index=False)
    return path


# ---------------------------------------------------------------- point demand, map included
def test_point_demand_end_to_end_with_map(synthetic_onemap, tmp_path):
    xlsx = _points_xlsx(tmp_path / "小区.xlsx")
    out = tmp_path / "cov"
    r = invoke("coverage", "--facilities", "parks", "--demand", xlsx, "--crs", "wgs84", "--within", "500m",
               "--mode", "euclid", "--onemap", synthetic_onemap, "--out", out)
    assert r.exit_code == 0, r.output
    per = pd.read_csv(out / "per_feature.csv")
    expected = syn.covered(syn.euclid_distance(), 500)  # independent: shapely distances in the design's metres
    assert set(per.loc[per.covered.astype(bool), "name"]) == expected
    pages = _payloads((out / "coverage_map.html").read_text(encoding="utf-8"))
    # the gaps of point demand are the uncovered points, drawn as points
    assert pages["coverage_gaps"]["kind"] == "point"
    assert len(pages["coverage_gaps"]["geoms"]) == 32 - len(expected) > 0
    assert "Straight-line radius 500m" in pages["coverage_isochrone"]["title"]
    assert "Reachable" not in pages["coverage_isochrone"]["title"]
    # points have no land area: the choropleth shows the population share, coloured for every district
    dist = pages["coverage_districts"]
    assert "population_share" in dist["title"] and "#d9d9d9" not in dist["colors"]


# ---------------------------------------------------------------- tiles
def test_custom_tiles_refused_with_one_line():
    with pytest.raises(BasemapError, match="--tiles 'http://x/tiles'.*{z}"):
        custom_basemap("http://x/tiles")
    bm = custom_basemap(INTRANET, attribution="<b>局</b>", max_zoom=17)
    assert bm.max_zoom == 17 and bm.tiles[0][1] == "&lt;b&gt;局&lt;/b&gt;"


def test_map_cli_tiles_options(synthetic_onemap, tmp_path):
    out = tmp_path / "m.html"
    r = invoke("map", "onemap", "--onemap", synthetic_onemap, "--offline", "--tiles", INTRANET,
               "--tiles-attribution", "© 规划局 tiles", "--tiles-max-zoom", "17", "--out", out)
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "tiles.intranet" in text and "openstreetmap.org/{z}" not in text and "tile.openstreetmap" not in text
    opts = _init(text)
    assert opts["minimapTiles"]["maxZoom"] == 17 and opts["basemap"] == "custom"
    assert "© 规划局 tiles" in opts["attributions"]
    r = invoke("map", "onemap", "--onemap", synthetic_onemap, "--tiles", "intranet-tiles", "--out", tmp_path / "x.html")
    assert r.exit_code == 2 and "--tiles" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = invoke("map", "onemap", "--onemap", synthetic_onemap, "--tiles-max-zoom", "17", "--out", tmp_path / "y.html")
    assert r.exit_code == 2 and "need --tiles" in r.output


def test_main_job_uses_no_public_tiles():
    from cityplan.pipeline import _basemap
    from cityplan.schema.run import RunSpec, load_run_spec

    assert _basemap(load_run_spec(HARBIN_DIR / "run.yaml")) == "none"
    bm = _basemap(RunSpec(tiles={"url": INTRANET, "attribution": "局", "max_zoom": 16}))
    assert bm.name == "custom" and bm.tiles[0][0] == INTRANET and bm.max_zoom == 16


def test_attribution_each_source_once():
    osm_tiles = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    got = dedupe_attributions([osm_tiles, "© OpenStreetMap contributors", "Aliyun DataV",
                               "Aliyun DataV / Amap administrative boundaries", "NBS census"])
    assert got == [osm_tiles, "Aliyun DataV / Amap administrative boundaries", "NBS census"]


@pytest.mark.browser
def test_tiles_fail_offline_neutral_background_and_notice(onemap, tmp_path):
    html = save_map(onemap_map(onemap, basemap="osm", offline=True), tmp_path / "osm.html")
    with launch() as browser, open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        page.wait_for_selector(".cp-notice", timeout=30_000)
        assert "basemap tiles unavailable" in page.locator(".cp-notice").inner_text()
        assert any("openstreetmap" in u for u in log.blocked)  # the tiles were really asked for and failed
        # no broken-image tile is visible: the tile panes of the map and the minimap are hidden
        visible = page.evaluate("""Array.from(document.querySelectorAll('img.leaflet-tile'))
            .filter(i => i.offsetParent !== null).length""")
        assert visible == 0
        assert page.evaluate("cityplan.minimapMap.getPane('tilePane').style.display") == "none"
        attr = page.locator(".leaflet-control-attribution").inner_text()
        assert attr.count("OpenStreetMap") == 1 and attr.count("Aliyun DataV") == 1, attr
        assert page.evaluate("cityplan.errors") == []


@pytest.mark.browser
def test_office_tiles_load_no_notice(synthetic_onemap, tmp_path):
    from cityplan.maps.basemaps import custom_basemap

    png = _png()
    html = save_map(onemap_map(synthetic_onemap, basemap=custom_basemap(INTRANET), offline=True), tmp_path / "t.html")
    with launch() as browser:
        ctx = browser.new_context(viewport={"width": 1000, "height": 700})
        asked = []

        def route(r):
            if r.request.url.startswith("http://tiles.intranet/"):
                asked.append(r.request.url)
                r.fulfill(body=png, content_type="image/png")
            elif r.request.url.startswith(("file:", "data:", "blob:", "about:")):
                r.continue_()
            else:
                r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.goto(html.resolve().as_uri())
        page.wait_for_function(READY, timeout=60_000)
        page.wait_for_function("cityplan.tilesLoaded > 0", timeout=30_000)
        page.wait_for_timeout(300)
        assert asked and page.locator(".cp-notice").count() == 0
        assert page.evaluate("cityplan.tilesUnavailable") is False
        ctx.close()


def _png() -> bytes:
    """A 256 x 256 light-grey PNG (written by matplotlib, no fixture file)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, np.full((256, 256, 3), 0.9), format="png")
    return buf.getvalue()


# ---------------------------------------------------------------- district choropleth
def test_integer_classes():
    assert integer_classes(np.array([0, 0])) == [(0, 0)]
    assert integer_classes(np.array([0, 2, 1])) == [(0, 0), (1, 1), (2, 2)]
    cls = integer_classes(np.array([0, 1, 1, 2, 5, 9, 14, 30]))
    assert cls[0] == (0, 0) and cls[-1][1] == 30 and len(cls) <= 5
    # classes are whole numbers, contiguous and cover every value once
    assert all(b[0] == a[1] + 1 for a, b in zip(cls, cls[1:], strict=False))


def test_district_choropleth_whole_numbers(onemap):
    res = district_map("南岗区", onemap, basemap="none", offline=True)
    chrome = res.html()
    stops = _init(chrome)["extraLegend"][0]["stops"]
    assert all(re.fullmatch(r"\d+(–\d+)?", s[0]) for s in stops), stops
    assert stops[0][0] == "0"
    sub = _payloads(chrome)["progress_subdistricts"]
    i, j = sub["fields"].index("plan_sites"), sub["fields"].index("plan_sites_by_task")
    for row, color in zip(sub["rows"], sub["colors"], strict=True):
        n = row[i]
        # the by-task breakdown adds up to the count, and the colour is that of the count's class
        assert sum(int(x.split("×")[1]) for x in row[j].split("; ") if x) == n
        k = next(k for k, s in enumerate(stops) if int(s[0].split("–")[0]) <= n <= int(s[0].split("–")[-1]))
        assert color == stops[k][1]
    # independent count: every plan site of the district, by shapely containment per sub-district
    from cityplan.maps.recipes import load_recipe
    from cityplan.maps.render import recipe_views, subdistricts_of
    from cityplan.onemap import OneMap

    om = OneMap.coerce(onemap)
    dist = om.layer_for("districts").query("name == '南岗区'").iloc[0]
    subs = subdistricts_of(om, dist)
    plan = [v.gdf for v in recipe_views(load_recipe("district", HARBIN), om, district=dist) if v.group == "plan"]
    pts = np.concatenate([shapely.point_on_surface(g.geometry.to_numpy()) for g in plan if len(g)])
    want = [int(shapely.contains(geom, pts).sum()) for geom in subs.geometry]
    assert [r[i] for r in sub["rows"]] == want and sum(want) > 0
