"""Benchmark: what Dask's default worker settings cost a check-up, side by side in one run.

The same N synthetic cities x the five check-up presets, from the same cold state (every copy's
derived-array cache emptied before each run), three ways:

1. ``serial``: a loop in this process (the reference);
2. ``dask-default``: a LocalCluster of one process per core with Dask's default worker settings
   (sampling profiler every 10 ms, 20 ms event-loop ticks, ...);
3. ``dask-checkup``: the LocalCluster ``cityplan checkup`` starts (``LOCAL_WORKER_CONFIG``).

It prints wall seconds and the jobs' summed wall and CPU seconds (``time.process_time`` in each
job, so CPU the worker's own threads take from a job counts against it) and checks that the
three tables are identical.

    python benchmarks/bench_dask_workers.py [--cities 8] [--repeat 2] [--work DIR] [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cityplan.checkup import run as checkup_run  # noqa: E402
from cityplan.checkup.synthetic import clear_caches, synthetic_country  # noqa: E402
from cityplan.checkup.tasks import COLUMNS  # noqa: E402


def one_run(folder: Path, paths: list[Path], mode: str) -> tuple[dict, object]:
    clear_caches(paths)
    t = time.perf_counter()
    if mode == "serial":
        res = checkup_run.run_checkup(folder, scheduler="serial", out=None, overview_map=False)
    elif mode == "dask-default":  # the same cluster without the check-up's worker settings
        with mock.patch.dict(checkup_run.LOCAL_WORKER_CONFIG, clear=True):
            res = checkup_run.run_checkup(folder, out=None, overview_map=False)
    else:
        res = checkup_run.run_checkup(folder, out=None, overview_map=False)
    wall = time.perf_counter() - t
    tk = res.tasks
    return {"mode": mode, "wall_s": round(wall, 1), "jobs_wall_s": round(float(tk["seconds"].sum()), 1),
            "jobs_cpu_s": round(float(tk["cpu_seconds"].sum()), 1), "load_avg_after": os.getloadavg()}, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cityplan-bench-dask-workers"))
    ap.add_argument("--source", type=Path, default=ROOT / "layers" / "build" / "harbin.gpkg")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    folder = a.work / f"country-{a.cities}"
    paths = sorted(folder.glob("*.gpkg")) if folder.exists() else []
    if len(paths) != a.cities:
        paths = synthetic_country(a.cities, folder, source=a.source, overwrite=True)
    res: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
                 "cpus": os.cpu_count(), "python": platform.python_version(), "cities": a.cities,
                 "worker_config": dict(checkup_run.LOCAL_WORKER_CONFIG), "load_avg_start": os.getloadavg(),
                 "runs": []}
    tables = {}
    for _ in range(a.repeat):
        for mode in ("serial", "dask-default", "dask-checkup"):
            row, r = one_run(folder, paths, mode)
            res["runs"].append(row)
            tables.setdefault(mode, r.table[list(COLUMNS)].reset_index(drop=True))
            print(json.dumps(row), flush=True)
    ref = tables["serial"]
    res["identical"] = all(t.equals(ref) for t in tables.values())
    text = json.dumps(res, indent=1, ensure_ascii=False)
    print(text)
    if a.out:
        a.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
