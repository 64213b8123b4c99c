"""A routable road graph in the metric working CRS, with per-mode costs.

Edges come from a routable edge table (``road_graph``: source/target node ids,
one-way flag, road class) or from any line layer, noded. Costs are metres or
seconds; speeds per road class and mode are data (``speeds.yaml`` of the city profile).

An edge table may also say, per edge, whether each mode may use it: boolean columns
named after the modes (``walk``, ``bike``, ``drive``; written by
:func:`cityplan.city.roadgraph.road_graph_edges` from the ways' OSM access tags). A mode
whose column is absent may use every edge, and a missing value allows it too; where a
column says ``False`` the mode has no speed on that edge (:meth:`RoadGraph.speed_ms` is
``NaN``), as on a road class the speeds forbid, so it neither routes over it nor snaps to it.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from importlib.resources.abc import Traversable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from cityplan._errors import NetworkError, SchemaError
from cityplan.crs import to_working
from cityplan.profile import Profile, profile_file
from cityplan.schema.speeds import load_speeds_document

logger = logging.getLogger(__name__)

MODES = ("walk", "bike", "drive")
_EPS = 1e-6  # scipy's csgraph would read an explicit 0 as "no edge"
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


#: the speeds' file in a profile folder
SPEEDS_FILE = "speeds.yaml"


def load_speeds(source: Profile | str | os.PathLike[str] | Traversable) -> dict:
    """Speeds per mode and road class (km/h) of a profile's ``speeds.yaml`` (or of a speeds file).

    Schema: :mod:`cityplan.schema.speeds`. Each call returns a fresh copy (callers may change it).
    """
    if isinstance(source, Profile):
        return copy.deepcopy(source.memo("speeds", lambda: load_speeds(source.file(SPEEDS_FILE))))
    return load_speeds_document(profile_file(source, SPEEDS_FILE))


@dataclass
class RoadGraph:
    """Nodes and directed-capable edges in a metric CRS.

    Attributes
    ----------
    node_xy : (n, 2) array of node coordinates (metres)
    u, v : edge end-node indices
    length : edge lengths (metres, measured in ``crs``)
    road_class : class label per edge (e.g. OSM highway value)
    oneway : True where travel is only allowed u -> v (respected for driving only)
    geoms : edge LineStrings (metres), oriented u -> v
    allowed : per mode, a boolean per edge: ``False`` where the mode may not use the edge
        (OSM access tags); a mode not in the mapping may use every edge
    """

    node_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    road_class: np.ndarray
    oneway: np.ndarray
    geoms: np.ndarray
    crs: object
    #: the city's speeds (:func:`load_speeds` of its profile); analyses set them before searching
    speeds: dict = field(default_factory=dict)
    #: per mode, whether each edge may be used (OSM access tags); a mode absent = every edge
    allowed: dict[str, np.ndarray] = field(default_factory=dict)
    #: spatial indexes of edge subsets (:func:`cityplan.network.snap.snap_points`), by subset
    edge_trees: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """Number of real nodes."""
        return len(self.node_xy)

    def speed_ms(self, mode: str, speed_kmh: float | None = None) -> np.ndarray:
        """Speed in m/s per edge for ``mode`` (``NaN`` where the mode may not use the edge)."""
        if mode not in MODES:
            msg = f"unknown mode {mode!r}; use one of {MODES} (or euclid for straight-line coverage)"
            raise SchemaError(msg)
        spec = self.speeds[mode]
        uniq, inv = self._class_index  # per distinct class, then spread to the edges
        classes = pd.Series(uniq)
        kmh = classes.map({str(k): float(x) for k, x in (spec.get("by_class") or {}).items()})
        kmh = kmh.fillna(float(spec["default_kmh"])).to_numpy()
        if speed_kmh is not None:  # a user speed replaces the mode's (e.g. winter walking)
            kmh = np.where(np.isnan(kmh), np.nan, float(speed_kmh))
        banned = classes.isin([str(c) for c in spec.get("forbidden", [])]).to_numpy()
        kmh = np.where(banned, np.nan, kmh)
        ms = (kmh / 3.6)[inv]
        allowed = self.allowed.get(mode)
        return ms if allowed is None else np.where(allowed, ms, np.nan)

    @cached_property
    def _class_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct road classes (as text) and each edge's index into them."""
        uniq, inv = np.unique(np.asarray(self.road_class).astype(str), return_inverse=True)
        return uniq.astype(object), inv.ravel()

    def usable(self, mode: str) -> np.ndarray:
        """Edges ``mode`` may travel on."""
        return ~np.isnan(self.speed_ms(mode))

    def edge_cost(self, mode: str, unit: str, speed_kmh: float | None = None) -> np.ndarray:
        """Cost of traversing each edge: metres (``unit='m'``) or seconds (``unit='s'``)."""
        if unit == "m":
            return np.where(self.usable(mode), self.length, np.nan)
        return self.length / self.speed_ms(mode, speed_kmh)

    def matrix(self, mode: str, unit: str, speed_kmh: float | None = None, *,
               extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, n_extra: int = 0,
               reverse: bool = False) -> sparse.csr_matrix:
        """CSR adjacency (n + n_extra square) of ``mode`` costs; parallel edges keep the cheapest.

        ``reverse`` transposes travel direction (search *to* sources instead of from them);
        ``extra`` adds (from, to, cost) edges, e.g. to virtual source nodes.
        """
        cost = self.edge_cost(mode, unit, speed_kmh)
        ok = ~np.isnan(cost)
        fwd_u, fwd_v, w = self.u[ok], self.v[ok], cost[ok]
        back = ok & ~(self.oneway & (mode == "drive"))
        rows, cols, data = stack_edges(np.concatenate([fwd_u, self.v[back]]), np.concatenate([fwd_v, self.u[back]]),
                                       np.concatenate([w, cost[back]]), reverse=reverse, extra=extra)
        n = self.n_nodes + n_extra
        # keep the cheapest of parallel edges (coo -> csr would add them up): one int64 sort key
        key = rows.astype(np.int64) * n + cols
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        data = np.maximum(np.minimum.reduceat(data[order], first), _EPS) if len(first) else data
        return sparse.csr_matrix((data, (rows[order][first], cols[order][first])), shape=(n, n))

    @cached_property
    def components(self) -> np.ndarray:
        """Weakly connected component label per node (walk network)."""
        m = self.matrix("walk", "m")
        _, labels = sparse.csgraph.connected_components(m, directed=False)
        return labels

    def main_component_edges(self) -> np.ndarray:
        """Edges on the largest connected component (fragments off it cannot reach anything)."""
        labels = self.components
        return labels[self.u] == np.bincount(labels).argmax()

    def check_connected(self, *, min_share: float = 0.5, source: str = "road graph") -> None:
        """Raise :class:`NetworkError` when the largest component holds < ``min_share`` of nodes."""
        labels = self.components
        sizes = np.bincount(labels)
        share = sizes.max() / len(labels)
        if share < min_share:
            msg = (f"{source}: the network falls apart into {len(sizes)} components, the largest "
                   f"holding only {share:.0%} of {len(labels)} nodes; is the line layer noded "
                   "(lines split where they cross)? cityplan nodes user line layers itself "
                   "(graph_from_lines) - check for gaps between line ends")
            raise NetworkError(msg)
        logger.info("%s: %d components, largest %.1f%% of nodes", source, len(sizes), 100 * share)


