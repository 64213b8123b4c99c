"""Benchmark: the map search over every layer of a one map's recipe (``GET /api/search``'s work).

Builds the :class:`cityplan.services.search.SearchIndex` of the recipe's layers as the server does
(:meth:`cityplan.server.viewlayers.MapLayers.search_index`, layers prepared first and timed apart),
then answers a list of queries (Chinese, English, pinyin, ids) many times; reports the index build
time, its features, and query latency (median, p95, max) in milliseconds.

    python benchmarks/bench_map_search.py --onemap harbin.gpkg [--repeat 50] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUERIES = ["太阳岛", "Sun Island", "斯大林", "Stalin", "3号线", "Line 3", "taiyangdao", "tyd", "way/", "230103",
           "公园", "park", "中央大街", "x"]


def main() -> None:
    """Run the benchmark and print (and optionally write) the results as JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--onemap", required=True)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--out")
    args = ap.parse_args()
    from cityplan.onemap import OneMap
    from cityplan.server.viewlayers import MapLayers

    ml = MapLayers(OneMap.open(args.onemap), basemap="none")
    t0 = time.perf_counter()
    ml.warm()
    prepared = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = ml.search_index()
    built = time.perf_counter() - t0
    features = sum(len(ml.get(lid).rows) for lid in ml.order())
    times = []
    for _ in range(args.repeat):
        for q in QUERIES:
            t = time.perf_counter()
            index.search(q, limit=12)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    out = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
           "layers": len(ml.order()), "features": features, "layers_prepared_s": round(prepared, 2),
           "index_build_s": round(built, 2), "queries": len(times),
           "query_ms_median": round(statistics.median(times), 2),
           "query_ms_p95": round(times[int(0.95 * len(times))], 2), "query_ms_max": round(times[-1], 2)}
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
