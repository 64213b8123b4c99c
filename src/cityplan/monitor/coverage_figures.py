"""Per-district coverage figures of one preset for the supervision - the ONE place they come from.

Until per-build coverage results are stored with the map (``services/coverage.py``'s stored
results), the figures are computed with :func:`cityplan.coverage.run_coverage` (existing scenario,
real facilities only) and kept per build with :meth:`cityplan.onemap.OneMap.derived`. Switching
to stored results means changing :func:`district_figures` only.
"""

from __future__ import annotations

import logging

import pandas as pd

from cityplan.onemap import OneMap

logger = logging.getLogger(__name__)

FIGURE_COLUMNS = ["district", "adcode", "population_share", "area_share"]


def district_figures(om: OneMap, preset: str) -> pd.DataFrame | str:
    """Rows ``FIGURE_COLUMNS`` per district and ``(all)`` of ``preset``'s existing scenario, or the
    reason there is none (preset not available on this map, run failed)."""
    def make() -> pd.DataFrame | str:
        from cityplan.coverage import run_coverage

        try:
            res = run_coverage(om, preset=preset)
        except Exception as exc:  # noqa: BLE001 - a figure that cannot be computed is "not checked"
            logger.warning("coverage %s for the supervision: %s", preset, exc)
            return f"not computed: {exc}"
        rows = res.scenario_rows()
        if rows.empty:
            rows = res.districts
        out = rows.reindex(columns=FIGURE_COLUMNS).copy()
        out["adcode"] = out["adcode"].astype(str)
        return out.reset_index(drop=True)

    return om.derived(("monitor-coverage-figures", preset), make)
