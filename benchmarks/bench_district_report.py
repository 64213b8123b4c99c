"""Benchmark: the district office's report (issue #26) - wall and CPU time of
``cityplan report --district`` on a fresh copy of the one map: first **cold** (no coverage stored for
the build: the report computes and stores it), then **warm** (coverage already stored, as after
``cityplan coverage store`` or a dashboard's background run), and the size of its ``report.html``.

    .venv/bin/python benchmarks/bench_district_report.py [--onemap FILE | --data DIR] [--district 南岗]
        [--paper A3] [--runs 2] [--src OTHER/src]

Without ``--onemap`` the Harbin one map is built from ``--data`` (default ../shared/data/harbin)
into a temporary folder first (not timed). ``--src`` runs another checkout's ``src`` (e.g. the
commit before, exported with ``git archive``) on the same machine for a before/after pair; code
that stores nothing is simply cold every time. Prints one line per run and a JSON summary
(machine, load, date) to paste into docs/benchmarks.md. CPU time (user + sys of the report
process and its children) shows the work apart from the machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onemap", help="a built one map (copied; never written)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "harbin"))
    ap.add_argument("--district", default="南岗")
    ap.add_argument("--paper", default="A3", choices=["A4", "A3"])
    ap.add_argument("--runs", type=int, default=2, help="runs after the cold one")
    ap.add_argument("--src", help="run this source tree's cityplan instead of the installed one")
    args = ap.parse_args()
    env = {**os.environ, **({"PYTHONPATH": str(Path(args.src).resolve())} if args.src else {})}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        copy = work / "map.gpkg"
        if args.onemap:
            shutil.copy(args.onemap, copy)
        else:
            subprocess.run([sys.executable, "-m", "cityplan", "build", "--city", "harbin", "--data", args.data,
                            "--out", str(copy)], cwd=work, check=True, capture_output=True, env=env)
        rows = []
        for i in range(args.runs + 1):
            out = work / f"report{i}"
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), _cpu()
            subprocess.run([sys.executable, "-m", "cityplan", "report", "--district", args.district, "--paper",
                            args.paper, "--onemap", str(copy), "--out", str(out)], cwd=work, check=True,
                           capture_output=True, env=env)
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            size = (out / "report.html").stat().st_size
            kind = "cold" if i == 0 else "warm"
            rows.append({"run": kind, "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                         "load_before": round(load, 2), "report_html_bytes": size})
            print(f"{kind}: {wall:.1f} s wall, {cpu:.1f} s CPU (load {load:.2f}), report.html {size / 1024:.0f} KiB",
                  flush=True)
    print(json.dumps({"when": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"), "machine": platform.machine(),
                      "cpus": os.cpu_count(), "load": os.getloadavg(), "district": args.district,
                      "paper": args.paper, "src": args.src or "installed", "runs": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
