"""Maps in a real headless Chromium with the network disabled."""

from __future__ import annotations

import geopandas as gpd
import pytest
from pyproj import Geod
from shapely.geometry import Point, box
from tests.browser import launch, open_offline
from tests.conftest import HARBIN

from cityplan.catalog import load_catalog
from cityplan.maps import district_map, file_map, onemap_map, save_map, task_map
from cityplan.maps.recipes import load_recipe

pytestmark = pytest.mark.browser
READY = "window.cityplan && window.cityplan.ready === true"


@pytest.fixture(scope="module")
def browser():
    with launch() as b:
        yield b


def _counts(page) -> dict[str, int]:
    return page.evaluate("Object.fromEntries(Object.entries(cityplan.layers).map(([k, v]) => [k, v.count]))")


def test_onemap_offline_every_layer_with_right_count(browser, onemap, tmp_path):
    res = onemap_map(onemap, basemap="none", offline=True)
    html = save_map(res, tmp_path / "onemap.html")
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        assert page.evaluate("typeof L !== 'undefined' && L.version") == "1.9.4"
        counts = _counts(page)
        # every recipe layer is there with the feature count of the GeoPackage
        cat = load_catalog(HARBIN)
        recipe = load_recipe("onemap", HARBIN)
        expected = {rl.layer for rl in recipe.layers if rl.layer}
        expected |= {s.id for s in cat.layers if s.role == "plan"}
        assert set(counts) == expected
        for lid, n in counts.items():
            assert n == len(gpd.read_file(onemap, layer=lid)), lid
        # the controls are on the page
        for sel in (".cp-layers", ".cp-legend", ".cp-search input", ".leaflet-control-scale",
                    ".cp-fullscreen", ".cp-measure", ".cp-minimap"):
            assert page.locator(sel).count() == 1, sel
        legend = page.locator(".cp-legend").inner_text()
        assert "illustrative" in legend and "Districts" in legend
        assert "OpenStreetMap contributors" in page.locator(".leaflet-control-attribution").inner_text()
        # toggling a hidden layer through the layer control shows it in the legend
        page.locator("input[data-layer='parking']").check()
        assert "Parking (areas)" in page.locator(".cp-legend").inner_text()
        assert log.errors == [] and log.blocked == [] and page.evaluate("cityplan.errors") == []


def test_popup_search_and_measure(browser, onemap, tmp_path):
    html = save_map(task_map("2.3.3", onemap, basemap="none", offline=True), tmp_path / "t.html")
    ren = gpd.read_file(onemap, layer="plan_renovation")
    name = ren.name.iloc[0]
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        page.fill(".cp-search input", name)
        page.locator(".cp-result", has_text="Old-neighbourhood").first.click()
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        text = popup.inner_text()
        assert name in text and "2.3.3" in text and "illustrative" in text
        assert "floor area" in text
        assert "Targets and progress" in page.locator(".cp-panel").inner_text()
        # a real click on the map opens the popup of the feature under the cursor
        page.evaluate("cityplan.layers['plan_renovation'].map.closePopup()")
        page.wait_for_timeout(600)  # let the popup's auto-pan animation finish
        c = ren.geometry.iloc[5].representative_point()
        xy = page.evaluate(f"""(() => {{ const m = cityplan.layers['plan_renovation'].map;
            m.closePopup(); m.setView([{c.y}, {c.x}], 17, {{animate: false}});
            const p = m.latLngToContainerPoint([{c.y}, {c.x}]); const r = m.getContainer().getBoundingClientRect();
            return [p.x + r.left, p.y + r.top]; }})()""")
        page.mouse.click(xy[0], xy[1])
        page.wait_for_timeout(300)
        assert str(ren.name.iloc[5]) in page.locator(".leaflet-popup-content").inner_text()
        # measure: two clicks 1 km apart (geodesic)
        page.locator(".cp-measure a").click()
        pts = page.evaluate("""(() => { const m = cityplan.layers['plan_renovation'].map;
            const a = L.latLng(45.75, 126.63), b = L.latLng(45.75 + 1000 / 111132.0, 126.63);
            m.setView([45.754, 126.63], 15, {animate: false});
            const r = m.getContainer().getBoundingClientRect();
            return [a, b].map(ll => { const p = m.latLngToContainerPoint(ll); return [p.x + r.left, p.y + r.top]; }); })()""")
        for x, y in pts:
            page.mouse.click(x, y)
        d = page.evaluate("cityplan.lastMeasure")
        assert abs(d - 1000) < 15
        assert log.errors == [] and log.blocked == []


HOSTILE = [
    '<img src=x onerror="window.__pwned=1;alert(1)">',
    '</script><script>window.__pwned=2;alert(2)</script>',
    "{{ 7*7 }}{% raw %}",
    '"><svg onload="window.__pwned=3">',
]


