"""Benchmark: cityplan's routing engine vs networkx, side by side in one run.

Task: for a set of facilities, the network cost from every node to the nearest one within a
limit (what coverage needs). Methods:

* cityplan: one scipy ``csgraph.dijkstra(min_only=True, limit=...)`` from all facilities;
* networkx ``multi_source_dijkstra_path_length(cutoff=...)`` (one search, pure Python);
* per-facility ego graphs (the OSMnx isochrone recipe: ``nx.ego_graph(radius=...)`` per facility);
* pandana (contraction hierarchies) if it is installed.

Graphs: the Harbin road graph (15k nodes, 22k edges) and a synthetic grid of >= 1M edges.
Times exclude graph construction, which is reported separately. Also times the end-to-end
CLI ``cityplan coverage --preset ice-30min --no-map`` (median of 3).

    python benchmarks/bench_coverage.py [--out results.json]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cityplan.network import graph_from_edges  # noqa: E402
from cityplan.onemap import OneMap  # noqa: E402


def timed(fn, repeats=3):
    out = []
    res = None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out), res


def run_case(name: str, rows, cols, w, n: int, sources: np.ndarray, limit: float, *, ego_sample: int,
             pandana_xy: np.ndarray | None = None) -> dict:
    t0 = time.perf_counter()
    m = sparse.csr_matrix((w, (rows, cols)), shape=(n, n))
    t_build_ours = time.perf_counter() - t0
    t_ours, d_ours = timed(lambda: csgraph.dijkstra(m, directed=True, indices=sources, min_only=True, limit=limit))
    t0 = time.perf_counter()
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), w.tolist(), strict=True))
    t_build_nx = time.perf_counter() - t0
    t_nx, d_nx = timed(lambda: nx.multi_source_dijkstra_path_length(g, set(sources.tolist()), cutoff=limit), repeats=1)
    # correctness of the comparison: same reachable set and distances
    reach = np.flatnonzero(np.isfinite(d_ours))
    assert len(reach) == len(d_nx), (len(reach), len(d_nx))
    err = max(abs(d_ours[k] - d_nx[k]) for k in reach[:: max(1, len(reach) // 2000)])
    # ego graphs: one per facility; timed on a sample and scaled to all facilities
    ug = g
    sample = sources[:ego_sample]
    t0 = time.perf_counter()
    nodes = set()
    for s in sample:
        nodes |= set(nx.ego_graph(ug, int(s), radius=limit, distance="weight").nodes)
    t_ego = (time.perf_counter() - t0) * len(sources) / len(sample)
    row = {"case": name, "nodes": n, "edges": int(len(rows)), "facilities": int(len(sources)), "limit": limit,
           "build_ours_s": t_build_ours, "build_nx_s": t_build_nx, "ours_s": t_ours, "networkx_s": t_nx,
           "ego_graphs_s": t_ego, "ego_sampled": int(len(sample)), "max_abs_diff": float(err),
           "speedup_vs_networkx": t_nx / t_ours, "speedup_vs_ego": t_ego / t_ours}
    if pandana_xy is not None:
        row.update(bench_pandana(pandana_xy, rows, cols, w, sources, limit, d_ours))
    return row


def bench_pandana(xy: np.ndarray, rows, cols, w, sources, limit: float, d_ours) -> dict:
    """pandana: contraction-hierarchy build, then nearest POI within the limit for every node."""
    try:
        import pandana
        import pandas as pd
    except ImportError:
        return {"pandana": "not installed"}
    keep = rows < cols  # pandana takes each undirected edge once (twoway=True)
    t0 = time.perf_counter()
    net = pandana.Network(pd.Series(xy[:, 0]), pd.Series(xy[:, 1]), pd.Series(rows[keep]),
                          pd.Series(cols[keep]), pd.DataFrame({"w": w[keep]}), twoway=True)
    t_ch = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.set_pois("fac", limit, 1, pd.Series(xy[sources, 0]), pd.Series(xy[sources, 1]))
    t_poi = time.perf_counter() - t0
    t_q, near = timed(lambda: net.nearest_pois(limit, "fac", num_pois=1))
    got = near[1].to_numpy()
    ok = np.isfinite(d_ours) & (got < limit)
    return {"pandana_ch_build_s": t_ch, "pandana_set_pois_s": t_poi, "pandana_query_s": t_q,
            "pandana_max_abs_diff": float(np.abs(got[ok] - d_ours[ok]).max()) if ok.any() else None}


def harbin(limit: float = 1500.0) -> dict:
    g = graph_from_edges(OneMap.coerce(None).layer("road_graph"))
    cost = g.edge_cost("walk", "m")
    ok = ~np.isnan(cost)
    rows = np.concatenate([g.u[ok], g.v[ok]])
    cols = np.concatenate([g.v[ok], g.u[ok]])
    w = np.concatenate([cost[ok], cost[ok]])
    # drop parallel edges (keep the cheaper) so networkx and scipy see the same graph
    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rng = np.random.default_rng(0)
    src = rng.choice(g.n_nodes, 300, replace=False)
    return run_case("Harbin road graph (walk, metres)", rows[first], cols[first], np.maximum(w[first], 1e-6),
                    g.n_nodes, src, limit, ego_sample=30, pandana_xy=g.node_xy)


def synthetic(side: int = 710, limit: float = 1500.0) -> dict:
    rng = np.random.default_rng(1)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = rng.uniform(50, 150, len(a))
    rows, cols, ww = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w])
    src = rng.choice(side * side, 300, replace=False)
    # pandana is left out here: its contraction-hierarchy build does not finish in minutes at this size
    return run_case(f"synthetic grid {side}x{side}", rows, cols, ww, side * side, src, limit, ego_sample=10)


def cli_seconds(repeats: int = 3) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-m", "cityplan", "coverage", "--preset", "ice-30min", "--no-map", "--overwrite",
           "--out", "/tmp/cityplan-bench-cov"]
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # warm the bytecode cache
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
    rows = [harbin(), synthetic()]
    meta = {"date": dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "networkx": nx.__version__}
    text = json.dumps({"meta": meta, "rows": rows, "cli_ice_30min_s": cli_seconds()}, indent=1)
    if out:  # pandana prints its own progress on stdout
        Path(out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