def stack_edges(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, *, reverse: bool = False,
                extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge lists for a CSR matrix: flipped for a search towards the sources (``reverse``) and
    with ``extra`` (virtual source edges, already oriented) appended."""
    if reverse:
        rows, cols = cols, rows
    if extra is not None:
        rows = np.concatenate([rows, extra[0]])
        cols = np.concatenate([cols, extra[1]])
        data = np.concatenate([data, extra[2]])
    return rows, cols, data


def _nodes_from_ids(ids_u: np.ndarray, ids_v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    uniq, inv = np.unique(np.concatenate([ids_u, ids_v]), return_inverse=True)
    n = len(ids_u)
    return uniq, inv[:n], inv[n:]


def allowed_column(values: pd.Series, *, column: str) -> np.ndarray:
    """A permission column as booleans: missing values allow the mode.

    Parameters
    ----------
    values : Series
        Booleans, ``0``/``1`` or text (``true``/``false``, ``yes``/``no``, ``1``/``0``), with nulls.
    column : str
        The column's name, for the error message.

    Returns
    -------
    ndarray of bool
        ``False`` only where the value says so.

    Raises
    ------
    SchemaError
        A value that is none of these.
    """
    if values.dtype == bool:
        return values.to_numpy(dtype=bool)
    num = pd.to_numeric(values, errors="coerce")
    text = values.astype("string").str.strip().str.lower()
    false = ((num == 0) | text.isin(_FALSE)).to_numpy(dtype=bool)
    true = ((num == 1) | text.isin(_TRUE) | values.isna()).to_numpy(dtype=bool)
    bad = ~(false | true)
    if bad.any():
        msg = (f"road graph: column {column!r} holds {values[bad].iloc[0]!r}; a mode's permission "
               "is true/false, yes/no or 1/0 (empty = allowed)")
        raise SchemaError(msg)
    return ~false


def _allowed_by_mode(table: pd.DataFrame, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The permission columns of an edge table (those present), optionally picked by ``rows``."""
    out = {}
    for mode in MODES:
        if mode in table.columns:
            ok = allowed_column(table[mode], column=mode)
            out[mode] = ok if rows is None else ok[rows]
    return out


def graph_from_edges(
    edges: gpd.GeoDataFrame, *, source: str = "source", target: str = "target",
    oneway: str = "reverse", road_class: str = "class_id", crs=None, speeds: dict | None = None,
) -> RoadGraph:
    """Graph from a routable edge table (``road_graph`` layer: OSM node ids, ``reverse=-1`` one-way).

    Boolean columns named after the modes (``walk``, ``bike``, ``drive``), when present, say
    which edges each mode may use (see the module docstring). ``speeds`` (a :func:`load_speeds`
    mapping) is set on the graph when given.
    """
    need = [source, target, oneway, road_class]
    missing = [c for c in need if c not in edges.columns]
    if missing:
        msg = f"road graph: missing column(s) {missing}; expected {need}"
        raise SchemaError(msg)
    edges = edges[edges.geometry.notna() & ~edges.geometry.is_empty]
    if edges.empty:
        msg = "road graph: no edges with geometry"
        raise NetworkError(msg)
    work = to_working(edges, crs)
    geoms = np.asarray(work.geometry.values, dtype=object)
    multi = shapely.get_type_id(geoms) == 5  # MultiLineString
    if multi.any():
        geoms = geoms.copy()
        geoms[multi] = shapely.line_merge(geoms[multi])
    _, u, v = _nodes_from_ids(edges[source].to_numpy(), edges[target].to_numpy())
    n = int(max(u.max(), v.max())) + 1
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))
    xy = np.full((n, 2), np.nan)
    xy[u] = start
    xy[v] = end
    extra = {} if speeds is None else {"speeds": speeds}
    return RoadGraph(node_xy=xy, u=u, v=v, length=shapely.length(geoms), road_class=edges[road_class].astype(str).to_numpy(),
                     oneway=(pd.to_numeric(edges[oneway], errors="coerce").to_numpy() == -1),
                     geoms=geoms, crs=work.crs, allowed=_allowed_by_mode(edges), **extra)


