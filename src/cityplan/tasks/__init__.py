"""The task register of the plan, plan sites, their link to tasks and districts, and progress."""

from cityplan.tasks.link import link_plan_sites
from cityplan.tasks.progress import compute_progress, progress_table
from cityplan.tasks.register import Register, Target, TaskItem, load_register

__all__ = ["Register", "compute_progress", "Target", "TaskItem", "link_plan_sites", "load_register", "progress_table"]
