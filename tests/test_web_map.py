"""The served map as the office's daily tool: search, shared URLs, attribute table, phone layout.

Headless Chromium over ``cityplan serve`` on a copy of the Harbin one map; expected answers are
read from the one map independently (OneMap, geopandas), not from the server.
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import shapely

from browser import launch, served_page, wait_for
from server_process import PASSWORD, login, serve_copy


@pytest.fixture(scope="module")
def served_map(tmp_path_factory, onemap):
    s = serve_copy(onemap, tmp_path_factory.mktemp("web-map"))
    yield s
    s.stop()




def _log_in(page, url: str, name: str = "view") -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#cp-login")


def _island(location: str) -> shapely.Geometry:
    """The real Sun Island (太阳岛, place=island) in WGS84, read from the one map."""
    from cityplan.onemap import OneMap

    om = OneMap.open(location)
    try:
        isl = om.layer("river_islands")
        return isl[isl["name"] == "太阳岛"].to_crs(4326).geometry.iloc[0]
    finally:
        om.close()


def _choose(page, text: str, key: str = "Enter") -> dict:
    before = page.evaluate("cityplan.lastGoTo ? cityplan.lastGoTo.label + cityplan.map.getZoom() : ''")
    page.fill(".cp-search input", "")
    shown = page.evaluate("cityplan.searchShown || 0")
    page.fill(".cp-search input", text)
    wait_for(page, f"(cityplan.searchShown || 0) > {shown}")
    page.press(".cp-search input", key)
    wait_for(page, f"cityplan.lastGoTo && (cityplan.lastGoTo.label + cityplan.map.getZoom()) !== {before!r}")
    wait_for(page, "cityplan.pending === 0")
    return page.evaluate("({hit: cityplan.lastGoTo, b: cityplan.map.getBounds().toBBoxString().split(',').map(Number),"
                         " z: cityplan.map.getZoom()})")


def test_search_from_any_view_zooms_to_the_real_island_and_urls_restore_views(served_map):
    island = _island(served_map.location)
    with launch() as browser:
        ctx, page, errors, outside = served_page(browser, served_map.url)
        _log_in(page, served_map.url)
        # a view far from the island, only the districts shown: the server searches the whole map
        page.goto(f"{served_map.url}/map#map=14/45.7000/126.7300&layers=districts")
        wait_for(page, "window.cityplan && cityplan.ready && cityplan.fetches > 0")
        assert page.evaluate("cityplan.map.getZoom()") == 14
        for query in ("太阳岛", "Sun Island"):
            got = _choose(page, query)
            assert not got["hit"]["illustrative"], (query, got["hit"])
            view = shapely.box(*got["b"])
            assert view.contains(shapely.box(*island.bounds).buffer(-0.002)) or view.within(island.buffer(0.01)), \
                (query, got)
            assert view.intersection(island).area > 0.5 * min(view.area, island.area), (query, got)
            assert got["z"] >= 13
        # English names and metro lines named by line; keyboard down picks the second hit
        page.fill(".cp-search input", "Stalin")
        wait_for(page, "document.querySelectorAll('.cp-result').length > 0 && !document.querySelector('.cp-none')")
        assert "斯大林公园 Stalin Park" in page.text_content(".cp-results")
        page.keyboard.press("Escape")
        # the URL carries the view and the layers; a reload (a shared link) restores both
        page.evaluate("cityplan.map.setView([45.76, 126.64], 15, {animate: false})")
        assert page.is_checked('input[data-layer="river_islands"]')  # shown by the search for 太阳岛
        page.click('input[data-layer="river_islands"]')  # off
        wait_for(page, "location.hash.indexOf('map=15/45.76000/126.64000') >= 0 && location.hash.indexOf('river_islands') < 0")
        url = page.url
        page2 = ctx.new_page()
        page2.goto(url)
        wait_for(page2, "window.cityplan && cityplan.ready")
        assert page2.evaluate("cityplan.map.getZoom()") == 15
        c = page2.evaluate("[cityplan.map.getCenter().lat, cityplan.map.getCenter().lng]")
        assert abs(c[0] - 45.76) < 1e-4 and abs(c[1] - 126.64) < 1e-4
        shown = page2.evaluate("cityplan.order.filter(id => cityplan.map.hasLayer(cityplan.layers[id].layer))")
        assert shown == [x for x in url.split("layers=")[1].split("&")[0].split(",") if x]
        assert "river_islands" not in shown and "districts" in shown and "sun_island" in shown
        assert not errors and not outside
        ctx.close()


def test_attribute_table_export_equals_the_filtered_layer_and_phone_keeps_the_map(served_map):
    from cityplan.onemap import OneMap

    om = OneMap.open(served_map.location)
    parks = om.layer("parks")
    om.close()
    want = set(parks.loc[parks["name"].fillna("").str.contains("公园"), "osm_ref"])
    with launch() as browser:
        ctx, page, errors, outside = served_page(browser, served_map.url)
        _log_in(page, served_map.url)
        page.goto(f"{served_map.url}/map")
        wait_for(page, "window.cityplan && cityplan.ready && cityplan.fetches > 0")
        page.click('button[data-table="parks"]')
        wait_for(page, "cityplan.tableShown > 0")
        page.select_option(".cp-table select", "all")
        n = page.evaluate("cityplan.tableShown")
        page.fill('.cp-table input[data-field="name"]', "公园")
        wait_for(page, f"cityplan.tableShown > {n} && document.querySelector('.cp-table-count').textContent.indexOf('{len(want)} ') >= 0")
        href = page.get_attribute('.cp-export[data-format="csv"]', "href")
        body = page.evaluate("u => fetch(u).then(r => r.text())", href)
        rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
        assert {r["osm_ref"] for r in rows} == want and len(rows) == len(want)
        # a row clicked is the selection: the export holds it alone
        page.click(".cp-attr-table tr[data-fid]")
        fid = int(page.get_attribute(".cp-attr-table tr.cp-selected", "data-fid"))
        sel = page.evaluate("u => fetch(u).then(r => r.json())",
                            page.get_attribute('.cp-export[data-format="geojson"]', "href"))
        assert [f["properties"]["osm_ref"] for f in sel["features"]] == [parks.iloc[fid]["osm_ref"]]
        # the print button's URL: the view and the layers shown
        url = page.evaluate("cityplan.printUrl(cityplan.map)")
        assert url.startswith("/map/print.pdf?paper=A3&orient=landscape&bbox=") and "layers=districts" in url
        # the district dashboard's map opens on its district (controls folded in its small box)
        page.goto(f"{served_map.url}/districts/230103")
        wait_for(page, "window.cityplan && cityplan.ready")
        b = shapely.box(*page.evaluate("cityplan.map.getBounds().toBBoxString().split(',').map(Number)"))
        fit = page.evaluate("JSON.parse(document.getElementById('cp-map').dataset.page).map.fit")
        district = shapely.box(fit[0][1], fit[0][0], fit[1][1], fit[1][0])
        assert b.contains(district) and b.area < 12 * district.area, (b.bounds, district.bounds)  # city-wide: 27x
        assert not errors and not outside
        ctx.close()
        # a phone: controls folded, the map visible on at least 60 % of the screen
        phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
        p = phone.new_page()
        _log_in(p, served_map.url)
        p.goto(f"{served_map.url}/map")
        wait_for(p, "window.cityplan && cityplan.ready")
        m = p.evaluate("""() => {
            const r = document.getElementById('cp-map').getBoundingClientRect();
            const covered = [...document.querySelectorAll('.leaflet-control')].map(e => e.getBoundingClientRect())
              .reduce((s, c) => s + c.width * c.height, 0);
            return {map: r.width * r.height, covered, screen: innerWidth * innerHeight,
                    folded: document.querySelectorAll('.cp-folded').length,
                    locate: !!document.querySelector('.cp-locate')};
        }""")
        assert m["folded"] >= 2 and m["locate"], m
        assert (m["map"] - m["covered"]) / m["screen"] >= 0.6, m
        phone.close()


def test_search_export_and_bookmarks_need_a_login_restricted_layers_included(served_map):
    anon = httpx.Client(base_url=served_map.url, timeout=60)
    # districts: a restricted layer (its licence forbids redistribution)
    for path in ("/api/search?q=道里", "/api/attributes/districts?format=csv", "/api/attributes/districts_datav",
                 "/api/bookmarks"):
        r = anon.get(path)
        assert r.status_code == 401 and "道里" not in r.text and "230102" not in r.text, path
    c = login(served_map.url, "view")
    hits = c.get("/api/search", params={"q": "道里"}).json()["hits"]
    assert any(h["layer"] == "districts" for h in hits)
    text = c.get("/api/attributes/districts", params={"format": "csv", "f.name": "道里"}).text
    assert "230102" in text and "230103" not in text
    assert c.get("/api/attributes/districts", params={"format": "xlsx", "sort": "nope"}).status_code == 400
    # bookmarks: per user, CSRF-checked (the refusals are in test_csrf_routes)
    tok = c.get("/map").text.split('name="csrf-token" content="')[1].split('"')[0]
    h = {"X-CSRF-Token": tok, "Origin": served_map.url}
    r = c.post("/api/bookmarks", json={"name": "松花江 river", "view": "14/45.78/126.60", "layers": ["parks"]}, headers=h)
    assert r.status_code == 200, r.text
    assert c.post("/api/bookmarks", json={"name": "bad", "view": "99/0/0", "layers": []}, headers=h).status_code == 400
    assert [b["name"] for b in c.get("/api/bookmarks").json()["bookmarks"]] == ["松花江 river"]
    assert login(served_map.url, "rev").get("/api/bookmarks").json()["bookmarks"] == []
    assert c.post("/api/bookmarks/delete", json={"name": "松花江 river"}, headers=h).status_code == 200
    assert c.get("/api/bookmarks").json()["bookmarks"] == []


def test_offline_map_search_ranks_real_first_colours_lines_and_measures_area(onemap, tmp_path):
    """The offline map (``cityplan map onemap``): the same search over its embedded layers, metro
    lines in their own colours named by line, and a geodesic area as pyproj computes it."""
    import geopandas as gpd
    from pyproj import Geod

    from browser import open_offline
    from cityplan.maps import onemap_map, save_map

    html = save_map(onemap_map(onemap, basemap="none", offline=True), tmp_path / "one.html")
    lines = gpd.read_file(onemap, layer="metro_lines")
    with launch() as browser, open_offline(browser, html) as (page, log):
        page.wait_for_function("window.cityplan && cityplan.ready", timeout=60_000)
        for query in ("太阳岛", "Sun Island", "taiyangdao"):
            hits = page.evaluate("q => cityplan.localSearch(cityplan.layers.districts.map, q, 12)", query)
            assert hits and not hits[0]["illustrative"], (query, hits[:3])
            assert any(h["illustrative"] for h in hits), query  # the illustrative zones come, after
            first_ill = min(i for i, h in enumerate(hits) if h["illustrative"])
            assert all(h["illustrative"] for h in hits[first_ill:]), (query, hits)
        page.fill(".cp-search input", "Line 3")
        page.press(".cp-search input", "Enter")
        page.locator(".leaflet-popup-content").wait_for(timeout=5000)
        assert "Line 3" in page.inner_text(".leaflet-popup-content")
        # one legend row per line colour, named by the lines of that colour
        page.evaluate("cityplan.layers.districts.map._cpLegend._folded = false; cityplan.layers.districts.map._cpLegend.update()")
        rows = page.evaluate("[...document.querySelectorAll('.cp-legend-sub')].map(e => [e.dataset.colour, e.textContent])")
        want = {c: set(lines.loc[lines["color"] == c, "line"]) for c in lines["color"]}
        assert {c for c, _ in rows} == set(want)
        for c, text in rows:
            assert all(n in text for n in want[c]), (c, text)
        # area: a 1 km x 1 km square near Harbin, geodesic, against pyproj on the WGS84 ellipsoid
        ring = [[45.75, 126.60], [45.75, 126.60 + 1000 / 77_800], [45.75 + 1000 / 111_132, 126.60 + 1000 / 77_800],
                [45.75 + 1000 / 111_132, 126.60]]
        got = page.evaluate("r => cityplan.geodesicArea(r.map(p => L.latLng(p[0], p[1])))", ring)
        ref, _ = Geod(ellps="WGS84").polygon_area_perimeter([p[1] for p in ring], [p[0] for p in ring])
        assert abs(got - abs(ref)) / abs(ref) < 0.005, (got, ref)
        assert log.errors == [] and log.blocked == []