def test_hostile_names_are_text_not_html(browser, tmp_path):
    gdf = gpd.GeoDataFrame({"name": HOSTILE, "<b>col</b>": HOSTILE[::-1]},
                           geometry=[box(126.60 + i * 0.01, 45.70, 126.605 + i * 0.01, 45.705) for i in range(4)],
                           crs=4326)
    src = tmp_path / "<svg onload=alert(9)>.geojson"
    gdf.to_file(src)
    html = save_map(file_map(src, basemap="none", offline=True), tmp_path / "evil.html")
    text = html.read_text(encoding="utf-8")
    assert "<img src=x" not in text and "<svg onload" not in text
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        for i in range(4):
            page.evaluate(f"cityplan.openFeature(cityplan.layers['file_polygon'].map, 'file_polygon', {i})")
            page.wait_for_timeout(400)  # the previous popup fades out
            content = page.locator(".leaflet-popup-content").last.inner_text()
            assert HOSTILE[i] in content
        page.fill(".cp-search input", "pwned")
        assert page.locator(".cp-result").count() >= 2
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img[src='x']").count() == 0 and page.locator("svg[onload]").count() == 0
        assert log.dialogs == []
        assert "<svg onload=alert(9)>" in page.title()
        assert log.errors == []


def test_gaode_display_shift_in_browser(browser, onemap, tmp_path):
    geod = Geod(ellps="WGS84")
    pos = {}
    for bm in ("none", "gaode"):
        html = save_map(district_map("道里区", onemap, basemap=bm, offline=True), tmp_path / f"{bm}.html")
        with open_offline(browser, html) as (page, log):
            page.wait_for_function(READY, timeout=60_000)
            pos[bm] = page.evaluate("""(() => { const f = cityplan.layers['districts'].layer.feats[0].parts[0][0];
                return [f[0] * 360 - 180, 360 / Math.PI * Math.atan(Math.exp((0.5 - f[1]) * 2 * Math.PI)) - 90]; })()""")
            # gaode tiles were requested and blocked: the page still works without them
            assert [e for e in log.errors if "Failed to load resource" not in e] == [], log.errors
    d = geod.inv(pos["none"][0], pos["none"][1], pos["gaode"][0], pos["gaode"][1])[2]
    assert 480 < d < 540


def test_district_choropleth_and_panel(browser, onemap, tmp_path):
    from cityplan.coverage import run_coverage

    cov = run_coverage(onemap, preset="park-service-radius")
    html = save_map(district_map("Nangang", onemap, basemap="none", offline=True, coverage=cov), tmp_path / "d.html")
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        counts = _counts(page)
        assert counts["districts"] == 1 and counts["progress_subdistricts"] >= 10
        colors = page.evaluate("cityplan.layers['progress_subdistricts'].data.colors")
        assert len(set(colors)) >= 2
        assert "Plan sites per sub-district" in page.locator(".cp-legend").inner_text()
        assert counts["coverage_subdistricts"] == counts["progress_subdistricts"] and counts["coverage_gaps"] > 0
        assert "Residential land covered" in page.locator(".cp-legend").inner_text()
        assert "南岗区" in page.locator(".cp-panel").inner_text()
        assert log.errors == []


def test_file_map_mixed_geometries(browser, tmp_path):
    gdf = gpd.GeoDataFrame({"kind": ["pt", "poly", "none"]},
                           geometry=[Point(126.6, 45.7), box(126.61, 45.7, 126.62, 45.71), None], crs=4326)
    src = tmp_path / "mixed.gpkg"
    gdf.to_file(src)
    res = file_map(src, basemap="none", offline=True)
    assert res.layers == {"file_polygon": 1, "file_point": 1}
    assert any("1 feature(s) not drawn" in n for n in res.notes)
    html = save_map(res, tmp_path / "f.html")
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        assert _counts(page) == {"file_polygon": 1, "file_point": 1}
        assert "1 feature(s) not drawn" in page.locator(".cp-panel").inner_text()


def test_coverage_and_review_maps_render(browser, onemap, tmp_path):
    from tests.conftest import feature, write_geojson

    from cityplan.coverage import run_coverage
    from cityplan.maps.coverage_map import coverage_map
    from cityplan.review import review_file
    from cityplan.review.report import review_map

    cov = run_coverage(onemap, preset="ice-30min")
    html = save_map(coverage_map(cov, onemap), tmp_path / "cov.html")
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        counts = _counts(page)
        assert counts["coverage_districts"] == 5 and counts["coverage_gaps"] == len(cov.gaps)
        assert counts["coverage_demand"] == len(cov.features)
        assert log.errors == []
    parks = gpd.read_file(onemap, layer="parks").to_crs(4551)
    site = parks[parks.name == "兆麟公园"].geometry.iloc[0].representative_point().buffer(40)
    g = gpd.GeoSeries([site], crs=4551).to_crs(4326).iloc[0]
    src = write_geojson(tmp_path / "p.geojson", [feature(g.__geo_interface__, name="pavilion")])
    rep = review_file(src, onemap=onemap)
    html = save_map(review_map(rep, onemap), tmp_path / "rev.html")
    with open_offline(browser, html) as (page, log):
        page.wait_for_function(READY, timeout=60_000)
        counts = _counts(page)
        assert counts["review_proposal"] == 1 and counts["review_overlap_forbidden"] >= 1 and "parks" in counts
        assert "FAIL" in page.locator(".cp-panel").inner_text()
        assert log.errors == []
