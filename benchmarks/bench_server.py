"""Load test of `cityplan serve` on loopback: panning clients, reviewers, and first paint.

Starts the real server (uvicorn subprocess) over a copy of the one map to which a synthetic layer
of N small polygons (default 200,000, shown on the map) is added, then for ``--seconds``:

* 50 async clients pan: each picks a random view (zoom 11-16 inside the extent) and fetches
  every layer the map shows by default, as the page does on ``moveend``: per data tile of the view,
  the small layers in one ``/api/view`` request, layers of more than 5,000 features one request each;
* 10 clients submit the sample red lines of ``examples/proposals/`` to the review desk.

Prints p50/p95/max per request kind and errors, the city-wide layer request (zoom 11, whole
extent) separately, and the first paint of the synthetic layer in headless Chromium (navigation
start -> its features in view drawn). Loopback only; bounded by ``--seconds``.

    python benchmarks/bench_server.py [--onemap layers/build/harbin.gpkg] [--seconds 60] [--n 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp  # the load generator: ~10x less CPU per request than httpx
import geopandas as gpd
import httpx
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cityplan.server.tiles import tile_range  # noqa: E402
from cityplan.server.viewlayers import BATCH_MAX  # noqa: E402  (as server.js: fetched together)
from server_process import add_accounts, login, start, token  # noqa: E402

LAYER = "bench_polygons"


def add_synthetic_layer(gpkg: Path, n: int, extent: tuple[float, float, float, float]) -> None:
    """N squares of ~25 m on a grid over the extent, as a catalog layer of the one map."""
    x0, y0, x1, y1 = extent
    cols = int(np.ceil(np.sqrt(n * (x1 - x0) / (y1 - y0))))
    rows = int(np.ceil(n / cols))
    xs = x0 + (np.arange(n) % cols + 0.5) * (x1 - x0) / cols
    ys = y0 + (np.arange(n) // cols + 0.5) * (y1 - y0) / rows
    d = 0.00015
    geoms = shapely.box(xs, ys, xs + d * 1.4, ys + d)
    gdf = gpd.GeoDataFrame({"name": [f"block {i}" for i in range(n)]}, geometry=geoms, crs=4326)
    gdf.to_file(gpkg, layer=LAYER, driver="GPKG", mode="a")
    con = sqlite3.connect(gpkg)
    cols_ = [r[1] for r in con.execute("PRAGMA table_info(cityplan_catalog)") if r[1] != "fid"]
    row = dict(zip(cols_, con.execute(f"SELECT {', '.join(cols_)} FROM cityplan_catalog WHERE layer = 'residential'")
                   .fetchone(), strict=True))
    row.update(layer=LAYER, title_zh="合成", title_en=f"Synthetic {n:,} polygons", role="base", roles="[]",
               illustrative=0, description="benchmark layer")
    con.execute(f"INSERT INTO cityplan_catalog ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
    con.commit()
    con.close()


def recipes_with_layer(folder: Path) -> Path:
    """maps/ copied, the synthetic layer shown first in the one-map recipe."""
    shutil.copytree(ROOT / "maps", folder, ignore=shutil.ignore_patterns("build"))
    p = folder / "onemap.yaml"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("layers:\n", f"layers:\n  - {{layer: {LAYER}, group: base, fields: [name]}}\n", 1),
                 encoding="utf-8")
    return folder


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


async def panner(url: str, cookies: dict[str, str], layers: list[dict], extent, stop: float, out: dict,
                 think: float) -> None:
    x0, y0, x1, y1 = extent
    small = [m["id"] for m in layers if m["count"] <= BATCH_MAX]
    big = [m["id"] for m in layers if m["count"] > BATCH_MAX]
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url=url, cookies=cookies, timeout=timeout) as c:
        while time.monotonic() < stop:
            z = random.randint(11, 16)
            w = 1280 * 360 / (256 * 2**z) * 1.4
            h = w * 860 / 1280 * 0.7
            cx, cy = random.uniform(x0, x1), random.uniform(y0, y1)

            async def one(path: str, params: dict, z: int = z) -> None:
                t = time.perf_counter()
                try:
                    async with c.get(path, params={**params, "zoom": str(z)}) as r:
                        body = await r.read()
                        ok, why = r.status == 200, f"HTTP {r.status} {body[:80]!r}"
                except (TimeoutError, aiohttp.ClientError) as exc:
                    ok, why = False, type(exc).__name__
                out["layer"].append(time.perf_counter() - t)
                if not ok:
                    out["errors"].append(f"layer {path}: {why}")

            # as server.js does: per data tile (zoom - 2) of the view, the small shown layers in one
            # /api/view request, big ones alone
            tx0, ty0, tx1, ty1 = tile_range((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), max(0, z - 2))
            tiles = [f"{tx},{ty}" for tx in range(tx0, tx1 + 1) for ty in range(ty0, ty1 + 1)]
            t = time.perf_counter()
            await asyncio.gather(*(one("/api/view", {"layers": ",".join(small), "tile": q}) for q in tiles),
                                 *(one(f"/api/layers/{lid}", {"tile": q}) for lid in big for q in tiles))
            out["pan"].append(time.perf_counter() - t)
            await asyncio.sleep(think)  # a person looks at the map before panning again


async def reviewer(url: str, cookies: dict[str, str], stop: float, out: dict, think: float) -> None:
    """Submit a sample red line, then open its verdict page (as the browser follows the 303)."""
    files = sorted((ROOT / "examples" / "proposals").glob("*.geojson"))
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base_url=url, cookies=cookies, timeout=timeout) as c:
        async with c.get("/review") as r:
            tok = token(await r.text())
        while time.monotonic() < stop:
            f = random.choice(files)
            form = aiohttp.FormData()
            form.add_field("csrf_token", tok)
            form.add_field("file", f.read_bytes(), filename=f.name, content_type="application/geo+json")
            t = time.perf_counter()
            try:
                async with c.post("/review", data=form, allow_redirects=False) as r:
                    body = await r.text()
                    ok, where = r.status == 303, r.headers.get("location", "")
                    why = f"POST HTTP {r.status} {_message(body)}"
                out["review"].append(time.perf_counter() - t)
                if ok:
                    async with c.get(where) as r:
                        page = await r.text()
                        ok = r.status == 200 and "cp-verdict" in page
                        why = f"GET {where} HTTP {r.status}"
                    out["review_page"].append(time.perf_counter() - t)
            except (TimeoutError, aiohttp.ClientError) as exc:
                ok, why = False, type(exc).__name__
            if not ok:
                out["errors"].append(f"review {f.name}: {why}")
            await asyncio.sleep(think)


def _message(page: str) -> str:
    """The message a desk page shows (its first ``class="cp-message"`` text), for error reports."""
    import re

    m = re.search(r'class="[^"]*message[^"]*"[^>]*>([^<]{0,200})', page)
    return m.group(1).strip() if m else page[:120]


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def cached_throughput(url: str, cookies: dict[str, str], server_pid: int, client: str, *,
                      clients: int = 20, seconds: float = 8.0) -> dict[str, float]:
    """``clients`` async clients fetching one cached layer answer back to back: requests/s and the
    CPU milliseconds per request of the server and of the client (httpx or aiohttp)."""
    path = "/api/layers/districts?tile=3,1&zoom=12"
    n = 0

    async def run() -> None:
        nonlocal n
        stop = time.monotonic() + seconds
        if client == "httpx":
            async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=60) as c:
                async def one() -> None:
                    nonlocal n
                    while time.monotonic() < stop:
                        assert (await c.get(path)).status_code == 200
                        n += 1
                await asyncio.gather(*(one() for _ in range(clients)))
        else:
            async with aiohttp.ClientSession(base_url=url, cookies=cookies) as c:
                async def one() -> None:
                    nonlocal n
                    while time.monotonic() < stop:
                        async with c.get(path) as r:
                            await r.read()
                            assert r.status == 200
                        n += 1
                await asyncio.gather(*(one() for _ in range(clients)))

    s0, c0, t0 = _process_cpu(server_pid), time.process_time(), time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - t0
    return {"requests_per_s": n / wall, "server_cpu_ms": (_process_cpu(server_pid) - s0) / n * 1000,
            "client_cpu_ms": (time.process_time() - c0) / n * 1000}


def table_list_ms(gpkg: Path, repeat: int = 30) -> tuple[float, float]:
    """Listing the one map's tables: the store's sqlite3 read of gpkg_contents vs pyogrio.list_layers (ms)."""
    import pyogrio

    from cityplan.store.gpkg import GpkgStore

    store = GpkgStore(gpkg)
    t = time.perf_counter()
    for _ in range(repeat):
        store._layers = None
        store.list_tables()
    ours = (time.perf_counter() - t) / repeat * 1000
    t = time.perf_counter()
    for _ in range(repeat):
        pyogrio.list_layers(gpkg)
    return ours, (time.perf_counter() - t) / repeat * 1000


def warm_reviews(gpkg: Path) -> list[tuple[str, float]]:
    """Each sample red line reviewed in this process after the worker's warm-up, as a review worker does it."""
    from cityplan.onemap import OneMap
    from cityplan.server.review_desk import run_review
    from cityplan.server.review_pool import _warm

    om = OneMap.open(gpkg)
    _warm(om)
    out = []
    for f in sorted((ROOT / "examples" / "proposals").glob("*.geojson")) * 2:
        t = time.perf_counter()
        run_review(om, str(f), crs=None, facility_type=None, display=f.name)
        out.append((f.name, time.perf_counter() - t))
    return out


