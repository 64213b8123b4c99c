"""Benchmark: cityplan's compact map layers vs naive folium.GeoJson, side by side in one run.

Two data sets: the Harbin one map (every layer of maps/onemap.yaml) and a synthetic layer of
50,000 polygons x 30 vertices. For each method: HTML size, Python build time (compose + render
to a string) and Chromium render time (navigation start -> layers drawn, two animation frames
after the map's scripts ran), network disabled; folium's CDN files are served from the local
Leaflet package so the naive page can load offline too. Also the maximum coordinate error of
the compact encoding (metres, vs the source vertices).

    python benchmarks/bench_maps.py [--onemap layers/build/harbin.gpkg] [--n 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import launch  # noqa: E402

from cityplan.maps.assets import leaflet_css, leaflet_js  # noqa: E402
from cityplan.maps.encode import decode_polyline  # noqa: E402
from cityplan.maps.payload import LayerView, layer_payload  # noqa: E402
from cityplan.maps.recipes import load_recipe  # noqa: E402
from cityplan.maps.render import compose, recipe_views  # noqa: E402

GEOD = Geod(ellps="WGS84")


def synthetic(n: int, verts: int = 30, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    cx = rng.uniform(126.52, 126.76, n)
    cy = rng.uniform(45.67, 45.82, n)
    r = rng.uniform(15, 60, n)[:, None] * (1 + 0.15 * rng.standard_normal((n, verts)))
    a = np.linspace(0, 2 * np.pi, verts, endpoint=False)[None, :]
    x = cx[:, None] + r * np.cos(a) / (111320 * np.cos(np.radians(45.75)))
    y = cy[:, None] + r * np.sin(a) / 110540
    import shapely

    rings = np.stack([x, y], axis=2)
    rings = np.concatenate([rings, rings[:, :1]], axis=1)
    polys = shapely.polygons(rings)
    return gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)], "v": rng.integers(0, 100, n)},
                            geometry=polys, crs=4326)


def naive_html(layers: list[tuple[str, gpd.GeoDataFrame]]) -> str:
    m = folium.Map(location=[45.75, 126.63], zoom_start=12, tiles=None)
    for name, gdf in layers:
        cols = [c for c in gdf.columns if c != "geometry"][:4]
        folium.GeoJson(gdf[[*cols, "geometry"]], name=name,
                       tooltip=folium.GeoJsonTooltip(fields=cols[:1]) if cols else None).add_to(m)
    folium.LayerControl().add_to(m)
    return m.get_root().render()


def ours_html(views: list[LayerView]) -> str:
    res = compose(views, title="bench", groups=[{"id": "base", "title": "layers"}], basemap="none",
                  offline=True)
    return res.html()


def render_ms(browser, html: str, *, ours: bool) -> float:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.html"
        p.write_text(html, encoding="utf-8")
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})

        def _route(route):
            url = route.request.url
            if url.startswith("file:"):
                return route.continue_()
            if url.endswith("leaflet.js"):
                return route.fulfill(body=leaflet_js(), content_type="application/javascript")
            if url.endswith("leaflet.css"):
                return route.fulfill(body=leaflet_css(), content_type="text/css")
            return route.fulfill(body="", content_type="text/plain")

        ctx.route("**/*", _route)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(p.as_uri(), wait_until="load", timeout=600_000)
        if ours:
            page.wait_for_function("window.cityplan && cityplan.ready", timeout=600_000)
        t = page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))")
        ctx.close()
        if errors:
            raise RuntimeError(errors[:3])
        return float(t)


def coord_error_m(views: list[LayerView], sample: int = 3000) -> float:
    """Max distance (m) from each drawn vertex to the source geometry's boundary (encoding + simplification)."""
    worst = 0.0
    rng = np.random.default_rng(1)
    for v in views:
        p = layer_payload(v)
        if p["kind"] == "point":
            continue
        idx = rng.choice(len(p["geoms"]), min(len(p["geoms"]), max(1, sample // len(views))), replace=False)
        src = v.gdf[v.gdf.geometry.notna() & ~v.gdf.geometry.is_empty].to_crs(4551).geometry.to_numpy()
        for i in idx:
            g = p["geoms"][i]
            ring_text = g[0][0] if p["kind"] == "polygon" else g[0]
            xy = decode_polyline(ring_text, mercator=True)
            pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326).to_crs(4551)
            target = src[i].boundary if p["kind"] == "polygon" else src[i]
            worst = max(worst, float(pts.distance(target).max()))
    return worst


def run_case(browser, name: str, views: list[LayerView], repeats: int) -> dict:
    layers = [(v.id, v.gdf) for v in views]
    t0 = time.perf_counter()
    naive = naive_html(layers)
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = ours_html(views)
    t_ours = time.perf_counter() - t0
    r_naive = [render_ms(browser, naive, ours=False) for _ in range(repeats)]
    r_ours = [render_ms(browser, ours, ours=True) for _ in range(repeats)]
    row = {
        "case": name, "features": int(sum(len(v.gdf) for v in views)),
        "naive_mb": len(naive.encode()) / 1e6, "ours_mb": len(ours.encode()) / 1e6,
        "naive_build_s": t_naive, "ours_build_s": t_ours,
        "naive_render_ms": float(np.median(r_naive)), "ours_render_ms": float(np.median(r_ours)),
        "max_coord_error_m": coord_error_m(views),
    }
    row["size_ratio"] = row["ours_mb"] / row["naive_mb"]
    row["render_speedup"] = row["naive_render_ms"] / row["ours_render_ms"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onemap", default=str(ROOT / "layers" / "build" / "harbin.gpkg"))
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with launch() as browser:
        views = recipe_views(load_recipe("onemap"), args.onemap)
        for v in views:
            v.show = True
        rows.append(run_case(browser, "Harbin one map (all recipe layers)", views, args.repeats))
        syn = synthetic(args.n)
        rows.append(run_case(browser, f"synthetic {args.n:,} polygons x 30 vertices",
                             [LayerView(id="syn", title="synthetic", gdf=syn, fields=["v"])], args.repeats))
    meta = {"date": dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "cpus": __import__("os").cpu_count(), "folium": folium.__version__}
    print(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
