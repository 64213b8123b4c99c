"""A tiny synthetic city as a real ``.osm.pbf``, whose coverage answers are known by construction.

Designed in local metres (x east, y north) and placed with the inverse of EPSG:4548
(CGCS2000 3-degree GK, CM 117E) near Jinan, so the CRS policy picks that zone and
distances measured there are the designed ones (OSM's 1e-7 degree precision: ~1 cm).

- Streets every 200 m: 9 north-south ways (x = 0..1600) and 5 east-west ways
  (y = 0..800) sharing their intersection nodes -> 76 edges, 45 nodes. y = 800 is
  ``oneway=yes``, x = 1600 ``oneway=-1`` (12 one-way edges). A trunk bridge at x = 1050
  crosses the grid without shared nodes (1 edge, its own component); a
  ``highway=construction`` way is not routable.
- 32 compounds (``landuse=residential``, 20 x 20 m) centred 30 m north of the middle of each
  block's south street: ``(200 i + 100, 200 j + 30)``, i = 0..7, j = 0..3, named ``小区 i-j``.
- One park, a 100 x 100 m square ``[240, 340] x [245, 345]``: its 8 access points (every
  50 m) are its corners and mid-sides, each with one nearest street (no ties).
- Two districts split at x = 800 (adcodes 990101 west, 990102 east); census: 16,000 urban
  residents each (east: 32,000 x urban_share 0.5) on 16 equal compounds = 1,000 per compound.
- Schools (a node, and a ground without a node), an ice-hockey rink (area), a pitch node
  with ``sport=ice_skating;soccer``, parking (node + area), a lake, a wetland, a stream,
  and one building and one shop that no layer uses.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from osm_writer import write_pbf

ORIGIN = (510_000.0, 4_060_000.0)  # EPSG:4548 easting/northing of local (0, 0): ~117.11E, 36.67N
_TO_LONLAT = Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True)
STEP = 200.0
NX, NY = 8, 4  # blocks east-west, north-south
PARK = shapely.box(240, 245, 340, 345)
HOME_SIZE = 20.0
DISTRICTS = (("990101", "西城区", "West", (-100, -100, 800, 900), 16000, 1.0),
             ("990102", "东城区", "East", (800, -100, 1700, 900), 32000, 0.5))
EXPECTED_EDGES, EXPECTED_NODES, EXPECTED_ONEWAY = 77, 47, 12


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres -> (lon, lat)."""
    lon, lat = _TO_LONLAT.transform(ORIGIN[0] + x, ORIGIN[1] + y)
    return float(lon), float(lat)


def homes() -> dict[str, shapely.Polygon]:
    """The compounds in local metres, by name."""
    h = HOME_SIZE / 2
    return {f"小区 {i}-{j}": shapely.box(STEP * i + 100 - h, STEP * j + 30 - h, STEP * i + 100 + h, STEP * j + 30 + h)
            for i in range(NX) for j in range(NY)}


def streets() -> list[shapely.LineString]:
    """The walkable street grid (main component) in local metres."""
    xs = [STEP * i for i in range(NX + 1)]
    ys = [STEP * j for j in range(NY + 1)]
    return ([shapely.LineString([(x, ys[0]), (x, ys[-1])]) for x in xs]
            + [shapely.LineString([(xs[0], y), (xs[-1], y)]) for y in ys])


# ------------------------------------------------------------------ expected answers
def euclid_distance() -> dict[str, float]:
    """Straight-line distance from each compound's centre to the park."""
    return {n: float(shapely.distance(g.centroid, PARK)) for n, g in homes().items()}


def _snap(pt: shapely.Point, lines: list[shapely.LineString]) -> tuple[tuple[float, float], float]:
    d = [ln.distance(pt) for ln in lines]
    k = int(np.argmin(d))
    assert sorted(d)[1] - d[k] > 1.0, f"the design has a snapping tie at {pt}"
    p = lines[k].interpolate(lines[k].project(pt))
    return (round(p.x, 6), round(p.y, 6)), d[k]


def walk_distance() -> dict[str, float]:
    """Network distance (m) from each compound to the park, computed with networkx on the design.

    Compounds and the park's access points (corners and mid-sides) join the nearest street
    perpendicularly; the joining metres count.
    """
    lines = streets()
    access = [shapely.Point(c) for c in shapely.get_coordinates(PARK.exterior)[:-1]]
    access += [shapely.Point((a.x + b.x) / 2, (a.y + b.y) / 2) for a, b in zip(access, access[1:] + access[:1], strict=True)]
    snaps_home = {n: _snap(g.centroid, lines) for n, g in homes().items()}
    snaps_park = [_snap(a, lines) for a in access]
    g = nx.Graph()
    on_line: dict[int, set[tuple[float, float]]] = {i: set() for i in range(len(lines))}
    pts = [p for p, _ in snaps_home.values()] + [p for p, _ in snaps_park]
    pts += [(STEP * i, STEP * j) for i in range(NX + 1) for j in range(NY + 1)]
    for p in pts:
        for i, ln in enumerate(lines):
            if ln.distance(shapely.Point(p)) < 1e-6:
                on_line[i].add(p)
    for i, ps in on_line.items():
        ln = lines[i]
        ordered = sorted(ps, key=lambda p, ln=ln: ln.project(shapely.Point(p)))
        for a, b in zip(ordered, ordered[1:], strict=False):
            g.add_edge(a, b, weight=float(np.hypot(a[0] - b[0], a[1] - b[1])))
    g.add_node("park")
    for p, d in snaps_park:
        if not g.has_edge("park", p) or g.edges["park", p]["weight"] > d:
            g.add_edge("park", p, weight=d)
    dist = nx.single_source_dijkstra_path_length(g, "park", weight="weight")
    return {n: float(d + dist[p]) for n, (p, d) in snaps_home.items()}