def graph_from_lines(lines: gpd.GeoDataFrame, *, road_class: str | None = "highway",
                     oneway: str | None = None, crs=None, speeds: dict | None = None) -> RoadGraph:
    """Graph from any line layer: lines are noded (split where they cross or touch) first.

    Attributes (class, one-way, the per-mode permission columns ``walk``/``bike``/``drive``
    when present) are carried to the pieces by a spatial match with the source line they lie
    on. Node identity = coordinates rounded to 1 cm. ``speeds`` is set on the graph when given.
    """
    lines = lines[lines.geometry.notna() & ~lines.geometry.is_empty]
    if lines.empty or not lines.geom_type.isin(["LineString", "MultiLineString"]).all():
        msg = "line layer for routing: needs LineString/MultiLineString features"
        raise NetworkError(msg)
    work = to_working(lines, crs)
    noded = shapely.get_parts(shapely.node(shapely.union_all(work.geometry.values)))
    noded = noded[shapely.length(noded) > 0]
    tree = shapely.STRtree(np.asarray(work.geometry.values, dtype=object))
    mid = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    src_idx = tree.query_nearest(mid, all_matches=False)[1]
    cls = (work[road_class].astype(str).to_numpy()[src_idx] if road_class and road_class in work.columns
           else np.full(len(noded), "unclassified"))
    ow = (work[oneway].astype(str).isin(["yes", "1", "true", "-1"]).to_numpy()[src_idx]
          if oneway and oneway in work.columns else np.zeros(len(noded), bool))
    start = np.round(shapely.get_coordinates(shapely.get_point(noded, 0)), 2)
    end = np.round(shapely.get_coordinates(shapely.get_point(noded, -1)), 2)
    keys = np.concatenate([start, end])
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    extra = {} if speeds is None else {"speeds": speeds}
    return RoadGraph(node_xy=uniq, u=inv[: len(noded)], v=inv[len(noded):], length=shapely.length(noded),
                     road_class=cls, oneway=ow, geoms=noded, crs=work.crs,
                     allowed=_allowed_by_mode(work, src_idx), **extra)