def first_paint(url: str, cookies: httpx.Cookies, *, verbose: bool = False) -> tuple[float, float]:
    """(first paint by the page's own clock, as the test driver saw it), seconds.

    The page records ``cityplan.timings["painted:ID"]``: ``performance.now()`` (ms since the
    navigation started) two animation frames after the layer's first features were put on the
    map - the frame that shows them. The driver's figure (``page.goto`` until its poll finds the
    features, plus two frames) also counts the polling and the frames the page spends drawing
    the other 26 layers.
    """
    from browser import launch

    with launch() as browser:
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        ctx.add_cookies([{"name": "cp_session", "value": cookies["cp_session"], "url": url}])
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(f"{url}/map", wait_until="commit")
        while not page.evaluate(f"!!(window.cityplan && cityplan.layers && cityplan.layers.{LAYER} && "
                                f"cityplan.layers.{LAYER}.data.geoms.length > 0)"):
            time.sleep(0.01)
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        seen = time.perf_counter() - t
        page.wait_for_function(f"cityplan.timings['painted:{LAYER}'] > 0")
        painted = page.evaluate(f"cityplan.timings['painted:{LAYER}']") / 1000
        drawn = page.evaluate(f"cityplan.layers.{LAYER}.data.geoms.length")
        if verbose:  # where the time goes (navigation and resource timings of the page)
            import json

            n = json.loads(page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])"))
            res = page.evaluate("performance.getEntriesByType('resource').map(e => [e.name, e.startTime, e.duration])")
            tm = page.evaluate("cityplan.timings")
            print(f"  page: response end {n['responseEnd']:.0f} ms, DOMContentLoaded "
                  f"{n['domContentLoadedEventEnd']:.0f} ms, map made {tm.get('map', 0):.0f} ms, fetching from "
                  f"{tm.get('ready', 0):.0f} ms, {LAYER} data in {tm.get(LAYER, 0):.0f} ms, painted "
                  f"{painted * 1000:.0f} ms, all layers in {max(v for k, v in tm.items() if ':' not in k):.0f} ms")
            for name, start, dur in sorted(res, key=lambda r: r[1])[:40]:
                print(f"  {start:7.0f} +{dur:5.0f} ms  {name.replace(url, '')[:110]}")
        ctx.close()
    print(f"first paint: {painted * 1000:.0f} ms (page clock), {seen * 1000:.0f} ms (driver), {drawn:,} polygons "
          f"of {LAYER} in view")
    return painted, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onemap", default=str(ROOT / "layers" / "build" / "harbin.gpkg"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--panners", type=int, default=50)
    ap.add_argument("--reviewers", type=int, default=10)
    ap.add_argument("--think", type=float, default=2.0, help="Seconds a panning client waits between pans.")
    ap.add_argument("--paints", type=int, default=3, help="First-paint measurements (each a fresh browser).")
    ap.add_argument("--review-think", type=float, default=0.0,
                    help="Seconds a reviewer reads a verdict before the next upload (0: back to back).")
    a = ap.parse_args()
    from cityplan.onemap import OneMap

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        work = Path(tmp)
        gpkg = work / "onemap.gpkg"
        shutil.copy(a.onemap, gpkg)
        om = OneMap.open(gpkg)
        extent = om.extent
        om.close()
        t = time.perf_counter()
        add_synthetic_layer(gpkg, a.n, extent)
        print(f"synthetic layer: {a.n:,} polygons in {time.perf_counter() - t:.1f} s")
        os.environ["CITYPLAN_MAPS"] = str(recipes_with_layer(work / "maps"))
        add_accounts(str(gpkg))
        s = start(str(gpkg), work)
        try:
            rev = login(s.url, "rev")
            shown = [m for m in _page_layers(rev) if m["show"]]
            layers = [m["id"] for m in shown]
            t = time.perf_counter()
            city = f"{extent[0]},{extent[1]},{extent[2]},{extent[3]}"
            for lid in layers:  # the server prepares the layers and the city-wide tiles once
                assert rev.get(f"/api/layers/{lid}", params={"bbox": city, "zoom": 12}).status_code == 200
            print(f"warm-up (prepare {len(layers)} layers, city-wide tiles): {time.perf_counter() - t:.1f} s")
            while True:  # the server makes the tiles of the shown layers at start (zoom 10-16)
                seed = rev.get("/api/seed").json()
                if seed["seeded_zoom"] >= seed["max_zoom"] or time.perf_counter() - t > 300:
                    break
                time.sleep(1)
            print(f"tiles seeded to zoom {seed['seeded_zoom']} {time.perf_counter() - t:.0f} s after start of warm-up")
            view_cookies = dict(login(s.url, "view").cookies)
            micro = {c: cached_throughput(s.url, view_cookies, s.proc.pid, c) for c in ("httpx", "aiohttp")}
            lists = table_list_ms(gpkg)
            in_process = warm_reviews(gpkg)
            idle_reviews = []
            tok = token(rev.get("/review").text)
            red = ROOT / "examples" / "proposals" / "river_crossing.geojson"
            for _ in range(5):
                t = time.perf_counter()
                r = rev.post("/review", data={"csrf_token": tok}, files={"file": (red.name, red.read_bytes())})
                assert r.status_code == 303, r.text[:300]
                idle_reviews.append(time.perf_counter() - t)
            paints = [first_paint(s.url, rev.cookies, verbose=i == 0) for i in range(a.paints)]
            citywide = []
            for _ in range(20):
                for lid in (LAYER, "districts", "parks"):
                    t = time.perf_counter()
                    r = rev.get(f"/api/layers/{lid}", params={"bbox": city, "zoom": 12})
                    citywide.append((lid, time.perf_counter() - t, len(r.content)))
            out: dict[str, list] = {"layer": [], "pan": [], "review": [], "review_page": [], "errors": []}
            panner_cookies = [dict(login(s.url, "view").cookies) for _ in range(5)]
            rev_cookies = dict(rev.cookies)
            stop = time.monotonic() + a.seconds

            async def run() -> None:
                await asyncio.gather(
                    *(panner(s.url, panner_cookies[i % 5], shown, extent, stop, out, a.think) for i in range(a.panners)),
                    *(reviewer(s.url, rev_cookies, stop, out, a.review_think) for _ in range(a.reviewers)))

            print(f"load phase: {a.seconds:.0f} s from {dt.datetime.now():%H:%M:%S}", flush=True)
            asyncio.run(run())
        finally:
            s.stop()
            log = (work / "server.log").read_text(errors="replace")
            if "Traceback" in log:  # what the server logged about errors, for the record
                print(log[log.index("Traceback"):][:6000])
    print(f"\n{dt.date.today()} · {platform.node()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPUs · Python {platform.python_version()}")
    print(f"load average before: {load0}, after: {os.getloadavg()}")
    print(f"{a.panners} panning clients ({len(layers)} layers per pan, {a.think:g} s between pans) + "
          f"{a.reviewers} reviewers ({a.review_think:g} s between reviews) for {a.seconds:.0f} s")
    for kind in ("layer", "pan", "review", "review_page"):
        v = out[kind]
        print(f"  {kind:7s} n={len(v):6d}  p50 {pct(v, 50):7.0f} ms  p95 {pct(v, 95):7.0f} ms  max {pct(v, 100):7.0f} ms")
    for lid in (LAYER, "districts", "parks"):
        v = [x[1] for x in citywide if x[0] == lid]
        size = max(x[2] for x in citywide if x[0] == lid)
        print(f"  city-wide {lid}: p50 {pct(v, 50):.0f} ms, p95 {pct(v, 95):.0f} ms ({size / 1e6:.1f} MB gzip)")
    for c, m in micro.items():
        print(f"  cached layer answer, 20 {c} clients: {m['requests_per_s']:,.0f} requests/s, server "
              f"{m['server_cpu_ms']:.2f} ms CPU/request, client {m['client_cpu_ms']:.2f} ms CPU/request")
    print(f"  listing the map's tables: sqlite3 {lists[0]:.1f} ms, pyogrio.list_layers {lists[1]:.1f} ms")
    warm = [t for _, t in in_process[len(in_process) // 2:]]
    print(f"  warm review in-process (second round of the samples): {min(warm) * 1000:.0f}-{max(warm) * 1000:.0f} ms")
    print(f"  idle review ({red.name}): p50 {pct(idle_reviews, 50):.0f} ms, max {pct(idle_reviews, 100):.0f} ms")
    print(f"  errors: {len(out['errors'])} {sorted(set(out['errors']))[:5]}")
    print(f"  first paint of {a.n:,} polygons, page clock: {', '.join(f'{p * 1000:.0f}' for p, _ in paints)} ms; "
          f"seen by the driver: {', '.join(f'{d * 1000:.0f}' for _, d in paints)} ms")


def _page_layers(c: httpx.Client) -> list[dict]:
    import html
    import json
    import re

    text = c.get("/map").text
    m = re.search(r'data-page="([^"]*)"', text)
    return json.loads(html.unescape(m.group(1)))["map"]["layers"]


if __name__ == "__main__":
    main()
