"""Datum checks that do not cry wolf (issue #23 part 3): the GCJ-02 / BD-09 detector.

- it never runs on projected sources (GK zones as in a 界址点 file, UTM) nor on declared CRSs:
  a GCJ-shifted layer that *is* flagged as undeclared lon/lat gives ``not_applicable`` there;
- real Harbin features as stored give no warning; their GCJ-02 / BD-09-shifted copies are
  detected at the rates ``benchmarks/bench_datum.py`` measured (docs/gcj02.md), naming the datum.
"""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely

from cityplan.crs import convert_datum
from cityplan.validate import (
    GCJ_MIN_Z,
    Gcj02Reference,
    Gcj02Verdict,
    detect_gcj02,
    source_crs_of,
    validate_file,
)

METRIC = 4551  # CGCS2000 / 3-degree GK CM 126E: Harbin's working CRS
GK42 = 4530  # the same zone with zone-prefixed eastings (42 500 000 ...), as 界址点 files write them
UTM52 = 32652
#: the fixed sample: single buildings, single compounds, groups of 3 compounds, single parks
SAMPLE = {"building": 60, "compound": 40, "compounds_3": 20, "park": 30}
#: detection floors on that sample (GCJ-02 and BD-09 copies), about 60 % of the held-out rates of
#: the benchmark (docs/gcj02.md: 5-7 %, 38-41 %, 62 %, 28-29 %), so a detector that lost its power
#: fails; for single buildings: at least one of the 60
FLOOR = {"building": 0.015, "compound": 0.25, "compounds_3": 0.4, "park": 0.15}


@pytest.fixture(scope="module")
def harbin(onemap):
    """The one map's roads as the reference, and its real (OSM, WGS84) features inside them."""
    roads = gpd.read_file(onemap, layer="roads")
    hull = shapely.union_all(roads.to_crs(METRIC).geometry.to_numpy()).convex_hull

    def inside(name: str) -> gpd.GeoDataFrame:
        g = gpd.read_file(onemap, layer=name).to_crs(METRIC)
        g = g[g.geometry.notna() & ~g.geometry.is_empty & g.geometry.within(hull)]
        return g[["geometry"]].reset_index(drop=True)

    parks = inside("parks")
    big = parks.assign(a=parks.area).sort_values("a").tail(12).drop(columns="a").to_crs(4326)
    return SimpleNamespace(ref=Gcj02Reference(roads, metric=METRIC), buildings=inside("buildings"),
                           compounds=inside("residential"), parks=parks, big_parks=big)


@pytest.fixture(scope="module")
def sample(harbin):
    """The fixed sample of real feature sets (EPSG:4326), by type."""
    rng = np.random.default_rng(23)
    out = {}
    for kind, src in (("building", harbin.buildings), ("compound", harbin.compounds), ("park", harbin.parks)):
        pick = rng.choice(len(src), SAMPLE[kind], replace=False)
        out[kind] = [src.iloc[[i]].to_crs(4326) for i in pick]
    cent = shapely.centroid(harbin.compounds.geometry.to_numpy())
    groups = []
    for i in rng.choice(len(cent), SAMPLE["compounds_3"], replace=False):
        near = np.flatnonzero(shapely.distance(cent, cent[i]) < 600)
        groups.append(harbin.compounds.iloc[np.sort(rng.choice(near, min(3, len(near)), replace=False))].to_crs(4326))
    out["compounds_3"] = groups
    return out


@pytest.fixture(scope="module")
def verdicts(harbin, sample):
    """The detector's verdict on every sample set as stored, GCJ-02- and BD-09-shifted."""
    return {(kind, datum): [detect_gcj02(f if datum == "wgs84" else convert_datum(f, "EPSG:4326", datum),
                                         harbin.ref).verdict for f in frames]
            for kind, frames in sample.items() for datum in ("wgs84", "gcj02", "bd09")}


@pytest.fixture(scope="module")
def shifted_parks(harbin):
    """The 12 largest parks exported from Amap (GCJ-02) and saved as plain lon/lat."""
    return convert_datum(harbin.big_parks, "EPSG:4326", "gcj02")


# ------------------------------------------------------------------ never on projected or declared inputs
def test_the_shifted_parks_are_flagged_as_undeclared_lonlat(harbin, shifted_parks):
    """The control for the tests below: read as undeclared WGS84 lon/lat, the layer is flagged."""
    v = detect_gcj02(shifted_parks, harbin.ref)
    assert v.verdict == "gcj02" and v.is_gcj02 and v.is_shifted and v.applicable, v
    assert v.score_unshifted >= GCJ_MIN_Z and "--crs gcj02" in v.message()
    # an honest copy is not
    assert detect_gcj02(harbin.big_parks, harbin.ref).verdict == "wgs84"


@pytest.mark.parametrize("crs", [GK42, METRIC, UTM52], ids=["GK zone 42 (prefixed)", "GK CM 126E", "UTM 52N"])
def test_projected_sources_are_never_tested(harbin, shifted_parks, crs):
    # the frame still in its projected CRS
    v = detect_gcj02(shifted_parks.to_crs(crs), harbin.ref)
    assert v.verdict == "not_applicable" and not v.is_shifted and not v.applicable, v
    assert "projected" in v.reason and "projected" in v.message()
    # brought to lon/lat by read_vector: the source CRS says what it was
    for src in (crs, f"EPSG:{crs}", {"crs": f"EPSG:{crs}", "epsg": crs, "how": "detected"}):
        assert detect_gcj02(shifted_parks, harbin.ref, source_crs=src).verdict == "not_applicable", src


