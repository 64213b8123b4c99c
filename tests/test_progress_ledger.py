"""Progress ledger: examples imported, progress as of two dates, bad rows, idempotence, concurrency.

Runs on a copy of the session's GeoPackage one map and on the same map built into PostGIS.
Expected totals are computed here from the example workbooks with openpyxl (not with the
importer), and the key counts are also written out as literals.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from cityplan.onemap import OneMap
from cityplan.progress import load_context
from cityplan.progress.events import EVENTS_TABLE
from cityplan.progress.examples import example_files, import_examples
from cityplan.progress.history import task_history
from cityplan.progress.template import HEADERS, INFO_SHEET, KEYS, REPORT_SHEET, write_template
from cli_invoke import run
from conftest import HARBIN, HARBIN_DIR

EXAMPLES = HARBIN_DIR / "examples" / "progress"


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def location(request, onemap, tmp_path_factory) -> str:
    """A one map with an empty ledger: a copy of the session GeoPackage, or of its PostGIS build."""
    if request.param == "gpkg":
        p = tmp_path_factory.mktemp("ledger") / "harbin.gpkg"
        shutil.copy(onemap, p)
        return str(p)
    from pg_fixtures import copy_database

    return copy_database(request.getfixturevalue("pg_server"), request.getfixturevalue("pg_harbin_url"), "ledger")


def _count(location: str) -> int:
    return len(OneMap.open(location).store.table_or_empty(EVENTS_TABLE))


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI in-process (the concurrent-imports test starts real processes)."""
    return run(*args)


def _workbook_rows(name: str) -> pd.DataFrame:
    ws = load_workbook(EXAMPLES / name)[REPORT_SHEET]
    rows = list(ws.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=KEYS)


def _expected(as_of: str) -> dict:
    """Achieved totals by hand: latest row per site, with the rules of docs/progress.md."""
    files = [f for f in sorted(EXAMPLES.glob("*.xlsx")) if f.stem[-7:].replace("-", "") <= as_of[:7].replace("-", "")]
    rows = pd.concat([_workbook_rows(f.name).assign(file=f.stem) for f in files], ignore_index=True)
    rows = rows[rows.as_of.notna()]
    rows = rows[pd.to_datetime(rows.as_of) <= pd.Timestamp(as_of)].sort_values("as_of", kind="stable")
    sites = rows[rows.kind == "site"].drop_duplicates("site_id", keep="last")
    done = sites[sites.status == "completed"]
    out = {}
    for prefix, metric in (("plan_renovation", "projects"), ("plan_parking", "parking_spaces"),
                           ("plan_schools", "school_seats")):
        sub = sites[sites.site_id.str.startswith(prefix)]
        if metric == "projects":
            out[metric] = int((sub.status == "completed").sum())
            qty = np.where(sub.achieved.notna(), sub.achieved.astype(float),
                           np.where(sub.status == "completed", sub.planned.astype(float), 0.0))
            out["floor_area"] = float(qty.sum())
        else:
            d = done[done.site_id.str.startswith(prefix)]
            out[metric] = float(np.where(d.achieved.notna(), d.achieved.astype(float), d.planned.astype(float)).sum())
    figs = rows[rows.kind == "target"].drop_duplicates(["adcode", "metric"], keep="last")
    for m in ("new_urban_jobs", "culture_sports_events", "cultural_training_events"):
        out[m] = float(figs[figs.metric == m].achieved.astype(float).sum())
    return out


