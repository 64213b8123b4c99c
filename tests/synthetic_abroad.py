"""A small synthetic city outside China, as a real ``.osm.pbf``, with OSM access rules to honour.

Designed in local metres (x east, y north) and placed with the inverse of EPSG:32723 (WGS 84 /
UTM zone 23S) near 46.63 W, 23.55 S, so a UTM policy picks that zone and distances measured
there are the designed ones (OSM's 1e-7 degree precision: ~1 cm). Names are Portuguese (UTF-8
in the extract and the districts, Latin-1 in the census).

Streets (every way shares its nodes with the ways it meets, unless said otherwise)
-----------------------------------------------------------------------------------
- A grid every 200 m: 7 north-south ways (x = 0..1200, ``Rua i`` for x = 200 i, except x = 600:
  ``highway=trunk`` ``Avenida Central``, walkable as osmnx has it) and 5 east-west ways
  (y = 0..800, ``Avenida j``; y = 200 ``secondary``; y = 800 ``oneway=yes``). y = 400 is the trunk
  ``Via Expressa`` with ``foot=no``: cars and bikes only.
- Diagonal shortcuts across single blocks, each joining two grid nodes:
  ``access=private`` (0, 200) - (200, 0) (``Rua Particular``: no mode; left out);
  ``highway=footway`` (200, 400) - (400, 200) (``Passarela``: walk only);
  ``highway=cycleway`` (800, 200) - (1000, 0) (``Ciclovia``: bike only);
  ``highway=service`` + ``service=private`` (400, 800) - (600, 600) (no mode; left out);
  ``highway=service`` + ``service=parking_aisle`` (1000, 600) - (1200, 400) (walk and bike).
- A ``highway=motorway`` viaduct (``bridge=yes``, ``layer=1``, one-way northbound as motorways
  are) at x = 750 from y = -100 to 900, crossing the east-west streets without sharing a node;
  a ``motorway_link`` joins grid node (800, 800) to its node at (750, 850). Drive only.
- A pedestrian square (``highway=pedestrian`` + ``area=yes``) [620, 730] x [660, 760]: a
  square, not a line (left out).

Road graph (:func:`cityplan.city.roadgraph.road_graph_edges`): :data:`EXPECTED_EDGES` edges
(58 grid + 3 diagonals + 2 motorway + 1 link), :data:`EXPECTED_NODES` nodes,
:data:`EXPECTED_ONEWAY` one-way edges (y = 800 and the motorway), :data:`EXPECTED_NOT_WALKABLE`
edges closed to walkers (the 6 of y = 400, the cycleway, the motorway and its link) and
:data:`EXPECTED_SKIPPED` ways left out.

Other features
--------------
- 24 compounds (``landuse=residential``, 20 x 20 m, ``Condomínio i-j``) centred at
  ``(200 i + 70, 200 j + 30)``, i = 0..5, j = 0..3: 30 m north of their block's south street
  and 70 m east of its west street, so every nearest street is unique; each holds a 10 x 10 m
  ``building=apartments`` with ``building:levels`` = ``2 + (i + 2 j) % 9``.
- Parks (``leisure=park``): ``Parque da Luz`` [440, 560] x [250, 350] and ``Parque Ibirapuera``
  [1020, 1180] x [660, 780].
- Schools: a ground ``Escola Estadual Oeste`` [220, 380] x [470, 570] (``isced:level=2;3``) and a
  node ``Escola Municipal Leste`` at (900, 650) (``isced:level=1``, ``school:level=primary``).
- ``leisure=sports_centre`` ``Centro Esportivo`` [820, 980] x [470, 570]; ``leisure=ice_rink``
  ``Rinque Municipal`` [20, 180] x [660, 780]; ``amenity=hospital`` ``Hospital Municipal``
  [820, 980] x [250, 370]; parking: a node at (500, 130) and an area [620, 730] x [260, 360];
  ``natural=water`` ``Lago Azul`` [1030, 1170] x [60, 170].
- Metro: a ``railway=subway`` line ``Linha 1`` (tunnel) along y = 300 from x = -50 to 1250, with
  ``railway=station`` nodes on it at x = 100, 600, 1100 (``Estação Oeste/Central/Leste``).
- Districts (GeoJSON, a ``name`` and no ``adcode``): ``Região Oeste`` x < 600 and
  ``Região Leste`` x > 600, each [-200, 1000] in y; 12 compounds each. Census CSV: ``;``
  separated, Latin-1, columns ``name;pop_2022``: 12,000 west and 24,000 east (1,000 and
  2,000 per compound).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer

from osm_writer import write_pbf

#: the metric CRS the design is drawn in
WORKING_CRS = "EPSG:32723"
ORIGIN = (333_000.0, 7_395_000.0)  # EPSG:32723 easting/northing of local (0, 0): ~46.63W, 23.55S
_TO_LONLAT = Transformer.from_crs(WORKING_CRS, "EPSG:4326", always_xy=True)
STEP = 200.0
NX, NY = 6, 4  # blocks east-west, north-south
HOME_SIZE, BUILDING_SIZE = 20.0, 10.0
PARKS = {"Parque da Luz": shapely.box(440, 250, 560, 350),
         "Parque Ibirapuera": shapely.box(1020, 660, 1180, 780)}
STATIONS = {"Estação Oeste": 100.0, "Estação Central": 600.0, "Estação Leste": 1100.0}  # x on y = 300
SUBWAY_Y = 300.0
#: name, box in local metres, 2022 population
DISTRICTS = (("Região Oeste", (-200, -200, 600, 1000), 12000),
             ("Região Leste", (600, -200, 1400, 1000), 24000))
CENSUS_ENCODING = "latin-1"
VIADUCT_X = 750.0
EXPECTED_EDGES, EXPECTED_NODES, EXPECTED_ONEWAY, EXPECTED_NOT_WALKABLE = 64, 38, 8, 10
EXPECTED_SKIPPED = {"access=private (no mode may use it)": 1, "service=private (no mode may use it)": 1,
                    "area=yes (a square, not a line)": 1}


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres -> (lon, lat)."""
    lon, lat = _TO_LONLAT.transform(ORIGIN[0] + x, ORIGIN[1] + y)
    return float(lon), float(lat)


