"""The task register of the plan, plan sites, their link to tasks and districts, and progress."""

from typing import Any

from cityplan.tasks.link import link_plan_sites
from cityplan.tasks.register import Register, Target, TaskItem, load_register

__all__ = ["Register", "compute_progress", "Target", "TaskItem", "link_plan_sites", "load_register", "progress_table"]


def __getattr__(name: str) -> Any:
    # progress lives in cityplan.progress, which imports this package: resolve it lazily
    if name in ("compute_progress", "progress_table"):
        from cityplan.progress import asof, context

        return {"compute_progress": context.compute_progress, "progress_table": asof.progress_table}[name]
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
