"""Per-district coverage figures of one preset for the supervision - the ONE place they come from.

The figures are the coverage results stored per build with the one map
(:func:`cityplan.services.coverage.stored_districts`, computed and stored when the current build
lacks them). This analysis may not import the services (layers only import down), so the service
layer (:mod:`cityplan.services.monitor`) hands :func:`district_figures` a ``stored`` provider
reading them; without one, or when a build has nothing stored (an older build computed before
results were stored), the figures are computed here with :func:`cityplan.coverage.run_coverage`
(existing scenario, real facilities only) and kept per build with
:meth:`cityplan.onemap.OneMap.derived`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from cityplan.onemap import OneMap

logger = logging.getLogger(__name__)

FIGURE_COLUMNS = ["district", "adcode", "population_share", "area_share"]

#: ``(one map, preset) ->`` the stored per-district table (``by_scenario`` columns), a reason there
#: is none (``"not computed: ..."``), or None when nothing is stored for that build
StoredFigures = Callable[[OneMap, str], "pd.DataFrame | str | None"]


def headline_figures(table: pd.DataFrame) -> pd.DataFrame:
    """Rows ``FIGURE_COLUMNS`` of the headline scenario (``existing``, real facilities only; the
    only scenario when a preset has no existing one) on the full network, from a run's per-district
    table (stored or computed)."""
    from cityplan.coverage.run import FULL, HEADLINE

    rows = table
    if "network" in rows.columns:
        rows = rows[rows["network"] == FULL]
    if "scenario" in rows.columns and len(rows):
        scen = HEADLINE if (rows["scenario"] == HEADLINE).any() else rows["scenario"].iloc[0]
        rows = rows[rows["scenario"] == scen]
    out = rows.reindex(columns=FIGURE_COLUMNS).copy()
    out["adcode"] = out["adcode"].astype(str)
    return out.reset_index(drop=True)


def district_figures(om: OneMap, preset: str, stored: StoredFigures | None = None) -> pd.DataFrame | str:
    """Rows ``FIGURE_COLUMNS`` per district and ``(all)`` of ``preset``'s existing scenario, or the
    reason there is none (preset not available on this map, run failed).

    ``stored`` reads the build's stored results (see the module doc); the figures are computed here
    only when it is None or returns None.
    """
    if stored is not None:
        got = stored(om, preset)
        if isinstance(got, str):
            return got
        if got is not None:
            return headline_figures(got)

    def make() -> pd.DataFrame | str:
        from cityplan.coverage import run_coverage

        try:
            res = run_coverage(om, preset=preset)
        except Exception as exc:  # noqa: BLE001 - a figure that cannot be computed is "not checked"
            logger.warning("coverage %s for the supervision: %s", preset, exc)
            return f"not computed: {exc}"
        rows = res.scenario_rows()
        return headline_figures(res.districts if rows.empty else rows)

    return om.derived(("monitor-coverage-figures", preset), make)
