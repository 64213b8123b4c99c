"""Progress of every quantified target; moved to :mod:`cityplan.progress` (re-exported here).

Achieved quantities now come from the progress ledger (district reports), not from a status
column of the plan layers: see :mod:`cityplan.progress.asof`.
"""

from cityplan.progress.asof import chapter_summary, progress_table
from cityplan.progress.context import Progress, compute_progress

__all__ = ["Progress", "chapter_summary", "compute_progress", "progress_table"]
