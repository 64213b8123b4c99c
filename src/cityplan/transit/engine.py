"""Time-dependent transit search: one Dijkstra on a time-expanded graph, then every departure minute.

The question coverage asks is *from every origin, at every departure minute of a window, how
soon can one be at the nearest facility?* The target set (the facilities) is fixed and the
origins are many, so the search runs **backwards from the targets over a time-expanded
graph** of the day's timetable, once (``scipy.sparse.csgraph.dijkstra``, compiled): it gives,
for every departure event at every stop, the earliest arrival at a facility - the full
*profile* of each stop for every moment of the window, exactly, whatever the departure time
(no half-headway approximation, no sampling). Nodes, per ride layer ``k`` (``k`` = rides taken
so far, up to ``max_rides``), one of each per stop event ``j`` of the window:

- ``W[k][j]``: waiting at the stop of event ``j`` until its departure (``dep[j]``); a chain of
  waiting edges joins the events of one stop in time order;
- ``D[k][j]``: on board the vehicle of ``j`` as it leaves (boarding: ``W[k][j] -> D[k][j]``
  where pickup is allowed; riding on: ``D[k][j] -> D[k][j+1]``);
- ``A[k][j]``: just alighted at event ``j`` (``D[k][j-1] -> A[k][j]`` where drop-off is
  allowed), from where one walks to a facility (``A -> sink``, the stop's egress walk) or
  transfers: ``A[k][j] -> W[k+1][m]``, ``m`` the first departure at a footpath's far stop after
  the walk (the same stop: after the minimum change time), plus the transfer penalty.

Edge costs are time differences, so a node's distance to the sink plus its time is the earliest
(generalised: penalties included) arrival. :meth:`StopProfile.arrive` then answers "at stop
``s`` at time ``tau``" by a binary search for the first departure at or after ``tau``, and
:func:`travel_times` takes, per origin and departure minute, the best of walking straight to a
facility and every stop within the access walk (vectorised over all origin-stop pairs).

A brute-force forward search per origin and minute (``tests/test_transit_feed.py``) gives the
same times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from cityplan.transit.gtfs import Timetable

logger = logging.getLogger(__name__)

_EPS = 1e-6  # csgraph reads an explicit 0 as "no edge"
_M = 8 * 86400.0  # key stride per stop (times lie within [-2 days, +6 days])
_OFF = 2 * 86400.0


@dataclass
class Footpaths:
    """Walks between stops (``secs`` from ``frm`` to ``to``), the same stop's change included."""

    frm: np.ndarray
    to: np.ndarray
    secs: np.ndarray


