"""A review says only what it checked, in the city's units (issue #22 items 5 and 7).

A tiny one map outside China (around 46.6 W, 23.55 S: working CRS EPSG:32723, WGS 84 / UTM 23S),
built with the generic rules of ``cityplan city new`` (water, parks, districts by role):

- its parks layer EMPTY: a building across where a park would be is ``incomplete`` - the
  green-space rule is "not checked (no data: layer parks has no features)", never "no conflict";
- the same map WITH the park: ``fail``;
- its outputs show m² and ha in EPSG:32723, no 亩 and no GCJ-02 check; Harbin keeps 亩 and EPSG:4551.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pyproj import Transformer
from tests.cli_invoke import invoke

import cityplan
from cityplan.build import build_onemap
from cityplan.report.layout import PageSpec
from cityplan.review import review_file, review_proposal
from cityplan.review.check import VERDICT_TEXT, VERDICTS, gcj02_check
from cityplan.review.opinion import text_pages
from cityplan.review.report import to_html, to_markdown
from conftest import PROPOSALS, feature, write_geojson, write_profile

WORKING = "EPSG:32723"
ORIGIN = (333_000.0, 7_395_000.0)  # EPSG:32723 easting/northing of local (0, 0): ~46.63 W, 23.55 S
_TO_LONLAT = Transformer.from_crs(WORKING, "EPSG:4326", always_xy=True)
TEMPLATE_RULES = Path(cityplan.__file__).parent / "city" / "template" / "review_rules.yaml"
PARK = shapely.box(200, 200, 400, 400)   # local metres
LAKE = shapely.box(600, 600, 800, 800)
DISTRICT = shapely.box(0, 0, 1000, 1000)
BUILDING = shapely.box(150, 270, 450, 330)  # a 300 x 60 m block across the park's place

CATALOG = """
city: Teste
extract_bbox: [-46.64, -23.56, -46.61, -23.53]
layers:
  - id: districts
    title_zh: 区
    title_en: Districts
    role: base
    roles: [districts]
    geometry: MultiPolygon
    source: {file: districts.geojson, crs: EPSG:4326}
    licence: test
    attribution: test
    illustrative: false
  - id: roads
    title_zh: 道路
    title_en: Roads
    role: base
    roles: [roads]
    geometry: MultiLineString
    source: {file: roads.geojson, crs: EPSG:4326}
    licence: test
    attribution: test
    illustrative: false
  - id: water
    title_zh: 水域
    title_en: Water
    role: constraint
    roles: [water]
    geometry: MultiPolygon
    source: {file: water.geojson, crs: EPSG:4326}
    licence: test
    attribution: test
    illustrative: false
  - id: parks
    title_zh: 公园
    title_en: Parks
    role: constraint
    roles: [parks]
    geometry: MultiPolygon
    source: {file: parks.geojson, crs: EPSG:4326}
    licence: test
    attribution: test
    illustrative: false
"""


def lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    """Local metres -> lon/lat (through EPSG:32723)."""
    return shapely.transform(geom, lambda xy: _to_lonlat(xy))


def _to_lonlat(xy):
    import numpy as np

    lon, lat = _TO_LONLAT.transform(xy[:, 0] + ORIGIN[0], xy[:, 1] + ORIGIN[1])
    return np.column_stack([lon, lat])


def _build(folder: Path, *, park: bool, settings: str = "") -> Path:
    write_profile(folder, CATALOG, pid="teste", country="BR")
    if settings:
        with (folder / "profile.yaml").open("a", encoding="utf-8") as f:
            f.write(settings)
    (folder / "review_rules.yaml").write_bytes(TEMPLATE_RULES.read_bytes())
    write_geojson(folder / "districts.geojson", [feature(lonlat(DISTRICT).__geo_interface__, name="Centro")])
    roads = [shapely.LineString([(x, 0), (x, 1000)]) for x in range(0, 1001, 100)]
    roads += [shapely.LineString([(0, y), (1000, y)]) for y in range(0, 1001, 100)]
    write_geojson(folder / "roads.geojson", [feature(lonlat(r).__geo_interface__, name=f"Rua {i}")
                                             for i, r in enumerate(roads)])
    write_geojson(folder / "water.geojson", [feature(lonlat(LAKE).__geo_interface__, name="Lago")])
    write_geojson(folder / "parks.geojson", [feature(lonlat(PARK).__geo_interface__, name="Parque da Luz")]
                  if park else [])
    return build_onemap(city=folder, data=folder, out=folder / "teste.gpkg").path


@pytest.fixture(scope="module")
def no_parks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The abroad map with an empty parks layer (profile defaults: m2, ha; no datum checks)."""
    return _build(tmp_path_factory.mktemp("no_parks"), park=False)