def covered(distances: dict[str, float], within_m: float) -> set[str]:
    """Compounds within ``within_m`` (the design keeps every distance >= 5 m from 500 m)."""
    return {n for n, d in distances.items() if d <= within_m}


# ------------------------------------------------------------------ writing the extract
class _Ids:
    def __init__(self, start: int) -> None:
        self.n = start

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _osm(path: Path) -> None:
    nodes: list[tuple[int, tuple[float, float], dict[str, str]]] = []
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    nid, wid = _Ids(100), _Ids(500)

    def node(x: float, y: float, **tags: str) -> int:
        i = nid()
        nodes.append((i, lonlat(x, y), tags))
        return i

    def area(geom: shapely.Polygon, **tags: str) -> None:
        ids = [node(x, y) for x, y in shapely.get_coordinates(geom.exterior)[:-1]]
        ways.append((wid(), ids + ids[:1], tags))

    grid = {(i, j): node(STEP * i, STEP * j) for i in range(NX + 1) for j in range(NY + 1)}
    for i in range(NX + 1):
        tags = {"highway": "secondary" if i == 4 else "residential", "name": f"经{i}路"}
        if i == NX:
            tags["oneway"] = "-1"
        ways.append((wid(), [grid[i, j] for j in range(NY + 1)], tags))
    for j in range(NY + 1):
        tags = {"highway": "primary" if j == 2 else "residential", "name": f"纬{j}路"}
        if j == NY:
            tags["oneway"] = "yes"
        ways.append((wid(), [grid[i, j] for i in range(NX + 1)], tags))
    ways.append((wid(), [node(1050, -100), node(1050, 900)], {"highway": "trunk", "bridge": "yes", "layer": "1"}))
    ways.append((wid(), [node(1450, 850), node(1550, 850)], {"highway": "construction", "construction": "residential"}))
    for name, geom in homes().items():
        area(geom, landuse="residential", name=name)
    area(PARK, leisure="park", name="中心公园")
    node(500, 650, amenity="school", name="第一小学")
    area(shapely.box(1250, 450, 1350, 550), amenity="school", name="第二中学")
    area(shapely.box(1450, 250, 1550, 350), leisure="ice_rink", sport="ice_hockey", name="冰球馆")
    node(700, 450, leisure="pitch", sport="ice_skating;soccer", name="冬季冰场")
    node(900, 130, amenity="parking", name="停车场一")
    area(shapely.box(650, 650, 750, 750), amenity="parking", name="停车场二")
    area(shapely.box(1230, 680, 1370, 780), natural="water", name="东湖")
    area(shapely.box(20, 720, 180, 780), natural="wetland", wetland="marsh")
    stream = [node(1380, 730), node(1480, 735), node(1580, 730)]
    ways.append((wid(), stream, {"waterway": "stream", "name": "小河"}))
    area(shapely.box(120, 460, 180, 480), building="yes")
    node(1000, 550, shop="convenience", name="便利店")
    write_pbf(path, nodes, ways)


@dataclass(frozen=True)
class SyntheticCity:
    """The source files of the synthetic city."""

    osm: Path
    districts: Path
    census: Path


def write_city(folder: Path) -> SyntheticCity:
    """Write the extract, the districts GeoJSON and the census CSV into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    osm = folder / "synthetic.osm.pbf"
    _osm(osm)
    feats = [{"type": "Feature", "properties": {"adcode": code, "name": zh, "name_en": en},
              "geometry": shapely.geometry.mapping(shapely.Polygon(
                  [lonlat(x, y) for x, y in shapely.get_coordinates(shapely.box(*box).exterior)]))}
             for code, zh, en, box, _pop, _share in DISTRICTS]
    districts = folder / "districts.geojson"
    districts.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
                         encoding="utf-8")
    census = folder / "census.csv"
    with census.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "population", "urban_share"])
        for _code, zh, _en, _box, pop, share in DISTRICTS:
            w.writerow([zh, pop, share])
    return SyntheticCity(osm=osm, districts=districts, census=census)


def build_city(folder: Path) -> Path:
    """Write the sources, run ``new_city`` and build the one map; the GeoPackage's path."""
    from cityplan.build import build_onemap
    from cityplan.city import new_city
    from cityplan.city.osm import gdal_config

    src = write_city(folder / "src")
    city = new_city("Synthetic 示例市", osm=src.osm, districts=src.districts, census=src.census,
                    out=folder / "city")
    with gdal_config({"OGR_SQLITE_SYNCHRONOUS": "OFF"}):  # a throw-away test map: no fsync per layer
        return build_onemap(city=city, data=city, out=folder / "synthetic.gpkg").path


@pytest.fixture(scope="session")
def synthetic_onemap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic city's one-map GeoPackage, built once per run (~1 s; read-only: copy it to write)."""
    from run_once import once

    return once(tmp_path_factory, "synthetic", build_city)