def test_declared_and_surveyed_inputs_are_never_tested(harbin, shifted_parks):
    for kw in ({"declared": True}, {"declared": "EPSG:4326"}, {"declared": "wgs84"},
               {"source_crs": {"crs": "EPSG:4326", "epsg": 4326, "how": "declared"}},
               {"source_crs": "gcj02"}):
        v = detect_gcj02(shifted_parks, harbin.ref, **kw)
        assert v.verdict == "not_applicable" and "declared" in v.reason, (kw, v)
    # lon/lat on a surveyed datum (CGCS2000, Beijing 1954): never GCJ-02
    for src in (4490, 4214):
        v = detect_gcj02(shifted_parks, harbin.ref, source_crs=src)
        assert v.verdict == "not_applicable" and "surveyed datum" in v.reason, v
    # the file's own WGS84 tag (GeoJSON), or none, keeps the check on
    for src in (4326, "OGC:CRS84", {"crs": "EPSG:4326", "epsg": 4326, "how": "file"}, None):
        assert detect_gcj02(shifted_parks, harbin.ref, source_crs=src).verdict == "gcj02", src
    # only the datums asked for (a profile's datum_checks)
    assert detect_gcj02(shifted_parks, harbin.ref, datums=[]).verdict == "not_applicable"
    assert detect_gcj02(shifted_parks, harbin.ref, datums=["bd09"]).verdict != "gcj02"
    # outside China the datums do not exist
    far = shifted_parks.set_geometry(shifted_parks.translate(-130.0, 0.0), crs=4326)
    assert detect_gcj02(far, harbin.ref).verdict == "not_applicable"


def _jzd(path, frame: gpd.GeoDataFrame) -> None:
    """A 界址点 TXT (CGCS2000 GK zone 42, prefixed eastings) with the frame's outlines as parcels."""
    lines = ["[属性描述]", "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格", "计量单位=米",
             "带号=42", "[地块坐标]"]
    for k, g in enumerate(frame.to_crs(GK42).geometry, start=1):
        part = max(shapely.get_parts(g), key=lambda p: p.area)
        ring = np.asarray(part.exterior.coords)
        lines.append(f"{len(ring)},{part.area / 10_000:.4f},D{k:03d},地块{k},面,,公园绿地,1401,@")
        lines += [f"J{i + 1},1,{n:.3f},{e:.3f}" for i, (e, n) in enumerate(ring[:-1])]
        lines.append(f"J1,1,{ring[0][1]:.3f},{ring[0][0]:.3f}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))


def test_layers_validate_tests_only_undeclared_lonlat_files(harbin, shifted_parks, onemap, tmp_path):
    roads = gpd.read_file(onemap, layer="roads")

    def flagged(path, **kw) -> bool:
        rep = validate_file(path, role="base", reference=roads, **kw)
        return any("GCJ-02" in f.message for f in rep.findings)

    plain = tmp_path / "parks.geojson"
    shifted_parks.to_file(plain, driver="GeoJSON")
    assert flagged(plain) and flagged(plain, stream=True)
    assert not flagged(plain, crs="EPSG:4326") and not flagged(plain, crs="EPSG:4326", stream=True)
    gk = tmp_path / "parks_gk.gpkg"
    shifted_parks.to_crs(GK42).to_file(gk, driver="GPKG")
    assert source_crs_of(gk).to_epsg() == GK42
    assert not flagged(gk) and not flagged(gk, stream=True)
    txt = tmp_path / "地块.txt"
    _jzd(txt, shifted_parks)
    assert source_crs_of(txt).is_projected
    assert validate_file(txt, role="base", reference=roads).features == len(shifted_parks)
    assert not flagged(txt)


# ------------------------------------------------------------------ calibrated on real features
def test_real_features_as_stored_give_no_warning(verdicts):
    warned = [(kind, i, v) for kind in SAMPLE for i, v in enumerate(verdicts[kind, "wgs84"]) if v in ("gcj02", "bd09")]
    # single buildings, parks and groups of compounds: none
    assert not [w for w in warned if w[0] != "compound"], warned
    # the calibrated target is at most 1 % (0.13 % on the benchmark's held-out half); this sample
    # holds one of those rare cases, the compound 理想0451 (OSM way/705632481): its outline is 32 m
    # from the roads as read, 10 m after the GCJ-02 un-shift, z 2.6 / 2.3 against its controls
    assert len(warned) <= 0.01 * sum(SAMPLE.values()), warned


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_shifted_copies_are_detected_and_named(verdicts, datum):
    for kind, floor in FLOOR.items():
        got = verdicts[kind, datum]
        hit = sum(v == datum for v in got) / len(got)
        assert hit >= floor, (kind, datum, hit, got)
        # a shifted copy never passes as aligned WGS84, and the other datum is never named
        assert not [v for v in got if v in ("wgs84", "gcj02", "bd09") and v != datum], (kind, got)


def test_rates_on_the_fixed_sample_meet_the_targets(verdicts):
    real = [v for kind in SAMPLE for v in verdicts[kind, "wgs84"]]
    false = sum(v in ("gcj02", "bd09") for v in real) / len(real)
    assert false <= 0.01
    # larger sets are detected more often: one compound < three compounds
    rate = {k: sum(v == "gcj02" for v in verdicts[k, "gcj02"]) / SAMPLE[k] for k in SAMPLE}
    assert rate["building"] < rate["compound"] < rate["compounds_3"], rate


def test_verdict_stays_compatible():
    """Callers (the review) build and read the verdict as before; the new fields have defaults."""
    nan = float("nan")
    v = Gcj02Verdict("undetermined", nan, nan, nan, nan, nan, nan, 0, 0)
    assert not v.is_gcj02 and not v.is_shifted and v.applicable and v.message()
    assert Gcj02Verdict("not_applicable", nan, nan, nan, nan, nan, nan, 0, 0, reason="x").message().endswith("x")

