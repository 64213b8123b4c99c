"""Transit on the city's walking network: stops snapped, walks to and from them, and the search.

:class:`FeedNetwork` is a feed (one network scenario) over the walk graph. :func:`feed_search`
answers coverage's question for one facility set:

1. walking to the nearest facility from every walk node, stop and compound: the one
   multi-source Dijkstra of :mod:`cityplan.network.search` (reversed, from the facilities'
   access points); a stop's value within ``max_walk_m`` is its **egress** walk;
2. walks from every stop (bounded Dijkstra per stop, in chunks, ``scipy.sparse.csgraph``) to
   the walk nodes and compounds within ``max_walk_m`` (**access**) and to other stops within
   ``max_transfer_walk_m`` (**interchange by walking**; ``transfers.txt`` overrides pairs it
   names: type 2 its ``min_transfer_time``, type 3 forbidden; a parent station's children are
   joined at their straight-line distance when the walk network does not join them). These do not
   depend on the facilities or the network scenario and are computed once per run;
3. the time-expanded search of :mod:`cityplan.transit.engine` and the travel time for every
   origin and departure minute of the window; the median and the chosen percentile per origin.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph

from cityplan.network.graph import RoadGraph
from cityplan.network.search import WALK_ACCESS_MS, Reach, access_costs, reach_from_sources
from cityplan.network.snap import Snap, snap_points
from cityplan.transit.engine import Footpaths, percentile, stop_profiles, travel_times
from cityplan.transit.gtfs import Feed

logger = logging.getLogger(__name__)

#: memory for one chunk of per-stop walk searches (float64 distances to every node)
CHUNK_BYTES = 256 * 1024**2


@dataclass
class FeedNetwork:
    """One network scenario: a feed over the walk graph, with the search settings.

    ``shared`` holds what every scenario of a run shares (stop snaps, walks between stops,
    compounds and walk nodes), keyed by the demand points.
    """

    walk: RoadGraph
    feed: Feed
    settings: dict[str, Any]
    date: dt.date
    window: tuple[int, int]
    walk_kmh: float | None
    stop_xy: np.ndarray
    #: per stop: street to platform (added to access walks) and platform to street (egress), seconds
    stop_access_s: np.ndarray | None = None
    stop_egress_s: np.ndarray | None = None
    removed: tuple[str, ...] = ()
    shared: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    # the few RoadGraph calls coverage makes before searching
    def check_connected(self, *, min_share: float = 0.5, source: str = "walk network") -> None:
        """See :meth:`RoadGraph.check_connected`."""
        self.walk.check_connected(min_share=min_share, source=source)


@dataclass
class FeedSearch:
    """What :func:`feed_search` found: per compound and per walk node."""

    cost: np.ndarray        # the deciding statistic per compound (s; inf none within the horizon)
    median: np.ndarray
    pct: np.ndarray
    walk_only: np.ndarray   # walking straight to the nearest facility (s)
    label: np.ndarray       # nearest facility on foot (-1 none)
    reach: Reach            # per walk node: the deciding statistic (for the isochrone)
    s_fac: Snap
    s_dem: Snap
    params: dict[str, Any]


def _walk_ms(net: FeedNetwork) -> np.ndarray:
    return net.walk.speed_ms("walk", net.walk_kmh)


def _walks(net: FeedNetwork, s_dem: Snap, key: str) -> dict[str, Any]:
    """Walks from every stop to walk nodes, compounds and other stops (see the module docstring)."""
    if key in net.shared:
        return net.shared[key]
    walk, st = net.walk, net.settings
    ms = _walk_ms(net)
    main = walk.main_component_edges()
    placed = np.isfinite(net.stop_xy).all(axis=1)  # stops.txt rows without coordinates (e.g. boarding areas)
    s_stop = snap_points(walk, np.where(placed[:, None], net.stop_xy, 0.0), mode="walk",
                         max_snap_m=float(st["max_stop_snap_m"]), mask=main)
    s_stop.edge[~placed] = -1
    n_w = walk.n_nodes
    ok_s = np.flatnonzero(s_stop.ok)
    ok_d = np.flatnonzero(s_dem.ok)
    n_s, n_d = len(ok_s), len(ok_d)
    # every stop and compound gets a foot node on its edge; the feet of one edge are chained in
    # order along it (so a stop and a compound on one long street are joined directly), and the
    # point hangs off its foot: stop <-> foot, foot -> compound
    n_v = n_s + n_d
    pe = np.r_[s_stop.edge[ok_s], s_dem.edge[ok_d]]
    po = np.r_[s_stop.offset[ok_s], s_dem.offset[ok_d]]
    pd_ = np.r_[s_stop.dist[ok_s], s_dem.dist[ok_d]]
    vnode = n_w + np.arange(n_v)  # stops first, then compounds
    foot = n_w + n_v + np.arange(n_v)
    o = np.lexsort((po, pe))
    e_o, off_o, f_o = pe[o], po[o], foot[o]
    first = np.r_[True, e_o[1:] != e_o[:-1]]
    last = np.r_[e_o[1:] != e_o[:-1], True]
    same = ~first
    k = ms[e_o]
    a_rows = [walk.u[e_o[first]], f_o[first], f_o[:-1][same[1:]], f_o[1:][same[1:]],
              f_o[last], walk.v[e_o[last]]]
    a_cols = [f_o[first], walk.u[e_o[first]], f_o[1:][same[1:]], f_o[:-1][same[1:]],
              walk.v[e_o[last]], f_o[last]]
    seg = (off_o[1:] - off_o[:-1])[same[1:]] / k[1:][same[1:]]
    a_data = [off_o[first] / k[first]] * 2 + [seg, seg] + [(walk.length[e_o[last]] - off_o[last]) / k[last]] * 2
    # off the street: a compound's door at the walk search's door speed, a station's entrance at the walking speed
    hang = np.where(np.arange(n_v) < n_s, pd_ / ms[pe], pd_ / WALK_ACCESS_MS)
    is_stop = np.arange(n_v) < n_s
    rows = a_rows + [vnode[is_stop], foot[is_stop], foot[~is_stop]]
    cols = a_cols + [foot[is_stop], vnode[is_stop], vnode[~is_stop]]
    data = a_data + [hang[is_stop], hang[is_stop], hang[~is_stop]]
    mat = walk.matrix("walk", "s", net.walk_kmh, extra=(np.concatenate(rows), np.concatenate(cols),
                                                         np.concatenate(data)), n_extra=2 * n_v)
    max_walk = float(st["max_walk_m"]) / float(np.nanmedian(ms[np.isfinite(ms)]))
    max_tr = float(st["max_transfer_walk_m"]) / float(np.nanmedian(ms[np.isfinite(ms)]))
    lim = max(max_walk, max_tr)
    # stops by square tiles: the search from a tile's stops runs on the part of the graph a walk of
    # `lim` seconds can reach (walk distance >= straight-line distance), not on the whole city
    foot_xy = shapely.get_coordinates(shapely.line_interpolate_point(walk.geoms[pe], po)) if n_v else np.zeros((0, 2))
    xy = np.vstack([walk.node_xy, foot_xy, foot_xy])
    vmax = max(float(np.nanmax(np.where(np.isfinite(ms), ms, np.nan))) if np.isfinite(ms).any() else 0.0,
               WALK_ACCESS_MS)
    margin = lim * vmax + 1.0
    tile = max(2 * margin, 500.0)
    sxy = foot_xy[:n_s]
    tx = np.floor((sxy[:, 0] - sxy[:, 0].min()) / tile).astype(np.int64) if n_s else np.zeros(0, np.int64)
    ty = np.floor((sxy[:, 1] - sxy[:, 1].min()) / tile).astype(np.int64) if n_s else np.zeros(0, np.int64)
    tkey = tx * (int(ty.max()) + 1 if n_s else 1) + ty
    by_tile = np.argsort(tkey, kind="stable")
    bounds = np.flatnonzero(np.r_[True, tkey[by_tile][1:] != tkey[by_tile][:-1], True]) if n_s else np.zeros(1, np.int64)
    o_all, s_all, a_all = [], [], []
    f_from, f_to, f_s = [], [], []
    for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
        members = by_tile[b0:b1]
        lo, hi = sxy[members].min(axis=0) - margin, sxy[members].max(axis=0) + margin
        sel = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
        sub = mat[sel][:, sel]
        chunk = max(1, int(CHUNK_BYTES // (8 * len(sel))))
        for c in range(0, len(members), chunk):
            idx = members[c:c + chunk]
            d = csgraph.dijkstra(sub, directed=True, indices=np.searchsorted(sel, n_w + idx), limit=lim)
            r, col = np.nonzero(d <= lim)
            secs = d[r, col]
            node = sel[col]
            stop = ok_s[idx[r]]
            is_walk = node < n_w
            is_stop = (node >= n_w) & (node < n_w + n_s)
            is_dem = (node >= n_w + n_s) & (node < n_w + n_v)
            acc = (is_walk | is_dem) & (secs <= max_walk)
            origin = np.where(is_walk, node, n_w + (node - n_w - n_s))  # origins: walk nodes, then compounds
            o_all.append(origin[acc])
            s_all.append(stop[acc])
            a_all.append(secs[acc])
            tr = is_stop & (secs <= max_tr)
            f_from.append(stop[tr])
            f_to.append(ok_s[node[tr] - n_w])
            f_s.append(secs[tr])

    def cat(xs: list[np.ndarray], dt_: Any) -> np.ndarray:
        return np.concatenate(xs).astype(dt_) if xs else np.zeros(0, dt_)

    origin, stop, acc_s = cat(o_all, np.int64), cat(s_all, np.int64), cat(a_all, float)
    # the origin of compound j (row of the demand) is n_w + position of j among the snapped ones
    dem_origin = np.full(len(s_dem.edge), -1)
    dem_origin[ok_d] = n_w + np.arange(n_d)
    out = {"s_stop": s_stop, "origin": origin, "stop": stop, "access_s": acc_s, "dem_origin": dem_origin,
           "n_origins": n_w + n_d, "walk_foot": (cat(f_from, np.int64), cat(f_to, np.int64), cat(f_s, float)),
           "not_snapped_stops": int((~s_stop.ok).sum())}
    logger.info("transit walks: %d stops on the walk network, %d origin-stop pairs, %d stop-stop walks",
                n_s, len(origin), len(out["walk_foot"][0]))
    net.shared[key] = out
    return out


def footpaths(feed: Feed, walk_foot: tuple[np.ndarray, np.ndarray, np.ndarray], *, min_change_s: float,
              walk_ms: float) -> Footpaths:
    """Interchanges: walks between stops, the same stop after ``min_change_s``, parent stations, transfers.txt."""
    frm, to, secs = walk_foot
    diff = frm != to
    frm, to, secs = frm[diff], to[diff], secs[diff]
    n = feed.n_stops
    frm = np.concatenate([frm, np.arange(n)])
    to = np.concatenate([to, np.arange(n)])
    secs = np.concatenate([secs, np.full(n, float(min_change_s))])
    par = feed.stop_parent
    kids = np.flatnonzero(par >= 0)
    if len(kids):  # the children of one parent station: joined at their straight-line distance
        pairs = pd.DataFrame({"k": kids, "p": par[kids]})
        m = pairs.merge(pairs, on="p")
        m = m[m["k_x"] != m["k_y"]]
        ia, ib = m["k_x"].to_numpy(), m["k_y"].to_numpy()
        lat = np.radians(feed.stop_lat)
        dx = np.radians(feed.stop_lon[ia] - feed.stop_lon[ib]) * np.cos((lat[ia] + lat[ib]) / 2)
        d = 6371000.0 * np.hypot(dx, lat[ia] - lat[ib])
        frm, to = np.concatenate([frm, ia]), np.concatenate([to, ib])
        secs = np.concatenate([secs, d / walk_ms + float(min_change_s)])
    key = frm * n + to
    if len(feed.tr_from):  # transfers.txt: type 3 forbids the pair, type 2 sets its time, 0/1 allow it
        tk = feed.tr_from * n + feed.tr_to
        forbid = np.isin(key, tk[feed.tr_type == 3])
        frm, to, secs, key = frm[~forbid], to[~forbid], secs[~forbid], key[~forbid]
        t2 = np.isin(feed.tr_type, [0, 1, 2])
        frm = np.concatenate([frm, feed.tr_from[t2]])
        to = np.concatenate([to, feed.tr_to[t2]])
        given = np.where(feed.tr_type[t2] == 2, feed.tr_min_s[t2].astype(float), 0.0)
        secs = np.concatenate([secs, given])
        key = frm * n + to
        named = np.isin(key, tk[t2])
        explicit = np.r_[np.zeros(len(key) - int(t2.sum()), bool), np.ones(int(t2.sum()), bool)]
        keep = ~named | explicit  # a pair transfers.txt names takes its time from there
        frm, to, secs, key = frm[keep], to[keep], secs[keep], key[keep]
    o = np.lexsort((secs, key))
    first = o[np.r_[True, key[o][1:] != key[o][:-1]]] if len(o) else o
    return Footpaths(frm=frm[first], to=to[first], secs=secs[first])


def feed_search(net: FeedNetwork, axy: np.ndarray, alab: np.ndarray, rep_xy: np.ndarray, empty: np.ndarray, *,
                limit_s: float, max_snap_m: float, horizon_s: float) -> FeedSearch:
    """Travel times by transit and walking to the nearest facility (see the module docstring).

    Parameters
    ----------
    net : FeedNetwork
    axy, alab : arrays
        Facility access points (working CRS) and the facility of each.
    rep_xy : array
        Demand representative points (working CRS; NaN where empty).
    empty : array of bool
        Demand without geometry.
    limit_s : float
        The coverage limit (s), for the isochrone.
    max_snap_m : float
        Demand and facilities farther from the walk network are not snapped.
    horizon_s : float
        Journeys longer than this are not searched (inf).
    """
    walk, st = net.walk, net.settings
    main = walk.main_component_edges()
    s_fac = snap_points(walk, axy, mode="walk", max_snap_m=max_snap_m, mask=main)
    key = "dem:" + str(hash(np.nan_to_num(rep_xy).tobytes()))
    if key + ":snap" not in net.shared:
        s_dem = snap_points(walk, np.nan_to_num(rep_xy, nan=0.0), mode="walk", max_snap_m=max_snap_m, mask=main)
        s_dem.edge[empty] = -1
        net.shared[key + ":snap"] = s_dem
    s_dem = net.shared[key + ":snap"]
    w = _walks(net, s_dem, key)
    reach = reach_from_sources(walk, s_fac, alab, mode="walk", unit="s", speed_kmh=net.walk_kmh, limit=horizon_s)
    dem_walk, dem_label = access_costs(walk, reach, s_dem)
    stop_walk, _ = access_costs(walk, reach, w["s_stop"])
    ss = w["s_stop"]  # a station's entrance is reached at the walking speed (access_costs counts door speed)
    okk = ss.ok
    stop_walk[okk] += ss.dist[okk] * (1 / walk.speed_ms("walk", net.walk_kmh)[ss.edge[okk]] - 1 / WALK_ACCESS_MS)
    ms = _walk_ms(net)
    speed = float(np.nanmedian(ms[np.isfinite(ms)]))
    egress = np.where(stop_walk <= float(st["max_walk_m"]) / speed, stop_walk, np.inf)
    access_s = w["access_s"]
    if net.stop_egress_s is not None:
        egress = egress + net.stop_egress_s
    if net.stop_access_s is not None:
        access_s = access_s + net.stop_access_s[w["stop"]]
    foot = footpaths(net.feed, w["walk_foot"], min_change_s=float(st["min_change_min"]) * 60, walk_ms=speed)
    start, end = net.window
    tt = net.feed.day(net.date, start, int(end + horizon_s))
    prof = stop_profiles(tt, egress, foot, max_rides=int(st["max_transfers"]) + 1,
                         transfer_penalty_s=float(st["transfer_penalty_min"]) * 60,
                         horizon_s=(end - start) + horizon_s)
    n_w = walk.n_nodes
    ok_d = np.flatnonzero(s_dem.ok)
    direct = np.concatenate([reach.cost[:n_w], dem_walk[ok_d]])
    minutes = np.arange(start, end, 60)
    times = travel_times(prof, w["origin"], w["stop"], access_s, direct, minutes)
    times[times > horizon_s] = np.inf
    med, pct = percentile(times, [50.0, float(st["percentile"])])
    stat = med if st["decide_by"] == "median" else pct
    n = len(s_dem.edge)
    per = {}
    for name, v in (("cost", stat), ("median", med), ("pct", pct)):
        a = np.full(n, np.inf)
        a[ok_d] = v[n_w:]
        per[name] = a
    node_reach = Reach(cost=stat[:n_w], label=reach.label, per_m=reach.per_m, back_ok=reach.back_ok, unit="s",
                       sources=s_fac, source_labels=alab, limit=limit_s)
    params = {"events": tt.n_events, "trips": tt.n_trips, "departure_minutes": len(minutes),
              "stops_on_walk_network": int(w["s_stop"].ok.sum()), "stops": net.feed.n_stops,
              "stops_reaching_a_facility": int(np.isfinite(egress).sum())}
    return FeedSearch(cost=per["cost"], median=per["median"], pct=per["pct"], walk_only=dem_walk, label=dem_label,
                      reach=node_reach, s_fac=s_fac, s_dem=s_dem, params=params)
