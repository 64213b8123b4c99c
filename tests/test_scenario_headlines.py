"""Every figure names its scenario and basis (issue #23, parts 4 and 5).

The headline of every surface is the **existing** scenario (real facilities only), labelled, with
the planned scenario beside it and how much of it is illustrative; one definition of a covered
compound, one list of uncovered compounds (the report and the dashboard count the same); a
standard is shown with the coverage figure that checks it; quotas cityplan derived are marked.

Harbin's ice-30min: existing population share 0.0828 city-wide (南岗 0.1407), planned 0.2627
(南岗 0.3284), the planned set adding 18 plan sites, all illustrative.
"""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from cityplan.coverage import run_coverage
from cityplan.coverage.run import COMPOUND_COLUMNS, uncovered_compounds
from cityplan.onemap import OneMap
from cli_invoke import invoke

NANGANG = "230103"
EXISTING = "现有 existing (real facilities only)"
PLANNED = "规划 planned (existing + plan sites)"
BASIS = "18 plan sites, 18 of them illustrative"
DERIVED = "derived (assumption) 推算(假设)"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture(scope="module")
def ice(onemap):
    return run_coverage(onemap, preset="ice-30min")


@pytest.fixture(scope="module")
def shared(onemap):
    from cityplan.report import prepare_inputs

    return prepare_inputs(onemap, presets=["ice-30min"])


def _nangang(onemap) -> pd.Series:
    d = OneMap.coerce(onemap).layer("districts").set_index("name").loc["南岗区"]
    return pd.concat([d, pd.Series({"name": "南岗区"})])


# ------------------------------------------------------------------------------- the result
def test_the_headline_is_existing_and_planned_is_kept(ice):
    assert ice.scenario == "existing" and ice.params["primary_scenario"] == "existing"
    tot = ice.districts.set_index("district")
    assert tot.loc["(all)", "population_share"] == pytest.approx(0.0828, abs=5e-5)
    assert tot.loc["南岗区", "population_share"] == pytest.approx(0.1407, abs=5e-5)
    # the planned rows are unchanged and still there
    assert ice.share("planned") == pytest.approx(0.2627, abs=5e-5)
    assert ice.share("planned", NANGANG) == pytest.approx(0.3284, abs=5e-5)
    assert ice.share("existing", NANGANG) == pytest.approx(0.1407, abs=5e-5)
    text = ice.headline_text(NANGANG)
    assert text.startswith(f"{EXISTING} 14.1 %") and f"{PLANNED} 32.8 %" in text and BASIS in text


# ------------------------------------------------------------------------------- CLI
def test_coverage_cli_prints_existing_first_labelled(onemap, tmp_path):
    r = invoke("coverage", "--preset", "ice-30min", "--onemap", onemap, "--out", tmp_path / "c", "--no-map")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"headline: {EXISTING}: population share city-wide 0.0828 (4 real facilities)"
    assert lines[1].startswith(f"beside it: {PLANNED}: population share city-wide 0.2627") and BASIS in lines[1]
    # the table's rows say their scenario (folded at this width), existing first
    body = r.stdout[r.stdout.index("┃"):]
    assert body.index("现有") < body.index("规划") < body.index("差值")


def test_main_job_tables_name_the_scenario_and_the_standard(onemap, ice):
    from cityplan.cli.run import coverage_view
    from cityplan.progress import compute_progress
    from cityplan.progress.report import attach_standards

    view, title = coverage_view(ice, "ice-30min")
    assert f"headline {EXISTING}" in title and PLANNED in title and BASIS in title
    v = view.set_index("district")
    assert list(v.columns[:2]) == ["existing pop. share", "existing area share"]
    assert v.loc["(all)", "existing pop. share"] == pytest.approx(0.0828, abs=5e-5)
    assert v.loc["南岗区", "existing pop. share"] == pytest.approx(0.1407, abs=5e-5)
    assert v.loc["(all)", "planned pop. share"] == pytest.approx(0.2627, abs=5e-5)
    # what `cityplan run` prints of progress: 5.6.2's 30 minutes is a standard with its figure
    t = attach_standards(compute_progress(onemap).table, {"ice-30min": ice})
    row = t[(t.task_id == "5.6.2") & (t.metric == "fitness_circle_time")].iloc[0]
    assert row.status.startswith("standard 标准") and np.isnan(row.achieved) and np.isnan(row.ratio)
    assert "ice-30min" in row.checked_by and f"{EXISTING} 8.3 %" in row.checked_by and BASIS in row.checked_by


