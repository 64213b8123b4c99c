"""Benchmark: timetable transit coverage on a city-sized synthetic feed and walk grid (issue 28).

Generates (nothing downloaded):

- a walk grid of ``--grid`` x ``--grid`` nodes 50 m apart (501 x 501: 250,000 nodes, 501,000 edges);
- bus lines along every ``--every``-th grid row and column (both directions), a stop every 400 m
  (``--grid 501 --every 8``: 126 lines, ~7,900 stops), scheduled trips every ``--headway`` minutes from
  05:30 to 22:00 (stop_times.txt rows: >= 1 M), written as a GTFS zip and read back;
- ``--facilities`` random facilities and ``--compounds`` random compounds.

Then, timed in one process (wall and CPU time - the machine is shared, so both - and peak RSS
of the process, ``getrusage``): reading the
feed, and :func:`cityplan.transit.access.feed_search` (snapping, walks from every stop, the
time-expanded search, every departure minute of a 1-hour window, median and p75) for a
30-minute coverage, plus the isochrone. Prints JSON (machine, load from ``uptime``).

    python benchmarks/bench_transit_feed.py [--grid 501] [--every 8] [--headway 10] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cityplan.network.graph import graph_from_edges, load_speeds  # noqa: E402
from cityplan.network.search import isochrone, reached_lines  # noqa: E402
from cityplan.profile import load_profile  # noqa: E402
from cityplan.transit.access import FeedNetwork, feed_search  # noqa: E402
from cityplan.transit.gtfs import read_feed  # noqa: E402
from cityplan.transit.settings import DEFAULTS  # noqa: E402

CRS = 32652  # UTM 52N (Harbin's longitude)
X0, Y0 = 500000.0, 5060000.0
SPACING = 50.0


def walk_grid(n: int) -> gpd.GeoDataFrame:
    """An n x n grid of streets 50 m apart as an edge table."""
    ids = np.arange(n * n).reshape(n, n)
    xs = X0 + np.arange(n) * SPACING
    ys = Y0 + np.arange(n) * SPACING
    h_u, h_v = ids[:, :-1].ravel(), ids[:, 1:].ravel()
    v_u, v_v = ids[:-1, :].ravel(), ids[1:, :].ravel()
    u, v = np.r_[h_u, v_u], np.r_[h_v, v_v]
    xy = np.column_stack([np.tile(xs, n), np.repeat(ys, n)])
    coords = np.stack([xy[u], xy[v]], axis=1).reshape(-1, 2)
    geoms = shapely.linestrings(coords, indices=np.repeat(np.arange(len(u)), 2))
    return gpd.GeoDataFrame({"source": u, "target": v, "reverse": 1, "class_id": "residential"},
                            geometry=geoms, crs=CRS)


def write_feed(path: Path, n: int, every: int, headway_min: float, stop_m: float = 400.0) -> dict:
    """Bus lines along grid rows/columns, scheduled trips (stop_times rows), as a GTFS zip."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs(CRS, 4326, always_xy=True)
    span = (n - 1) * SPACING
    along = np.arange(0.0, span + 1e-9, stop_m)
    stops_xy, lines = [], []
    for k, c in enumerate(np.arange(every // 2, n, every) * SPACING):
        for vertical in (False, True):
            # stops 12 m off the street centre line (a curb), each line its own stops
            off = np.full(len(along), c + 12.0)
            xy = np.column_stack([X0 + off, Y0 + along]) if vertical else np.column_stack([X0 + along, Y0 + off])
            first = len(stops_xy) and sum(len(s) for s in stops_xy)
            stops_xy.append(xy)
            lines.append((f"{'V' if vertical else 'H'}{k}", first + np.arange(len(xy))))
    xy = np.vstack(stops_xy)
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    speed = 20 / 3.6  # buses at 20 km/h including stops
    ride = np.round(stop_m / speed)
    starts = np.arange(5.5 * 3600, 22 * 3600, headway_min * 60)
    trips, st_rows = [], []
    for rid, stops in lines:
        for d, seq in enumerate((stops, stops[::-1])):
            t_off = np.arange(len(seq)) * ride
            for j, s0 in enumerate(starts + d * 60 * (int(rid[1:]) % 5)):
                tid = f"{rid}_{d}_{j}"
                trips.append(f"{rid},ALL,{tid}\n")
                tt = (s0 + t_off).astype(int)
                st_rows.append("".join(f"{tid},{h:02d}:{m:02d}:{x:02d},{h:02d}:{m:02d}:{x:02d},S{s},{i + 1}\n"
                                       for i, (s, h, m, x) in enumerate(zip(seq, tt // 3600, tt // 60 % 60, tt % 60,
                                                                           strict=True))))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("stops.txt", "stop_id,stop_lat,stop_lon\n" + "".join(
            f"S{i},{a:.7f},{b:.7f}\n" for i, (a, b) in enumerate(zip(lat, lon, strict=True))))
        z.writestr("routes.txt", "route_id,route_short_name,route_type\n" + "".join(f"{r},{r},3\n" for r, _ in lines))
        z.writestr("trips.txt", "route_id,service_id,trip_id\n" + "".join(trips))
        z.writestr("stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + "".join(st_rows))
        z.writestr("calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                                   "start_date,end_date\nALL,1,1,1,1,1,1,1,20240101,20241231\n")
    return {"stops": len(xy), "routes": len(lines), "trips": len(trips),
            "stop_times": int(sum(r.count("\n") for r in st_rows))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=501)
    ap.add_argument("--every", type=int, default=8)
    ap.add_argument("--headway", type=float, default=10.0)
    ap.add_argument("--facilities", type=int, default=60)
    ap.add_argument("--compounds", type=int, default=20000)
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="bench-transit-"))
    work.mkdir(parents=True, exist_ok=True)
    feed_path = work / "city.zip"
    t = time.perf_counter()
    counts = write_feed(feed_path, a.grid, a.every, a.headway)
    gen_s = time.perf_counter() - t
    edges = walk_grid(a.grid)
    speeds = load_speeds(load_profile("harbin"))
    walk = graph_from_edges(edges, crs=CRS, speeds=speeds)
    rng = np.random.default_rng(28)
    span = (a.grid - 1) * SPACING
    fac_xy = np.column_stack([X0 + rng.uniform(0, span, a.facilities), Y0 + rng.uniform(0, span, a.facilities)])
    dem_xy = np.column_stack([X0 + rng.uniform(0, span, a.compounds), Y0 + rng.uniform(0, span, a.compounds)])
    del edges
    # -- timed: read the feed, search, isochrone ------------------------------------------------
    t0, c0 = time.perf_counter(), time.process_time()
    feed = read_feed(feed_path)
    t_read = time.perf_counter() - t0
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, CRS, always_xy=True).transform(feed.stop_lon, feed.stop_lat)
    settings = dict(DEFAULTS)
    import datetime as dt

    net = FeedNetwork(walk=walk, feed=feed, settings=settings, date=dt.date(2024, 4, 3), window=(7 * 3600, 8 * 3600),
                      walk_kmh=None, stop_xy=np.column_stack([x, y]))
    t1 = time.perf_counter()
    fs = feed_search(net, fac_xy, np.arange(len(fac_xy)), dem_xy, np.zeros(len(dem_xy), bool), limit_s=1800,
                     max_snap_m=300, horizon_s=3 * 1800)
    t_search = time.perf_counter() - t1
    t2 = time.perf_counter()
    iso = isochrone(reached_lines(walk, fs.reach, 1800), 100.0)
    t_iso = time.perf_counter() - t2
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    covered = float(np.mean(fs.cost <= 1800))
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "python": platform.python_version(),
        "load": subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip(),
        "walk_nodes": walk.n_nodes, "walk_edges": len(walk.u), **counts, "compounds": a.compounds,
        "facilities": a.facilities, "window": "07:00-08:00 (60 departure minutes)", "limit": "30 min",
        "generate_feed_s": round(gen_s, 1), "read_feed_s": round(t_read, 1), "search_s": round(t_search, 1),
        "isochrone_s": round(t_iso, 1), "total_s": round(total, 1), "total_cpu_s": round(cpu, 1),
        "total_without_isochrone_s": round(total - t_iso, 1), "peak_rss_gb": round(rss_gb, 2),
        "search_params": fs.params, "share_covered_median": round(covered, 4),
        "share_transit_beats_walking": round(float(np.mean(fs.median < fs.walk_only - 1)), 4),
        "isochrone_km2": round(iso.area / 1e6, 1),
    }
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
