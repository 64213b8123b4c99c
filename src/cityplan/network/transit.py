"""A multimodal walk + metro graph for ``--mode transit``.

Nodes: the walk network's nodes, then one **entrance** node per metro station (the station
snapped onto the walk network), then one **platform** node per station and line. Directed
edges, costs in seconds (the direction of travel is home -> facility):

- walk edges, both ways, at the walking speed;
- entrance <-> the two ends of the walk edge it snaps to (walking the snap distance and the
  along-edge offset);
- entrance -> platform: ``access_min`` + half the line's headway (the expected wait);
- platform -> entrance: ``egress_min``;
- platform <-> next platform of the same line: the along-line distance between the two
  stations (measured on the line geometry) at ``speed_kmh``; a ``loop`` line also joins its
  last stop to its first;
- platform(line A) -> platform(line B) at an interchange: ``transfer_min`` + half line B's headway.

:class:`TransitGraph` answers the same calls as :class:`~cityplan.network.graph.RoadGraph`
(its edges are the walk edges; :meth:`TransitGraph.matrix` adds the metro), so snapping and
the one multi-source Dijkstra of :mod:`cityplan.network.search` run on it unchanged.
Parameters come from ``transit:`` in ``speeds.yaml`` of the city profile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from cityplan._errors import CoverageError
from cityplan.crs import to_working
from cityplan.network.graph import RoadGraph, stack_edges
from cityplan.network.snap import snap_points

logger = logging.getLogger(__name__)

#: road classes of the walk graph a pedestrian may not use come from ``walk.forbidden``


def line_geometry(lines: gpd.GeoDataFrame, column: str, lid: str, spec: dict[str, Any],
                  warnings: list[str] | None = None) -> shapely.LineString:
    """The geometry of metro line ``lid`` (``speeds.yaml`` ``transit.lines.LID``): the features of
    ``lines`` whose ``column`` contains ``spec["match"]``, merged; when they do not join into one
    line, the longest piece (said in ``warnings``)."""
    match = lines[lines[column].astype(str).str.contains(spec["match"], regex=False)]
    if match.empty:
        msg = f"metro lines layer: no line whose {column!r} contains {spec['match']!r} (transit.lines.{lid}.match)"
        raise CoverageError(msg)
    geom = shapely.line_merge(shapely.union_all(match.geometry.to_numpy()))
    if geom.geom_type != "LineString":
        if warnings is not None:
            warnings.append(f"metro line {lid}: geometry is in {shapely.get_num_geometries(geom)} pieces; "
                            "distances measured on the longest")
        geom = max(shapely.get_parts(geom), key=lambda g: g.length)
    return geom


@dataclass
class TransitGraph:
    """Walk network + metro, duck-typing :class:`RoadGraph` for the search functions.

    Attributes
    ----------
    walk : RoadGraph
        The walk network (its edges are this graph's edges).
    walk_kmh : float or None
        A walking speed replacing the walk network's per-class speeds.
    t_from, t_to, t_cost : arrays
        The metro and connector edges (node indices of the combined graph, seconds).
    t_kind : array of str
        ``connector``, ``board``, ``alight``, ``ride``, ``transfer`` per metro edge.
    stations : GeoDataFrame
        The stations used (working CRS) with ``entrance`` node index (-1 = not on the walk network).
    platforms : DataFrame
        ``station`` (row of ``stations``), ``line`` and ``node`` of every platform.
    removed : tuple of str
        Line / section ids left out (the counterfactual).
    """

    walk: RoadGraph
    walk_kmh: float | None
    t_from: np.ndarray
    t_to: np.ndarray
    t_cost: np.ndarray
    t_kind: np.ndarray
    stations: gpd.GeoDataFrame
    platforms: pd.DataFrame
    n_transit: int
    removed: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    # -- the RoadGraph interface (edges = walk edges) ----------------------------------------
    @property
    def n_nodes(self) -> int:
        """Walk nodes + station entrances + platforms."""
        return self.walk.n_nodes + self.n_transit

    @property
    def node_xy(self) -> np.ndarray:
        """Coordinates of every node (entrances at the station, platforms too)."""
        st = shapely.get_coordinates(self.stations.geometry.to_numpy())
        ent = st[self.stations["entrance"].to_numpy() >= 0]
        plat = st[self.platforms["station"].to_numpy()] if len(self.platforms) else np.zeros((0, 2))
        return np.vstack([self.walk.node_xy, ent, plat])

    def __getattr__(self, name: str) -> Any:
        if name in ("u", "v", "length", "road_class", "oneway", "geoms", "crs", "speeds", "edge_trees"):
            return getattr(self.walk, name)
        raise AttributeError(name)

    def speed_ms(self, mode: str = "transit", speed_kmh: float | None = None) -> np.ndarray:
        """Walking speed (m/s) per walk edge (NaN where walking is not allowed); computed once per speed."""
        kmh = speed_kmh if speed_kmh is not None else self.walk_kmh
        memo = self.__dict__.setdefault("_speed_memo", {})
        if kmh not in memo:
            memo[kmh] = self.walk.speed_ms("walk", kmh)
        return memo[kmh]

    def usable(self, mode: str = "transit") -> np.ndarray:
        """Walk edges a pedestrian may use."""
        return self.walk.usable("walk")

    def matrix(self, mode: str, unit: str, speed_kmh: float | None = None, *,
               extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, n_extra: int = 0,
               reverse: bool = False) -> sparse.csr_matrix:
        """CSR adjacency of the combined graph in seconds (``reverse``: search towards sources)."""
        if unit != "s":
            msg = "transit coverage is measured in time: give --within in minutes (e.g. 30min)"
            raise CoverageError(msg)
        rows, cols, data = stack_edges(self.t_from, self.t_to, self.t_cost, reverse=reverse, extra=extra)
        kmh = speed_kmh if speed_kmh is not None else self.walk_kmh
        return self.walk.matrix("walk", "s", kmh, extra=(rows, cols, data), n_extra=self.n_transit + n_extra,
                                reverse=reverse)

    @property
    def components(self) -> np.ndarray:
        """Walk components (stations join only the main one)."""
        return self.walk.components

    def main_component_edges(self) -> np.ndarray:
        """Walk edges on the largest connected component."""
        return self.walk.main_component_edges()

    def check_connected(self, *, min_share: float = 0.5, source: str = "walk network") -> None:
        """See :meth:`RoadGraph.check_connected`."""
        self.walk.check_connected(min_share=min_share, source=source)

    def edge_table(self) -> pd.DataFrame:
        """The metro and connector edges as a table (from, to, seconds, kind)."""
        return pd.DataFrame({"from": self.t_from, "to": self.t_to, "seconds": self.t_cost, "kind": self.t_kind})


def line_ids(config: dict[str, Any]) -> list[str]:
    """Line and section ids ``--without-line`` accepts."""
    return list(config["lines"]) + list(config.get("sections") or {})


def planned_sections(config: dict[str, Any]) -> tuple[str, ...]:
    """Sections marked ``planned`` (not yet in service): the default counterfactual."""
    return tuple(k for k, s in (config.get("sections") or {}).items() if s.get("planned"))


def build_transit_graph(
    walk: RoadGraph, lines: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, config: dict[str, Any], *,
    walk_kmh: float | None = None, without: tuple[str, ...] = (), crs: Any = None,
) -> TransitGraph:
    """The walk + metro graph (see the module docstring).

    Parameters
    ----------
    walk : RoadGraph
        The walk network (metric CRS).
    lines, stations : GeoDataFrame
        The metro layers (roles ``metro_lines`` and ``metro_stations``).
    config : dict
        ``transit:`` of ``speeds.yaml`` of the city profile.
    walk_kmh : float, optional
        Walking speed replacing the walk network's speeds (e.g. the season's).
    without : tuple of str
        Line ids (``"3"``) or section ids (``"3-nw"``) to leave out.

    Raises
    ------
    CoverageError
        Unknown line/section id, a line or column the configuration names that the layers lack.
    """
    known = line_ids(config)
    bad = [w for w in without if w not in known]
    if bad:
        msg = f"--without-line {bad[0]!r}: not a line or section of the metro; use one of {known} (speeds.yaml transit:)"
        raise CoverageError(msg)
    crs = crs or walk.crs
    st = to_working(stations.reset_index(drop=True), crs)
    ln = to_working(lines.reset_index(drop=True), crs)
    col = config.get("line_column", "line")
    if col not in ln.columns:
        msg = f"metro lines layer: no column {col!r} (transit.line_column in speeds.yaml); columns: {list(ln.columns)}"
        raise CoverageError(msg)
    warnings: list[str] = []
    walk_ms = walk.speed_ms("walk", walk_kmh)
    # station entrances: snapped onto the main component of the walk network
    xy = shapely.get_coordinates(st.geometry.to_numpy())
    snap = snap_points(walk, xy, mode="walk", max_snap_m=float(config["max_station_snap_m"]),
                       mask=walk.main_component_edges())
    n_w = walk.n_nodes
    entrance = np.full(len(st), -1)
    entrance[snap.ok] = n_w + np.arange(int(snap.ok.sum()))
    st["entrance"] = entrance
    if (~snap.ok).any():
        names = st.loc[~snap.ok, "name"].astype(str).tolist() if "name" in st.columns else []
        warnings.append(f"{int((~snap.ok).sum())} metro station(s) farther than {config['max_station_snap_m']:g} m "
                        f"from the walk network, not used: {names}")
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    cost: list[np.ndarray] = []
    kind: list[np.ndarray] = []

    def add(a, b, c, k):
        a, b, c = np.atleast_1d(a), np.atleast_1d(b), np.atleast_1d(np.asarray(c, float))
        rows.append(a)
        cols.append(b)
        cost.append(c)
        kind.append(np.full(len(a), k))

    ok = np.flatnonzero(snap.ok)
    e = snap.edge[ok]
    to_u = (snap.dist[ok] + snap.offset[ok]) / walk_ms[e]
    to_v = (snap.dist[ok] + walk.length[e] - snap.offset[ok]) / walk_ms[e]
    ent = entrance[ok]
    add(np.concatenate([ent, walk.u[e], ent, walk.v[e]]), np.concatenate([walk.u[e], ent, walk.v[e], ent]),
        np.concatenate([to_u, to_u, to_v, to_v]), "connector")
    # platforms: one per station and line, in line order
    n_ent = int(snap.ok.sum())
    plat_rows = []
    sections = config.get("sections") or {}
    for lid, spec in config["lines"].items():
        if lid in without:
            continue
        seq_col = spec["sequence"]
        if seq_col not in st.columns:
            msg = f"metro stations layer: no column {seq_col!r} (transit.lines.{lid}.sequence); columns: {list(st.columns)}"
            raise CoverageError(msg)
        on = st[pd.to_numeric(st[seq_col], errors="coerce").notna()]
        on = on.assign(_seq=pd.to_numeric(on[seq_col])).sort_values("_seq")
        for sid in without:
            sec = sections.get(sid)
            if sec and sec["line"] == lid:
                if sec["flag"] not in st.columns:
                    msg = (f"section {sid!r}: the stations layer has no flag column {sec['flag']!r}; "
                           "declare it under the metro stations' flags in catalog.yaml")
                    raise CoverageError(msg)
                on = on[~on[sec["flag"]].astype(bool)]
        geom = line_geometry(ln, col, lid, spec, warnings)
        pts = on.geometry.to_numpy()
        pos = shapely.line_locate_point(geom, pts)
        off_line = shapely.distance(geom, pts)
        if (off_line > 200).any():
            warnings.append(f"metro line {lid}: {int((off_line > 200).sum())} station(s) more than 200 m from its line geometry")
        seq = on["_seq"].to_numpy()
        for i, idx in enumerate(on.index):
            plat_rows.append({"station": int(idx), "line": lid, "seq": seq[i], "pos": pos[i]})
        nodes = n_w + n_ent + len(plat_rows) - len(on) + np.arange(len(on))
        # consecutive stops are consecutive sequence numbers: a removed section breaks the line
        closed = bool(spec.get("loop"))
        pairs = [(i, i + 1) for i in range(len(on) - 1) if seq[i + 1] - seq[i] == 1]
        if closed and len(on) > 2:
            full = pd.to_numeric(st[seq_col], errors="coerce")
            if seq[0] == full.min() and seq[-1] == full.max():
                pairs.append((len(on) - 1, 0))
        total = geom.length
        for a, b in pairs:
            d = abs(pos[b] - pos[a])
            if geom.is_closed:
                d = min(d, total - d)
            t = d / (float(config["speed_kmh"]) / 3.6)
            add([nodes[a], nodes[b]], [nodes[b], nodes[a]], [t, t], "ride")
        wait = float(spec["headway_min"]) * 60 / 2
        ents = on["entrance"].to_numpy()
        usable = ents >= 0  # trains pass stations off the walk network without anyone boarding
        add(ents[usable], nodes[usable], np.full(int(usable.sum()), float(config["access_min"]) * 60 + wait), "board")
        add(nodes[usable], ents[usable], np.full(int(usable.sum()), float(config["egress_min"]) * 60), "alight")
    plat = pd.DataFrame(plat_rows, columns=["station", "line", "seq", "pos"])
    plat["node"] = n_w + n_ent + np.arange(len(plat))
    # transfers between the platforms of one station
    for _, grp in plat.groupby("station"):
        if len(grp) < 2:
            continue
        for a in grp.itertuples():
            for b in grp.itertuples():
                if a.line != b.line:
                    wait = float(config["lines"][b.line]["headway_min"]) * 60 / 2
                    add([a.node], [b.node], [float(config["transfer_min"]) * 60 + wait], "transfer")

    def cat(xs: list[np.ndarray], dt: Any) -> np.ndarray:
        return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)

    g = TransitGraph(walk=walk, walk_kmh=walk_kmh, t_from=cat(rows, np.int64), t_to=cat(cols, np.int64),
                     t_cost=cat(cost, float), t_kind=cat(kind, object), stations=st, platforms=plat,
                     n_transit=n_ent + len(plat), removed=tuple(without), warnings=warnings)
    g.params = {"stations_used": n_ent, "platforms": len(plat),
                "lines": sorted(set(plat["line"])), "without": list(without)}
    logger.info("transit graph: %d entrances, %d platforms, %d metro edges (without %s)", n_ent, len(plat),
                len(g.t_from), list(without) or "-")
    return g