def homes() -> dict[str, shapely.Polygon]:
    """The compounds in local metres, by name."""
    h = HOME_SIZE / 2
    return {f"Condomínio {i}-{j}": shapely.box(STEP * i + 70 - h, STEP * j + 30 - h,
                                                STEP * i + 70 + h, STEP * j + 30 + h)
            for i in range(NX) for j in range(NY)}


def building_levels(i: int, j: int) -> int:
    """``building:levels`` of the building in compound ``i-j``."""
    return 2 + (i + 2 * j) % 9


def district_of(x: float) -> str:
    """The district holding local easting ``x`` (not on the border x = 600)."""
    return DISTRICTS[0][0] if x < 600 else DISTRICTS[1][0]


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
    nid, wid = _Ids(1000), _Ids(5000)

    def node(x: float, y: float, **tags: str) -> int:
        i = nid()
        nodes.append((i, lonlat(x, y), tags))
        return i

    def line(ids: list[int], tags: dict[str, str]) -> None:
        ways.append((wid(), ids, tags))

    def area(geom: shapely.Polygon, tags: dict[str, str]) -> None:
        ids = [node(x, y) for x, y in shapely.get_coordinates(geom.exterior)[:-1]]
        line(ids + ids[:1], tags)

    grid = {(i, j): node(STEP * i, STEP * j) for i in range(NX + 1) for j in range(NY + 1)}
    for i in range(NX + 1):
        tags = ({"highway": "trunk", "name": "Avenida Central"} if i == 3
                else {"highway": "residential", "name": f"Rua {i}"})
        line([grid[i, j] for j in range(NY + 1)], tags)
    for j in range(NY + 1):
        if j == 2:
            tags = {"highway": "trunk", "name": "Via Expressa", "foot": "no", "sidewalk": "no"}
        else:
            tags = {"highway": "secondary" if j == 1 else "residential", "name": f"Avenida {j}"}
        if j == NY:
            tags["oneway"] = "yes"
        line([grid[i, j] for i in range(NX + 1)], tags)
    # diagonal shortcuts across single blocks
    line([grid[0, 1], grid[1, 0]], {"highway": "residential", "access": "private", "name": "Rua Particular"})
    line([grid[1, 2], grid[2, 1]], {"highway": "footway", "name": "Passarela"})
    line([grid[4, 1], grid[5, 0]], {"highway": "cycleway", "name": "Ciclovia"})
    line([grid[2, 4], grid[3, 3]], {"highway": "service", "service": "private"})
    line([grid[5, 3], grid[6, 2]], {"highway": "service", "service": "parking_aisle"})
    # the viaduct: crosses the east-west streets without sharing a node; one link joins the grid
    joint = node(VIADUCT_X, 850)
    line([node(VIADUCT_X, -100), joint, node(VIADUCT_X, 900)],
         {"highway": "motorway", "bridge": "yes", "layer": "1", "name": "Elevado Norte-Sul"})
    line([grid[4, 4], node(775, 830), joint], {"highway": "motorway_link"})
    area(shapely.box(620, 660, 730, 760), {"highway": "pedestrian", "area": "yes", "name": "Praça da Sé"})
    # demand and facilities
    b = BUILDING_SIZE / 2
    compounds = homes()
    for i in range(NX):
        for j in range(NY):
            g = compounds[f"Condomínio {i}-{j}"]
            area(g, {"landuse": "residential", "name": f"Condomínio {i}-{j}"})
            c = g.centroid
            area(shapely.box(c.x - b, c.y - b, c.x + b, c.y + b),
                 {"building": "apartments", "building:levels": str(building_levels(i, j))})
    for name, geom in PARKS.items():
        area(geom, {"leisure": "park", "name": name})
    area(shapely.box(220, 470, 380, 570), {"amenity": "school", "name": "Escola Estadual Oeste",
                                           "isced:level": "2;3"})
    node(900, 650, amenity="school", name="Escola Municipal Leste", **{"isced:level": "1",
                                                                        "school:level": "primary"})
    area(shapely.box(820, 470, 980, 570), {"leisure": "sports_centre", "name": "Centro Esportivo"})
    area(shapely.box(20, 660, 180, 780), {"leisure": "ice_rink", "sport": "ice_skating",
                                          "name": "Rinque Municipal"})
    area(shapely.box(820, 250, 980, 370), {"amenity": "hospital", "healthcare": "hospital",
                                           "name": "Hospital Municipal"})
    node(500, 130, amenity="parking", name="Estacionamento Norte")
    area(shapely.box(620, 260, 730, 360), {"amenity": "parking", "name": "Estacionamento Central"})
    area(shapely.box(1030, 60, 1170, 170), {"natural": "water", "name": "Lago Azul"})
    stops = {x: node(x, SUBWAY_Y, railway="station", station="subway", public_transport="station",
                     subway="yes", name=name) for name, x in STATIONS.items()}
    line([node(-50, SUBWAY_Y), *stops.values(), node(1250, SUBWAY_Y)],
         {"railway": "subway", "tunnel": "yes", "layer": "-1", "name": "Linha 1"})
    write_pbf(path, nodes, ways)


