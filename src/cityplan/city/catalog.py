"""The catalog of a new city: the Harbin catalog's layer ids and roles, this city's files.

Coverage presets (``coverage_presets.yaml`` of the city profile) name functional **roles**
(``parks``, ``parking``, ``sports_grounds`` ...): each layer here declares the roles it serves, the
same as its Harbin namesake. Map recipes (``maps/*.yaml``) name layers by id, so a new city also
uses the same id for the same kind of layer.
"""

from __future__ import annotations

from typing import Any

OSM_LICENCE = "ODbL-1.0"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
OSM_FILE = "osm_layers.gpkg"
DISTRICTS_FILE = "districts.gpkg"
CENSUS_FILE = "census_population.csv"

#: id, roles, role, geometry, title_zh, title_en, required columns, style
OSM_LAYERS: tuple[tuple[str, list[str], str, str, str, str, list[str], dict[str, Any]], ...] = (
    ("residential", ["residential"], "demand", "MultiPolygon", "居住用地(小区)", "Residential land (compounds)",
     ["osm_ref", "name", "landuse"], {"color": "#c77c3a", "fill": "#f2c89b", "weight": 1}),
    ("roads", ["roads"], "base", "LineString", "道路", "Roads", ["osm_ref", "highway"],
     {"color": "#8c8c8c", "weight": 1}),
    ("road_graph", ["road_graph"], "base", "LineString", "路网拓扑(可路由)", "Routable road graph",
     ["gid", "osm_id", "class_id", "source", "target", "length", "reverse"], {"color": "#555555", "weight": 1}),
    ("buildings", ["buildings"], "base", "MultiPolygon", "建筑物", "Buildings",
     ["osm_ref", "building", "building:levels", "levels", "height"],
     {"color": "#8c6d31", "fill": "#e7cb94", "weight": 0.5}),
    ("metro_lines", ["metro_lines"], "base", "LineString", "地铁与轻轨线路", "Metro and light-rail lines",
     ["osm_ref", "name", "ref", "railway", "line"], {"color": "#d7263d", "weight": 4}),
    ("metro_stations", ["metro_stations"], "base", "Point", "地铁与轻轨车站", "Metro and light-rail stations",
     ["osm_ref", "name", "railway", "station"], {"color": "#d7263d", "radius": 5}),
    ("railways", [], "base", "LineString", "铁路", "Railways", ["osm_ref", "railway", "usage", "service"],
     {"color": "#4d4d4d", "weight": 2, "dash": "8 4"}),
    ("water", ["water"], "constraint", "MultiPolygon", "水域(蓝线)", "Water area (blue line)",
     ["osm_ref", "name"], {"color": "#1f78b4", "fill": "#a6cee3", "weight": 1}),
    ("water_polygons", [], "constraint", "MultiPolygon", "湿地", "Wetlands", ["osm_ref"],
     {"color": "#1f78b4", "fill": "#cde6f5", "weight": 1}),
    ("waterways", [], "base", "LineString", "河渠", "Streams and canals", ["osm_ref", "waterway"],
     {"color": "#1f78b4", "weight": 1}),
    ("parks", ["parks"], "facility", "MultiPolygon", "公园绿地(绿线)", "Parks and green space (green line)",
     ["osm_ref", "name", "leisure"], {"color": "#1b7837", "fill": "#a6dba0", "weight": 1}),
    ("schools", [], "facility", "MultiPolygon", "学校(面)", "Schools (grounds)",
     ["osm_ref", "name", "amenity", "level"], {"color": "#6a3d9a", "fill": "#cab2d6", "weight": 1}),
    ("schools_points", ["schools"], "facility", "Point", "学校(点)", "Schools (points)",
     ["osm_ref", "name", "amenity", "level", "from_layer"], {"color": "#6a3d9a", "radius": 4}),
    ("health_facilities", [], "facility", "MultiPolygon", "医疗卫生设施(面)", "Health facilities (grounds)",
     ["osm_ref", "name", "amenity", "healthcare"], {"color": "#b2182b", "fill": "#f4a582", "weight": 1}),
    ("health_facility_points", ["health"], "facility", "Point", "医疗卫生设施(点)", "Health facilities (points)",
     ["osm_ref", "name", "amenity", "healthcare", "from_layer"], {"color": "#b2182b", "radius": 4}),
    ("parking", ["parking"], "facility", "MultiPolygon", "停车场(面)", "Parking (areas)", ["osm_ref", "amenity"],
     {"color": "#1f4e79", "fill": "#9ecae1", "weight": 1}),
    ("parking_points", ["parking"], "facility", "Point", "停车场(点)", "Parking (points)", ["osm_ref", "amenity"],
     {"color": "#1f4e79", "radius": 3}),
    ("sports_facilities", ["sports", "sports_grounds"], "facility", "MultiPolygon", "体育设施(面)", "Sports facilities (areas)",
     ["osm_ref", "leisure"], {"color": "#e31a1c", "fill": "#fb9a99", "weight": 1}),
    ("sports_facility_points", ["sports"], "facility", "Point", "体育设施(点)", "Sports facilities (points)",
     ["osm_ref", "leisure"], {"color": "#e31a1c", "radius": 3}),
    ("ice_sports", ["ice_sports"], "facility", "Point", "冰雪运动设施", "Ice-and-snow sports facilities",
     ["osm_ref", "leisure", "from_layer"], {"color": "#0570b0", "radius": 6}),
)

