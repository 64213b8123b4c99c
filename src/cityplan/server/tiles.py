"""Compatibility name of :mod:`cityplan.maps.tiles` (the tiling engine moved to the map presenters).

New code imports :mod:`cityplan.maps.tiles`; this module only re-exports what older imports of
``cityplan.server.tiles`` name (the OGC API's bbox parser among them).
"""

from __future__ import annotations

from cityplan.maps.tiles import (
    DATA_TILE_LEVELS,
    LRU,
    MAX_TILES,
    MAX_ZOOM,
    TILE_PX,
    Answer,
    Prepared,
    TileCache,
    ViewRequestError,
    answer,
    meta,
    parse_bbox,
    prepare,
    tile_range,
)

__all__ = ["DATA_TILE_LEVELS", "LRU", "MAX_TILES", "MAX_ZOOM", "TILE_PX", "Answer", "Prepared", "TileCache",
           "ViewRequestError", "answer", "meta", "parse_bbox", "prepare", "tile_range"]
