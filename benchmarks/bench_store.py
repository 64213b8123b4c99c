"""Benchmark: the one map in PostGIS vs the GeoPackage, side by side in one run.

* build the Harbin one map into each backend (``build_onemap``, same data, same process);
* a bbox read of the largest layer (a 2 km x 2 km window in the centre) from each;
* a full read of the largest layer from each.

A throw-away PostgreSQL 15 + PostGIS cluster is started (``tests/pgserver.py``) and removed.

    python benchmarks/bench_store.py [--repeat 3] [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cityplan.build import build_onemap  # noqa: E402
from cityplan.onemap import OneMap  # noqa: E402
from pgserver import PgServer  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    server = PgServer().start()
    try:
        url = server.new_database("bench") + "?schema=harbin"
        with tempfile.TemporaryDirectory() as d:
            gpkg = Path(d) / "harbin.gpkg"
            builds: dict[str, list[float]] = {"gpkg": [], "postgis": []}
            for _ in range(args.repeat):  # interleaved, so load changes hit both alike
                builds["gpkg"].append(timed(lambda: build_onemap(out=gpkg, overwrite=True)))
                builds["postgis"].append(timed(lambda: build_onemap(out=url, overwrite=True)))
            g, p = OneMap.open(gpkg), OneMap.open(url)
            sizes = {lid: len(g.layer(lid)) for lid in g.layer_ids}
            largest = max(sizes, key=sizes.get)
            minx, miny, maxx, maxy = g.extent
            cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
            box = (cx - 0.0128, cy - 0.009, cx + 0.0128, cy + 0.009)  # ~2 km x 2 km at 45.7 N
            reads: dict[str, dict[str, list[float]]] = {"gpkg": {"bbox": [], "full": []},
                                                        "postgis": {"bbox": [], "full": []}}
            n_bbox = {}
            for _ in range(max(5, args.repeat)):
                for name, om in (("gpkg", g), ("postgis", p)):
                    t = time.perf_counter()
                    part = om.store.read(largest, bbox=box)
                    reads[name]["bbox"].append(time.perf_counter() - t)
                    n_bbox[name] = len(part)
                    reads[name]["full"].append(timed(lambda om=om: om.store.read(largest)))
    finally:
        server.stop()
    med = statistics.median
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "python": platform.python_version(), "platform": platform.platform(),
        "build_s": {k: round(med(v), 2) for k, v in builds.items()},
        "build_ratio_postgis_to_gpkg": round(med(builds["postgis"]) / med(builds["gpkg"]), 2),
        "largest_layer": largest, "largest_layer_features": sizes[largest],
        "bbox_features": n_bbox,
        "bbox_read_ms": {k: round(1000 * med(v["bbox"]), 1) for k, v in reads.items()},
        "full_read_ms": {k: round(1000 * med(v["full"]), 1) for k, v in reads.items()},
        "runs": {"build": builds},
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
