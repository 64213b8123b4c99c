"""Which part of a district's outline is its real boundary, and which is only the data extract's edge.

The one map's districts are clipped to the extract: a district that crosses the extract's edge
has an outline part that is no boundary at all. Printed maps draw the real part as 区界 and the
extract box separately as 数据范围边界 / extract edge.
"""

from __future__ import annotations

import geopandas as gpd
import shapely

#: outline within this distance (m) of the full administrative boundary counts as real
TOLERANCE_M = 15.0


def split_outline(om, district: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``(real, cut)``: the district outline away from the extract box's edge, and the part lying
    on it (within :data:`TOLERANCE_M`), where the extract cut the district, as lines in the working CRS."""
    crs = om.working_crs
    d = district.to_crs(crs)
    outline = shapely.union_all(d.boundary.to_numpy())
    edge = extract_edge(om).geometry.iloc[0].buffer(TOLERANCE_M)
    real = outline.difference(edge)
    cut = outline.difference(real.buffer(0.01)) if not real.is_empty else outline
    return (gpd.GeoDataFrame(geometry=[real], crs=crs).pipe(_nonempty),
            gpd.GeoDataFrame(geometry=[cut], crs=crs).pipe(_nonempty))


def extract_edge(om) -> gpd.GeoDataFrame:
    """The extract box's outline (the data's limit), in the working CRS."""
    box = gpd.GeoSeries([shapely.box(*om.extent)], crs=4326).to_crs(om.working_crs)
    return gpd.GeoDataFrame(geometry=box.boundary.to_numpy(), crs=om.working_crs)


def _nonempty(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