@pytest.fixture(scope="module")
def with_park(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same map with the park, its profile enabling the GCJ-02 check (to show it is the switch)."""
    return _build(tmp_path_factory.mktemp("with_park"), park=True, settings="datum_checks: [gcj02]\n")


@pytest.fixture(scope="module")
def building(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A building red line across the park's place (no CRS declared: the datum check may run)."""
    p = tmp_path_factory.mktemp("proposal") / "bloco.geojson"
    return write_geojson(p, [feature(lonlat(BUILDING).__geo_interface__, name="Bloco A", type="building")])


def test_empty_layer_is_not_checked_and_the_verdict_is_incomplete(no_parks: Path, building: Path) -> None:
    rep = review_file(building, onemap=no_parks)
    assert rep.verdict == "incomplete" and rep.exit_code == 1
    u = {x["rule"]: x for x in rep.unchecked}
    assert set(u) == {"green-space"}
    assert u["green-space"]["kind"] == "empty" and u["green-space"]["blocks_pass"]
    assert u["green-space"]["reason"] == "layer parks has no features"
    # never a "no conflict" finding for it; the checked rules are there (water: no hit)
    assert "green-space" not in set(rep.findings.rule)
    assert set(rep.findings.rule) == {"water", "inside-districts"} and not rep.findings.hit.any()
    doc = rep.to_dict()
    assert doc["verdict"] == "incomplete" and doc["verdict_text"] == "不完整 INCOMPLETE"
    assert "not all forbidden-severity rules could be checked" in doc["verdict_reason"]
    line = "not checked (no data: layer parks has no features)"
    pages = _pdf_text(rep)
    for text in (to_markdown(rep), to_html(rep), json.dumps(doc, ensure_ascii=False), "\n".join(rep.notes), pages):
        assert line in text and "PASS" not in text
    assert "不完整 INCOMPLETE" in pages
    assert "公园绿地 Parks and green space  [未核查（无数据）not checked (no data)]" in pages
    assert "公园绿地 Parks and green space  [符合 no conflict]" not in pages
    assert "水域 Water bodies  [符合 no conflict]" in pages  # the water rule was checked
    # the CLI: exit 1 (a finding), the table says it too
    r = invoke("review", building, "--onemap", no_parks)
    assert r.exit_code == 1, r.output
    assert "INCOMPLETE" in r.stdout and "layer parks has no features" in r.stdout


def test_with_the_park_the_building_fails(with_park: Path, building: Path) -> None:
    rep = review_file(building, onemap=with_park)
    assert rep.verdict == "fail" and not rep.unchecked
    green = rep.findings.set_index("rule").loc["green-space"]
    assert green.hit and green.severity == "forbidden"
    expected = BUILDING.intersection(PARK).area  # designed in EPSG:32723 metres
    assert green.area_m2 == pytest.approx(expected, rel=1e-4)
    assert green.area_ha == pytest.approx(expected / 1e4, rel=1e-4)


def test_empty_after_the_where_filter_is_not_checked(no_parks: Path, building: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: lakes-only, title_zh: 湖泊, title_en: Lakes, role: water, relation: intersects,"
                     " severity: forbidden, citation: test, where: {name: [Lagoa]}}\n", encoding="utf-8")
    rep = review_file(building, onemap=no_parks, rules_path=rules)
    assert rep.verdict == "incomplete"
    assert rep.unchecked[0]["reason"] == "layer water has no features matching where name in ['Lagoa']"


def test_abroad_outputs_name_the_working_crs_and_no_mu(no_parks: Path, building: Path, tmp_path: Path) -> None:
    out = tmp_path / "rev"
    r = invoke("review", building, "--onemap", no_parks, "--out", out, "--format", "json", "--dpi", "72")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["area_units"] == ["m2", "ha"] and doc["areas_crs"] == "EPSG:32723 (WGS 84 / UTM zone 23S)"
    assert "area_mu" not in doc["proposal"] and all("area_mu" not in f for f in doc["findings"])
    texts = {name: (out / name).read_text(encoding="utf-8") for name in ("review.json", "review.md", "review.html")}
    rep = review_file(building, onemap=no_parks)
    texts["pdf"] = _pdf_text(rep)
    texts["table"] = invoke("review", building, "--onemap", no_parks).stdout
    for name, text in texts.items():
        assert "亩" not in text and "area_mu" not in text, name
        assert "EPSG:32723" in text and "4551" not in text, name
    assert "EPSG:32723 (WGS 84 / UTM zone 23S)" in texts["review.md"]
    assert "m², ha in EPSG:32723" in texts["pdf"]
    assert set(rep.summary) >= {"area_m2", "area_ha"} and "area_mu" not in rep.summary


def test_harbin_keeps_mu_and_its_gauss_kruger_crs(onemap: Path) -> None:
    rep = review_file(PROPOSALS / "river_apartments.geojson", onemap=onemap)
    md = to_markdown(rep)
    assert "亩" in md and "EPSG:4551" in md and "area_mu" in rep.findings.columns
    assert "m², ha, 亩 in EPSG:4551" in _pdf_text(rep)
    assert rep.summary["area_mu"] == pytest.approx(rep.summary["area_m2"] * 15 / 10000, abs=1e-4)


def test_gcj02_check_only_where_the_profile_enables_it(no_parks: Path, with_park: Path, building: Path,
                                                       onemap: Path) -> None:
    rep = review_file(building, onemap=no_parks)
    assert "gcj02_check" not in rep.data_version
    assert not any("GCJ" in n or "gcj02" in n or "Amap" in n for n in rep.notes)
    frame = gpd.read_file(building)
    from cityplan.onemap import OneMap

    assert gcj02_check(frame, OneMap.coerce(no_parks), declared=None) is None
    # the same kind of map whose profile lists gcj02 runs the check (the profile is the switch) ...
    assert "gcj02_check" in review_file(building, onemap=with_park).data_version
    # ... and Harbin's does
    assert "gcj02_check" in review_file(PROPOSALS / "clean_site.geojson", onemap=onemap).data_version


def test_verdict_order_and_stored_values(no_parks: Path, building: Path) -> None:
    # fail > incomplete > needs approval > pass; every stored value still has its text
    assert VERDICTS == ("pass", "needs_approval", "incomplete", "fail")
    assert set(VERDICT_TEXT) == set(VERDICTS)
    # a needs-approval hit with a forbidden rule unchecked: incomplete, the approval still listed
    site = gpd.GeoDataFrame({"name": ["ponte"]}, geometry=[lonlat(shapely.box(550, 690, 850, 710))], crs=4326)
    rep = review_proposal(site, onemap=no_parks, project_type="bridge")
    water = rep.findings.set_index("rule").loc["water"]
    assert water.hit and water.severity == "needs_approval"
    assert rep.verdict == "incomplete" and "water" in set(rep.approvals.rule)
    assert "另需审批 also needs approval: water" in rep.verdict_reason
    # a park facility (green space could only need approval): a pass that still lists the rule unchecked
    facility = gpd.GeoDataFrame({"name": ["quiosque"]}, geometry=[lonlat(BUILDING)], crs=4326)
    rep = review_proposal(facility, onemap=no_parks, project_type="park_facility")
    assert [u["rule"] for u in rep.unchecked] == ["green-space"] and not rep.forbidden_unchecked
    assert rep.verdict == "pass" and rep.exit_code == 0
    assert "1 条规则未核查 rule(s) not checked" in rep.verdict_reason
    assert "not checked (no data: layer parks has no features)" in to_markdown(rep)


def _pdf_text(rep) -> str:
    """Every string the 审查意见's text pages draw."""
    import matplotlib.pyplot as plt

    figs = text_pages(rep, project="p", applicant="a", submitted="s", spec=PageSpec(paper="A4",
                                                                                     orientation="portrait", dpi=72))
    try:
        return "\n".join(t.get_text() for f in figs for ax in f.axes for t in ax.texts)
    finally:
        for f in figs:
            plt.close(f)
