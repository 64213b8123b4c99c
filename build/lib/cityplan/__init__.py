"""cityplan: GIS toolkit for urban-project planning (first city: Harbin).

Capability modules: :mod:`cityplan.crs`, :mod:`cityplan.io`, :mod:`cityplan.catalog`,
:mod:`cityplan.build`, :mod:`cityplan.tasks` and the thin CLI in :mod:`cityplan.cli`.
"""

from __future__ import annotations

import logging

from cityplan._errors import CityplanError

__version__ = "0.1.0"
__all__ = ["CityplanError", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
