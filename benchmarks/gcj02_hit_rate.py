"""Hit rate of the GCJ-02 detector on every sample layer of the built one map.

Each vector layer is tested as stored (WGS84: the answer must not be ``gcj02``) and after
the forward GCJ-02 shift, i.e. an Amap export read as WGS84 (the answer must be
``gcj02``), against the one map's roads. Also per single feature (the review case: one
red line): up to ``--features`` features per layer, each alone.

    .venv/bin/python benchmarks/gcj02_hit_rate.py [--onemap layers/build/harbin.gpkg] [--features 20]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import geopandas as gpd
import pyogrio

from cityplan.crs import convert_datum
from cityplan.paths import default_onemap
from cityplan.validate import Gcj02Reference, detect_gcj02

REFERENCE = "roads"


def layers(path) -> list[str]:
    """Vector layers of the one map, except the reference and non-spatial tables."""
    return [str(n) for n, t in pyogrio.list_layers(path) if t is not None and n != REFERENCE]


def main() -> None:
    """Print one row per layer and the totals."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--onemap", default=str(default_onemap()))
    ap.add_argument("--features", type=int, default=20)
    args = ap.parse_args()
    ref = Gcj02Reference(gpd.read_file(args.onemap, layer=REFERENCE))
    totals: Counter[str] = Counter()
    print(f"{'layer':26} {'n':>6} {'as stored':>12} {'GCJ-shifted':>12} {'single wgs':>10} {'single gcj':>10}")
    t0 = time.perf_counter()
    for name in layers(args.onemap):
        gdf = gpd.read_file(args.onemap, layer=name).to_crs(4326)
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if gdf.empty:
            continue
        shifted = convert_datum(gdf, "EPSG:4326", "gcj02")
        a, b = detect_gcj02(gdf, ref), detect_gcj02(shifted, ref)
        totals[f"layer_wgs_{a.verdict}"] += 1
        totals[f"layer_gcj_{b.verdict}"] += 1
        one = gdf.sample(min(args.features, len(gdf)), random_state=0)
        sw = Counter(detect_gcj02(one.iloc[[i]], ref).verdict for i in range(len(one)))
        sg = Counter(detect_gcj02(convert_datum(one.iloc[[i]], "EPSG:4326", "gcj02"), ref).verdict
                     for i in range(len(one)))
        for k, v in sw.items():
            totals[f"single_wgs_{k}"] += v
        for k, v in sg.items():
            totals[f"single_gcj_{k}"] += v
        print(f"{name:26} {len(gdf):6d} {a.verdict:>12} {b.verdict:>12} "
              f"{sw['wgs84']:>4}/{sw['gcj02']}/{sw['undetermined']:<3} {sg['gcj02']:>4}/{sg['wgs84']}/{sg['undetermined']:<3}"
              f"  ({a.median_as_read_m:.0f}/{a.median_unshifted_m:.0f}/{a.median_controls_m:.0f} m;"
              f" {b.median_as_read_m:.0f}/{b.median_unshifted_m:.0f}/{b.median_controls_m:.0f} m)")
    print(dict(sorted(totals.items())), f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