def test_progress_cli_standard_and_derived_quotas(onemap, tmp_path):
    r = invoke("progress", "--onemap", onemap, "--by", "district", "--format", "csv")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(StringIO(r.stdout), dtype={"task_id": str, "adcode": str})
    std = df[(df.task_id == "5.6.2") & (df.metric == "fitness_circle_time")]
    assert len(std) == 1 and std.achieved.isna().all() and std.ratio.isna().all()
    assert std.status.iloc[0].startswith("standard 标准")
    assert f"{EXISTING} 8.3 %" in std.checked_by.iloc[0] and "ice-30min" in std.checked_by.iloc[0]
    # Harbin's quotas.yaml is cityplan's split (rules sites / population): every quota says so
    quota = df[df.quota.notna()]
    assert len(quota) > 20 and (quota.quota_basis == DERIVED).all()
    assert df[df.quota.isna()].quota_basis.fillna("").eq("").all()
    out = tmp_path / "p.xlsx"
    assert invoke("progress", "--onemap", onemap, "--format", "xlsx", "--out", out).exit_code == 0
    book = pd.read_excel(out, sheet_name="table", dtype={"task_id": str})
    assert (book[book.quota.notna()].quota_basis == DERIVED).all()
    assert book[book.metric == "fitness_circle_time"].checked_by.str.contains(EXISTING, regex=False).all()


# ------------------------------------------------------------------------------- maps
def _parts(res) -> tuple[list[dict], dict]:
    from cityplan.maps.elements import Chrome, CompactLayer

    kids = list(res.map._children.values())
    layers = [json.loads(k.data) for k in kids if isinstance(k, CompactLayer)]
    chrome = next(json.loads(k.data) for k in kids if isinstance(k, Chrome))
    return layers, chrome


def test_coverage_map_panel_shows_existing_labelled(onemap, ice):
    from cityplan.maps.coverage_map import coverage_map

    m = coverage_map(ice, onemap)
    layers, chrome = _parts(m)
    panel = chrome["panel"]
    assert f"{EXISTING} 8.3 %" in panel["subtitle"] and f"{PLANNED} 26.3 %" in panel["subtitle"]
    assert BASIS in panel["subtitle"]
    sec = panel["sections"][0]
    assert sec["columns"][1] == "现有 existing: population share"
    rows = {r[0]: r for r in sec["rows"]}
    assert rows["(all)"][1] == pytest.approx(0.0828, abs=5e-5) and rows["南岗区"][1] == pytest.approx(0.1407, abs=5e-5)
    assert rows["南岗区"][3] == pytest.approx(0.3284, abs=5e-5)  # planned beside it
    titles = {p["id"]: p["title"] for p in layers}
    assert titles["coverage_districts"].endswith(EXISTING) and titles["coverage_gaps"].endswith(EXISTING)
    assert f"{EXISTING} 8.3 %" in m.html()


def test_district_map_choropleth_names_the_scenario(onemap, ice):
    from cityplan.maps import district_map

    layers, chrome = _parts(district_map("南岗区", onemap, coverage=ice))
    titles = {p["id"]: p["title"] for p in layers}
    assert titles["coverage_subdistricts"] == f"覆盖率 Coverage ice-30min · {EXISTING}"
    assert any("ice-30min" in x["title"] and EXISTING in x["title"] for x in chrome["extraLegend"])
    note = next(n for n in chrome["panel"]["notes"] if n.startswith("coverage ice-30min"))
    assert f"{EXISTING} 14.1 %" in note and f"{PLANNED} 32.8 %" in note
    # district quotas are marked as cityplan's derived split
    sec = chrome["panel"]["sections"][0]
    i = sec["columns"].index("quota basis")
    assert sec["rows"] and all(r[i] == DERIVED for r in sec["rows"] if r[2] is not None)


def test_task_map_panel_standard_and_derived_quota(onemap):
    from cityplan.maps import task_map

    _, chrome = _parts(task_map("5.6.2", onemap))
    targets, per = chrome["panel"]["sections"]
    std = next(r for r in targets["rows"] if r[0] == "fitness_circle_time")
    assert std[5] is None and std[6] is None  # achieved, achieved / target: no "0, 0"
    assert std[7].startswith("standard 标准") and f"{EXISTING} 8.3 %" in std[7]
    i = per["columns"].index("quota basis")
    assert per["rows"] and all(r[i] == DERIVED for r in per["rows"])


