"""Functions the PostGIS store tests run in child processes (importable by ``spawn``)."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from cityplan.store.base import BuildPayload, LayerMeta
from cityplan.store.postgis import PostgisStore


def tagged_payload(build: int, n: int) -> BuildPayload:
    """A build whose every table carries ``build`` (n polygons, n // 2 points)."""
    polys = gpd.GeoDataFrame(
        {"build": np.full(n, build, dtype="int64"), "k": np.arange(n)},
        geometry=[box(126.0 + i * 1e-3, 45.0, 126.0 + i * 1e-3 + 5e-4, 45.0005) for i in range(n)],
        crs="EPSG:4326")
    pts = gpd.GeoDataFrame({"build": np.full(n // 2, build, dtype="int64")},
                           geometry=gpd.points_from_xy(np.linspace(126, 127, n // 2),
                                                       np.full(n // 2, 45.5)), crs="EPSG:4326")
    return BuildPayload(
        layers={"blocks": polys, "stops": pts},
        catalog=pd.DataFrame({"layer": ["blocks", "stops"], "build": [build, build]}),
        ledger=pd.DataFrame({"layer": ["blocks"], "build": [build]}),
        info={"build": str(build), "rows": str(n)},
        meta={"blocks": LayerMeta(title=f"Blocks {build}")})


def append_worker(url: str, worker: int, batches: int, size: int) -> int:
    """Append ``batches`` keyed batches; half of each batch's keys are shared by all workers."""
    store = PostgisStore(url)
    inserted = 0
    for b in range(batches):
        ids = [f"shared-{b}-{i}" for i in range(size // 2)]
        ids += [f"w{worker}-{b}-{i}" for i in range(size - size // 2)]
        rows = pd.DataFrame({"event_id": ids, "source_sha256": ids, "source_row": 0, "reported_by": f"w{worker}",
                             "note": f"batch {b}"})
        inserted += store.append_rows("cityplan_progress_events", rows)
    store.close()
    return inserted


def read_loop(url: str, seconds: float, stop_path: str) -> dict:
    """Read all tables again and again; count reads and any inconsistency or error."""
    from pathlib import Path

    store = PostgisStore(url)
    stats = {"reads": 0, "builds": set(), "mixed": [], "errors": [], "partial": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end and not Path(stop_path).exists():
        try:
            with store.snapshot():  # several tables, one build
                info = store.read("cityplan_build_info")
                kv = dict(zip(info["key"], info["value"], strict=True))
                build, rows = int(kv["build"]), int(kv["rows"])
                time.sleep(0.01)  # widen the window a swap could fall into
                blocks = store.read("blocks")
                time.sleep(0.01)
                stops = store.read("stops", bbox=(125.0, 44.0, 128.0, 46.0))
                cat = store.read("cityplan_catalog")
                led = store.read("cityplan_ledger")
            seen = {build, *blocks["build"], *stops["build"], *cat["build"], *led["build"]}
            if len(seen) != 1:
                stats["mixed"].append(sorted(seen))
            if len(blocks) != rows or len(stops) != rows // 2:
                stats["partial"].append((build, len(blocks), len(stops)))
            single = store.read("blocks")  # one read on its own: one build, complete
            if single["build"].nunique() != 1 or len(single) not in (300, 600):
                stats["partial"].append(("single", len(single)))
            stats["builds"].add(build)
            stats["reads"] += 1
        except Exception as exc:  # reported to the test, which fails on any
            stats["errors"].append(f"{type(exc).__name__}: {exc}")
    store.close()
    stats["builds"] = sorted(stats["builds"])
    return stats
