"""Benchmark: the web's printed map and CJK web font (issue #26, items 5 and 6) - wall time of
``/map/print.pdf`` (A4 and A3, central Harbin view, the recipe's default layers) made in-process as
the endpoint makes it, the PDF's size, and the time and WOFF2 bytes of cutting the font's common
slices (00-14) from the shipped Noto Sans CJK.

    .venv/bin/python benchmarks/bench_web_print.py [--onemap FILE | --data DIR]

Without ``--onemap`` the Harbin one map is built from ``--data`` (default ../shared/data/harbin)
into a temporary folder first (not timed). Prints one line per step and a JSON summary (machine,
load, date) to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onemap", help="a built one map (read only)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "harbin"))
    args = ap.parse_args()
    from cityplan.onemap import OneMap
    from cityplan.server import print_view, webfont
    from cityplan.server.viewlayers import MapLayers

    with tempfile.TemporaryDirectory() as tmp:
        loc = args.onemap
        if loc is None:
            loc = str(Path(tmp) / "harbin.gpkg")
            subprocess.run([sys.executable, "-m", "cityplan", "build", "--city", "harbin", "--data", args.data,
                            "--out", loc], check=True, capture_output=True, cwd=tmp)
        om = OneMap.open(loc)
        ml = MapLayers(om)
        ml.warm()
        out: dict[str, object] = {"machine": platform.node(), "cpus": os.cpu_count(),
                                  "load": os.getloadavg()[0], "date": dt.date.today().isoformat()}
        for paper in ("A4", "A3"):
            req = print_view.parse_request({"paper": paper, "orient": "landscape",
                                            "bbox": "126.60,45.72,126.70,45.78"}, ml)
            t0 = time.perf_counter()
            pdf = print_view.render_pdf(om, ml, req)
            sec = time.perf_counter() - t0
            out[f"print_{paper}_s"], out[f"print_{paper}_bytes"] = round(sec, 2), len(pdf)
            print(f"print {paper} landscape: {sec:.2f} s, {len(pdf):,} bytes", flush=True)  # noqa: T201
        sizes, secs = [], []
        for i in range(15):
            t0 = time.perf_counter()
            sizes.append(len(webfont.make_slice(i)))
            secs.append(time.perf_counter() - t0)
            print(f"slice {i:02d}: {len(webfont.slices()[i])} chars, {sizes[-1]:,} bytes, {secs[-1]:.1f} s",  # noqa: T201
                  flush=True)
        out.update({"slice_bytes": sizes, "slice_seconds": [round(s, 1) for s in secs],
                    "slices": len(webfont.slices()), "common_bytes": sum(sizes)})
        print(json.dumps(out, ensure_ascii=False))  # noqa: T201


if __name__ == "__main__":
    main()
