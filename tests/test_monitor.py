"""Supervision indicators (docs/monitor.md): pace, thresholds, since-when, freshness - on tiny
ledgers whose answers are worked out here by hand; and the Harbin sample's 2.3.3 in 南岗."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from cityplan._errors import SchemaError
from cityplan.monitor.indicators import freshness_indicators, target_indicators
from cityplan.monitor.pace import Pace
from cityplan.monitor.rules import load_rules
from cityplan.profile import MemoryTree, Profile
from cityplan.progress.context import ProgressContext
from cityplan.progress.events import make_events
from cityplan.progress.sites import site_table
from cityplan.schema.monitor import MonitorSettings, PaceModel, load_monitor_settings
from cityplan.tasks.link import link_plan_sites
from cityplan.tasks.register import load_register
from conftest import HARBIN

START, END = dt.date(2023, 1, 1), dt.date(2023, 12, 31)


def _districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"adcode": ["900001", "900002", "900003"], "name": ["东区", "西区", "北区"]},
                            geometry=[box(126.6, 45.7, 126.65, 45.75), box(126.65, 45.7, 126.7, 45.75),
                                      box(126.6, 45.75, 126.7, 45.8)], crs=4326)


def _profile(monitor_yaml: str | None) -> Profile:
    files = {"profile.yaml": b"version: 1\nid: tiny\ncountry: CN\n"}
    if monitor_yaml is not None:
        files["monitor.yaml"] = monitor_yaml.encode()
    return Profile(MemoryTree(files, label="tiny"), label="tiny")


def _context(reports: list[tuple[str, str, float]]) -> ProgressContext:
    """Jobs target 5.2.1 (a district figure) with quotas 1000 (东区), 1000 (西区), 500 (北区);
    ``reports``: (adcode, as_of, cumulative jobs)."""
    reg = load_register(HARBIN)
    districts = _districts()
    link = link_plan_sites(reg, [], districts)
    quotas = pd.DataFrame({"task_id": "5.2.1", "metric": "new_urban_jobs", "unit": "persons",
                           "adcode": ["900001", "900002", "900003"], "district": ["东区", "西区", "北区"],
                           "quota": [1000.0, 1000.0, 500.0], "rule": "given"})
    rows = [{"site_id": "", "task_id": "5.2.1", "metric": "new_urban_jobs", "unit": "persons", "quantity": q,
             "status": "", "as_of": d, "adcode": a, "district": dict(zip(districts.adcode, districts.name, strict=True))[a],
             "note": "", "source_row": i + 2} for i, (a, d, q) in enumerate(reports)]
    ev = make_events(rows, reported_by="区统计局 district office", source_file="t.csv", source_sha256="ab" * 32,
                     recorded_at="2023-12-31T00:00:00Z")
    return ProgressContext(om=None, register=reg, link=link, sites=site_table(reg, link),  # type: ignore[arg-type]
                           districts=districts, quotas=quotas, events=ev)


def _row(df: pd.DataFrame, adcode: str) -> pd.Series:
    return df[(df.adcode == adcode) & (df.task_id == "5.2.1")].iloc[0]


@pytest.fixture(scope="module")
def ledger() -> ProgressContext:
    return _context([("900001", "2023-03-31", 250), ("900001", "2023-06-30", 500), ("900001", "2023-09-30", 750),
                     ("900002", "2023-03-31", 100)])


def test_on_pace_green_behind_red_with_since(ledger):
    rules = load_rules(_profile(None))
    t = target_indicators(ledger, rules, "2023-10-15")
    expected = (dt.date(2023, 10, 15) - START).days / (END - START).days
    on = _row(t, "900001")
    assert on.level == "green"
    assert on.value_pct == pytest.approx(75.0)
    assert on.expected_pct == pytest.approx(expected * 100)
    assert on.gap_points == pytest.approx(expected * 100 - 75.0)
    assert on.last_report == "2023-09-30" and on.reported_by == "区统计局 district office"
    behind = _row(t, "900002")
    assert behind.level == "red" and "behind the pace by" in behind.reason
    assert behind.value_pct == pytest.approx(10.0)
    # since: by hand, the first day of the unbroken red run (achieved 0 before 31 March, 10 % after)
    day, since = START, None
    while day <= dt.date(2023, 10, 15):
        ratio = 0.1 if day >= dt.date(2023, 3, 31) else 0.0
        red = (day - START).days / 364 - ratio > 0.25
        since = (since or day) if red else None
        day += dt.timedelta(days=1)
    assert behind.since == since.isoformat() == "2023-05-09"
    # 北区 never reported: red, and said so
    never = _row(t, "900003")
    assert never.level == "red" and "nothing reported" in never.reason and never.last_report == ""
    # the city row: (750 + 100) / the register's target
    city = _row(t, "")
    assert city.value_pct == pytest.approx(850 / 83000 * 100)
    assert city.link == "/tasks/5.2.1" and on.link == "/districts/900001"


def test_yellow_and_thresholds_from_the_profile(ledger):
    # 2023-10-15: 东区 is 3.6 points behind; with a 2-point yellow threshold it turns yellow
    rules = load_rules(_profile("version: 1\nthresholds: {yellow_behind_points: 2, red_behind_points: 50}\n"))
    assert rules.assumptions == ("pace start/deadline not given: assumed 2023-01-01 → 2023-12-31 (the plan year)",)
    t = target_indicators(ledger, rules, "2023-10-15")
    assert _row(t, "900001").level == "yellow"
    # 西区 is 68.6 points behind: red only beyond 50
    assert _row(t, "900002").level == "red"
    t = target_indicators(ledger, rules, "2023-06-01")  # 西区: 41.4 - 10 = 31.4 behind: yellow
    assert _row(t, "900002").level == "yellow"


def test_past_deadline_and_achieved():
    ctx = _context([("900001", "2023-12-20", 1000), ("900002", "2023-12-20", 990)])
    rules = load_rules(_profile("version: 1\npace: {default: {start: 2023-01-01, deadline: 2023-11-30}}\n"))
    t = target_indicators(ctx, rules, "2023-12-31")
    assert _row(t, "900001").level == "green" and "achieved" in _row(t, "900001").reason
    late = _row(t, "900002")
    assert late.level == "red" and "past the deadline" in late.reason
    # red without a break since it fell 25 points behind (day 84 of 333: 0 reported until 20 Dec)
    assert late.since == (START + dt.timedelta(days=84)).isoformat() == "2023-03-26"


def test_milestones_and_s_curve_pace():
    m = PaceModel(kind="milestones", milestones=[{"date": "2023-07-01", "share": 0.2}])
    p = Pace.from_model(m, start=START, deadline=END)
    half = (dt.date(2023, 7, 1) - START).days
    assert p.share(dt.date(2023, 7, 1)) == pytest.approx(0.2)
    assert p.share(START + dt.timedelta(days=half // 2)) == pytest.approx(0.2 * (half // 2) / half)
    assert p.share(END) == 1.0 and p.share(dt.date(2024, 3, 1)) == 1.0 and p.share(dt.date(2022, 1, 1)) == 0.0
    s = Pace.from_model(PaceModel(kind="s_curve", steepness=8), start=START, deadline=END)
    days = [START + dt.timedelta(days=i) for i in range(365)]
    v = s.shares(days)
    assert v[0] == pytest.approx(0.0) and v[-1] == pytest.approx(1.0)
    assert np.all(np.diff(v) >= 0) and v[182] == pytest.approx(0.5, abs=0.01)
    assert v[60] < 60 / 364  # slow start
    # a task with its own pace: 东区 75 % on 15 Oct is behind a milestone of 100 % on 30 Sep
    ctx = _context([("900001", "2023-09-30", 750)])
    rules = load_rules(_profile('version: 1\npace:\n  tasks:\n    "5.2.1": {kind: milestones, deadline: 2023-12-31, '
                                "milestones: [{date: 2023-09-30, share: 1.0}]}\n"))
    row = _row(target_indicators(ctx, rules, "2023-10-15"), "900001")
    assert row.expected_pct == pytest.approx(100.0) and row.level == "yellow"
    assert row.pace.startswith("milestones 2023-01-01 → 2023-12-31")


def test_freshness_flags_a_silent_district(ledger):
    rules = load_rules(_profile("version: 1\nfreshness: {yellow_days: 30, red_days: 60}\n"))
    f = freshness_indicators(ledger, rules, "2023-10-15").set_index("adcode")
    assert f.loc["900001", "level"] == "green"  # 15 days
    assert f.loc["900002", "level"] == "red"    # 198 days since 31 March
    assert f.loc["900002", "achieved"] == (dt.date(2023, 10, 15) - dt.date(2023, 3, 31)).days
    assert f.loc["900002", "since"] == "2023-05-31"  # 31 March + 61 days
    assert f.loc["900003", "level"] == "red" and "never reported" in f.loc["900003", "reason"]
    f = freshness_indicators(ledger, rules, "2023-11-05").set_index("adcode")
    assert f.loc["900001", "level"] == "yellow"  # 36 days


def test_monitor_settings_are_checked(tmp_path):
    p = tmp_path / "monitor.yaml"
    p.write_text("version: 1\nthresholds: {yellow_behind_points: 30, red_behind_points: 20}\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="red_behind_points must be >= yellow_behind_points"):
        load_monitor_settings(p)
    p.write_text("version: 1\npace: {default: {kind: linear, milestones: [{date: 2023-05-01, share: 0.5}]}}\n",
                 encoding="utf-8")
    with pytest.raises(SchemaError, match="kind is 'linear'"):
        load_monitor_settings(p)
    p.write_text("version: 1\nfreshness: {yelow_days: 3}\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="yelow_days"):
        load_monitor_settings(p)
    assert MonitorSettings().thresholds.red_behind_points == 25
    # the shipped files are valid
    from importlib import resources

    for pkg in ("cityplan.cities", "cityplan.city"):
        sub = "harbin/monitor.yaml" if pkg == "cityplan.cities" else "template/monitor.yaml"
        assert load_monitor_settings(resources.files(pkg).joinpath(sub)).freshness.red_days == 90
    assert json.dumps(load_rules(_profile(None)).assumptions, ensure_ascii=False).count("assum") >= 1


def test_harbin_sample_ledger_2_3_3_nangang_red(onemap, tmp_path):
    """The sample ledger on 2023-12-15: renovation in 南岗 is far behind its linear pace."""
    import shutil

    from cityplan.progress.examples import import_examples
    from cli_invoke import run

    p = tmp_path / "harbin.gpkg"
    shutil.copy(onemap, p)
    import_examples(str(p))
    r = run("monitor", "--onemap", str(p), "--as-of", "2023-12-15", "--all", "--format", "json")
    assert r.returncode == 1, r.stderr  # red indicators: exit 1
    df = pd.DataFrame(json.loads(r.stdout))
    row = df[(df.task_id == "2.3.3") & (df.district == "南岗区") & (df.indicator == "floor_area")].iloc[0]
    # achieved m2 on completed/reported renovation sites of 南岗 (the sample workbooks) / its quota
    assert (row.achieved, row.reference) == (634225.0, 3968960.0)
    assert row.value_pct == pytest.approx(15.98, abs=0.01)
    assert row.expected_pct == pytest.approx(348 / 364 * 100)
    assert row.level == "red" and "behind the pace by 80 points" in row.reason
    assert row.link == "/districts/230103" and row.last_report == "2023-11-30"
    # districts that never reported are flagged (monitor.yaml: red after 90 days)
    fresh = df[df.kind == "freshness"].set_index("district")
    assert fresh.loc["道外区", "level"] == "red" and "never reported" in fresh.loc["道外区", "reason"]
    assert fresh.loc["南岗区", "level"] == "green"
    # park coverage set against its standard (coverage_presets.yaml: area_share >= 0.8)
    park = df[(df.indicator == "park-service-radius") & (df.district == "南岗区")].iloc[0]
    assert park.reference == 0.8 and park.value_pct < 80 and park.level in ("yellow", "red")


def test_burnup_chart_draws_pace_thresholds_and_legend(tmp_path):
    from cityplan.monitor.rules import chart_pace
    from cityplan.progress.history import burnup_chart

    hist = pd.DataFrame({"task_id": "5.2.1", "metric": "new_urban_jobs", "unit": "persons", "adcode": "900001",
                         "district": "东区", "date": ["2023-01-01", "2023-06-30"], "achieved": [0.0, 300.0],
                         "reference": 1000.0, "ratio": [0.0, 0.3], "linear_path": [0.0, 496.0], "sites_completed": 0})
    pace = chart_pace(_profile('version: 1\npace:\n  tasks:\n    "5.2.1": {kind: s_curve, steepness: 6}\n'), "5.2.1")
    assert pace.label == "s_curve 2023-01-01 → 2023-12-31 (steepness 6)"
    files = burnup_chart(hist, tmp_path / "c", title="就业 jobs", pace=pace)
    svg = files[1].read_text(encoding="utf-8")
    for words in ("legend", "achieved (reported)", "district quota", "s_curve 2023-01-01", "&gt; 10 points behind",
                  "&gt; 25 points behind"):
        assert words in svg, words


def test_completed_periods_follow_the_ledger():
    from cityplan.services.monitor import completed_periods

    rows = [{"site_id": "s1", "task_id": "2.3.3", "metric": "projects", "unit": "projects", "quantity": None,
             "status": st, "as_of": d, "adcode": "900001", "district": "东区", "note": "n", "source_row": i}
            for i, (st, d) in enumerate([("started", "2023-03-01"), ("completed", "2023-05-01"),
                                         ("under_construction", "2023-07-01"), ("completed", "2023-09-01")])]
    rows.append(dict(rows[0], site_id="s2", status="completed", as_of="2023-10-01", source_row=9))
    ev = make_events(rows, reported_by="x", source_file="t.csv", source_sha256="cd" * 32)
    assert completed_periods(ev, dt.date(2023, 12, 31)) == {
        "s1": [["2023-05-01", "2023-07-01"], ["2023-09-01", None]], "s2": [["2023-10-01", None]]}
    assert completed_periods(ev, dt.date(2023, 8, 1)) == {"s1": [["2023-05-01", "2023-07-01"]]}
