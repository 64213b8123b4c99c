"""Answers at the boundaries, known by construction: a compound exactly at the coverage limit
(distance and time, network and straight line), illustrative facilities outside plan layers, a
site exactly ``stale_days`` old, a target met exactly, a district share above 1, and the progress
importer's rejection of every missing required field (named by its row)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from cityplan.coverage.run import run_coverage

#: the synthetic city's working CRS (CGCS2000 3-degree GK, CM 117E) and a spot in it, in metres
CRS = 4548
X0, Y0 = 510_000.0, 4_060_000.0


def _write(path: Path, names: list[str], geoms: list, **cols: list) -> str:
    gpd.GeoDataFrame({"name": names, **cols}, geometry=geoms, crs=CRS).to_file(path)
    return str(path)


# ------------------------------------------------------------------------------ coverage limit
@pytest.fixture(scope="module")
def line_case(tmp_path_factory) -> dict[str, str]:
    """One straight 2 km street; a facility 10 m off it at x = 100 m; compounds 10 m off it
    whose walk (10 m join + along the street + 10 m join) is known by construction."""
    d = tmp_path_factory.mktemp("limit")
    net = _write(d / "net.gpkg", ["street"], [LineString([(X0, Y0), (X0 + 2000, Y0)])], highway=["residential"])
    fac = _write(d / "fac.gpkg", ["f"], [Point(X0 + 100, Y0 + 10)])
    walk = {"499.5": 499.5, "500": 500.0, "500.5": 500.5, "749.5": 749.5, "750": 750.0, "750.5": 750.5}
    dem = _write(d / "dem.gpkg", list(walk), [Point(X0 + 100 + (w - 20), Y0 + 10) for w in walk.values()],
                 population=[1] * len(walk))
    return {"network": net, "facilities": fac, "demand": dem}


def _covered(res) -> dict[str, bool]:
    f = res.features
    f = f[f["scenario"] == "existing"] if "scenario" in f.columns else f
    return dict(zip(f["name"], f["covered"].astype(bool), strict=True))


def test_network_distance_limit_is_inclusive(synthetic_onemap, line_case):
    """covered = reached within the limit, the limit included: 500 m away is covered at 500m."""
    res = run_coverage(synthetic_onemap, facilities=[line_case["facilities"]], demand=line_case["demand"],
                       network=line_case["network"], method="walk", within="500m", scenario="existing")
    got = _covered(res)
    assert {k: got[k] for k in ("499.5", "500", "500.5")} == {"499.5": True, "500": True, "500.5": False}
    dist = dict(zip(res.features["name"], res.features["distance_m"], strict=True))
    assert dist["500"] == pytest.approx(500.0, abs=1e-6) and dist["500.5"] == pytest.approx(500.5, abs=1e-6)


def test_network_time_limit_is_inclusive(synthetic_onemap, line_case):
    """At 4.5 km/h (1.25 m/s, the door-to-road speed too) 750 m take exactly 10 minutes."""
    res = run_coverage(synthetic_onemap, facilities=[line_case["facilities"]], demand=line_case["demand"],
                       network=line_case["network"], method="walk", within="10min", speed_kmh=4.5,
                       scenario="existing")
    got = _covered(res)
    assert {k: got[k] for k in ("749.5", "750", "750.5")} == {"749.5": True, "750": True, "750.5": False}
    assert got["500.5"] is True


def test_straight_line_limit_is_inclusive_and_exact(synthetic_onemap, tmp_path):
    """A compound exactly 500 m from the facility (on an axis, on a diagonal) is covered at 500m,
    one 499.7 m away between the vertices of the buffer polygon too; 500.5 m is not."""
    a = np.radians(90 / 32)  # half-way between two vertices of a 16-segment quarter circle
    at = {"axis 500": (500.0, 0.0), "diagonal 500": (500 / np.sqrt(2), 500 / np.sqrt(2)),
          "between vertices 499.7": (499.7 * np.cos(a), 499.7 * np.sin(a)), "axis 500.5": (0.0, -500.5)}
    fac = _write(tmp_path / "fac.gpkg", ["f"], [Point(X0, Y0)])
    dem = _write(tmp_path / "dem.gpkg", list(at), [Point(X0 + x, Y0 + y) for x, y in at.values()],
                 population=[1] * len(at))
    res = run_coverage(synthetic_onemap, facilities=[fac], demand=dem, method="euclid", within="500m",
                       scenario="existing")
    assert _covered(res) == {"axis 500": True, "diagonal 500": True, "between vertices 499.7": True,
                             "axis 500.5": False}


def test_within_limit_rule():
    from cityplan.coverage.search import within_limit

    cost = np.array([0.0, 499.999, 500.0, 500.0 + 1e-9, 500.001, np.inf, np.nan])
    assert within_limit(cost, 500.0).tolist() == [True, True, True, True, False, False, False]


# ------------------------------------------------------------------------------ illustrative facilities
def test_illustrative_facility_outside_a_plan_layer_is_not_existing(synthetic_onemap, tmp_path):
    """An ``illustrative`` facility of a plain (non-plan) layer is counted in planned, never in existing."""
    fac = _write(tmp_path / "fac.gpkg", ["real, far", "illustrative, near"],
                 [Point(X0 + 5000, Y0 + 5000), Point(X0, Y0)], illustrative=[False, True])
    dem = _write(tmp_path / "dem.gpkg", ["home"], [Point(X0 + 100, Y0)], population=[10])
    res = run_coverage(synthetic_onemap, facilities=[fac], demand=dem, method="euclid", within="500m",
                       scenario="both")
    existing, planned = (res.scenarios[k].features.iloc[0] for k in ("existing", "planned"))
    assert not bool(existing["covered"]) and existing["nearest_facility"] == "real, far"
    assert bool(planned["covered"]) and bool(planned["nearest_is_illustrative"])
    assert res.params["facility_count_existing"] == 1 and res.params["facility_count_illustrative"] == 1


# ------------------------------------------------------------------------------ district shares
def test_district_share_inside_the_data_capped_at_one():
    from cityplan.coverage.demand import district_shares

    d = gpd.GeoDataFrame({"adcode": ["1", "2", "3"], "extract_share": [1.3, -0.2, 0.4]},
                         geometry=[box(0, 0, 1, 1)] * 3, crs=CRS)
    assert district_shares(d, None).to_dict() == {"1": 1.0, "2": 0.0, "3": 0.4}
    # measured by area: an extract boundary a little larger than the full boundary is 1, not 1.21
    seen = gpd.GeoDataFrame({"adcode": ["1", "2"]}, geometry=[box(X0, Y0, X0 + 1100, Y0 + 1100),
                                                              box(X0, Y0, X0 + 500, Y0 + 1000)], crs=CRS)
    full = gpd.GeoDataFrame({"adcode": ["1", "2"]}, geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000),
                                                              box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=CRS)
    got = district_shares(seen, full, CRS).to_dict()
    assert got["1"] == 1.0 and got["2"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------ overdue sites
def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"site_id": s, "status": st, "as_of": day, "recorded_at": f"{day}T00:00:00.000Z",
                          "source_row": i, "quantity": np.nan} for i, (s, st, day) in enumerate(rows)])


def test_site_overdue_only_after_more_than_stale_days():
    """overdue = status unchanged for *more than* ``stale_days``: exactly ``stale_days`` is not."""
    from cityplan.progress.asof import site_status

    day = dt.date(2023, 6, 30)
    ago = {n: (day - dt.timedelta(days=n)).isoformat() for n in (89, 90, 91)}
    ev = _events([("a", "started", ago[89]), ("b", "started", ago[90]), ("c", "started", ago[91]),
                  ("d", "completed", ago[91]), ("e", "planned", "2023-01-01"), ("e", "started", ago[90])])
    st = site_status(["a", "b", "c", "d", "e", "never"], ev, day, stale_days=90).set_index("site_id")
    assert st["overdue"].to_dict() == {"a": False, "b": False, "c": True, "d": False, "e": False, "never": False}
    assert st.loc["e", "status_since"] == ago[90]
    st = site_status(["b"], ev, day, stale_days=89).set_index("site_id")
    assert bool(st.loc["b", "overdue"])


# ------------------------------------------------------------------------------ progress importer
@pytest.fixture(scope="module")
def ledger(onemap, tmp_path_factory):
    """A progress context over a copy of the Harbin map (empty ledger); a site and a district
    figure (task, metric, quota) of 南岗 to report."""
    from cityplan.progress.context import load_context

    p = tmp_path_factory.mktemp("boundary-ledger") / "harbin.gpkg"
    shutil.copy(onemap, p)
    ctx = load_context(str(p))
    site = ctx.sites[ctx.sites["adcode"].astype(str) == "230103"].iloc[0]
    q = ctx.quotas[(ctx.quotas["adcode"].astype(str) == "230103") & ctx.quotas["quota"].notna()]
    ns = set(zip(ctx.nonspatial.task_id, ctx.nonspatial.metric, strict=True))
    q = q[np.array([(t, m) in ns for t, m in zip(q.task_id, q.metric, strict=True)]) & (q["quota"] > 0).to_numpy()].iloc[0]
    return {"ctx": ctx, "site": str(site["site_id"]), "task": str(q["task_id"]), "metric": str(q["metric"]),
            "quota": float(q["quota"])}


HEADER = ["site_id", "task_id", "metric", "status", "achieved", "as_of", "note", "adcode"]


def _csv(path: Path, rows: list[dict[str, object]]) -> Path:
    pd.DataFrame(rows, columns=HEADER).to_csv(path, index=False, encoding="utf-8")
    return path


def _import(ledger, path: Path):
    from cityplan.progress.events import EVENTS_TABLE
    from cityplan.progress.importer import import_progress

    ctx = ledger["ctx"]
    before = len(ctx.om.store.table_or_empty(EVENTS_TABLE))
    res = import_progress(ctx, path, reported_by="boundary test", today=dt.date(2023, 12, 31))
    return res, len(ctx.om.store.table_or_empty(EVENTS_TABLE)) - before


def test_importer_rejects_each_missing_required_field(ledger, tmp_path):
    """Every row missing a required field is rejected, naming its row and column; nothing is recorded."""
    s, t, m = ledger["site"], ledger["task"], ledger["metric"]
    good_site = {"site_id": s, "status": "started", "achieved": "", "as_of": "2023-06-01", "adcode": "230103"}
    good_fig = {"task_id": t, "metric": m, "achieved": 1, "as_of": "2023-06-01", "adcode": "230103"}
    cases = {  # (row fields, column named)
        "site without status": ({**good_site, "status": "", "as_of": "2023-06-02"}, "status"),
        "site without date": ({**good_site, "as_of": ""}, "as_of"),
        "site with a figure but no date": ({**good_site, "achieved": 1, "as_of": ""}, "as_of"),
        "figure without date": ({**good_fig, "as_of": ""}, "as_of"),
        "figure without figure": ({**good_fig, "achieved": "", "note": "n"}, "achieved"),
        "figure without task": ({**good_fig, "task_id": ""}, "task_id"),
        "figure without metric": ({**good_fig, "metric": ""}, "metric"),
    }
    for what, (row, column) in cases.items():
        # the rejected row is the sheet's row 3 (header = row 1), after a valid row 2
        res, added = _import(ledger, _csv(tmp_path / "r.csv", [good_site, row]))
        assert not res.ok and added == 0 and res.recorded == 0, what
        probs = res.problems
        assert len(probs) >= 1 and set(probs["row"]) == {3}, (what, probs.to_dict("records"))
        assert column in set(probs["column"]), (what, probs.to_dict("records"))
    res, added = _import(ledger, _csv(tmp_path / "ok.csv", [good_site]))
    assert res.ok and added == 1  # the valid row alone is accepted (the cases failed for their own row)


def test_target_met_exactly_is_achieved(ledger, tmp_path):
    """A district figure equal to the district's quota is ``achieved`` (ratio 1), one below is not."""
    t, m, quota = ledger["task"], ledger["metric"], ledger["quota"]
    ctx = ledger["ctx"]

    def status(as_of: str) -> tuple[str, float]:
        tab = ctx.table(as_of=as_of, by="district")
        r = tab[(tab.task_id == t) & (tab.metric == m) & (tab.adcode.astype(str) == "230103")].iloc[0]
        return str(r["status"]), float(r["ratio"])

    rows = [{"task_id": t, "metric": m, "achieved": quota - 1, "as_of": "2023-07-01", "adcode": "230103"},
            {"task_id": t, "metric": m, "achieved": quota, "as_of": "2023-08-01", "adcode": "230103"}]
    res, added = _import(ledger, _csv(tmp_path / "met.csv", rows))
    assert res.ok and added == 2, res.problems.to_dict("records")
    assert status("2023-07-15") == ("in progress", pytest.approx((quota - 1) / quota))
    assert status("2023-08-15") == ("achieved", 1.0)