@dataclass(frozen=True)
class AbroadCity:
    """The source files of the synthetic city abroad."""

    osm: Path
    districts: Path
    census: Path


def write_districts(path: Path) -> Path:
    """The districts as GeoJSON (EPSG:4326; a ``name`` per district, no ``adcode``)."""
    feats = [{"type": "Feature", "properties": {"name": name},
              "geometry": shapely.geometry.mapping(shapely.Polygon(
                  [lonlat(x, y) for x, y in shapely.get_coordinates(shapely.box(*box).exterior)]))}
             for name, box, _pop in DISTRICTS]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def write_census(path: Path) -> Path:
    """The census: ``;``-separated, Latin-1, columns ``name;pop_2022``."""
    with path.open("w", encoding=CENSUS_ENCODING, newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["name", "pop_2022"])
        for name, _box, pop in DISTRICTS:
            w.writerow([name, pop])
    return path


def write_osm(path: Path) -> Path:
    """The ``.osm.pbf`` extract."""
    _osm(path)
    return path


def write_city(folder: Path) -> AbroadCity:
    """Write the extract, the districts GeoJSON and the census CSV into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return AbroadCity(osm=write_osm(folder / "abroad.osm.pbf"),
                      districts=write_districts(folder / "districts.geojson"),
                      census=write_census(folder / "census.csv"))


@pytest.fixture(scope="session")
def abroad_sources(tmp_path_factory: pytest.TempPathFactory) -> AbroadCity:
    """The synthetic city abroad's source files, written once per session."""
    return write_city(tmp_path_factory.mktemp("abroad-src"))