DESCRIPTIONS = {
    "road_graph": "OSM highway ways split at the nodes they share; source/target = OSM node ids, "
                  "reverse=-1 one-way (drawn in travel direction), class_id = highway value.",
    "schools_points": "School nodes, plus a representative point of each school ground holding no school node; "
                      "level = kindergarten, primary, secondary or tertiary from isced:level, school:level, "
                      "school or amenity (several joined by ';'), empty where nothing says.",
    "schools": "amenity=school/kindergarten/college/university grounds; level as for schools_points.",
    "buildings": "building=* footprints (not building=no); building:levels as tagged, levels = its leading "
                 "number (NaN where untagged), height in metres where tagged as a number of metres. Coverage "
                 "weights residential land by floor area = footprint x levels.",
    "metro_lines": "railway=subway/light_rail ways; line = name, else ref. Transit coverage also needs the "
                   "lines and station sequences configured under transit: in speeds.yaml.",
    "metro_stations": "railway=station nodes with station=subway/light_rail or on a metro line's way, and "
                      "public_transport=station nodes with subway=yes or light_rail=yes.",
    "railways": "railway=rail ways (main-line, branch, industrial; usage/service as tagged).",
    "health_facilities": "amenity=hospital/clinic/doctors or any healthcare=* areas.",
    "health_facility_points": "Health facility nodes (amenity=hospital/clinic/doctors or healthcare=*), plus a "
                              "representative point of each such area holding no such node.",
    "ice_sports": "leisure=ice_rink or an ice/snow sport tag, as points (representative point of areas).",
    "residential": "landuse=residential; named ones stand in for compounds.",
}


def city_catalog(name: str, *, bbox: tuple[float, float, float, float], working_crs: str,
                 osm_file: str, districts_file: str, census_file: str | None,
                 counts: dict[str, int]) -> dict[str, Any]:
    """The catalog as a YAML-ready mapping (``catalog.yaml`` of the city profile schema)."""
    layers: list[dict[str, Any]] = []
    if census_file:
        layers.append({
            "id": "census_population", "roles": ["census"], "title_zh": "分区人口", "title_en": "Population by district",
            "role": "demand", "geometry": "None", "source": {"file": CENSUS_FILE, "format": "csv_table"},
            "required_columns": ["adcode", "name", "population", "pop_2020", "urban_share"],
            "licence": "as supplied", "attribution": f"census table {census_file}", "illustrative": False,
        })
    layers.append({
        "id": "districts", "roles": ["districts"], "title_zh": "区县", "title_en": "Districts", "role": "base",
        "geometry": "MultiPolygon", "source": {"file": DISTRICTS_FILE, "crs": "EPSG:4326"},
        "required_columns": ["adcode", "name", "extract_share"],
        "style": {"color": "#333333", "weight": 2, "fill": False},
        "licence": "as supplied", "attribution": f"district boundaries from {districts_file}",
        "illustrative": False,
        "description": "District boundaries as supplied, clipped to the OSM extract (extract_share = share inside).",
    })
    for lid, roles, role, geom, zh, en, req, style in OSM_LAYERS:
        entry: dict[str, Any] = {
            "id": lid, "title_zh": zh, "title_en": en, "role": role, "geometry": geom,
            "source": {"file": OSM_FILE, "layer": lid, "crs": "EPSG:4326"},
            "required_columns": req, "ref_column": "gid" if lid == "road_graph" else "osm_ref",
            "style": style, "licence": OSM_LICENCE, "attribution": OSM_ATTRIBUTION, "illustrative": False,
            "description": (DESCRIPTIONS.get(lid, "") + f" From {osm_file}; {counts.get(lid, 0)} features.").strip(),
        }
        if roles:
            entry["roles"] = roles
        layers.append(entry)
    return {"version": 1, "city": name, "storage_crs": "EPSG:4326", "working_crs": working_crs,
            "extract_bbox": [round(float(v), 7) for v in bbox], "layers": layers}
