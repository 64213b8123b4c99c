"""Any city: a data folder and catalog from an OSM extract and district boundaries.

One module per capability: :mod:`~cityplan.city.osm` (which OSM features go to which
layer), :mod:`~cityplan.city.roadgraph` (routable edges from OSM topology),
:mod:`~cityplan.city.districts` (districts and census), :mod:`~cityplan.city.catalog`
(the catalog entries) and :mod:`~cityplan.city.new` (:func:`new_city`).
"""

from cityplan.city.new import new_city

__all__ = ["new_city"]
