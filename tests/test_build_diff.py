"""Build history and ``cityplan diff``: a rebuild of the synthetic city after deleting three parks,
moving one by 200 m and adding one names exactly those five features and the park-coverage
change, on a GeoPackage and on PostGIS; ``--keep`` bounds the builds kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from cityplan.build import build_onemap
from cityplan.onemap import OneMap
from cli_invoke import run
from synthetic_city import lonlat


def _park(ref: str, name: str, x0: float, y0: float) -> dict:
    """A 110 m square park (1.21 ha: a 500 m service radius, clear of the 1 ha rule's edge)."""
    ring = [lonlat(x, y) for x, y in shapely.get_coordinates(shapely.box(x0, y0, x0 + 110, y0 + 110).exterior)]
    return {"osm_ref": ref, "name": name, "leisure": "park", "tourism": None,
            "geometry": shapely.MultiPolygon([shapely.Polygon(ring)])}


def _set_parks(src: Path, frame: gpd.GeoDataFrame) -> None:
    pyogrio.write_dataframe(frame, src, layer="parks", driver="GPKG")


def _two_builds(synthetic_onemap: Path, folder: Path, out: str, *, keep: int = 5, between=None) -> None:
    """Build A: the design's park and four more; build B: three deleted, 中心公园 moved 200 m east,
    one added."""
    city = folder / "city"
    shutil.copytree(synthetic_onemap.parent / "city", city)
    src = city / "osm_layers.gpkg"
    base = pyogrio.read_dataframe(src, layer="parks")
    extra = gpd.GeoDataFrame([_park("way/9001", "东园", 640, 445), _park("way/9002", "南园", 1240, 45),
                              _park("way/9003", "北园", 1440, 445), _park("way/9004", "西园", 40, 445)], crs=base.crs)
    a = gpd.GeoDataFrame(pd.concat([base, extra], ignore_index=True), crs=base.crs)
    _set_parks(src, a)
    build_onemap(city=city, data=city, out=out, keep=keep)
    if between is not None:
        between(out)
    b = a[~a.osm_ref.isin(["way/9001", "way/9002", "way/9003"])].copy()
    moved = b.osm_ref == "way/549"
    b.loc[moved, "geometry"] = b.loc[moved].geometry.to_crs(4548).translate(200, 0).to_crs(b.crs)
    b = gpd.GeoDataFrame(pd.concat([b, gpd.GeoDataFrame([_park("way/9005", "新园", 1040, 645)], crs=base.crs)],
                                   ignore_index=True), crs=base.crs)
    _set_parks(src, b)
    build_onemap(city=city, data=city, out=out, overwrite=True, keep=keep)


def _brute_park_coverage(om: OneMap) -> dict[str, float]:
    """GB 55014 park service radius by definition: each park >= 1 ha serves 500 m, >= 0.4 ha 300 m
    (buffers of 64 segments per quarter); share of each district's residential land inside their union."""
    w = om.working_crs
    parks = om.layer("parks").to_crs(w)
    area = parks.area.to_numpy()
    radius = [500.0 if a >= 10000 else 300.0 if a >= 4000 else None for a in area]
    cover = shapely.union_all([g.buffer(r, quad_segs=64) for g, r in zip(parks.geometry, radius, strict=True) if r])
    homes = om.layer_for("residential").to_crs(w)
    dist = om.layer_for("districts").to_crs(w)
    where = gpd.sjoin(gpd.GeoDataFrame(geometry=homes.representative_point(), crs=w), dist[["name", "geometry"]],
                      predicate="within")["name"].reindex(homes.index)
    inside = homes.geometry.intersection(cover).area
    out = {n: float(inside[where == n].sum() / homes.area[where == n].sum()) for n in dist["name"]}
    return out | {"(all)": float(inside.sum() / homes.area.sum())}


def _check_diff(payload: dict, om: OneMap) -> None:
    feats = {(f["change"], f["key"]): f for f in payload["features"]}
    assert set(feats) == {("removed", "way/9001"), ("removed", "way/9002"), ("removed", "way/9003"),
                          ("added", "way/9005"), ("moved", "way/549")}
    assert feats[("moved", "way/549")]["distance_m"] == pytest.approx(200.0, abs=0.5)
    assert [ly["layer"] for ly in payload["layers"]] == ["parks"]
    cov = pd.DataFrame(payload["coverage"]).set_index("district")
    assert set(cov.preset) == {"park-service-radius"}
    # the figures: residential land inside the parks' service radii, computed here by brute force
    for build, col in ((om.open_build(back=1), "old"), (om, "new")):
        for d, v in _brute_park_coverage(build).items():
            assert cov.loc[d, col] == pytest.approx(v, abs=1e-3), (col, d)
    # three parks of the east side gone: its coverage falls; the west keeps 西园 and gains 中心公园's move
    assert cov.loc["东城区", "change_points"] < 0
    assert cov.loc["(all)", "change_points"] == pytest.approx((cov.loc["(all)", "new"] - cov.loc["(all)", "old"]) * 100,
                                                              abs=0.01)


def test_diff_after_rebuild_gpkg(synthetic_onemap, tmp_path):
    out = tmp_path / "map.gpkg"
    _two_builds(synthetic_onemap, tmp_path, str(out))
    om = OneMap.open(out)
    b = om.builds()
    assert b["current"].tolist() == [True, False] and b["build_id"].str.len().eq(32).all()
    assert b["sources_sha256"].str.len().eq(64).all() and b["sources_sha256"].nunique() == 2
    r = run("diff", "--onemap", str(out), "--format", "json")
    assert r.returncode == 1, r.stderr  # something changed
    payload = json.loads(r.stdout)
    assert payload["old"]["build_id"] == b.build_id[1] and payload["new"]["build_id"] == b.build_id[0]
    _check_diff(payload, om)
    # the old build opens read-only as a map of its own: its five parks
    assert len(om.open_build(b.build_id[1][:8]).layer("parks")) == 5
    # the same build against itself: nothing changed, exit 0
    r = run("diff", b.build_id[0][:8], b.build_id[0][:8], "--onemap", str(out), "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["features"] == []
    # --keep 2: a third build leaves two
    city = tmp_path / "city"
    build_onemap(city=city, data=city, out=out, overwrite=True, keep=2)
    assert len(OneMap.open(out).builds()) == 2 and len(list((tmp_path / "map.gpkg.builds").glob("*.gpkg"))) == 1
    build_onemap(city=city, data=city, out=out, overwrite=True, keep=1)
    assert len(OneMap.open(out).builds()) == 1


def test_diff_after_rebuild_postgis(synthetic_onemap, tmp_path, pg_server):
    url = pg_server.new_database("diffs") + "?schema=syn"
    _two_builds(synthetic_onemap, tmp_path, url, keep=2)
    om = OneMap.open(url)
    b = om.builds()
    assert b["current"].tolist() == [True, False]
    assert "schema=syn__b_" in b.location[1]
    from cityplan.services.monitor import compare_builds, diff_payload

    _check_diff(diff_payload(compare_builds(om)), om)
    # --keep 2: a third build drops the oldest kept schema
    city = tmp_path / "city"
    build_onemap(city=city, data=city, out=url, overwrite=True, keep=2)
    assert len(OneMap.open(url).builds()) == 2


def _diff_reads_stored_coverage(om: OneMap, build_a: str, files: list[Path]) -> None:
    """The diff's old figures are build A's stored ones (a marked value planted in its stored rows
    comes back); the current build's are computed once, stored, and equal the brute-force figures."""
    import sqlite3

    from cityplan.services.coverage import stored_districts
    from cityplan.services.monitor import compare_builds, diff_payload

    planted = 0
    for f in files:
        with sqlite3.connect(f) as db:
            if db.execute("select 1 from sqlite_master where name = 'cityplan_coverage_districts'").fetchone():
                planted += db.execute("update cityplan_coverage_districts set area_share = 0.4321 where build_id = ? "
                                      "and district = '(all)' and scenario = 'existing'", (build_a,)).rowcount
    assert planted >= 1
    assert stored_districts(om, "park-service-radius") is None  # build B: nothing stored yet
    cov = pd.DataFrame(diff_payload(compare_builds(om))["coverage"]).set_index("district")
    assert cov.loc["(all)", "old"] == pytest.approx(0.4321)
    now = stored_districts(om, "park-service-radius")
    assert now is not None  # computed once for the diff and stored with build B
    assert cov.loc["(all)", "new"] == pytest.approx(_brute_park_coverage(om)["(all)"], abs=1e-3)


def test_review_rechecked_against_the_current_build(synthetic_onemap, tmp_path):
    """A review stored on build A overlapped 东园; build B deleted it: the re-check says the green-space
    finding is no longer hit and names the park removed."""
    from cityplan.review.check import review_file
    from cityplan.services.coverage import ensure_stored
    from cityplan.services.reviews import recheck_review, store_report
    from conftest import feature, write_geojson

    ring = [list(lonlat(x, y)) for x, y in shapely.get_coordinates(shapely.box(660, 460, 700, 500).exterior)]
    red = write_geojson(tmp_path / "red.geojson", [feature({"type": "Polygon", "coordinates": [ring]}, name="地块")])
    stored = {}

    def review(out: str) -> None:
        om = OneMap.open(out)
        rep = review_file(red, onemap=om, project_type="other")
        assert rep.findings.set_index("rule").loc["green-space", "hit"]
        stored["id"] = store_report(om, rep, red, user="rev").review_id
        # build A's park coverage stored with the map (what the diff reads for the old build)
        assert ensure_stored(om, ["park-service-radius"], transit=False) == {"park-service-radius": "done"}
        stored["build"] = om.build_stamp

    out = tmp_path / "map.gpkg"
    _two_builds(synthetic_onemap, tmp_path, str(out), between=review)
    om = OneMap.open(out)
    _diff_reads_stored_coverage(om, stored["build"], [out, *(tmp_path / "map.gpkg.builds").glob("*.gpkg")])
    rc = recheck_review(om, stored["id"])
    assert rc.build_then["build_id"] == om.builds().build_id[1] and rc.build_now["build_id"] == om.build_info["build_id"]
    f = rc.findings.set_index("rule")
    assert (f.loc["green-space", "hit_then"], f.loc["green-space", "hit_now"]) == (True, False)
    assert f.loc["green-space", "change"] == "no longer hit" and rc.changed
    assert f.loc["water", "change"] == "unchanged"
    assert rc.layers["layer"].tolist() == ["parks"]
    assert ("removed", "way/9001") in set(zip(rc.features["change"], rc.features["key"], strict=True))
    r = run("review", "recheck", stored["id"], "--onemap", str(out), "--format", "json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["findings"][0]["rule"] in {"green-space", "water", "inside-districts"}
    _recheck_on_the_review_page(out, stored["id"], tmp_path / "data")


def _recheck_on_the_review_page(out: Path, rid: str, data: Path) -> None:
    """The review page's button does the same re-check (a reviewer: the differences named and the
    re-check audited; a viewer: no button, the POST refused)."""
    import re

    from starlette.testclient import TestClient

    from cityplan.server.app import create_app
    from cityplan.services.accounts import UserStore
    from server_process import PASSWORD

    users = UserStore(OneMap.open(out).store)
    users.add("rev", "reviewer", PASSWORD)
    users.add("view", "viewer", PASSWORD)
    app = create_app(str(out), data_dir=data, basemap="none", warm=False, review_workers=0)
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    same = {"Origin": "http://testserver"}
    try:
        for name in ("rev", "view"):
            c = TestClient(app, base_url="http://testserver", follow_redirects=False)
            c.post("/login", data={"username": name, "password": PASSWORD, "next": "/",
                                   "csrf_token": token.search(c.get("/login").text).group(1)}, headers=same)
            page = c.get(f"/review/{rid}").text
            assert ("cp-recheck-button" in page) == (name == "rev")
            r = c.post(f"/review/{rid}/recheck", data={"csrf_token": token.search(page).group(1)}, headers=same)
            if name == "view":
                assert r.status_code == 403
                continue
            assert r.status_code == 200, r.text[:300]
            assert 'data-change="no longer hit" data-rule="green-space"' in r.text
            assert 'data-change="removed" data-layer="parks"' in r.text and "way/9001" in r.text
            assert "重新审查 Re-check" in r.text
    finally:
        app.state.ctx.reviews.shutdown()
    audit = OneMap.open(out).store.read("cityplan_audit")
    assert audit[audit.action == "review.recheck"].outcome.tolist() == ["ok", "denied"]


def test_diff_layer_by_key_and_without_one():
    """Moved by 30 m (beyond a 1 m tolerance), reshaped in place, an attribute changed; a layer without
    a key is matched by geometry and attributes."""
    from cityplan.monitor.diff import diff_layer

    def frame(rows):
        return gpd.GeoDataFrame([{"osm_ref": r, "name": n, "kind": k, "source_row": i, "geometry": g}
                                 for i, (r, n, k, g) in enumerate(rows)], crs=4548)

    sq = shapely.box(0, 0, 10, 10)
    old = frame([("a", "甲", "x", sq), ("b", "乙", "x", shapely.box(100, 0, 110, 10)),
                 ("c", "丙", "x", shapely.box(200, 0, 210, 10)), ("d", "丁", "x", shapely.box(300, 0, 310, 10))])
    new = frame([("a", "甲", "x", shapely.affinity.translate(sq, 30, 0)),
                 ("b", "乙", "x", shapely.box(100, 0, 110, 10).buffer(3, join_style="mitre")),
                 ("c", "丙", "y", shapely.box(200, 0, 210, 10)), ("e", "戊", "x", shapely.box(400, 0, 410, 10))])
    s, f = diff_layer("t", old, new, crs=4548, tolerance_m=1.0)
    assert (s["key"], s["added"], s["removed"], s["moved"], s["reshaped"], s["changed"]) == ("osm_ref", 1, 1, 1, 1, 1)
    got = {(r.change, r.key): r for r in f.itertuples()}
    assert got[("moved", "a")].distance_m == 30.0
    assert got[("reshaped", "b")].distance_m == pytest.approx(3 * 2 ** 0.5, abs=0.1)  # the mitred corner
    assert got[("changed", "c")].columns == "kind" and got[("changed", "c")].new == "kind=y"
    assert set(got) >= {("added", "e"), ("removed", "d")}
    s, f = diff_layer("t", old.drop(columns="osm_ref"), new.drop(columns="osm_ref"), crs=4548)
    assert s["key"] == "(geometry and attributes)"
    assert (s["added"], s["removed"]) == (4, 4)  # a, b, c changed and e new: none matches exactly
    s, _f = diff_layer("t", old.drop(columns="osm_ref"), old.drop(columns="osm_ref"), crs=4548)
    assert (s["added"], s["removed"]) == (0, 0)
