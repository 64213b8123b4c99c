"""Load and validate the task register (``layers/tasks.yaml``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cityplan._errors import (
    DuplicateTaskIdError,
    SchemaError,
    UnknownTaskIdError,
)
from cityplan.io.yamlfile import load_yaml
from cityplan.paths import project_root
from cityplan.tasks.units import check_unit

LEVELS = ("city", "district", "city+district", "province+city")
_TOP = {"version", "report", "report_zh", "chapters"}
_CHAPTER = {"id", "title_zh", "title_en", "goal_zh", "goal_en", "groups"}
_GROUP = {"id", "title_zh", "title_en", "items"}
_ITEM = {"id", "title_zh", "title_en", "level", "mapped", "targets", "note"}
_TARGET = {"metric", "value", "unit", "note", "check"}
_ID = re.compile(r"^\d+(\.\d+){0,2}$")


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

    path: Path
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
        } for i in self.items])

    def targets_frame(self) -> pd.DataFrame:
        """One row per target: task_id, chapter, title_zh, title_en, metric, target, unit."""
        return pd.DataFrame([{
            "task_id": t.task_id, "chapter": i.chapter, "title_zh": i.title_zh,
            "title_en": i.title_en, "metric": t.metric, "target": t.value, "unit": t.unit,
            "check": t.check,
        } for i in self.items for t in i.targets],
            columns=["task_id", "chapter", "title_zh", "title_en", "metric", "target", "unit", "check"])


def default_register_path() -> Path:
    """``layers/tasks.yaml`` of the project (``$CITYPLAN_TASKS`` overrides)."""
    env = os.environ.get("CITYPLAN_TASKS")
    return Path(env) if env else project_root() / "layers" / "tasks.yaml"


def _keys(raw: Any, allowed: set[str], where: str, path: Path, required: tuple[str, ...]) -> None:
    if not isinstance(raw, dict):
        msg = f"{path}: {where}: expected a mapping, got {type(raw).__name__}"
        raise SchemaError(msg)
    extra = sorted(set(raw) - allowed)
    if extra:
        msg = f"{path}: {where}: unknown key(s) {extra}; allowed: {sorted(allowed)}"
        raise SchemaError(msg)
    missing = [k for k in required if k not in raw]
    if missing:
        msg = f"{path}: {where}: missing key(s) {missing}"
        raise SchemaError(msg)


def _check_id(value: object, parent: str | None, where: str, path: Path, seen: set[str]) -> str:
    tid = str(value)
    if not _ID.match(tid):
        msg = f"{path}: {where}: id {tid!r} is not hierarchical like '2.3.3'"
        raise SchemaError(msg)
    if parent is not None and tid.rsplit(".", 1)[0] != parent:
        msg = f"{path}: {where}: id {tid!r} does not belong under {parent!r}"
        raise SchemaError(msg)
    if tid in seen:
        msg = f"{path}: {where}: duplicate task id {tid!r}; every id must be unique"
        raise DuplicateTaskIdError(msg)
    seen.add(tid)
    return tid


def _parse_item(raw: Any, group: str, path: Path, seen: set[str]) -> TaskItem:
    where = f"item {raw.get('id', '?') if isinstance(raw, dict) else '?'}"
    _keys(raw, _ITEM, where, path, ("id", "title_zh", "title_en", "level", "mapped"))
    tid = _check_id(raw["id"], group, where, path, seen)
    if raw["level"] not in LEVELS:
        msg = f"{path}: {where}: level {raw['level']!r} is not one of {LEVELS}"
        raise SchemaError(msg)
    targets = []
    for t in raw.get("targets") or []:
        _keys(t, _TARGET, f"{where} target", path, ("metric", "value", "unit"))
        check_unit(t["unit"], where=f"{path}: {where} target {t['metric']!r}")
        if not isinstance(t["value"], int | float) or isinstance(t["value"], bool) or t["value"] <= 0:
            msg = f"{path}: {where} target {t['metric']!r}: value {t['value']!r} must be a positive number"
            raise SchemaError(msg)
        if any(x.metric == t["metric"] for x in targets):
            msg = f"{path}: {where}: target metric {t['metric']!r} given twice"
            raise SchemaError(msg)
        targets.append(Target(tid, str(t["metric"]), float(t["value"]), t["unit"], t.get("check")))
    return TaskItem(id=tid, chapter=tid.split(".")[0], group=group, title_zh=str(raw["title_zh"]),
                    title_en=str(raw["title_en"]), level=raw["level"], mapped=bool(raw["mapped"]),
                    targets=tuple(targets))


def load_register(path: str | os.PathLike[str] | None = None) -> Register:
    """Load and validate the task register.

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
    p = Path(path) if path is not None else default_register_path()
    raw = load_yaml(p, what="task register")
    _keys(raw, _TOP, "top level", p, ("chapters",))
    seen: set[str] = set()
    chapters, groups, items = [], [], []
    for c in raw["chapters"]:
        _keys(c, _CHAPTER, f"chapter {c.get('id', '?')}", p, ("id", "title_zh", "title_en", "groups"))
        cid = _check_id(c["id"], None, f"chapter {c['id']}", p, seen)
        chapters.append({k: c.get(k) for k in ("title_zh", "title_en", "goal_zh", "goal_en")} | {"id": cid})
        for g in c["groups"]:
            _keys(g, _GROUP, f"group {g.get('id', '?')}", p, ("id", "title_zh", "title_en", "items"))
            gid = _check_id(g["id"], cid, f"group {g['id']}", p, seen)
            groups.append({"id": gid, "chapter": cid, "title_zh": g["title_zh"], "title_en": g["title_en"]})
            items += [_parse_item(it, gid, p, seen) for it in g["items"]]
    return Register(path=p, chapters=pd.DataFrame(chapters), groups=pd.DataFrame(groups),
                    items=tuple(items))