@dataclass
class StopProfile:
    """Per departure event (layer 0, sorted by stop then time): the earliest arrival at a target."""

    key: np.ndarray
    stop: np.ndarray
    dep: np.ndarray
    best: np.ndarray  # earliest generalised arrival (s after midnight) at a target; inf = none within the horizon

    def arrive(self, stops: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Earliest arrival at a target of someone at ``stops`` at ``times`` (inf when none)."""
        q = stops * _M + (times + _OFF) - 1e-6
        i = np.searchsorted(self.key, q, side="left")
        ok = i < len(self.key)
        i = np.minimum(i, len(self.key) - 1)
        ok &= self.stop[i] == stops
        return np.where(ok, self.best[i], np.inf)


def stop_profiles(tt: Timetable, egress_s: np.ndarray, foot: Footpaths, *, max_rides: int,
                  transfer_penalty_s: float = 0.0, horizon_s: float = np.inf) -> StopProfile:
    """Earliest arrival at a target from every departure event (see the module docstring).

    Parameters
    ----------
    tt : Timetable
        The day's runs in the window.
    egress_s : array (n_stops,)
        Walk from each stop to the nearest target (inf: none within reach).
    foot : Footpaths
        Transfers between stops; include ``(s, s, min_change)`` for changing at one stop.
    max_rides : int
        Vehicles per journey (transfers + 1).
    transfer_penalty_s : float
        Added per transfer (generalised time).
    horizon_s : float
        Searches stop beyond this many seconds of travel.
    """
    n = tt.n_events
    z = np.zeros(0, np.int64)
    if n == 0:
        return StopProfile(key=np.zeros(0), stop=z, dep=z, best=np.zeros(0))
    k_layers = int(max_rides)
    last = np.zeros(n, bool)
    last[tt.run_first[1:] - 1] = True
    nxt = np.flatnonzero(~last)  # j with a next event j+1 on the same run
    order = np.lexsort((tt.dep, tt.stop))  # events by stop, then departure
    key = tt.stop[order] * _M + (tt.dep[order] + _OFF)
    chain = order[:-1][tt.stop[order][1:] == tt.stop[order][:-1]]
    chain_to = order[1:][tt.stop[order][1:] == tt.stop[order][:-1]]
    board = np.flatnonzero(tt.pickup & ~last)
    alight = nxt[tt.dropoff[nxt + 1]] + 1  # A[j] for these j
    # transfers: from each alighting event over the footpaths of its stop to the first departure after the walk
    fo = np.argsort(foot.frm, kind="stable")
    ffrm, fto, fsec = foot.frm[fo], foot.to[fo], foot.secs[fo]
    lo = np.searchsorted(ffrm, tt.stop[alight], side="left")
    cnt = np.searchsorted(ffrm, tt.stop[alight], side="right") - lo
    ja = np.repeat(alight, cnt)
    fi = np.repeat(lo, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    ready = tt.arr[ja] + fsec[fi]
    q = fto[fi] * _M + (ready + _OFF) - 1e-6
    pos = np.searchsorted(key, q, side="left")
    hit = pos < len(key)
    pos = np.minimum(pos, len(key) - 1)
    hit &= tt.stop[order][pos] == fto[fi]
    ja, m = ja[hit], order[pos[hit]]
    t_cost = (tt.dep[m] - tt.arr[ja]) + transfer_penalty_s
    eg = egress_s[tt.stop[alight]]
    has_eg = np.isfinite(eg)
    rows, cols, data = [], [], []

    def add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        rows.append(a)
        cols.append(b)
        data.append(np.maximum(np.asarray(c, float), _EPS))

    sink = 3 * n * k_layers
    for k in range(k_layers):
        w, d, a = 3 * n * k, 3 * n * k + n, 3 * n * k + 2 * n
        add(w + chain, w + chain_to, tt.dep[chain_to] - tt.dep[chain])
        add(w + board, d + board, np.zeros(len(board)))
        add(d + nxt, d + nxt + 1, tt.dep[nxt + 1] - tt.dep[nxt])
        add(d + alight - 1, a + alight, tt.arr[alight] - tt.dep[alight - 1])
        add(a + alight[has_eg], np.full(int(has_eg.sum()), sink), eg[has_eg])
        if k + 1 < k_layers:
            add(a + ja, 3 * n * (k + 1) + m, t_cost)
    r, c, x = np.concatenate(rows), np.concatenate(cols), np.concatenate(data)
    size = sink + 1
    # reversed graph: the search runs from the sink; parallel edges keep the cheapest
    kk = c.astype(np.int64) * size + r
    o = np.argsort(kk, kind="stable")
    kk = kk[o]
    first = np.flatnonzero(np.r_[True, kk[1:] != kk[:-1]])
    mat = sparse.csr_matrix((np.minimum.reduceat(x[o], first), (c[o][first], r[o][first])), shape=(size, size))
    dist = csgraph.dijkstra(mat, directed=True, indices=sink, limit=horizon_s)
    best = tt.dep[order] + dist[order]  # W[0][j] of the sorted events
    logger.info("time-expanded graph: %d events x %d layers, %d edges; %d departures reach a target",
                n, k_layers, len(x), int(np.isfinite(best).sum()))
    return StopProfile(key=key, stop=tt.stop[order], dep=tt.dep[order], best=best)


def travel_times(profile: StopProfile, origin: np.ndarray, stop: np.ndarray, access_s: np.ndarray,
                 direct_s: np.ndarray, minutes: np.ndarray, *, chunk: int = 4_000_000,
                 table_bytes: int = 1 << 30) -> np.ndarray:
    """Travel time (s) to the nearest target per origin and departure time.

    Parameters
    ----------
    profile : StopProfile
    origin, stop, access_s : arrays
        Origin-stop pairs within the access walk and the walk's seconds.
    direct_s : array (n_origins,)
        Walking straight to the nearest target (inf: none within reach).
    minutes : array
        Departure times (whole seconds after midnight).
    table_bytes : int
        Memory for the per-second answer table of the stops used (above it: a binary search per
        pair and minute, the same answers).

    Returns
    -------
    ndarray (n_origins, len(minutes)), float32
        ``inf`` where no target is reached.
    """
    n = len(direct_s)
    # filled minute by minute: (minutes, origins) so each minute writes one contiguous row
    out_t = np.repeat(np.asarray(direct_s, np.float32)[None, :], len(minutes), axis=0)
    out = out_t.T
    if len(origin) == 0:
        return out
    o = np.argsort(origin, kind="stable")
    origin, stop, access_s = origin[o], stop[o], access_s[o]
    # a pair whose stop reaches no target at any time of the day cannot help
    useful = np.isfinite(profile.best)
    live = np.zeros(int(profile.stop.max()) + 1 if len(profile.stop) else 0, bool)
    live[profile.stop[useful]] = True
    keep = (stop < len(live)) & live[np.minimum(stop, max(len(live) - 1, 0))] if len(live) else np.zeros(len(stop), bool)
    origin, stop, access_s = origin[keep], stop[keep], access_s[keep]
    if len(origin) == 0 or len(minutes) == 0:
        return out
    # per stop used, the answer for every whole second the walks can arrive at (departures are whole
    # seconds, so "the first departure at or after tau" is the first at or after ceil(tau)): a
    # table lookup per pair and minute instead of a binary search
    t_lo = int(np.min(minutes))
    ca = np.ceil(access_s - 1e-6).astype(np.int64)
    k_max = int(np.max(minutes)) - t_lo + int(ca.max()) + 1
    used, li = np.unique(stop, return_inverse=True)
    if len(used) * k_max * 8 <= table_bytes:
        secs = t_lo + np.arange(k_max)
        # each departure in the span at its second, then backwards the minimum: along a stop's
        # waiting chain an earlier departure never arrives later, so this is the first departure's
        table = np.full((len(used), k_max), np.inf)
        table[:, -1] = profile.arrive(used, np.full(len(used), float(secs[-1])))
        row = np.full(int(profile.stop.max()) + 1, -1)
        row[used] = np.arange(len(used))
        r = row[profile.stop]
        k = profile.dep - t_lo
        ev = (r >= 0) & (k >= 0) & (k < k_max)
        np.minimum.at(table, (r[ev], k[ev]), profile.best[ev])
        table = np.minimum.accumulate(table[:, ::-1], axis=1)[:, ::-1]
        # a pair whose best case is worse than the worst case of another pair of its origin (or of
        # walking straight there) never wins: drop it (exact)
        wait = table - secs[None, :]
        lo = access_s + wait.min(axis=1)[li]
        hi = access_s + wait.max(axis=1)[li]
        first_of = np.flatnonzero(np.r_[True, origin[1:] != origin[:-1]])
        cap = np.minimum(np.minimum.reduceat(hi, first_of), np.asarray(direct_s, float)[origin[first_of]])
        keep = lo <= np.repeat(cap, np.diff(np.r_[first_of, len(origin)])) + 1e-6
        origin, li, ca = origin[keep], li[keep], ca[keep]
        logger.info("travel times: %d origin-stop pairs (%d dominated ones dropped), %d minutes", len(origin), int((~keep).sum()), len(minutes))
        flat = table.ravel()
        for a in range(0, len(origin), chunk):
            og = origin[a:a + chunk]
            base = li[a:a + chunk] * k_max + ca[a:a + chunk]
            starts = np.flatnonzero(np.r_[True, og[1:] != og[:-1]])
            who = og[starts]
            for i, t in enumerate(minutes):
                b = flat[base + (int(t) - t_lo)] - t
                row = out_t[i]
                row[who] = np.minimum(row[who], np.minimum.reduceat(b, starts).astype(np.float32))
        return out
    for a in range(0, len(origin), chunk):
        og, st, ac = origin[a:a + chunk], stop[a:a + chunk], access_s[a:a + chunk]
        starts = np.flatnonzero(np.r_[True, og[1:] != og[:-1]])
        who = og[starts]
        for i, t in enumerate(minutes):
            b = profile.arrive(st, t + ac) - t
            best = np.minimum.reduceat(b, starts).astype(np.float32)
            row = out_t[i]
            row[who] = np.minimum(row[who], best)
    assert out.shape[0] == n
    return out


def percentile(times: np.ndarray, p: float | list[float]) -> np.ndarray | list[np.ndarray]:
    """Per row, the ``p``-th percentile of travel times over departure minutes (nearest rank:
    the smallest time within which at least ``p`` % of the minutes reach a target; inf-safe).
    A list of ``p`` gives a list of arrays (one sort for all)."""
    many = isinstance(p, list | tuple)
    ps = list(p) if many else [p]
    if times.shape[1] == 0:
        res = [np.full(times.shape[0], np.inf) for _ in ps]
    else:
        s = np.sort(times, axis=1)
        res = [s[:, max(int(np.ceil(q / 100.0 * times.shape[1])), 1) - 1].astype(float) for q in ps]
    return res if many else res[0]
