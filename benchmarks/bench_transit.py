"""Benchmark: transit coverage end to end (walk network + metro) next to the walk-only run, same process.

Runs ``ice-30min`` on the sample one map (default ``layers/build/harbin.gpkg``; build it first):

* walk only (road graph, winter walking), both scenarios;
* transit (walk network + Metro Lines 1-3), both scenarios, and the counterfactual without the
  Line 3 north-west loop (4 searches);
* transit, planned scenario only, no counterfactual (one search).

Each is timed end to end from an opened one map (inputs read, search, isochrones, areas,
per-district tables), median of ``--repeat`` after one warm-up run that fills the store's caches
(routing graphs, prepared demand); the cold first transit run is reported too.

    python benchmarks/bench_transit.py [--onemap FILE] [--repeat 3] [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cityplan.coverage import run_coverage  # noqa: E402
from cityplan.onemap import OneMap  # noqa: E402

CASES = {
    "walk, existing + planned": {"preset": "ice-30min"},
    "transit, existing + planned, with and without 3-nw": {"preset": "ice-30min", "method": "transit"},
    "transit, planned only, no counterfactual": {"preset": "ice-30min", "method": "transit", "scenario": "planned",
                                                 "without_lines": []},
}


def _time(om: OneMap, kw: dict) -> float:
    t = time.perf_counter()
    run_coverage(om, **kw)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onemap", default=str(ROOT / "layers" / "build" / "harbin.gpkg"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    om = OneMap.open(a.onemap)
    cold = _time(OneMap.open(a.onemap), CASES["transit, existing + planned, with and without 3-nw"])
    rows = {}
    for name, kw in CASES.items():
        _time(om, kw)  # warm-up
        times = [_time(om, kw) for _ in range(a.repeat)]
        rows[name] = {"median_s": round(statistics.median(times), 2), "runs": [round(t, 2) for t in times]}
    res = run_coverage(om, **CASES["transit, existing + planned, with and without 3-nw"])
    eff = res.network_effect
    allrow = eff[(eff["district"] == "(all)") & (eff["scenario"] == "planned")].iloc[0]
    out = {
        "date": dt.date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
        f"{platform.processor() or platform.platform()}", "python": platform.python_version(),
        "onemap": a.onemap, "first_transit_run_s": round(cold, 2), "cases": rows,
        "planned_population_gained_by_3nw": float(allrow["population_gained"]),
    }
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
