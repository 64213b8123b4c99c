"""Benchmark: writing ~50k polygons to the one map, PostGIS (PostgisStore) vs GeoPackage (pyogrio).

Starts a throw-away PostgreSQL cluster (tests/pgserver.py), builds N random polygons with six
attribute columns in EPSG:4326, then times (best of 3): ``PostgisStore.replace_map`` (staging
schema, COPY, GiST index, ANALYZE, swap), ``pyogrio.write_dataframe`` to a new GeoPackage, and
reading the layer back from each.

    python benchmarks/bench_postgis_write.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from cityplan.store.base import BuildPayload  # noqa: E402
from cityplan.store.postgis import PostgisStore  # noqa: E402
from pgserver import PgServer  # noqa: E402


def polygons(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(126.3, 127.0, n), rng.uniform(45.5, 46.0, n)
    return gpd.GeoDataFrame({
        "source_row": np.arange(n), "name": [f"block {i}" for i in range(n)],
        "landuse": rng.choice(["residential", "commercial", "park"], n),
        "area_m2": rng.uniform(100, 1e5, n), "floors": rng.integers(1, 30, n).astype("int32"),
        "illustrative": rng.random(n) < 0.1,
    }, geometry=[box(a, b, a + 1e-3, b + 7e-4) for a, b in zip(x, y, strict=True)], crs="EPSG:4326")


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    gdf = polygons(n)
    payload = BuildPayload(layers={"blocks": gdf}, catalog=pd.DataFrame({"layer": ["blocks"]}),
                           ledger=pd.DataFrame({"layer": []}), info={"build": "bench"})
    server = PgServer().start()
    try:
        store = PostgisStore(server.new_database("bench"))
        pg_write = best(lambda: store.replace_map(payload, overwrite=True))
        pg_read = best(lambda: store.read("blocks"))
        store.close()
    finally:
        server.stop()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "blocks.gpkg"

        def gpkg() -> None:
            out.unlink(missing_ok=True)
            pyogrio.write_dataframe(gdf, out, layer="blocks", driver="GPKG")

        gpkg_write = best(gpkg)
        gpkg_read = best(lambda: pyogrio.read_dataframe(out, layer="blocks", use_arrow=True))
    print(f"{n} polygons, best of 3 (s): PostGIS write {pg_write:.2f} read {pg_read:.2f} | "
          f"GeoPackage write {gpkg_write:.2f} read {gpkg_read:.2f}")


if __name__ == "__main__":
    main()
