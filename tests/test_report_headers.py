"""The district report's tables read Chinese first: bilingual headers with units, every cell filled or explained."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from cityplan.progress.report import REPORT_COLUMNS
from cityplan.report.district import (
    COVERAGE_COLUMNS,
    PROGRESS_COLUMNS,
    DistrictReport,
    SharedInputs,
    report_html,
)
from cityplan.report.headers import (
    HEADERS,
    NUMBER_BLANK,
    english,
    explain_blanks,
    header,
    report_table,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
UNCOVERED = ["preset", "name", "osm_ref", "population_est", "nearest_facility", "distance_m", "time_min",
             "covered_share", "status"]


def test_every_report_column_has_a_bilingual_header():
    for col in {*PROGRESS_COLUMNS, *COVERAGE_COLUMNS, *REPORT_COLUMNS, *UNCOVERED}:
        h = header(col)
        zh, en = h.split(" / ", 1)
        assert CJK.search(zh) and en and "_" not in en, (col, h)
    assert header("population_covered") == "覆盖人口(估算) / Population covered (est.)"
    assert "(m²)" in header("residential_area_m2") and "(min)" in header("time_min")
    # one header per column: a sheet read back maps to the data names again
    assert len({header(c) for c in HEADERS}) == len(HEADERS)
    df = pd.DataFrame(columns=PROGRESS_COLUMNS)
    assert list(english(report_table(df)).columns) == PROGRESS_COLUMNS


def test_blank_cells_are_explained():
    df = pd.DataFrame({"status": ["in progress", None], "last_report": ["2023-11-30", ""],
                       "network": [None, "full"], "quota": [3.0, np.nan]})
    out = explain_blanks(df)
    assert out.status.tolist() == ["in progress", "未评估 not assessed"]
    assert out.last_report.tolist() == ["2023-11-30", "无上报 none yet"]
    assert out.network.iloc[0].startswith("不适用") and np.isnan(out.quota.iloc[1])  # numbers stay numbers


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.th, self.td, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        self._in = tag if tag in ("th", "td") else None
        if self._in:
            getattr(self, tag).append("")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            getattr(self, self._in)[-1] += data


def test_report_html_headers_bilingual_and_no_empty_cell():
    district = pd.Series({"name": "南岗区", "name_en": "Nangang", "adcode": "230103", "pop_2020": 1_000_000,
                          "extract_share": 0.5})
    progress = pd.DataFrame([{c: None for c in PROGRESS_COLUMNS} | {
        "task_id": "2.3.3", "title_zh": "改造", "metric": "projects", "unit": "projects", "target": 224.0,
        "quota": 70.0, "planned": 70.0, "features": 3, "status": "no report", "adcode": "230103", "district": "南岗区"}])
    coverage = pd.DataFrame([{c: np.nan for c in COVERAGE_COLUMNS} | {
        "preset": "park-service-radius", "scenario": "existing", "title_en": "Parks", "method": "euclid",
        "within": "500m", "population": 5000.0, "area_share": 0.8123}])
    uncovered = pd.DataFrame([{"preset": "p", "name": None, "osm_ref": None, "population_est": 10,
                               "nearest_facility": "parks way/1", "distance_m": 620.0, "time_min": np.nan,
                               "covered_share": 0.0, "status": "not covered"}])
    sources = pd.DataFrame([{"layer": "parks", "title_en": "Parks", "source": "OSM", "licence": "ODbL-1.0",
                             "attribution": "© OpenStreetMap contributors", "illustrative": False}])
    rep = DistrictReport(district=district, progress=progress, coverage=coverage, uncovered=uncovered,
                         illustrative=pd.DataFrame([{"layer": "plan_x", "title_zh": "示意", "title_en": "x",
                                                     "features_in_district": 1, "how": "rule"}]), sources=sources)
    shared = SharedInputs(onemap=None, progress=progress, coverage={}, districts=None, catalog=sources,  # type: ignore[arg-type]
                          build_info={"built_at": "t", "data_dir": "d"})
    html = report_html(rep, shared, [], "district_map.html")
    cells = _Cells()
    cells.feed(html)
    assert cells.th and all(CJK.search(t) and " / " in t for t in cells.th), cells.th
    assert not any(re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", t) for t in cells.th)  # no snake_case header left
    assert "状态 / Status" in cells.th and "人口覆盖率 / Population covered (share 0–1)" in cells.th
    assert all(t.strip() for t in cells.td)  # every cell filled ...
    assert NUMBER_BLANK in cells.td and "不适用或无数据" in html  # ... and the dash explained
    assert "无上报 none yet" in cells.td and "(未命名 unnamed)" in cells.td
