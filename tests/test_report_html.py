"""The district report's HTML comes from autoescaped jinja2 templates: names from data never become markup."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from cityplan.report.district import (
    COVERAGE_COLUMNS,
    PROGRESS_COLUMNS,
    DistrictReport,
    SharedInputs,
    report_html,
)

EVIL = "<script>alert('x')</script>"
EVIL_ATTR = '"><img src=x onerror=alert(1)>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _report(tmp_path: Path) -> tuple[DistrictReport, SharedInputs, list[Path]]:
    district = pd.Series({"name": f"南岗区{EVIL}", "name_en": f"Nangang{EVIL_ATTR}", "adcode": "230103",
                         "pop_2020": 1_000_000, "extract_share": 0.5})
    progress = pd.DataFrame([{c: None for c in PROGRESS_COLUMNS} | {
        "task_id": "2.3.3", "title_zh": f"改造{EVIL}", "metric": "projects", "unit": "projects", "target": 224.0,
        "planned": 12345.678, "features": 3, "status": "on track", "adcode": "230103", "district": "x"}])
    coverage = pd.DataFrame([{c: np.nan for c in COVERAGE_COLUMNS} | {
        "preset": "park-service-radius", "title_en": EVIL, "method": "euclid", "within": "500m",
        "population": 5000.0, "area_share": 0.8123}])
    uncovered = pd.DataFrame([{"preset": "p", "name": f"{EVIL}小区", "osm_ref": EVIL_ATTR, "population_est": 10}])
    ill = pd.DataFrame([{"layer": "plan_x", "title_zh": EVIL, "title_en": "t", "features_in_district": 1,
                         "how": EVIL_ATTR}])
    sources = pd.DataFrame([{"layer": "parks", "title_en": "Parks", "source": EVIL, "licence": "ODbL-1.0",
                             "attribution": "© OpenStreetMap contributors", "illustrative": False}])
    rep = DistrictReport(district=district, progress=progress, coverage=coverage, uncovered=uncovered,
                         illustrative=ill, sources=sources)
    shared = SharedInputs(onemap=None, progress=progress, coverage={}, districts=None, catalog=sources,  # type: ignore[arg-type]
                          build_info={"built_at": EVIL, "data_dir": EVIL_ATTR})
    img = tmp_path / f"map_{EVIL_ATTR[:5]}.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n fake")
    return rep, shared, [img]


def test_names_from_data_are_escaped(tmp_path):
    rep, shared, images = _report(tmp_path)
    html = report_html(rep, shared, images, "district_map.html")
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    p = _Tags()
    p.feed(html)
    tags = [t for t, _ in p.tags]
    assert "script" not in tags
    # only the report's own images, links and tables: no tag came from the data
    assert set(tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "ul", "li", "p", "a", "h2", "table",
                         "tr", "th", "td", "img"}
    assert sum(t == "img" for t in tags) == len(images)
    alts = [a["alt"] for t, a in p.tags if t == "img"]
    assert alts == [images[0].stem]  # the attribute kept its full value, quote included
    text = "".join(p.text)
    assert f"南岗区{EVIL}" in text and f"{EVIL}小区" in text and EVIL_ATTR in text
    # numbers are formatted as before (thousands separators, 4 significant digits)
    assert "12,346" in text and "0.8123" in text
    assert "none" not in text.split("Uncovered compounds")[1].split("Illustrative")[0]


def test_no_uncovered_says_none(tmp_path):
    rep, shared, images = _report(tmp_path)
    rep.uncovered = rep.uncovered.iloc[0:0]
    html = report_html(rep, shared, [], "district_map.html")
    assert "<h2>Uncovered compounds 未覆盖小区</h2>\n<p>none</p>" in html
