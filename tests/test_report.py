"""District reports: every district builds; tables equal the CLI outputs; static maps are right."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod, Transformer

from cityplan.districts import district_names
from cityplan.errors import DistrictNotFoundError
from cityplan.onemap import OneMap
from cityplan.report import build_district_report, prepare_inputs
from cityplan.report.district import coverage_figure, district_tables, overview_figure, report_steps
from cityplan.report.headers import english, header
from cli_invoke import invoke

PRESETS = ["ice-30min", "park-service-radius"]
COV_COLS = ["population", "population_covered", "population_share", "residential_area_m2",
            "residential_area_covered_m2", "area_share"]


@pytest.fixture(scope="module")
def shared(onemap):
    return prepare_inputs(onemap, presets=PRESETS)


@pytest.fixture(scope="module")
def cli_tables(onemap, tmp_path_factory):
    def run(*args):
        r = invoke(*args, "--onemap", onemap)
        assert r.exit_code == 0, r.output
        return r.stdout
    prog = pd.read_csv(StringIO(run("progress", "--by", "district", "--format", "csv")), dtype={"task_id": str, "adcode": str})
    cov = {}
    for p in PRESETS:
        out = tmp_path_factory.mktemp(p)
        run("coverage", "--preset", p, "--out", str(out), "--no-map", "--overwrite")
        cov[p] = pd.read_csv(out / "per_district.csv", encoding="utf-8-sig", dtype={"adcode": str})
    return prog, cov


def test_every_district_builds_and_matches_cli(shared, cli_tables, onemap, tmp_path):
    prog_cli, cov_cli = cli_tables
    names = district_names(OneMap.coerce(onemap).layer("districts"))
    assert len(names) == 5
    for name in names:
        steps: list[str] = []
        rep = build_district_report(name, shared, tmp_path / name, progress=steps.append)
        assert len(steps) == report_steps(shared)  # the progress bar knows its length
        html = (tmp_path / name / "report.html").read_text(encoding="utf-8")
        assert "base64" not in html and len(html.encode()) < 5_000_000  # images linked, not embedded
        assert 'src="map_overview.png"' in html
        files = {f.name for f in rep.files}
        assert {"report.html", "report.xlsx", "map_overview.png", "maps.pdf", "district_map.html"} <= files
        assert {f"map_coverage_{p}.png" for p in PRESETS} <= files
        adcode = str(rep.district["adcode"])
        book = pd.read_excel(tmp_path / name / "report.xlsx", sheet_name=None,
                             dtype={header("task_id"): str, header("adcode"): str})
        assert set(book) == {"summary", "progress", "last_reports", "coverage", "uncovered", "illustrative", "sources"}
        # the sheets carry the HTML's bilingual headers (中文 / English); compared by data name below
        assert all(" / " in c for sheet in book.values() for c in sheet.columns)
        book = {k: english(v) for k, v in book.items()}
        # progress: the same rows as `cityplan progress --by district`
        mine = prog_cli[prog_cli.adcode == adcode].reset_index(drop=True)
        got = book["progress"]
        assert len(got) == len(mine) > 0
        for col in ("task_id", "metric", "status"):
            assert got[col].astype(str).tolist() == mine[col].astype(str).tolist()
        np.testing.assert_allclose(got.planned, mine.planned, rtol=1e-9)
        np.testing.assert_allclose(got.ratio, mine.ratio, rtol=1e-9)
        # coverage: the district's row of `cityplan coverage --preset P`
        for p in PRESETS:
            cov = book["coverage"]
            row = cov[(cov.preset == p) & (cov.method != "transit")]
            ref = cov_cli[p][cov_cli[p].adcode == adcode]
            assert len(row) == len(ref) == 3  # existing, planned, difference
            assert row.scenario.tolist() == ref.scenario.tolist() == ["existing", "planned", "difference"]
            np.testing.assert_allclose(row[COV_COLS].to_numpy(float), ref[COV_COLS].to_numpy(float), rtol=1e-9)
        # the 30-minute circle by transit, with and without the planned metro section, per district
        tr = book["coverage"][book["coverage"].method == "transit"]
        assert set(tr.preset) == {"ice-30min"} and set(tr.network) == {"full", "without 3-nw"}
        unc = book["uncovered"]
        assert set(unc.preset) <= set(PRESETS)
        html = (tmp_path / name / "report.html").read_text(encoding="utf-8")
        assert name in html and "OpenStreetMap" in html and "district_map.html" in html
        assert "src='http" not in html and 'src="http' not in html


def test_uncovered_compounds_named(shared):
    rep = district_tables("南岗区", shared)
    res = shared.coverage["ice-30min"].features
    n = int(((res.adcode.astype(str) == "230103") & ~res.covered).sum())
    assert (rep.uncovered.preset == "ice-30min").sum() == n > 0
    assert rep.uncovered.name.str.len().gt(0).all()
    assert (rep.illustrative.features_in_district >= 0).all() and len(rep.illustrative) >= 10


def test_static_map_has_legend_scalebar_north_arrow(shared, onemap):
    from cityplan.report.layout import ground_per_paper_cm

    d = OneMap.coerce(onemap).layer("districts").set_index("name").loc["南岗区"]
    d = pd.concat([d, pd.Series({"name": "南岗区"})])
    for fig in (overview_figure(shared, d), coverage_figure(shared, d, "ice-30min")):
        ax, block = fig.axes[0], fig.axes[1]
        # the legend sits in the title block, outside the data frame
        assert ax.get_legend() is None
        assert block.get_legend() is not None and len(block.get_legend().get_texts()) >= 3
        gids = {p.get_gid() for p in block.patches}
        assert {"scale_bar", "north_arrow"} <= gids
        scale = [t.get_text() for t in block.texts if t.get_gid() == "numeric_scale"]
        n = int(scale[0].split("1:")[1].replace(",", ""))
        assert ground_per_paper_cm(ax) == pytest.approx((n / 100, n / 100), rel=1e-9)
        assert any(t.get_gid() == "area_label" for t in ax.texts)  # sub-district names
        # the axes are in EPSG:4551 metres: 1 data unit is 1 ground metre (independent geodesic check)
        x0, x1 = ax.get_xlim()
        y0, _ = ax.get_ylim()
        to_ll = Transformer.from_crs(4551, 4326, always_xy=True)
        lon0, lat0 = to_ll.transform(x0, y0)
        lon1, lat1 = to_ll.transform(x0 + 2000, y0)
        metres = Geod(ellps="GRS80").inv(lon0, lat0, lon1, lat1)[2]
        assert metres == pytest.approx(2000, rel=2e-4)
        assert 5_000 < x1 - x0 < 50_000  # a district's width in metres, not degrees
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_unknown_district_lists_valid_names(onemap):
    with pytest.raises(DistrictNotFoundError, match=r"南岗区 / Nangang / 230103"):
        from cityplan.districts import resolve_district

        resolve_district("北京", OneMap.coerce(onemap).layer("districts"))
    r = invoke("report", "--district", "Beijing", "--onemap", onemap)
    assert r.exit_code == 2 and "道里区 / Daoli" in r.stderr and "Traceback" not in r.output
    for alias in ("南岗区", "南岗", "Nangang", "nangang", "230103"):
        from cityplan.districts import resolve_district

        assert resolve_district(alias, OneMap.coerce(onemap).layer("districts"))["adcode"] == "230103"


def test_static_maps_name_the_extract_edge_and_facility_layers(shared, onemap):
    import matplotlib.pyplot as plt

    d = OneMap.coerce(onemap).layer("districts").set_index("name").loc["南岗区"]
    d = pd.concat([d, pd.Series({"name": "南岗区"})])
    fig = coverage_figure(shared, d, "park-service-radius")
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    plt.close(fig)
    # 南岗区 is cut by the extract (extract_share < 1): the cut is labelled as the data's edge
    assert any("Extract edge" in t for t in texts) and any("District boundary" in t for t in texts)
    # facilities by their layer title (parks), never a generic black "Facilities"; the radius named by method
    assert any("Parks" in t for t in texts) and not any(t.endswith("Facilities") for t in texts)
    assert any("Straight-line radius 500m" in t for t in texts) and not any("Reachable" in t for t in texts)


def test_the_inputs_announce_their_steps(onemap):
    planned: list[int] = []
    done: list[str] = []
    prepare_inputs(onemap, presets=PRESETS, progress=done.append, plan=planned.append)
    assert planned == [len(done)]  # 1 progress + 2 presets + the 30-minute circle by transit
    assert done[0] == "progress" and done[-1] == "coverage ice-30min by transit"