def graph_to_arrays(graph: RoadGraph) -> dict[str, np.ndarray]:
    """The graph as plain arrays (no object dtype, so no pickle is ever needed to read it back).

    Edge geometries are stored as their vertex coordinates with per-edge vertex counts when
    every edge is a LineString (rebuilt in one vectorised call), otherwise as their WKB bytes
    concatenated into one ``uint8`` array with offsets; the CRS as WKT text; the per-mode
    permissions as ``allowed_<mode>`` boolean arrays.
    """
    arrays = {"node_xy": graph.node_xy, "u": graph.u, "v": graph.v, "length": graph.length,
              "road_class": graph.road_class.astype(str), "oneway": graph.oneway.astype(bool),
              "crs": np.array(graph.crs.to_wkt()),
              **{f"allowed_{m}": np.asarray(a, dtype=bool) for m, a in graph.allowed.items()}}
    geoms = np.asarray(graph.geoms, dtype=object)
    if len(geoms) and (shapely.get_type_id(geoms) == 1).all():
        return arrays | {"line_xy": shapely.get_coordinates(geoms),
                         "line_counts": shapely.get_num_coordinates(geoms).astype(np.int64)}
    wkb = shapely.to_wkb(geoms)
    offsets = np.concatenate([[0], np.cumsum(np.fromiter(map(len, wkb), np.int64, len(wkb)))]).astype(np.int64)
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    return arrays | {"wkb": blob, "wkb_offsets": offsets}


def graph_from_arrays(z: dict[str, np.ndarray]) -> RoadGraph:
    """Inverse of :func:`graph_to_arrays`."""
    from pyproj import CRS

    if "line_xy" in z:
        counts = np.asarray(z["line_counts"], dtype=np.int64)
        geoms = shapely.linestrings(z["line_xy"], indices=np.repeat(np.arange(len(counts)), counts))
    else:
        blob, off = z["wkb"].tobytes(), z["wkb_offsets"]
        geoms = shapely.from_wkb([blob[a:b] for a, b in zip(off[:-1], off[1:], strict=True)])
    return RoadGraph(node_xy=z["node_xy"], u=z["u"], v=z["v"], length=z["length"],
                     road_class=z["road_class"], oneway=z["oneway"], geoms=np.asarray(geoms, dtype=object),
                     crs=CRS.from_wkt(str(np.asarray(z["crs"]).ravel()[0])),
                     allowed={m: np.asarray(z[f"allowed_{m}"], dtype=bool) for m in MODES
                              if f"allowed_{m}" in z})
