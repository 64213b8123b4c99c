"""Road networks: graph from edges or lines, snapping, one multi-source shortest-path search."""

from cityplan.network.graph import MODES, RoadGraph, graph_from_edges, graph_from_lines, load_speeds
from cityplan.network.search import access_costs, reach_from_sources
from cityplan.network.snap import Snap, snap_points

__all__ = ["MODES", "RoadGraph", "Snap", "access_costs", "graph_from_edges", "graph_from_lines",
           "load_speeds", "reach_from_sources", "snap_points"]
