"""Capacity-aware accessibility: the two-step floating catchment area method (2SFCA)."""

from __future__ import annotations

import numpy as np


def two_step_fca(cost: np.ndarray, supply: np.ndarray, population: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """2SFCA (Luo & Wang 2003) on a demand x facility cost matrix.

    Step 1: each facility's supply-to-demand ratio R_j = S_j / sum(P_k for d_kj <= limit).
    Step 2: each demand's accessibility A_i = sum(R_j for d_ij <= limit).

    Parameters
    ----------
    cost : (n_demand, n_facility) array; ``inf`` where unreachable
    supply : (n_facility,) capacity, e.g. school seats
    population : (n_demand,) people who need the facility, e.g. school-age residents
    limit : catchment size in the unit of ``cost``

    Returns
    -------
    (accessibility per demand, ratio per facility)
    """
    from cityplan.coverage.search import within_limit

    within = within_limit(cost, limit)
    pop = np.nan_to_num(population, nan=0.0)
    served = (within * pop[:, None]).sum(axis=0)
    ratio = np.divide(supply, served, out=np.zeros(len(supply), dtype=float), where=served > 0)
    access = (within * ratio[None, :]).sum(axis=1)
    return access, ratio