# ------------------------------------------------------------------------------- report
def test_print_title_names_the_scenario(shared, onemap):
    import matplotlib.pyplot as plt

    from cityplan.report.district import coverage_figure, coverage_title

    d = _nangang(onemap)
    title, subtitle, note = coverage_title(shared, d, "ice-30min")
    assert title.startswith("南岗区 ")
    assert subtitle == f"walk 30min · {EXISTING}: 用地 land 12%, 人口 population 14% 覆盖 covered"
    assert note.startswith(PLANNED) and "用地 land 31%, 人口 population 33%" in note and BASIS in note
    fig = coverage_figure(shared, d, "ice-30min")
    block = fig.axes[1]
    texts = {t.get_gid(): t.get_text() for t in block.texts if t.get_gid()}
    assert EXISTING in texts["subtitle"].replace("\n", " ") or "现有 existing" in texts["subtitle"]
    assert "31%" in texts["sources"] and "规划 planned" in texts["sources"]
    legend = [t.get_text().replace("\n", " ") for t in block.get_legend().get_texts()]
    assert any("(现有)" in t and "(existing)" in t for t in legend)  # the reach and the gaps are existing's
    plt.close(fig)


def test_report_tables_label_scenarios_and_quotas(shared, tmp_path):
    from cityplan.report import build_district_report
    from cityplan.report.headers import english, header

    rep = build_district_report("南岗区", shared, tmp_path / "r", maps=False)
    cov = rep.coverage[rep.coverage.method != "transit"]
    assert cov.scenario.tolist() == ["existing", "planned", "difference"]
    assert cov.note.iloc[0].startswith(f"headline: {EXISTING}") and BASIS in cov.note.iloc[1]
    assert (rep.progress[rep.progress.quota.notna()].quota_basis == DERIVED).all()
    book = pd.read_excel(tmp_path / "r" / "report.xlsx", sheet_name=None)
    shown = book["coverage"][header("scenario")].tolist()
    assert shown[:3] == [EXISTING, PLANNED, "差值 difference (planned − existing)"]
    assert english(book["coverage"]).scenario.tolist()[:3] == ["existing", "planned", "difference"]
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert f"ice-30min: 人口覆盖率 population share {EXISTING} 14.1 %" in html
    assert "标准 Standard 5.6.2 fitness_circle_time 30 min" in html
    assert "covered = the compound&#39;s representative point (its entrance)" in html


def test_one_list_of_uncovered_compounds(shared, ice):
    from cityplan.report.district import district_tables
    from cityplan.report.headers import header, report_table

    rep = district_tables("南岗区", shared)
    unc = rep.uncovered[rep.uncovered.preset == "ice-30min"]
    f = ice.features
    n = int(((f.adcode.astype(str) == NANGANG) & ~f.covered).sum())
    assert len(unc) == n == len(uncovered_compounds(ice, NANGANG)) > 0
    assert set(unc.scenario) == {"existing"} and not unc.covered.any()
    # the area figure is never called "covered": the list has no covered share to contradict `covered`
    assert "covered_share" not in unc.columns and set(COMPOUND_COLUMNS) - {"adcode", "district"} <= set(unc.columns)
    shown = report_table(unc)
    assert "覆盖比例 / Covered share (0–1)" not in shown.columns
    assert header("land_in_service_area") in shown.columns
    # "none reachable": no facility within the search, so no distance or time either
    none = unc.nearest_facility.isna()
    assert none.any() and unc.loc[none, ["distance_m", "time_min"]].isna().all().all()
    assert unc.loc[~none, "distance_m"].notna().all()
    assert (shown.loc[none.to_numpy(), header("nearest_facility")] ==
            "3倍时限内无可达设施 none reachable within 3× the limit").all()


