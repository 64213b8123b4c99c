"""Outputs speak the city's languages (``profile.yaml`` ``languages``): English only for a city made
abroad by ``city new`` (``[en]``), Chinese first with English beside it for Harbin (``[zh, en]``).

Unit tests of :mod:`cityplan.text`, then the presenters: the one map, the district map, the
coverage map and the district report (HTML and XLSX) of the synthetic São Paulo carry no CJK
text in layer titles, labels, legends or headers, while Harbin's keep ``名称 name``.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthetic_abroad as ab
from cityplan.maps.elements import UI_TEXTS, Chrome, CompactLayer, ui_texts
from cityplan.onemap import OneMap
from cityplan.report.headers import (
    HEADERS,
    english,
    explain_blanks,
    header,
    number_blank_note,
    report_table,
)
from cityplan.text import BOTH, bilingual, has_cjk, languages_of, localize, split_bilingual

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
SRC = Path(__file__).resolve().parents[1] / "src" / "cityplan"


# ------------------------------------------------------------------------------- the helpers
@pytest.mark.unit
@pytest.mark.parametrize(("langs", "expected"), [
    (("zh", "en"), "公园绿地 Parks"),
    (["zh", "en"], "公园绿地 Parks"),
    (("en",), "Parks"),
    ("en", "Parks"),
    (("zh",), "公园绿地"),
    (("en", "zh"), "Parks 公园绿地"),
    (None, "公园绿地 Parks"),
])
def test_bilingual_joins_the_profiles_languages_in_order(langs, expected):
    assert bilingual("公园绿地", "Parks", langs) == expected


@pytest.mark.unit
def test_bilingual_edge_cases():
    assert bilingual("", "Parks", ("zh", "en")) == "Parks"  # empty parts skipped, no stray space
    assert bilingual("公园", "", ("zh", "en")) == "公园"
    assert bilingual("Parks", "Parks", ("zh", "en")) == "Parks"  # equal parts given once
    assert bilingual("公园", "", ("en",)) == "公园"  # nothing in English: the Chinese rather than nothing
    assert bilingual("", "", ("en",)) == ""
    assert bilingual(None, np.nan, ("zh", "en")) == ""  # missing values are empty, never "None"/"nan"
    assert bilingual("南岗区", np.nan, ("en",)) == "南岗区"
    assert bilingual("状态", "Status", ("zh", "en"), sep=" / ") == "状态 / Status"
    assert bilingual("状态", "Status", ("en",), sep=" / ") == "Status"
    # a legacy string (English first) stays as it was for a bilingual city only
    assert bilingual("图例", "Legend", ("zh", "en"), legacy="Legend 图例") == "Legend 图例"
    assert bilingual("图例", "Legend", ("en", "zh"), legacy="Legend 图例") == "Legend 图例"
    assert bilingual("图例", "Legend", ("en",), legacy="Legend 图例") == "Legend"
    assert bilingual("图例", "Legend", ("zh",), legacy="Legend 图例") == "图例"


@pytest.mark.unit
@pytest.mark.parametrize(("text", "en", "zh"), [
    ("名称 name", "name", "名称"),
    ("现有设施 Existing facilities (real)", "Existing facilities (real)", "现有设施"),
    ("居住用地(小区) Residential land (compounds)", "Residential land (compounds)", "居住用地(小区)"),
    ("规划设施（示意） Planned facilities (illustrative)", "Planned facilities (illustrative)", "规划设施（示意）"),
    ("2020人口 population", "population", "2020人口"),
    ("2020人口 population 2020", "population 2020", "2020人口"),
    ("人口 2020 population", "2020 population", "人口"),  # a number between goes with the English
    ("未覆盖面积 gap (m²)", "gap (m²)", "未覆盖面积"),
    ("区县覆盖率 / District share", "District share", "区县覆盖率"),  # the separator is dropped
    ("哈尔滨 南岗区 Nangang district", "Nangang district", "哈尔滨 南岗区"),
    ("OSM编号 OSM ref", "OSM ref", "OSM编号"),
    ("(未命名 unnamed)", "(unnamed)", "(未命名)"),  # brackets around the whole string kept
    (" 示意 illustrative", " illustrative", " 示意"),  # surrounding white space kept
    ("覆盖率 Coverage park-service-radius", "Coverage park-service-radius", "覆盖率"),
])
def test_localize_splits_chinese_first_strings(text, en, zh):
    assert localize(text, ("en",)) == en
    assert localize(text, ["zh"]) == zh
    assert localize(text, ("zh", "en")) == text  # both: today's text, unchanged
    assert localize(text, ("en", "zh")) == text
    assert localize(text, None) == text


@pytest.mark.unit
@pytest.mark.parametrize("text", [
    "（示意）",  # CJK punctuation only, no Latin part
    "南岗区",  # no Latin part
    "Parque da Luz",  # no CJK
    "English name",
    "OSM",
    "Legend 图例",  # English first: not a "中文 English" string
    "",
    "2020",
])
def test_localize_leaves_other_strings_unchanged(text):
    assert localize(text, ("en",)) == text
    assert localize(text, ("zh",)) == text


@pytest.mark.unit
def test_docstring_examples():
    import doctest

    import cityplan.text

    res = doctest.testmod(cityplan.text)
    assert res.attempted >= 20 and res.failed == 0


@pytest.mark.unit
def test_split_bilingual_and_has_cjk():
    assert split_bilingual("名称 name") == ("名称", "name")
    assert split_bilingual("Legend 图例") is None and split_bilingual("Parks") is None
    assert split_bilingual("— 不适用 / n/a") == ("— 不适用", "n/a")
    assert has_cjk("（") and has_cjk("公园") and not has_cjk("São Paulo – Região Leste (m²)")


@pytest.mark.unit
def test_languages_of_reads_a_map_a_profile_or_a_list():
    from cityplan.profile import load_profile

    harbin = load_profile("harbin")
    assert languages_of(harbin) == ("zh", "en") == languages_of(harbin.settings)
    assert languages_of(None) == BOTH and languages_of(["en"]) == ("en",) and languages_of("en") == ("en",)


@pytest.mark.unit
@pytest.mark.parametrize("labels", [SRC / "cities" / "harbin" / "maps" / "labels.yaml",
                                    SRC / "city" / "template" / "maps" / "labels.yaml"])
def test_every_field_label_has_an_english_form(labels):
    from cityplan.schema.recipes import load_labels_document

    doc = load_labels_document(labels)
    assert doc["name"] == "名称 name"
    for key, text in doc.items():
        en, zh = localize(text, ("en",)), localize(text, ("zh",))
        assert not CJK.search(en) and en.strip(), (key, text, en)
        assert zh == text or CJK.search(zh), (key, text, zh)


@pytest.mark.unit
def test_report_headers_in_the_citys_languages():
    assert header("population_covered") == "覆盖人口(估算) / Population covered (est.)"  # Harbin unchanged
    assert header("population_covered", ("en",)) == "Population covered (est.)"
    assert header("population_covered", ("zh",)) == "覆盖人口(估算)"
    assert header("not_a_column", ("en",)) == "not_a_column"
    for c in HEADERS:
        assert not CJK.search(header(c, ("en",))), c
    # every display form names one column: a sheet of any form reads back to the data names
    forms = [header(c, langs) for langs in (("en",), ("zh",), BOTH) for c in HEADERS]
    assert len(set(forms)) == len(forms)
    df = pd.DataFrame(columns=["task_id", "title_zh", "title_en", "status", "population_share"])
    en = report_table(df, ("en",))
    assert list(en.columns) == ["Task no.", "Task (English)", "Status", "Population covered (share 0–1)"]
    assert list(english(en).columns) == ["task_id", "title_en", "status", "population_share"]  # no Chinese title
    assert list(english(report_table(df)).columns) == list(df.columns)
    out = explain_blanks(pd.DataFrame({"status": [None], "name": [""], "last_report": [None]}), ("en",))
    assert out.iloc[0].tolist() == ["not assessed", "(unnamed)", "none yet"]
    assert explain_blanks(pd.DataFrame({"status": [None]})).status.iloc[0] == "未评估 not assessed"
    assert number_blank_note(("en",)).startswith("— not applicable or no data (")
    assert number_blank_note().startswith("— 不适用或无数据 / not applicable")


@pytest.mark.unit
def test_map_chrome_texts():
    assert ui_texts(("zh", "en")) == {} == ui_texts(None)  # bilingual maps keep the script's texts
    en = ui_texts(("en",))
    assert en["legend"] == "Legend" and en["search"] == "Search…" and en["illustrative_tag"] == " illustrative"
    assert not any(CJK.search(v) for v in en.values())
    assert all(CJK.search(v) for v in ui_texts(("zh",)).values())
    # every key is one cityplan.js looks up, and every text it looks up has a key
    js = (SRC / "maps" / "static" / "cityplan.js").read_text(encoding="utf-8")
    assert set(re.findall(r'\btr\("(\w+)"', js)) == set(UI_TEXTS)


# ------------------------------------------------------------------------------- presenters
@pytest.fixture(scope="module")
def abroad(tmp_path_factory: pytest.TempPathFactory) -> OneMap:
    """The synthetic São Paulo, made by ``city new`` (``languages: [en]``) and built."""
    from cityplan.build import build_onemap
    from cityplan.city import new_city

    tmp = tmp_path_factory.mktemp("languages")
    src = ab.write_city(tmp / "src")
    folder = new_city("São Paulo (synthetic)", osm=src.osm, districts=src.districts, census=src.census,
                      out=tmp / "sao-paulo", country="BR")
    built = build_onemap(city=folder, data=folder, out=tmp / "sao-paulo.gpkg")
    om = OneMap.open(built.path)
    assert om.profile.settings.languages == ("en",)
    return om


def _parts(res) -> tuple[list[dict], dict]:
    """The layer payloads and the chrome options of a composed map."""
    kids = list(res.map._children.values())
    layers = [json.loads(k.data) for k in kids if isinstance(k, CompactLayer)]
    chrome = next(json.loads(k.data) for k in kids if isinstance(k, Chrome))
    return layers, chrome


def _texts(layers: list[dict], chrome: dict, *, notes: bool = True) -> list[str]:
    """Every title, label, group, legend and panel text a reader sees (data values aside; the
    panel notes too unless ``notes`` is false)."""
    out = [chrome["title"], *(g["title"] for g in chrome["groups"]), *chrome.get("texts", {}).values()]
    for x in chrome["extraLegend"]:
        out += [x["title"], *(s[0] for s in x["stops"])]
    panel = chrome.get("panel") or {}
    out += [panel.get("title", ""), panel.get("subtitle", ""), *(panel.get("notes", []) if notes else [])]
    out += [s["title"] for s in panel.get("sections", [])]
    for p in layers:
        out += [p["title"], *p["labels"]]
    return [t for t in out if t]


def _page_without_script(html: str) -> str:
    """The page less the inlined cityplan.js (its bilingual defaults are replaced at run time)."""
    return re.sub(r"<script>/\* cityplan\.js.*?</script>", "", html, flags=re.S)


def test_abroad_onemap_map_is_english_only(abroad):
    from cityplan.maps import onemap_map

    res = onemap_map(abroad, offline=False)
    layers, chrome = _parts(res)
    texts = _texts(layers, chrome)
    assert not [t for t in texts if CJK.search(t)], [t for t in texts if CJK.search(t)]
    titles = {p["id"]: p["title"] for p in layers}
    assert titles["residential"] == "Residential land (compounds)"
    assert titles["parks"] == "Parks and green space (green line)"
    assert chrome["title"] == "Development-and-protection one map"
    assert [g["title"] for g in chrome["groups"]][:2] == ["Base", "Plan tasks"]
    labels = {f: lab for p in layers for f, lab in zip(p["fields"], p["labels"], strict=True)}
    assert labels["name"] == "name" and labels["adcode"] == "adcode" and labels["pop_2020"] == "population 2020"
    assert chrome["texts"]["legend"] == "Legend"
    assert not CJK.search(_page_without_script(res.html()))


def test_abroad_district_and_coverage_maps_are_english_only(abroad):
    from cityplan.coverage import run_coverage
    from cityplan.maps import district_map
    from cityplan.maps.coverage_map import coverage_map

    cov = run_coverage(abroad, preset="park-service-radius")
    res = district_map("Região Leste", abroad, coverage=cov)
    layers, chrome = _parts(res)
    texts = _texts(layers, chrome)
    assert not [t for t in texts if CJK.search(t)], [t for t in texts if CJK.search(t)]
    assert chrome["title"] == "Região Leste"  # the name once, not "Região Leste Região Leste"
    # the legend names the scenario it colours (issue #23: the existing one, real facilities only)
    assert "Residential land covered (park-service-radius, existing)" in [x["title"] for x in chrome["extraLegend"]]
    assert ["no data", "#d9d9d9"] in chrome["extraLegend"][-1]["stops"]
    assert not CJK.search(_page_without_script(res.html()))
    layers, chrome = _parts(coverage_map(cov, abroad))
    # the panel notes cite the preset's standard as its profile words it (coverage_presets.yaml)
    texts = _texts(layers, chrome, notes=False)
    assert not [t for t in texts if CJK.search(t)], [t for t in texts if CJK.search(t)]
    titles = {p["id"]: p["title"] for p in layers}
    assert titles["coverage_facilities"] == "Existing facilities (real)"
    assert titles["coverage_isochrone"].startswith("Straight-line radius 500m (not a route)")
    assert chrome["panel"]["title"] == "Coverage: park-service-radius"


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, list[str]] = {"th": [], "h1": [], "h2": [], "a": []}
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self._in = tag if tag in self.cells else None
        if self._in:
            self.cells[tag].append("")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            self.cells[self._in][-1] += data


def test_abroad_district_report_is_english_only(abroad, tmp_path):
    from cityplan.report import build_district_report, prepare_inputs

    shared = prepare_inputs(abroad, presets=["park-service-radius"])
    assert shared.languages == ("en",)
    build_district_report("Região Leste", shared, tmp_path, maps=False)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    p = _Cells()
    p.feed(html)
    assert p.cells["th"] and not [t for t in p.cells["th"] if CJK.search(t)]
    assert "Population covered (share 0–1)" in p.cells["th"] and "Status" in p.cells["th"]
    assert p.cells["h1"] == ["Região Leste — district report"]
    assert "Progress of the report's targets" in p.cells["h2"] and "Coverage" in p.cells["h2"]
    assert p.cells["a"] == ["Interactive district map"]
    assert '<html lang="en">' in html
    assert not CJK.search(html), CJK.findall(html)
    book = pd.read_excel(tmp_path / "report.xlsx", sheet_name=None)
    for name, sheet in book.items():
        assert not [c for c in sheet.columns if CJK.search(str(c))], (name, list(sheet.columns))
    assert "Population covered (share 0–1)" in book["coverage"].columns
    assert "population_share" in english(book["coverage"]).columns


# ------------------------------------------------------------------------------- Harbin unchanged
def test_harbin_maps_stay_bilingual(onemap):
    from cityplan.maps import onemap_map

    om = OneMap.coerce(onemap)
    assert om.profile.settings.languages == ("zh", "en")
    layers, chrome = _parts(onemap_map(om, offline=False))
    titles = {p["id"]: p["title"] for p in layers}
    assert titles["residential"] == "居住用地(小区) Residential land (compounds)"
    labels = {f: lab for p in layers for f, lab in zip(p["fields"], p["labels"], strict=True)}
    assert labels["name"] == "名称 name" and labels["pop_2020"] == "2020人口 population"
    assert chrome["title"] == "哈尔滨开发保护一张图 Harbin development-and-protection one map"
    assert [g["title"] for g in chrome["groups"]][:2] == ["基础 Base", "规划任务 Plan tasks"]
    assert "texts" not in chrome  # the script's bilingual texts, as before


def test_harbin_district_report_stays_bilingual(onemap, tmp_path):
    from cityplan.report import build_district_report, prepare_inputs

    shared = prepare_inputs(onemap, presets=["park-service-radius"])
    build_district_report("南岗区", shared, tmp_path, maps=False, formats=("html",))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    p = _Cells()
    p.feed(html)
    assert "状态 / Status" in p.cells["th"] and "人口覆盖率 / Population covered (share 0–1)" in p.cells["th"]
    assert p.cells["h1"] == ["南岗区 Nangang — district report 区县报告"]
    assert "Progress of the report's targets 任务进度" in p.cells["h2"] and "Coverage 服务覆盖" in p.cells["h2"]
    assert '<html lang="zh">' in html and "— 不适用或无数据 / not applicable or no data" in html


@pytest.mark.browser
def test_abroad_map_chrome_in_the_browser(abroad, tmp_path):
    """cityplan.js shows the chrome's texts it is given: no Chinese on an English-only city's map."""
    from tests.browser import launch, open_offline

    from cityplan.maps import onemap_map, save_map

    html = save_map(onemap_map(abroad, basemap="none", offline=True), tmp_path / "m.html")
    with launch() as b, open_offline(b, html) as (page, log):
        page.wait_for_function("window.cityplan && window.cityplan.ready === true", timeout=60_000)
        legend = page.locator(".cp-legend").inner_text()
        assert legend.startswith("Legend") and "Parks and green space" in legend
        assert page.locator(".cp-search input").get_attribute("placeholder") == "Search…"
        assert page.locator(".cp-fullscreen a").get_attribute("title") == "Fullscreen"
        shown = page.locator(".folium-map").inner_text()
        titles = page.evaluate("[...document.querySelectorAll('[title],[placeholder]')]"
                               ".map(e => (e.title || '') + (e.placeholder || '')).join(' ')")
        assert not CJK.search(shown) and not CJK.search(titles), (shown, titles)
        assert log.errors == [] and page.evaluate("cityplan.errors") == []
