"""Benchmark: the district office's report (issue #26) - wall time of ``cityplan report --district``
twice on a fresh copy of the one map (the second run with the road-graph cache the first left),
and the size of its ``report.html``.

    .venv/bin/python benchmarks/bench_district_report.py [--onemap FILE | --data DIR] [--district 南岗] [--paper A3]

Without ``--onemap`` the Harbin one map is built from ``--data`` (default ../shared/data/harbin)
into a temporary folder first (≈ 15 s, not timed). Prints one line per run and a JSON summary
(machine, load, date) to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onemap", help="a built one map (copied; never written)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "harbin"))
    ap.add_argument("--district", default="南岗")
    ap.add_argument("--paper", default="A3", choices=["A4", "A3"])
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        copy = work / "map.gpkg"
        if args.onemap:
            shutil.copy(args.onemap, copy)
        else:
            subprocess.run([sys.executable, "-m", "cityplan", "build", "--city", "harbin", "--data", args.data,
                            "--out", str(copy)], cwd=work, check=True, capture_output=True)
        rows = []
        for i in range(1, args.runs + 1):
            out = work / f"report{i}"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cityplan", "report", "--district", args.district, "--paper",
                            args.paper, "--onemap", str(copy), "--out", str(out)], cwd=work, check=True,
                           capture_output=True)
            wall = time.perf_counter() - t0
            size = (out / "report.html").stat().st_size
            rows.append({"run": i, "seconds": round(wall, 1), "report_html_bytes": size})
            print(f"run {i}: {wall:.1f} s, report.html {size / 1024:.0f} KiB", flush=True)
    print(json.dumps({"when": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"), "machine": platform.machine(),
                      "cpus": os.cpu_count(), "load": os.getloadavg(), "district": args.district,
                      "paper": args.paper, "runs": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