def test_title_block_speaks_the_citys_languages():
    import matplotlib.pyplot as plt
    import shapely
    from geopandas import GeoDataFrame
    from pyproj import CRS

    from cityplan.report import static
    from cityplan.report.layout import label_text

    def block(languages):
        fig, ax = static.new_map("Título", crs=CRS.from_epsg(4551), page=static.PageSpec(dpi=50))
        ax.cityplan_page.languages = languages
        gdf = GeoDataFrame(geometry=[shapely.box(500000, 5000000, 501000, 5001000)], crs=4551)
        h = static.plot_layer(ax, gdf, {"color": "#000000", "label": "Sites"}, illustrative=True,
                              source={"layer": "x", "licence": "L", "attribution": "A", "redistribute": False})
        static.finish(ax, [h])
        blk = fig.axes[1]
        texts = [t.get_text() for t in blk.texts] + [blk.get_legend().get_title().get_text()]
        plt.close(fig)
        return " ".join(texts)

    en = block(("en",))
    assert not CJK.search(en), CJK.findall(en)
    assert "Scale 1:" in en and "CRS: EPSG:4551" in en and "Date:" in en and "Legend" in en
    assert "Sources and licences:" in en and "not for redistribution" in en and "Illustrative:" in en
    both = block(("zh", "en"))  # Harbin: as printed so far
    for text in ("比例尺 Scale 1:", "坐标系 CRS:", "日期 Date:", "图例 Legend", "数据来源与许可 Sources and licences:",
                 "示意 Illustrative: features marked 示意", "不得再分发 not for redistribution", "N 北"):
        assert text in both, text
    assert label_text("主要道路", "Major roads", ("en",)) == "Major roads"
    assert label_text("主要道路", "Major roads", ("zh", "en")) == "主要道路 Major roads"


# ------------------------------------------------------------------------------- dashboard
class _Rows(HTMLParser):
    """Cells of the table with ``id`` (rows as lists of texts), and every text of the page."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.id, self.inside, self.rows, self.text = table_id, False, [], []
        self._cell: list[str] | None = None
        self._code: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.inside = a.get("id") == self.id
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self._cell = []
            if a.get("data-column") or a.get("data-code"):  # a header's column, a cell's code (the text is 中文 English)
                self._code = a.get("data-column") or a["data-code"]
        elif self._cell is not None and a.get("data-code"):  # a coded value shown as words
            self._code = a["data-code"]

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._code or "".join(self._cell).strip())
            self._cell, self._code = None, None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _table(html: str, table_id: str) -> tuple[list[list[str]], str]:
    p = _Rows(table_id)
    p.feed(html)
    return p.rows, " ".join(p.text)


@pytest.fixture(scope="module")
def served(onemap, tmp_path_factory):
    from server_process import serve_copy

    s = serve_copy(onemap, tmp_path_factory.mktemp("serve-headlines"))
    yield s
    s.stop()


def test_dashboard_headline_uncovered_count_and_standards(served, shared, ice):
    from cityplan.report.district import district_tables
    from server_process import login

    c = login(served.url, "nangang")
    t0 = time.monotonic()
    while True:  # the coverage of every preset is computed in the background
        html = c.get(f"/districts/{NANGANG}").text
        rows, text = _table(html, "cp-coverage")
        done = {r[0]: r for r in rows[1:] if len(r) > 2}
        if "ice-30min" in done:
            break
        assert time.monotonic() - t0 < 600, "coverage not computed in 10 minutes"
        time.sleep(2)
    head = rows[0]
    assert head[1] == "population_share" and head[3] == "planned_population_share" and head[5] == "uncovered"
    assert EXISTING in text and PLANNED in text
    r = done["ice-30min"]
    assert float(r[1]) == pytest.approx(0.1407, abs=5e-5) and float(r[3]) == pytest.approx(0.3284, abs=5e-5)
    assert BASIS in r[4]
    # the dashboard counts uncovered compounds exactly as the district report lists them
    rep = district_tables("南岗区", shared)
    assert int(r[5]) == int((rep.uncovered.preset == "ice-30min").sum()) == len(uncovered_compounds(ice, NANGANG))
    assert "covered = the compound's representative point (its entrance)" in text
    std, _ = _table(html, "cp-standards")
    s = next(x for x in std if x[0].startswith("5.6.2"))
    assert s[1] == "fitness_circle_time" and s[2] == "30 min" and f"{EXISTING} 14.1 %" in s[3]
    prog, _ = _table(html, "cp-progress")
    i = prog[0].index("quota_basis")
    assert all(x[i] == DERIVED for x in prog[1:] if x[prog[0].index("quota")])
    # the task list: the 30 minutes are a standard with the city's figure, not "achieved 0"
    rows, _ = _table(c.get("/tasks").text, "cp-tasks")
    cols = rows[0]
    std = next(x for x in rows[1:] if x[0] == "5.6.2" and x[cols.index("metric")] == "fitness_circle_time")
    assert std[cols.index("achieved")] == "" and std[cols.index("ratio")] == ""
    assert std[cols.index("status")].startswith("标准, 由覆盖分析核验") and f"{EXISTING} 8.3 %" in std[cols.index("checked_by")]
