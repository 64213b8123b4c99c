"""Benchmark: the city check-up on Dask vs a serial loop, and one very large stitched city.

1. **Many cities.** ``--cities N`` synthetic copies of the central-Harbin one map
   (:func:`cityplan.checkup.synthetic.synthetic_country`) x the standard check-up presets, run
   twice from the same cold state (every copy's derived-array cache emptied before each run):
   a serial loop in this process (``scheduler="serial"``) and a Dask ``LocalCluster`` with one
   process per core (one Dask task per city). The two tables must be identical. Wall times on a
   shared machine swing with other people's load, so it also reports CPU seconds per task
   (``time.process_time``): ``cpu_speedup_2_workers`` = serial CPU / the makespan of the Dask
   run's per-city CPU times on its workers. From the serial run's per-city times it projects 300
   cities on 10 workers (longest-first list scheduling of the measured times, repeated 300/N
   times) - a projection, not a measurement.
2. **One very large city.** ``--stitched K`` copies side by side in ONE one map
   (:func:`cityplan.checkup.synthetic.stitched_onemap`: one road graph joined by connector
   roads). ``cityplan coverage`` end to end in a subprocess under ``/usr/bin/time -v`` (wall
   time, peak RSS), cold (graph and demand caches built) and warm; every copy's per-district
   shares must equal the original's.

    python benchmarks/bench_checkup.py [--cities 300] [--stitched 100] [--work DIR] [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cityplan.checkup.run import STANDARD_PRESETS, run_checkup  # noqa: E402
from cityplan.checkup.synthetic import clear_caches, copy_onemap, stitched_onemap, synthetic_country  # noqa: E402
from cityplan.checkup.tasks import COLUMNS  # noqa: E402


def makespan(seconds: list[float], workers: int) -> float:
    """Longest-processing-time-first list scheduling of ``seconds`` on ``workers``."""
    heap = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(heap, heap[0] + s)
    return max(heap)


def many_cities(n: int, presets: tuple[str, ...], work: Path, source: Path) -> dict:
    folder = work / f"country-{n}"
    t0 = time.perf_counter()
    paths = sorted(folder.glob("*.gpkg")) if folder.exists() else []
    if len(paths) != n:
        paths = synthetic_country(n, folder, source=source, overwrite=True)
    t_gen = time.perf_counter() - t0
    clear_caches(paths)
    serial = run_checkup(folder, presets=presets, scheduler="serial", out=work / "out-serial", overwrite=True,
                         overview_map=False)
    serial_load = os.getloadavg()
    clear_caches(paths)
    dask = run_checkup(folder, presets=presets, out=work / "out-dask", overwrite=True, overview_map=False)
    lead = list(COLUMNS)
    a = serial.table[lead].reset_index(drop=True)
    b = dask.table[lead].reset_index(drop=True)
    identical = a.equals(b)
    per_task = dask.tasks["seconds"].dropna().tolist()
    per_task_serial = serial.tasks["seconds"].dropna().tolist()
    scale = 300 / n
    per_city = serial.tasks.groupby("city")["seconds"].sum().tolist()  # one Dask task per city
    proj10 = makespan(per_city * round(scale), 10)
    cpu_serial = float(serial.tasks["cpu_seconds"].sum())
    cpu_city_dask = dask.tasks.groupby("city")["cpu_seconds"].sum().tolist()
    return {
        "cities": n, "presets": list(presets), "tasks": len(serial.tasks), "generate_s": round(t_gen, 1),
        "serial_s": round(serial.wall_seconds, 1), "dask_s": round(dask.wall_seconds, 1),
        "dask_scheduler": dask.scheduler, "speedup": round(serial.wall_seconds / dask.wall_seconds, 2),
        "identical": bool(identical), "rows": len(a), "errors": len(serial.errors) + len(dask.errors),
        "task_s_serial_sum": round(sum(per_task_serial), 1), "task_s_dask_sum": round(sum(per_task), 1),
        "task_s_serial_median": round(float(pd.Series(per_task_serial).median()), 2),
        "cpu_s_serial_sum": round(cpu_serial, 1), "cpu_s_dask_sum": round(sum(cpu_city_dask), 1),
        "cpu_speedup_2_workers": round(cpu_serial / makespan(cpu_city_dask, dask.workers), 2),
        "load_avg_after_serial": serial_load, "load_avg_after_dask": os.getloadavg(),
        "serial_300_extrapolated_s": round(serial.wall_seconds * scale, 0),
        "dask_300_extrapolated_s": round(dask.wall_seconds * scale, 0),
        "projected_300_on_10_workers_s": round(proj10, 0),
    }


def timed_subprocess(cmd: list[str]) -> dict:
    """``cmd`` under ``/usr/bin/time -v``: wall, user + system CPU seconds, peak RSS, load averages."""
    before = os.getloadavg()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", r.stderr))
    secs = 0.0
    if wall:
        for part in wall.group(1).split(":"):
            secs = secs * 60 + float(part)
    return {"rc": r.returncode, "wall_s": round(secs, 1), "cpu_s": round(cpu, 1),
            "peak_gb": round(int(rss.group(1)) / 1e6, 2) if rss else None,
            "load_avg_before": before, "load_avg_after": os.getloadavg(),
            "stderr_tail": r.stderr.strip().splitlines()[-25:-22] if r.returncode else []}


def stitched(k: int, preset: str, work: Path, source: Path) -> dict:
    path = work / f"stitched-{k}.gpkg"
    t0 = time.perf_counter()
    if not path.exists():
        stitched_onemap(k, path, source=source, layers=["schools_points", "parks"], overwrite=True)
    t_gen = time.perf_counter() - t0
    ref = work / "reference.gpkg"  # the original with an empty cache, computed by this code
    copy_onemap(source, ref, dx=0, dy=0, city="reference", overwrite=True)
    clear_caches([path])
    runs = {}
    for label in ("cold", "warm"):
        out = work / f"stitched-{k}-{label}"
        cmd = [sys.executable, "-m", "cityplan", "-q", "coverage", "--preset", preset, "--onemap", str(path),
               "--out", str(out), "--no-map", "--overwrite"]
        runs[label] = timed_subprocess(cmd)
    got = pd.read_csv(next((work / f"stitched-{k}-warm").glob("*district*.csv")), encoding="utf-8-sig")
    from cityplan.coverage import run_coverage

    want = run_coverage(ref, preset=preset).by_scenario
    cols = ["population_share", "area_share", "features_covered"]
    got = got[got["district"] != "(all)"].copy()
    got["base"] = got["adcode"].astype(str).str.split("-").str[0]
    got["copy"] = got["adcode"].astype(str).str.split("-").str[1]
    w = want[want["district"] != "(all)"].assign(base=lambda d: d["adcode"].astype(str))
    m = got.merge(w, on=["scenario", "base"], suffixes=("", "_ref"))
    same = all((m[c] == m[f"{c}_ref"]).all() for c in cols) and len(m) == len(got)
    info = pd.read_csv(next((work / f"stitched-{k}-warm").glob("*district*.csv")), encoding="utf-8-sig", nrows=0)
    return {"copies": k, "preset": preset, "generate_s": round(t_gen, 1), "file_mb": round(path.stat().st_size / 1e6),
            "cold": runs["cold"], "warm": runs["warm"], "copies_equal_original": bool(same),
            "rows_compared": len(m), "columns": list(info.columns)[:4]}


def graph_size(path: Path) -> dict:
    from cityplan.coverage.inputs import road_graph
    from cityplan.onemap import OneMap

    g, _ = road_graph(OneMap.open(path), None)
    m = g.matrix("walk", "m")
    return {"nodes": int(g.n_nodes), "edges": len(g.u), "directed_walk_edges": int(m.nnz)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=300)
    ap.add_argument("--presets", default=",".join(STANDARD_PRESETS))
    ap.add_argument("--stitched", type=int, default=100)
    ap.add_argument("--stitched-preset", default="primary-school-500m")
    ap.add_argument("--skip-cities", action="store_true")
    ap.add_argument("--skip-stitched", action="store_true")
    ap.add_argument("--work", type=Path, default=Path("/tmp/cityplan-bench-checkup"))
    ap.add_argument("--source", type=Path, default=ROOT / "layers" / "build" / "harbin.gpkg")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    res: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
                 "cpus": os.cpu_count(), "python": platform.python_version(),
                 "load_avg_start": os.getloadavg()}
    if not a.skip_cities:
        res["many_cities"] = many_cities(a.cities, tuple(a.presets.split(",")), a.work, a.source)
        print(json.dumps(res["many_cities"], indent=1), flush=True)
    if not a.skip_stitched:
        res["stitched"] = stitched(a.stitched, a.stitched_preset, a.work, a.source)
        res["stitched"]["graph"] = graph_size(a.work / f"stitched-{a.stitched}.gpkg")
        print(json.dumps(res["stitched"], indent=1), flush=True)
    res["load_avg_end"] = os.getloadavg()
    text = json.dumps(res, indent=1, ensure_ascii=False)
    print(text)
    if a.out:
        a.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