def test_examples_progress_as_of_two_dates(location):
    res = import_examples(location)
    assert [r.recorded for r in res] == [19, 27, 34, 25] or [r.recorded for r in res] == [0, 0, 0, 0]
    n = _count(location)
    assert n == 105
    # re-import: nothing new
    assert [r.recorded for r in import_examples(location)] == [0, 0, 0, 0]
    assert _count(location) == n
    ctx = load_context(location)
    for day, literal in (("2023-07-31", {"projects": 18, "parking_spaces": 800, "new_urban_jobs": 16000,
                                         "school_seats": 0, "culture_sports_events": 200}),
                         ("2023-12-31", {"projects": 35, "parking_spaces": 1300, "new_urban_jobs": 38500,
                                         "school_seats": 2000, "culture_sports_events": 880,
                                         "cultural_training_events": 60})):
        t = ctx.table(as_of=day, by="district")
        city = t[t.district == "(all)"].set_index("metric")
        exp = _expected(day)
        for m, v in literal.items():
            assert city.loc[m, "achieved"] == v, (day, m)
        for m, v in exp.items():
            assert city.loc[m, "achieved"] == pytest.approx(v), (day, m)
        # district rows sum to the city row
        parts = t[t.district != "(all)"].groupby(["task_id", "metric"])[["achieved", "planned"]].sum()
        tot = t[t.district == "(all)"].set_index(["task_id", "metric"])[["achieved", "planned"]]
        joined = tot.join(parts.add_suffix("_d"), how="left").fillna(0)
        np.testing.assert_allclose(joined.achieved, joined.achieved_d)
        np.testing.assert_allclose(joined.planned, joined.planned_d)
        # non-spatial targets appear, with district quotas and ratios against them
        jobs = t[(t.metric == "new_urban_jobs") & (t.district == "南岗区")].iloc[0]
        assert jobs.quota == 23883
        assert jobs.ratio == pytest.approx(jobs.achieved / 23883)
        assert city.loc["new_urban_jobs", "ratio"] == pytest.approx(city.loc["new_urban_jobs", "achieved"] / 83000)
    t = ctx.table(as_of="2023-12-31", by="district", stale_days=90)
    # the 7 metro stations were last reported under construction on 2023-06-30: overdue
    assert t[(t.task_id == "2.4.3") & (t.metric == "stations") & (t.district == "(all)")].sites_overdue.iloc[0] == 7
    assert ctx.table(as_of="2023-06-29").achieved.sum() == 0
    h = task_history(ctx, "2.3.3", district="南岗", until="2023-12-31")
    proj = h[h.metric == "projects"]
    assert proj.date.tolist() == ["2023-01-01", "2023-06-30", "2023-11-30"]
    assert proj.achieved.tolist() == [0, 10, 19]


