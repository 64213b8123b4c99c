"""The task register of the plan, plan sites and their link to tasks and districts.

Progress towards the targets is :mod:`cityplan.progress` (which builds on this package).
"""

from cityplan.tasks.link import link_plan_sites
from cityplan.tasks.register import Register, Target, TaskItem, load_register

__all__ = ["Register", "Target", "TaskItem", "link_plan_sites", "load_register"]
