"""Time the supervision on the Harbin sample map: the indicators of one date (with and without the
coverage figures), the matrix, and a diff of two builds of the map.

Usage: python benchmarks/bench_monitor.py HARBIN.gpkg   (a copy is made; the sample ledger imported)
Results: docs/benchmarks.md, "Supervision".
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from cityplan.onemap import OneMap
from cityplan.progress.context import load_context
from cityplan.progress.examples import import_examples
from cityplan.services.monitor import compare_builds, supervise


def timed(label: str, fn):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t:.2f} s")  # noqa: T201
    return out


def main(src: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "harbin.gpkg"
        shutil.copy(src, p)
        import_examples(str(p))
        ctx = timed("load progress context", lambda: load_context(str(p)))
        timed("indicators, no coverage (2023-12-15)", lambda: supervise(ctx, as_of="2023-12-15", coverage=False))
        res = timed("indicators with coverage figures (cold)", lambda: supervise(ctx, as_of="2023-12-15"))
        timed("indicators with coverage figures (warm)", lambda: supervise(ctx, as_of="2023-12-15"))
        timed("matrix", res.matrix)
        print(f"{len(res.table)} indicators, {res.counts()}")  # noqa: T201
        # a second build: the same map copied in as a kept build (every layer compared, nothing changed)
        om = OneMap.open(p)
        keep = p.with_name(p.name + ".builds")
        keep.mkdir()
        shutil.copy(p, keep / f"00000000000000_{om.build_info['build_id']}.gpkg")
        d2 = timed("diff of two builds (all layers, coverage not recomputed)",
                   lambda: compare_builds(om))
        print(f"changed: {d2.changed}")  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1])
