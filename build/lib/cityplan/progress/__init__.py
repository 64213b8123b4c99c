"""Progress records: the ledger of district reports, quotas, templates, import, as-of and history."""

from cityplan.progress.asof import chapter_summary, progress_table
from cityplan.progress.context import Progress, ProgressContext, compute_progress, load_context

__all__ = ["Progress", "ProgressContext", "chapter_summary", "compute_progress", "load_context", "progress_table"]
