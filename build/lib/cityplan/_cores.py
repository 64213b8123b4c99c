"""How many cores this process may use (one answer for thread pools, workers and clusters)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (``sched_getaffinity``: a container's or ``taskset``'s
    limit, not the host's count), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)
