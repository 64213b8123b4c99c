"""Load a city's task register (``tasks.yaml`` of its profile; schema: :mod:`cityplan.schema.tasks`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import pandas as pd

from cityplan._errors import SchemaError, UnknownTaskIdError
from cityplan.profile import Profile, profile_file
from cityplan.schema.tasks import LEVELS, ItemModel, load_register_document

__all__ = ["LEVELS", "Register", "TaskItem", "Target", "load_register"]

#: the register's file in a profile folder (a profile without one has no tasks)
TASKS_FILE = "tasks.yaml"


@dataclass(frozen=True)
class Target:
    """A quantified target of a task item."""

    task_id: str
    metric: str
    value: float
    unit: str
    check: str | None = None  # a service standard checked by another command, not a site count


@dataclass(frozen=True)
class TaskItem:
    """One item of the report."""

    id: str
    chapter: str
    group: str
    title_zh: str
    title_en: str
    level: str
    mapped: bool
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Register:
    """The parsed register: chapters, groups and items in report order."""

    path: Traversable | None  # None: the profile has no task register
    chapters: pd.DataFrame  # id, title_zh, title_en, goal_zh, goal_en
    groups: pd.DataFrame  # id, chapter, title_zh, title_en
    items: tuple[TaskItem, ...]

    def get(self, task_id: str) -> TaskItem:
        """Item ``task_id``; :class:`UnknownTaskIdError` otherwise."""
        for it in self.items:
            if it.id == task_id:
                return it
        msg = f"unknown task id {task_id!r}; the register {self.path} has ids like " \
              f"{[i.id for i in self.items[:5]]}... ({len(self.items)} in all)"
        raise UnknownTaskIdError(msg)

    def target(self, task_id: str, metric: str) -> Target:
        """Target ``metric`` of ``task_id``; :class:`SchemaError` if it has none."""
        for t in self.get(task_id).targets:
            if t.metric == metric:
                return t
        msg = (f"task {task_id} has no target {metric!r}; its targets: "
               f"{[t.metric for t in self.get(task_id).targets]}")
        raise SchemaError(msg)

    @property
    def ids(self) -> set[str]:
        """All item ids."""
        return {i.id for i in self.items}

    def items_frame(self) -> pd.DataFrame:
        """One row per item with chapter/group titles and a text summary of its targets."""
        groups = self.groups.set_index("id")
        return pd.DataFrame([{
            "task_id": i.id, "chapter": i.chapter, "group": i.group,
            "group_title": groups.loc[i.group, "title_zh"], "title_zh": i.title_zh,
            "title_en": i.title_en, "level": i.level, "mapped": i.mapped,
            "targets": "; ".join(f"{t.metric} {t.value:,.10g} {t.unit}" for t in i.targets),
        } for i in self.items], columns=["task_id", "chapter", "group", "group_title", "title_zh", "title_en",
                                         "level", "mapped", "targets"])

    def targets_frame(self) -> pd.DataFrame:
        """One row per target: task_id, chapter, title_zh, title_en, metric, target, unit."""
        return pd.DataFrame([{
            "task_id": t.task_id, "chapter": i.chapter, "title_zh": i.title_zh,
            "title_en": i.title_en, "metric": t.metric, "target": t.value, "unit": t.unit,
            "check": t.check,
        } for i in self.items for t in i.targets],
            columns=["task_id", "chapter", "title_zh", "title_en", "metric", "target", "unit", "check"])


def _item(m: ItemModel, group: str) -> TaskItem:
    targets = tuple(Target(m.id, t.metric, float(t.value), t.unit, t.check) for t in m.targets)
    return TaskItem(id=m.id, chapter=m.id.split(".")[0], group=group, title_zh=m.title_zh,
                    title_en=m.title_en, level=m.level, mapped=m.mapped, targets=targets)


def empty_register() -> Register:
    """The register of a city without tasks (its profile has no ``tasks.yaml``)."""
    return Register(path=None, chapters=pd.DataFrame(columns=["title_zh", "title_en", "goal_zh", "goal_en", "id"]),
                    groups=pd.DataFrame(columns=["id", "chapter", "title_zh", "title_en"]), items=())


def load_register(source: Profile | str | os.PathLike[str] | Traversable) -> Register:
    """Load and validate a profile's task register (none: an empty register), or a register file.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Unknown or missing keys, malformed or misplaced ids, bad levels or values.
    DuplicateTaskIdError
        An id appears twice.
    UnitError
        A target uses an unknown unit.
    """
    if isinstance(source, Profile):
        return source.memo("register", lambda: load_register(source.file(TASKS_FILE))
                           if source.has(TASKS_FILE) else empty_register())
    p = profile_file(source, TASKS_FILE)
    doc = load_register_document(p)
    chapters = [{"title_zh": c.title_zh, "title_en": c.title_en, "goal_zh": c.goal_zh, "goal_en": c.goal_en,
                 "id": c.id} for c in doc.chapters]
    groups = [{"id": g.id, "chapter": c.id, "title_zh": g.title_zh, "title_en": g.title_en}
              for c in doc.chapters for g in c.groups]
    items = [_item(it, g.id) for c in doc.chapters for g in c.groups for it in g.items]
    return Register(path=p, chapters=pd.DataFrame(chapters), groups=pd.DataFrame(groups),
                    items=tuple(items))
