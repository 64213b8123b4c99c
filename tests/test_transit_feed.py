"""GTFS transit: the reader, scenarios and the time-expanded engine against a brute-force search.

The small feed (written here, as GTFS text) has a known timetable: two scheduled routes meeting
at a transfer stop, a frequency-based route, a calendar with a service-exception day and a trip
of the previous service day running past 24:00. The brute force reads the same Python tables the
feed was written from (its own calendar, frequency expansion and search: a label-correcting
search over every boarding, per origin and departure minute) and must give the engine's times
for every origin, departure minute and destination set.
"""

from __future__ import annotations

import datetime as dt
import heapq
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cityplan.transit.engine import Footpaths, percentile, stop_profiles, travel_times
from cityplan.transit.feedgen import LineSpec, concat_feeds, generate_feed, write_feed
from cityplan.transit.gtfs import FeedError, parse_window, read_feed
from cityplan.transit.scenarios import apply_without, cut_section, drop_stops

STOPS = ["A", "B", "C", "D", "E", "F", "G"]
MON, HOLIDAY = dt.date(2024, 4, 1), dt.date(2024, 4, 4)  # a Monday; a Thursday without the weekday service


def hms(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def t(h: int, m: int, s: int = 0) -> int:
    return h * 3600 + m * 60 + s


#: trips: id -> (route, service, [(stop, arr, dep), ...]); frequencies: trip -> (start, end, headway)
TRIPS = {
    # route R1 A-B-C, weekday service, every 12 min from 06:40 (scheduled, one dwell of 30 s at B)
    **{f"r1_{k}": ("R1", "WK", [("A", t(6, 40) + 720 * k, t(6, 40) + 720 * k),
                                ("B", t(6, 46) + 720 * k, t(6, 46, 30) + 720 * k),
                                ("C", t(6, 53) + 720 * k, t(6, 53) + 720 * k)]) for k in range(14)},
    # route R2 C-D-G, daily, irregular times
    **{f"r2_{k}": ("R2", "ALL", [("C", d, d), ("D", d + 420, d + 420), ("G", d + 900, d + 900)])
       for k, d in enumerate([t(6, 58), t(7, 5), t(7, 21), t(7, 33), t(7, 50), t(8, 2), t(8, 31), t(8, 55),
                              t(9, 20)])},
    # R2 extra trip on the holiday only (calendar_dates added) and an express skipping D (drop-off not allowed)
    "r2_hol": ("R2", "HOL", [("C", t(7, 10), t(7, 10)), ("D", t(7, 16), t(7, 16)), ("G", t(7, 24), t(7, 24))]),
    "r2_exp": ("R2", "ALL", [("C", t(7, 40), t(7, 40)), ("D", t(7, 45), t(7, 45)), ("G", t(7, 52), t(7, 52))]),
    # frequency route R3 B-E-F, template times; every 10 min 07:00-08:30, every 20 min 08:30-09:30
    "r3": ("R3", "ALL", [("B", t(7, 0), t(7, 0)), ("E", t(7, 4), t(7, 5)), ("F", t(7, 11), t(7, 11))]),
    # yesterday's night trip running past midnight (not in the morning window: must not appear)
    "r1_night": ("R1", "ALL", [("A", t(23, 50), t(23, 50)), ("B", t(24, 5), t(24, 5)), ("C", t(24, 20), t(24, 20))]),
    # a trip of the previous day running to 31:10 (07:10 today): counts today from C to D
    "r2_late": ("R2", "ALL", [("C", t(30, 55), t(30, 55)), ("D", t(31, 2), t(31, 2))]),
}
NO_DROPOFF = {("r2_exp", "D")}
FREQ = [("r3", t(7, 0), t(8, 30), 600), ("r3", t(8, 30), t(9, 30), 1200)]
CALENDAR = [("WK", "1111100", "20240101", "20241231"), ("ALL", "1111111", "20240101", "20241231"),
            ("HOL", "0000000", "20240101", "20241231")]
EXCEPTIONS = [("WK", "20240404", 2), ("HOL", "20240404", 1)]


def write_small_feed(path: Path, *, drop: str | None = None) -> Path:
    """The feed above as a GTFS zip (``drop``: leave a file out)."""
    files = {
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,parent_station\n"
                     + "".join(f"{s},{s},45.{i}0,126.{i}0,\n" for i, s in enumerate(STOPS)),
        "routes.txt": "route_id,route_short_name,route_type\nR1,1,3\nR2,2,3\nR3,3,3\n",
        "trips.txt": "route_id,service_id,trip_id\n" + "".join(f"{r},{sv},{k}\n" for k, (r, sv, _) in TRIPS.items()),
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type\n"
                          + "".join(f"{k},{hms(a)},{hms(d)},{s},{i + 1},0,{int((k, s) in NO_DROPOFF)}\n"
                                    for k, (_, _, rows) in TRIPS.items() for i, (s, a, d) in enumerate(rows)),
        "frequencies.txt": "trip_id,start_time,end_time,headway_secs\n"
                           + "".join(f"{k},{hms(a)},{hms(b)},{h}\n" for k, a, b, h in FREQ),
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                        + "".join(f"{s},{','.join(d)},{a},{b}\n" for s, d, a, b in CALENDAR),
        "calendar_dates.txt": "service_id,date,exception_type\n" + "".join(f"{s},{d},{e}\n" for s, d, e in EXCEPTIONS),
    }
    if drop:
        files.pop(drop)
    with zipfile.ZipFile(path, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return path


# -- the brute force: its own calendar, frequencies and search ------------------------------

def runs_on(date: dt.date) -> list[list[tuple[str, int, int, bool, bool]]]:
    """Every vehicle run of ``date`` as [(stop, arr, dep, pickup, dropoff)], times of that day."""
    def active(day: dt.date) -> set[str]:
        out = {s for s, d, a, b in CALENDAR if d[day.weekday()] == "1" and a <= day.strftime("%Y%m%d") <= b}
        for s, d, e in EXCEPTIONS:
            if d == day.strftime("%Y%m%d"):
                (out.add if e == 1 else out.discard)(s)
        return out

    runs = []
    for day, shift in ((date, 0), (date - dt.timedelta(days=1), 86400)):
        act = active(day)
        for k, (_, sv, rows) in TRIPS.items():
            if sv not in act:
                continue
            starts = [rows[0][2]]
            fr = [f for f in FREQ if f[0] == k]
            if fr:
                starts = [s for _, a, b, h in fr for s in range(a, b, h)]
            for st in starts:
                off = st - rows[0][2] - shift
                runs.append([(s, a + off, d + off, True, (k, s) not in NO_DROPOFF) for s, a, d in rows])
    return runs


def brute(runs, access: dict[str, float], direct: float, egress: dict[str, float], foot: dict[str, list],
          t0: float, max_rides: int, penalty: float) -> float:
    """Earliest (generalised) arrival at a target leaving the origin at ``t0`` (label-correcting)."""
    best = t0 + direct
    heap = [(t0 + a, s, 0) for s, a in access.items()]
    heapq.heapify(heap)
    seen: dict[tuple[str, int], float] = {}
    while heap:
        tau, s, r = heapq.heappop(heap)
        if seen.get((s, r), np.inf) <= tau or r >= max_rides:
            continue
        seen[(s, r)] = tau
        for run in runs:
            for i, (stop, _, dep, pick, _) in enumerate(run):
                if stop != s or dep < tau or not pick or i == len(run) - 1:
                    continue
                for stop2, arr2, _, _, drop in run[i + 1:]:
                    if not drop:
                        continue
                    if stop2 in egress:
                        best = min(best, arr2 + egress[stop2])
                    for to, w in foot.get(stop2, []):
                        heapq.heappush(heap, (arr2 + w + penalty, to, r + 1))
    return best - t0


def engine_inputs(feed, egress: dict[str, float], foot: dict[str, list]):
    idx = {s: i for i, s in enumerate(feed.stop_id.tolist())}
    eg = np.full(feed.n_stops, np.inf)
    for s, v in egress.items():
        eg[idx[s]] = v
    fp = [(idx[a], idx[b], w) for a, lst in foot.items() for b, w in lst]
    return eg, Footpaths(*(np.array(x) for x in zip(*fp, strict=True))), idx


EGRESS = {"G": 60.0, "F": 150.0}
FOOT = {s: [(s, 60.0)] for s in STOPS} | {"D": [("D", 60.0), ("E", 200.0)], "E": [("E", 60.0), ("D", 200.0)]}
ORIGINS = [({"A": 100.0}, np.inf), ({"A": 300.0, "B": 240.0}, 3000.0), ({"C": 50.0}, np.inf),
           ({"E": 90.0, "D": 400.0}, 1500.0), ({}, 700.0)]


@pytest.mark.unit
@pytest.mark.parametrize(("date", "max_rides", "penalty"), [(MON, 3, 0.0), (HOLIDAY, 3, 120.0), (MON, 1, 0.0)])
def test_engine_equals_brute_force(tmp_path, date, max_rides, penalty):
    feed = read_feed(write_small_feed(tmp_path / "small.zip"))
    start, end = parse_window("07:00-08:30")
    tt = feed.day(date, start, end + 3600)
    eg, foot, idx = engine_inputs(feed, EGRESS, FOOT)
    prof = stop_profiles(tt, eg, foot, max_rides=max_rides, transfer_penalty_s=penalty)
    origin = np.array([o for o, (acc, _) in enumerate(ORIGINS) for _ in acc])
    stop = np.array([idx[s] for acc, _ in ORIGINS for s in acc])
    acc_s = np.array([a for acc, _ in ORIGINS for a in acc.values()])
    minutes = np.arange(start, end, 60)
    ours = travel_times(prof, origin, stop, acc_s, np.array([d for _, d in ORIGINS]), minutes)
    runs = runs_on(date)
    ref = np.array([[brute(runs, acc, d, EGRESS, FOOT, m, max_rides, penalty) for m in minutes]
                    for acc, d in ORIGINS])
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    slow = travel_times(prof, origin, stop, acc_s, np.array([d for _, d in ORIGINS]), minutes, table_bytes=0)
    np.testing.assert_allclose(slow, ours, atol=1e-4)  # the per-second table and the binary search agree
    assert np.isfinite(ref).mean() > 0.5 and (ref < np.array([[d] for _, d in ORIGINS])).any()
    # the waits are the timetable's: along R1 (every 12 min) the time from A varies by the minute
    if date == MON and max_rides > 1:
        assert len(np.unique(np.round(ref[0][np.isfinite(ref[0])]))) > 5
    elif date == HOLIDAY:  # no R1 on the holiday: from A nothing is reached
        assert not np.isfinite(ref[0]).any()
    med = percentile(ours, 50)
    np.testing.assert_allclose(med, [np.sort(r)[int(np.ceil(0.5 * len(r))) - 1] for r in ref], atol=1e-3)


@pytest.mark.unit
def test_service_exception_day_and_times_past_midnight(tmp_path):
    feed = read_feed(write_small_feed(tmp_path / "small.zip"))
    mon = feed.day(MON, t(7, 0), t(8, 0))
    hol = feed.day(HOLIDAY, t(7, 0), t(8, 0))
    r1 = int(np.flatnonzero(feed.route_id == "R1")[0])
    assert (mon.run_route == r1).sum() > 0 and (hol.run_route == r1).sum() == 0  # weekday service removed
    assert "r2_hol" in feed.trip_id[hol.run_trip] and "r2_hol" not in feed.trip_id[mon.run_trip]
    late = int(np.flatnonzero(feed.trip_id == "r2_late")[0])
    i = np.flatnonzero(mon.run_trip == late)[0]
    assert mon.dep[mon.run_first[i]] == t(6, 55)  # 30:55 yesterday = 06:55 today
    assert "r1_night" not in feed.trip_id[mon.run_trip]
    with pytest.raises(FeedError, match=r"no service runs on 2025-06-01.*covers 2024-01-01 to 2024-12-31"):
        feed.day(dt.date(2025, 6, 1), t(7, 0), t(8, 0))


@pytest.mark.unit
@pytest.mark.parametrize(("drop", "edit", "match"), [
    ("stop_times.txt", None, "no stop_times.txt"),
    ("calendar.txt", "calendar_dates.txt", "neither calendar.txt nor calendar_dates.txt"),
    (None, ("stop_times.txt", "07:04:00", "7:4"), r"stop_times.txt, row \d+: time '7:4' is not H:MM:SS"),
    (None, ("trips.txt", "R3,ALL,r3", "R9,ALL,r3"), r"trips.txt, row \d+: route_id 'R9' is not defined"),
    (None, ("stop_times.txt", "r2_0,07:05:00", "r2_0,06:50:00"), "goes back in time"),
])
def test_bad_feeds_one_line_errors(tmp_path, drop, edit, match):
    p = write_small_feed(tmp_path / "bad.zip", drop=drop)
    if isinstance(edit, str):
        with zipfile.ZipFile(p) as z:
            files = {n: z.read(n) for n in z.namelist() if n != edit}
        with zipfile.ZipFile(p, "w") as z:
            for n, b in files.items():
                z.writestr(n, b)
    elif edit:
        with zipfile.ZipFile(p) as z:
            files = {n: z.read(n).decode() for n in z.namelist()}
        files[edit[0]] = files[edit[0]].replace(edit[1], edit[2], 1)
        with zipfile.ZipFile(p, "w") as z:
            for n, b in files.items():
                z.writestr(n, b)
    with pytest.raises(FeedError, match=match) as exc:
        read_feed(p)
    assert "\n" not in str(exc.value)


@pytest.mark.unit
def test_scenarios_and_generated_lines(tmp_path):
    feed = read_feed(write_small_feed(tmp_path / "small.zip"))
    cut = cut_section(feed, ["B"])  # R1 A-B-C loses B: split into A alone (dropped) and C alone (dropped)
    assert not any(x.startswith("r1_") for x in cut.trip_id.tolist())
    passed = drop_stops(feed, ["B"])  # R1 runs A-C without stopping at B
    r1 = [k for k, x in enumerate(passed.trip_id.tolist()) if x == "r1_0"][0]
    assert passed.stop_id[passed.st_stop[passed.trip_first[r1]:passed.trip_first[r1 + 1]]].tolist() == ["A", "C"]
    no_r3 = apply_without(feed, ("3",))
    assert "r3" not in no_r3.trip_id.tolist() and len(no_r3.freq_trip) == 0
    line = LineSpec(line_id="P", stop_ids=["C", "X", "F"], lon=np.array([126.2, 126.25, 126.5]),
                    lat=np.array([45.2, 45.25, 45.5]), leg_m=np.array([1500.0, 1500.0]), headway_min=5,
                    speed_kmh=36, start_s=t(6, 0), end_s=t(10, 0))
    gen = generate_feed([line], name="planned")
    both = concat_feeds([feed, gen])
    write_feed(both, tmp_path / "both.zip")
    back = read_feed(tmp_path / "both.zip")
    assert "X" in back.stop_id.tolist() and len(back.stop_id) == len(feed.stop_id) + 1
    day = back.day(MON, t(7, 0), t(8, 0))
    p = int(np.flatnonzero(back.route_id == "planned:P")[0])
    runs = np.flatnonzero(day.run_route == p)
    first = day.run_first[runs]
    legs = day.arr[first + 2] - day.dep[first]
    assert set(legs.tolist()) == {300}  # 3 km at 36 km/h
    assert len(runs) >= 2 * 12  # every 5 min both ways within the hour


# -- coverage --mode transit with a feed, on the synthetic city ----------------------------------
# One straight 10 km street (working CRS 4548 of the synthetic city); a facility 10 m off it at
# x = 100 m; a bus stop on the street at x = 9000 m (S1) and x = 200 m (S0); buses S1 -> S0 every
# 10 min from 07:00 taking 10 min. At 4.5 km/h (1.25 m/s) the compound 10 m off the street at
# x = 9000 m walks 8 s to S1 and from S0 110 m (88 s) to the facility; the one at x = 300 m
# walks 220 m (176 s) straight there. Leaving at 07:0k
# (k = 0..9) it boards the 07:10 bus: 1288 - 60 k s. Over 07:00-07:30 (30 minutes, each value 3
# times) the median (15th of 30) is 988 s and p75 (23rd) 1168 s; walking the 8.9 km takes 7056 s.
GK = 4548
GX, GY = 510_000.0, 4_060_000.0


def _bus_case(folder: Path) -> dict[str, str]:
    import geopandas as gpd
    from pyproj import Transformer
    from shapely.geometry import LineString, Point

    folder.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"name": ["street"], "highway": ["residential"]},
                     geometry=[LineString([(GX, GY), (GX + 10000, GY)])], crs=GK).to_file(folder / "net.gpkg")
    gpd.GeoDataFrame({"name": ["f"]}, geometry=[Point(GX + 100, GY + 10)], crs=GK).to_file(folder / "fac.gpkg")
    gpd.GeoDataFrame({"name": ["far", "near"], "population": [1, 1]},
                     geometry=[Point(GX + 9000, GY + 10), Point(GX + 300, GY + 10)], crs=GK).to_file(folder / "dem.gpkg")
    lon, lat = Transformer.from_crs(GK, 4326, always_xy=True).transform([GX + 9000, GX + 200], [GY, GY])
    stop_times = "".join(f"b{k},{hms(t(7, 10 * k))},{hms(t(7, 10 * k))},S1,1\n"
                         f"b{k},{hms(t(7, 10 * k + 10))},{hms(t(7, 10 * k + 10))},S0,2\n" for k in range(8))
    with zipfile.ZipFile(folder / "bus.zip", "w") as z:
        z.writestr("stops.txt", f"stop_id,stop_lat,stop_lon\nS1,{lat[0]:.9f},{lon[0]:.9f}\nS0,{lat[1]:.9f},{lon[1]:.9f}\n")
        z.writestr("routes.txt", "route_id,route_short_name,route_type\nB,B,3\n")
        z.writestr("trips.txt", "route_id,service_id,trip_id\n" + "".join(f"B,D,b{k}\n" for k in range(8)))
        z.writestr("stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + stop_times)
        z.writestr("calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
                                   "end_date\nD,1,1,1,1,1,0,0,20240101,20241231\n")
    return {k: str(folder / v) for k, v in (("network", "net.gpkg"), ("facilities", "fac.gpkg"),
                                              ("demand", "dem.gpkg"), ("feed", "bus.zip"))}


@pytest.mark.slow
def test_coverage_by_timetable_known_by_construction(synthetic_onemap, tmp_path):
    from cityplan.coverage.run import run_coverage

    c = _bus_case(tmp_path / "bus")

    def run(within: str, **kw):
        res = run_coverage(synthetic_onemap, facilities=[c["facilities"]], demand=c["demand"], network=c["network"],
                           method="transit", within=within, speed_kmh=4.5, scenario="existing", gtfs=[c["feed"]],
                           date="2024-04-03", depart="07:00-07:30", **kw)
        return res, res.features.set_index("name")

    res, f = run("17min")
    assert f.loc["far", "time_median_min"] == pytest.approx(988 / 60, abs=0.01)
    assert f.loc["far", "time_p75_min"] == pytest.approx(1168 / 60, abs=0.01)
    assert f.loc["far", "time_min"] == pytest.approx(988 / 60, abs=0.01) and bool(f.loc["far", "covered"])
    assert f.loc["near", "time_min"] == pytest.approx(f.loc["near", "walk_only_min"]) == pytest.approx(176 / 60, abs=0.01)
    assert res.params["transit"]["date"] == "2024-04-03" and res.params["transit"]["depart"] == "07:00-07:30"
    # the counterfactual without route B: walking only, beyond three times the limit
    eff = res.network_effect
    assert eff is None or set(eff["without"]) == set()
    res2, f2 = run("16min", without_lines=["B"])
    assert not bool(f2.loc["far", "covered"])  # the median 16.47 min is over 16 min
    assert bool(res2.scenarios["existing"].features.set_index("name").loc["far", "covered"]) is False
    cut = res2.scenarios["existing without B"].features.set_index("name")
    assert np.isnan(cut.loc["far", "time_min"]) and cut.loc["far", "status"] == "not covered (beyond 3x limit)"
    with pytest.raises(FeedError, match=r"no service runs on 2024-04-06.*give --date"):
        run_coverage(
            synthetic_onemap, facilities=[c["facilities"]], demand=c["demand"], network=c["network"], method="transit",
            within="17min", gtfs=[c["feed"]], date="2024-04-06", depart="07:00-07:30", scenario="existing")


@pytest.mark.slow
def test_city_new_gtfs_adds_transit(tmp_path, monkeypatch):
    """``city new --gtfs``: a bad feed is refused before anything is written; a good one is copied
    and named in transit.yaml, and after the build ``--mode transit`` uses it (no --gtfs)."""
    from cityplan.build import build_onemap
    from cityplan.coverage.run import run_coverage
    from cityplan.profile import load_profile
    from cityplan.transit.settings import load_transit
    from cli_invoke import invoke
    from synthetic_city import write_city

    monkeypatch.chdir(tmp_path)  # city new names the city in ./cityplan.toml
    src = write_city(tmp_path / "src")
    c = _bus_case(tmp_path / "bus")
    bad = write_small_feed(tmp_path / "bad.zip", drop="stops.txt")
    r = invoke("city", "new", "Synthetic", "--osm", src.osm, "--districts", src.districts, "--gtfs", bad,
               "--out", tmp_path / "refused")
    assert r.exit_code == 2 and "no stops.txt" in " ".join(r.output.split()) and not (tmp_path / "refused").exists()
    r = invoke("city", "new", "Synthetic", "--osm", src.osm, "--districts", src.districts, "--census", src.census,
               "--gtfs", c["feed"], "--out", tmp_path / "city")
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "GTFS bus.zip: 2 stops, 1 routes, 8 trips" in out and "service 2024-01-01 to 2024-12-31" in out
    settings = load_transit(load_profile(tmp_path / "city"))
    assert settings["feeds"] == ["transit/bus.zip"] and settings["date"] is None
    assert (tmp_path / "city" / "transit" / "bus.zip").read_bytes() == Path(c["feed"]).read_bytes()
    from cityplan.coverage.spec import make_spec
    from cityplan.network.graph import load_speeds

    prof = load_profile(tmp_path / "city")  # no metro in speeds.yaml: --mode transit is by timetable
    assert make_spec(facilities=["x"], method="transit", within="9min").uses_timetable(settings, load_speeds(prof))
    gpkg = build_onemap(city=tmp_path / "city", data=tmp_path / "city", out=tmp_path / "city.gpkg").path
    res = run_coverage(gpkg, facilities=[c["facilities"]], demand=c["demand"], network=c["network"], method="transit",
                       within="17min", speed_kmh=4.5, scenario="existing", depart="07:00-07:30")
    f = res.features.set_index("name")
    assert f.loc["far", "time_median_min"] == pytest.approx(988 / 60, abs=0.01)  # as with --gtfs
    assert any("analysis date assumed" in w for w in res.warnings)


@pytest.mark.unit
def test_planned_line_along_its_geometry():
    from cityplan.schema.transit import TransitFeedsModel
    from cityplan.transit.settings import _planned

    # an L-shaped course 0.01 deg east then 0.01 deg north (~ 780 m + 1110 m at 45.2 N); the stops
    # at its ends and corner: legs follow the course, a straight line would cut the corner
    raw = {"source": "a test of planned lines", "planned_lines": {"P": {
        "stops": [{"id": "a", "lon": 126.60, "lat": 45.20}, {"id": "b", "lon": 126.61, "lat": 45.20},
                  {"id": "c", "lon": 126.61, "lat": 45.21}],
        "geometry": [[126.60, 45.20], [126.61, 45.20], [126.61, 45.21]],
        "headway_min": 5, "speed_kmh": 30, "source": "a test of planned lines"}}}
    settings = TransitFeedsModel.model_validate(raw).model_dump()
    (line,) = _planned(settings, None)
    assert line.leg_m[0] == pytest.approx(784, rel=0.01) and line.leg_m[1] == pytest.approx(1112, rel=0.01)
    raw["planned_lines"]["P"].pop("geometry")
    (straight,) = _planned(TransitFeedsModel.model_validate(raw).model_dump(), None)
    np.testing.assert_allclose(straight.leg_m, line.leg_m, rtol=1e-3)  # corners at stops: the same legs


@pytest.mark.slow
def test_harbin_ice_circle_by_timetable_beside_the_headway_model(onemap):
    """Harbin's metro as a generated feed: existing and planned, with and without the NW loop,
    beside the headway model (docs/transit.md explains the differences)."""
    from cityplan.coverage.run import run_coverage

    tt = run_coverage(onemap, preset="ice-30min", method="transit", depart="07:00-08:00")
    hw = run_coverage(onemap, preset="ice-30min", method="transit")  # Harbin's default: the headway model
    assert tt.params["transit"]["engine"].startswith("timetable") and "transit" in hw.params
    assert tt.params["without_lines"] == ["3-nw"] == hw.params["without_lines"]
    eff = tt.network_effect.set_index(["scenario", "district"])
    assert eff.loc[("existing", "(all)"), "population_gained"] == 0  # no existing rink's trips use the loop
    assert eff.loc[("planned", "(all)"), "population_gained"] > 0
    a, b = tt.features["time_min"].to_numpy(), hw.features["time_min"].to_numpy()  # the same compounds, in order
    both = np.isfinite(a) & np.isfinite(b)
    d = (a - b)[both]
    assert both.sum() > 1000 and abs(np.median(d)) < 1.0 and (np.abs(d) < 3.5).mean() > 0.9
    # with the loop cut the timetable is never faster (the cut network is a subset)
    cut = tt.scenarios["planned without 3-nw"].features["time_min"].fillna(1e9).to_numpy()
    full = tt.scenarios["planned"].features["time_min"].fillna(1e9).to_numpy()
    assert (full <= cut + 1e-6).all()
    f = tt.features
    m = f["time_median_min"].notna()
    assert m.sum() > 1000 and (f.loc[m, "time_median_min"] <= f.loc[m, "time_p75_min"].fillna(np.inf)).all()
    ok = f["time_min"].notna() & f["walk_only_min"].notna()
    assert (f.loc[ok, "time_min"] <= f.loc[ok, "walk_only_min"] + 1e-6).all()


@pytest.mark.unit
def test_interchanges_from_walks_parent_stations_and_transfers_txt(tmp_path):
    from cityplan.transit.access import footpaths

    feed = read_feed(write_small_feed(tmp_path / "small.zip"))
    i = {s: k for k, s in enumerate(feed.stop_id.tolist())}
    feed.stop_parent[[i["D"], i["E"]]] = i["G"]  # D and E: platforms of station G
    feed.tr_from, feed.tr_to = np.array([i["A"], i["B"], i["C"]]), np.array([i["B"], i["C"], i["C"]])
    feed.tr_type, feed.tr_min_s = np.array([3, 2, 2]), np.array([0, 240, 300])
    walks = (np.array([i["A"], i["B"], i["F"]]), np.array([i["B"], i["A"], i["F"]]), np.array([100.0, 100.0, 0.0]))
    fp = footpaths(feed, walks, min_change_s=60, walk_ms=1.25)
    got = {(feed.stop_id[a], feed.stop_id[b]): s for a, b, s in zip(fp.frm, fp.to, fp.secs, strict=True)}
    assert ("A", "B") not in got and got[("B", "A")] == 100.0  # type 3 forbids one direction only
    assert got[("B", "C")] == 240 and got[("C", "C")] == 300  # type 2: its minimum transfer time
    assert got[("F", "F")] == 60 and got[("A", "A")] == 60  # changing at a stop: the minimum change time
    # platforms of one station, 0.1 deg of longitude and latitude apart at 45.3-45.4 N: ~13.5 km / 1.25 m/s + 60 s
    assert got[("D", "E")] == got[("E", "D")] == pytest.approx(13_470 / 1.25 + 60, rel=0.01)
