"""Interactive maps (folium/Leaflet): recipes in ``maps/``, compact offline-capable layers."""

from cityplan.maps.render import (
    MapResult,
    compose,
    default_map_path,
    district_map,
    file_map,
    onemap_map,
    save_map,
    task_map,
)

__all__ = ["MapResult", "compose", "default_map_path", "district_map", "file_map", "onemap_map",
           "save_map", "task_map"]
