"""Search normalisation and ranking, attribute selection and export (tiny data, no server)."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook

from cityplan.services import mapdata
from cityplan.services.search import (
    EXACT,
    PREFIX,
    SUBSTRING,
    WORD,
    SearchIndex,
    match_rank,
    normalise,
)

pytestmark = pytest.mark.unit


def test_normalise_folds_width_case_spaces_and_punctuation():
    assert normalise("Line 3") == normalise("LINE-3") == normalise("line３") == "line3"
    assert normalise("太阳岛 ") == "太阳岛"
    assert normalise(None) == normalise(float("nan")) == ""


def test_match_rank_orders_exact_prefix_word_substring():
    assert match_rank("sunisland", "sunisland") == EXACT
    assert match_rank("sun", "sunislandpark") == PREFIX
    assert match_rank("line3", "harbinmetroline3", ["metroline3", "line3"]) == WORD
    assert match_rank("etroline", "harbinmetroline3", ["metroline3", "line3"]) == SUBSTRING
    assert match_rank("x", "harbin") is None


def _index() -> SearchIndex:
    ix = SearchIndex()
    # an illustrative zone named exactly as asked, and a real island only by prefix / English
    ix.add("zones", "Zones", pd.DataFrame({"name": ["太阳岛", "太阳岛西区"]}), illustrative=True)
    ix.add("islands", "Islands", pd.DataFrame({"name": ["太阳岛公园", "阿勒锦岛"], "name_en": ["Sun Island Park", None],
                                               "osm_ref": ["way/1", "way/2"], "name_pinyin": ["taiyangdao", None]}))
    ix.add("lines", "Lines", pd.DataFrame({"line": ["哈尔滨地铁3号线", "哈尔滨地铁1号线"],
                                           "line_en": ["Harbin Metro Line 3", "Harbin Metro Line 1"],
                                           "illustrative": [False, True]}))
    return ix


def test_real_features_before_illustrative_ones_even_against_a_better_match():
    hits = _index().search("太阳岛")
    assert [(h.layer, h.fid) for h in hits][:2] == [("islands", 0), ("zones", 0)]
    assert not hits[0].illustrative and hits[1].illustrative and hits[2].illustrative


def test_english_pinyin_ids_and_line_names_found():
    ix = _index()
    assert [(h.layer, h.fid, h.label) for h in ix.search("Sun Island")] == [("islands", 0, "太阳岛公园 Sun Island Park")]
    assert ix.search("taiyang")[0].matched == "name_pinyin"
    assert ix.search("way/2")[0].label == "阿勒锦岛"
    line3 = ix.search("line 3")
    assert [(h.layer, h.fid, h.matched) for h in line3] == [("lines", 0, "line_en")]
    assert ix.search("3号线")[0].label == "哈尔滨地铁3号线 Harbin Metro Line 3"
    # a row's own illustrative flag counts
    assert ix.search("line")[-1].illustrative and ix.search("line")[-1].fid == 1
    assert ix.search("") == [] and ix.search("nothing here") == []


def _layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"adcode": ["230103", "230102", "010001"], "name": ["=HYPERLINK(1)", "道里区", "Park"],
                             "pop": [3.0, None, 10.0]},
                            geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)], crs=4326)


def test_select_filters_sorts_and_checks_columns():
    g = _layer()
    assert mapdata.select(g, filters={"adcode": "2301"}).tolist() == [0, 1]
    assert mapdata.select(g, sort="pop").tolist() == [0, 2, 1]          # missing last
    assert mapdata.select(g, sort="pop", descending=True).tolist() == [2, 0, 1]
    assert mapdata.select(g, fids=[2, 0], within=[0, 1]).tolist() == [0]
    with pytest.raises(mapdata.SelectionError, match="not a column"):
        mapdata.select(g, filters={"nope": "x"})
    with pytest.raises(mapdata.SelectionError, match="0 to 2"):
        mapdata.select(g, fids=[5])


def test_exports_keep_codes_as_text_and_hold_no_formula(tmp_path):
    g = _layer()
    csv = mapdata.export_bytes(g, "csv", layer="d").decode("utf-8-sig")
    table = pd.read_csv(io.StringIO(csv), dtype=str)
    assert table["adcode"].tolist() == ["230103", "230102", "010001"]
    assert table["name"][0] == "'=HYPERLINK(1)"
    wb = load_workbook(io.BytesIO(mapdata.export_bytes(g, "xlsx", layer="d")))
    cells = [[c.value for c in row] for row in wb.active.iter_rows()]
    assert cells[1][0] == "230103" and cells[3][0] == "010001" and cells[1][1] == "'=HYPERLINK(1)"
    gj = json.loads(mapdata.export_bytes(g, "geojson", layer="d", tmpdir=tmp_path))
    assert [f["properties"]["adcode"] for f in gj["features"]] == ["230103", "230102", "010001"]
    path = tmp_path / "x.gpkg"
    path.write_bytes(mapdata.export_bytes(g.iloc[[1]], "gpkg", layer="d", tmpdir=tmp_path))
    back = gpd.read_file(path)
    assert back["adcode"].tolist() == ["230102"] and back.crs.to_epsg() == 4326


def test_layer_titles_answer_exact_queries_first_and_partial_ones_last():
    ix = _index()
    ix.add_title("islands", "太阳岛 Sun Island", order=1)
    ix.add_title("lines", "地铁线路 Metro lines", order=2)
    assert [(h.layer, h.fid) for h in ix.search("Sun Island")][:2] == [("islands", -1), ("islands", 0)]
    assert [(h.layer, h.fid) for h in ix.search("太阳岛")][0] == ("islands", -1)  # exact, order 1 before zones (illustrative)
    assert [(h.layer, h.fid) for h in ix.search("line")][-1] == ("lines", 1)  # illustrative last, after the title
    assert [(h.layer, h.fid) for h in ix.search("line")][-2] == ("lines", -1)