def test_progress_cli_as_of(location, tmp_path):
    import_examples(location)
    r = _cli("progress", "--onemap", location, "--by", "district", "--as-of", "2023-12-31", "--format", "json")
    assert r.returncode == 0, r.stderr
    df = pd.read_json(StringIO(r.stdout), dtype={"task_id": str, "adcode": str})
    row = df[(df.task_id == "2.5.2") & (df.district == "(all)")].iloc[0]
    assert (row.achieved, row.planned, row.planned_illustrative, row.target) == (1300, 5000, 5000, 5000)
    assert {"quota", "planned_illustrative", "achieved", "ratio", "status", "last_report"} <= set(df.columns)
    r = _cli("progress", "history", "2.3.3", "--onemap", location, "--until", "2023-12-31",
             "--chart", str(tmp_path / "h"), "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (tmp_path / "h.svg").read_bytes()


def _xiangfang_rows(ctx, n: int, bad_at: int | None = None) -> pd.DataFrame:
    """n report rows of 香坊区 (sites started, then figures on successive days); one bad if asked."""
    sites = ctx.sites[ctx.sites.adcode == "230110"]
    rows = [{"kind": "site", "site_id": s.site_id, "task_id": s.task_id, "metric": s.metric, "adcode": "230110",
             "status": "started", "achieved": None, "as_of": "2023-05-01", "note": ""} for s in sites.itertuples()]
    day = dt.date(2023, 1, 2)
    while len(rows) < n:
        rows.append({"kind": "target", "site_id": "", "task_id": "5.6.1", "metric": "culture_sports_events",
                     "adcode": "230110", "status": "", "achieved": len(rows) % 400, "as_of": day.isoformat(),
                     "note": ""})
        day += dt.timedelta(days=1)
    if bad_at is not None:
        other = ctx.sites[ctx.sites.adcode == "230103"].iloc[0]
        rows[bad_at - 2] = rows[bad_at - 2] | {"kind": "site", "site_id": other.site_id, "task_id": other.task_id,
                                                "metric": other.metric, "status": "started", "achieved": None}
    return pd.DataFrame(rows[:n])


def _write_xlsx(df: pd.DataFrame, path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = REPORT_SHEET
    cols = [k for k in KEYS if k in df.columns]
    ws.append([HEADERS[k] for k in cols])
    for r in df[cols].itertuples(index=False):
        ws.append([None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in r])
    wb.save(path)
    return path


def test_one_bad_row_among_200_records_nothing(location, tmp_path):
    ctx = load_context(location)
    before = _count(location)
    f = _write_xlsx(_xiangfang_rows(ctx, 200, bad_at=150), tmp_path / "xiangfang.xlsx")
    r = _cli("progress", "import", str(f), "--reported-by", "test", "--onemap", location, "--format", "json")
    assert r.returncode == 1, r.stderr
    problems = pd.read_json(StringIO(r.stdout))
    assert problems.row.tolist() == [150]
    assert problems.column.iloc[0] == "site_id" and "南岗区" in problems.problem.iloc[0]
    assert "that district reports it" in problems.fix.iloc[0]
    assert _count(location) == before
    # the same sheet without the bad row is recorded whole, once
    good = _write_xlsx(_xiangfang_rows(ctx, 200), tmp_path / "xiangfang-ok.xlsx")
    r = _cli("progress", "import", str(good), "--reported-by", "test", "--onemap", location)
    assert r.returncode == 0, r.stderr
    assert _count(location) == before + 200
    r = _cli("progress", "import", str(good), "--reported-by", "test", "--onemap", location)
    assert r.returncode == 0 and "recorded 0 new" in r.stderr
    assert _count(location) == before + 200


def test_rejections_name_row_column_and_fix(location, tmp_path):
    ctx = load_context(location)
    site = ctx.sites[ctx.sites.adcode == "230110"].iloc[0]
    rows = pd.DataFrame([
        {"site_id": site.site_id, "task_id": site.task_id, "metric": site.metric, "status": "done",
         "achieved": None, "as_of": "2023-03-01", "note": ""},
        {"site_id": site.site_id, "task_id": site.task_id, "metric": site.metric, "status": "started",
         "achieved": -5, "as_of": "2023-03-02", "note": ""},
        {"site_id": site.site_id, "task_id": site.task_id, "metric": site.metric, "status": "started",
         "achieved": "lots", "as_of": "2022-12-31", "note": ""},
        {"site_id": site.site_id, "task_id": site.task_id, "metric": site.metric, "status": "started",
         "achieved": site.planned * 2, "as_of": (dt.date.today() + dt.timedelta(days=3)).isoformat(), "note": ""},
        {"site_id": "plan_nowhere-001", "task_id": "2.3.3", "metric": "floor_area", "status": "started",
         "achieved": None, "as_of": "2023-03-01", "note": ""},
        {"site_id": "", "task_id": "9.9.9", "metric": "x", "status": "", "achieved": 1, "as_of": "2023-03-01",
         "note": ""},
    ])
    f = tmp_path / "bad.csv"
    rows.rename(columns=HEADERS).to_csv(f, index=False)
    before = _count(location)
    r = _cli("progress", "import", str(f), "--reported-by", "t", "--onemap", location, "--format", "csv")
    assert r.returncode == 1
    p = pd.read_csv(StringIO(r.stdout))
    got = set(zip(p.row, p.column, strict=True))
    assert {(2, "status"), (3, "achieved"), (4, "achieved"), (4, "as_of"), (5, "achieved"), (5, "as_of"),
            (6, "site_id"), (7, "task_id")} <= got
    assert _count(location) == before
    # unreadable input: exit 2, one line
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    r = _cli("progress", "import", str(junk), "--reported-by", "t", "--onemap", location)
    assert r.returncode == 2 and "not a readable XLSX" in r.stderr and "Traceback" not in r.stderr


def test_status_backwards_needs_a_note(location, tmp_path):
    ctx = load_context(location)
    site = ctx.sites[(ctx.sites.adcode == "230109")].iloc[0]
    base = {"site_id": site.site_id, "task_id": site.task_id, "metric": site.metric, "achieved": None, "note": ""}
    f = tmp_path / "back.csv"
    pd.DataFrame([base | {"status": "completed", "as_of": "2023-04-01"},
                  base | {"status": "started", "as_of": "2023-05-01"}]).rename(columns=HEADERS).to_csv(f, index=False)
    r = _cli("progress", "import", str(f), "--reported-by", "t", "--onemap", location, "--format", "csv")
    assert r.returncode == 1 and "goes back from 'completed'" in r.stdout
    pd.DataFrame([base | {"status": "completed", "as_of": "2023-04-01"},
                  base | {"status": "started", "as_of": "2023-05-01", "note": "重新施工 rebuilt"}]
                 ).rename(columns=HEADERS).to_csv(f, index=False)
    r = _cli("progress", "import", str(f), "--reported-by", "t", "--onemap", location)
    assert r.returncode == 0, r.stdout + r.stderr


def test_two_concurrent_imports_both_land(location, tmp_path):
    files = []
    for k, metric in enumerate(("through_programmes", "industry_colleges")):
        rows = [{"site_id": "", "task_id": "5.5.2", "metric": metric, "adcode": "230110", "status": "",
                 "achieved": i % 2, "as_of": (dt.date(2023, 1, 2) + dt.timedelta(days=i)).isoformat(), "note": ""}
                for i in range(150)]
        f = tmp_path / f"c{k}.csv"
        pd.DataFrame(rows).rename(columns=HEADERS).to_csv(f, index=False)
        files.append(f)
    before = _count(location)
    procs = [subprocess.Popen([sys.executable, "-m", "cityplan", "progress", "import", str(f), "--reported-by",
                               f"p{i}", "--onemap", location], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i, f in enumerate(files)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert _count(location) == before + 300
    ev = OneMap.open(location).store.table_or_empty(EVENTS_TABLE)
    assert not ev.duplicated(["source_sha256", "source_row"]).any()
    assert (ev.reported_by.isin(["p0", "p1"])).sum() == 300


def test_no_illustrative_achievement_and_template(onemap, tmp_path):
    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    ctx = load_context(str(p))
    t = ctx.table(by="district")
    assert t.achieved.sum() == 0                       # nothing reported -> nothing achieved
    city = t[(t.district == "(all)") & (t.task_id == "2.3.3")].set_index("metric")
    assert city.loc["projects", "planned"] == city.loc["projects", "planned_illustrative"] == 224
    assert (city.status == "no report").all() and (city.plan == "planned in full").all()
    # template: bilingual headers, drop-down, protection with editable columns unlocked, instructions
    ctx.sites.loc[ctx.sites.index[ctx.sites.adcode == "230103"][0], "name"] = '=HYPERLINK("http://x","y")'
    out = write_template(ctx, "Nangang", tmp_path / "t.xlsx")
    wb = load_workbook(out)
    ws = wb[REPORT_SHEET]
    assert [c.value for c in ws[1]][:2] == ["类型 / kind", "编号 / site_id"]
    assert ws.protection.sheet
    col = {k: i + 1 for i, k in enumerate(KEYS)}
    assert ws.cell(row=2, column=col["status"]).protection.locked is False
    assert ws.cell(row=2, column=col["site_id"]).protection.locked is True
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists and "under_construction" in lists[0].formula1
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert any(str(c.value).startswith("'=HYPERLINK") for row in ws.iter_rows() for c in row)
    assert INFO_SHEET in wb.sheetnames
    kinds = [ws.cell(row=i, column=1).value for i in range(2, ws.max_row + 1)]
    assert kinds.count("target") == 6 and kinds.count("site") == int((ctx.sites.adcode == "230103").sum())
    csv = write_template(ctx, "230103", tmp_path / "t.csv")
    assert csv.read_text(encoding="utf-8-sig").splitlines()[0].startswith("类型 / kind,编号 / site_id")


def test_example_files_in_order():
    assert [f.name for f in example_files(EXAMPLES)] == ["daoli-2023-06.xlsx", "nangang-2023-06.xlsx",
                                                 "daoli-2023-11.xlsx", "nangang-2023-11.xlsx"]


def test_maps_and_report_show_the_ledger(onemap, tmp_path):
    from cityplan.maps.recipes import load_recipe
    from cityplan.maps.render import recipe_views, task_map
    from cityplan.progress.report import district_history_charts, last_reports

    p = tmp_path / "m.gpkg"
    shutil.copy(onemap, p)
    import_examples(str(p))
    om = OneMap.open(str(p))
    views = {v.id: v for v in recipe_views(load_recipe("task", HARBIN), om, task="2.3.3")}
    done, rest = views["plan_renovation__completed"].gdf, views["plan_renovation"].gdf
    assert len(done) == 35 and set(done.status) == {"completed"}        # 19 南岗 + 16 道里
    assert len(done) + len(rest) == 224 and rest.status.value_counts()["started"] == 5
    assert views["plan_renovation"].style["fill"] is False and views["plan_renovation__completed"].style["fillOpacity"] > 0.5
    panel = task_map("2.3.3", om).html()
    assert "achieved / quota" in panel
    ctx = load_context(om)
    rep = last_reports(ctx, "230103")
    assert len(rep) == 30 and rep.as_of.iloc[0] == "2023-11-30" and rep.reported_by.str.contains("illustrative").all()
    charts = district_history_charts(ctx, "230103", tmp_path / "charts", until="2023-12-31")
    assert [c.name for c in charts] == ["history_2_3_3.png", "history_2_5_2.png", "history_5_2_1.png",
                                        "history_5_5_1.png", "history_5_6_1.png"]
    assert all(c.with_suffix(".svg").exists() for c in charts)


def test_quotas_derive_reproduces_the_file_and_import_merges(onemap, tmp_path):
    out = tmp_path / "q.yaml"
    r = _cli("progress", "quotas", "derive", "--onemap", str(onemap), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == (HARBIN_DIR / "quotas.yaml").read_text(encoding="utf-8")
    # population rule by hand: 83,000 jobs over the 2020 census populations, largest remainder
    dist = OneMap.open(str(onemap)).layer_for("districts").sort_values("adcode")
    pop = dist.pop_2020.to_numpy(float)
    share = 83000 * pop / pop.sum()
    base = np.floor(share)
    base[np.argsort(-(share - base))[: int(83000 - base.sum())]] += 1
    from cityplan.progress.quotas import read_quotas
    from cityplan.tasks import load_register

    q = read_quotas(out, register=load_register(HARBIN))
    jobs = q[q.metric == "new_urban_jobs"].set_index("adcode").quota
    assert jobs.to_dict() == dict(zip(dist.adcode.astype(str), base.astype(float), strict=True))
    assert q.groupby(["task_id", "metric"]).quota.sum().to_dict()[("2.5.2", "parking_spaces")] == 5000
    table = tmp_path / "q.csv"
    table.write_text("task_id,metric,district,quota\n5.2.1,new_urban_jobs,南岗,30000\n", encoding="utf-8")
    r = _cli("progress", "quotas", "import", str(table), "--onemap", str(onemap), "--out", str(out))
    assert r.returncode == 0, r.stderr
    q2 = read_quotas(out, register=load_register(HARBIN))
    j2 = q2[q2.metric == "new_urban_jobs"].set_index("adcode").quota
    assert j2["230103"] == 30000 and (j2.drop("230103") == jobs.drop("230103")).all()
    assert len(q2) == len(q)
    table.write_text("task_id,metric,district,quota\n5.2.1,new_urban_jobs,Atlantis,-3\n", encoding="utf-8")
    before = out.read_bytes()
    r = _cli("progress", "quotas", "import", str(table), "--onemap", str(onemap), "--out", str(out))
    assert r.returncode == 2 and "row 2" in r.stderr and out.read_bytes() == before
