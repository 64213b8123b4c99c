"""Schema of the task register (``tasks.yaml`` of the city profile); parsed by :mod:`cityplan.tasks.register`.

``chapters`` → ``groups`` → ``items`` → ``targets``. Ids are quoted text, hierarchical
(chapter ``"2"``, group ``"2.3"``, item ``"2.3.3"``), each under its parent and unique; target values
are positive numbers in a known unit (:data:`cityplan.schema.units.UNITS`), one target per metric.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator

from cityplan._errors import DuplicateTaskIdError, SchemaError
from cityplan.schema._base import StrictModel, Unit, load_document

LEVELS = ("city", "district", "city+district", "province+city")
_ID = re.compile(r"^\d+(\.\d+){0,2}$")


def _hier_id(v: str) -> str:
    if not _ID.match(v):
        msg = f"{v!r} is not a hierarchical id like '2.3.3' (numbers separated by dots)"
        raise ValueError(msg)
    return v


class TargetModel(StrictModel):
    """A quantified target: ``metric``, positive ``value``, ``unit``; ``check`` names another command."""

    metric: str
    value: float
    unit: Unit
    note: str | None = None
    check: str | None = None

    @field_validator("value")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not v > 0 or v != v or v == float("inf"):
            msg = f"value {v!r} must be a positive number"
            raise ValueError(msg)
        return v



class ItemModel(StrictModel):
    """One item of the report."""

    id: str
    title_zh: str
    title_en: str
    level: Literal[LEVELS]  # type: ignore[valid-type]
    mapped: bool
    targets: list[TargetModel] = []
    note: str | None = None

    _id = field_validator("id")(_hier_id)


class GroupModel(StrictModel):
    """A group of items."""

    id: str
    title_zh: str
    title_en: str
    items: list[ItemModel]

    _id = field_validator("id")(_hier_id)


class ChapterModel(StrictModel):
    """A chapter of the report."""

    id: str
    title_zh: str
    title_en: str
    goal_zh: str | None = None
    goal_en: str | None = None
    groups: list[GroupModel]

    _id = field_validator("id")(_hier_id)


class RegisterModel(StrictModel):
    """The whole register file."""

    version: Literal[1] = 1
    report: str | None = None
    report_zh: str | None = None
    chapters: list[ChapterModel] = Field(min_length=1)


def load_register_document(path: str | os.PathLike[str]) -> RegisterModel:
    """Read and validate a register file, including ids (under their parent, unique) and metrics.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Malformed file, keys, types, levels, values or misplaced ids.
    DuplicateTaskIdError
        An id appears twice.
    UnitError
        A target uses an unknown unit.
    """
    doc = load_document(path, RegisterModel, what="task register")
    seen: set[str] = set()

    def check(tid: str, parent: str | None, where: str) -> None:
        depth = tid.count(".")
        if parent is None and depth:
            msg = f"{path}: {where}: chapter id {tid!r} must be one number like '2'"
            raise SchemaError(msg)
        if parent is not None and tid.rsplit(".", 1)[0] != parent:
            msg = f"{path}: {where}: id {tid!r} does not belong under {parent!r}; number it {parent}.N"
            raise SchemaError(msg)
        if tid in seen:
            msg = f"{path}: {where}: duplicate task id {tid!r}; every id must be unique"
            raise DuplicateTaskIdError(msg)
        seen.add(tid)

    for c in doc.chapters:
        check(c.id, None, f"chapter {c.id}")
        for g in c.groups:
            check(g.id, c.id, f"group {g.id} of chapter {c.id}")
            for k, it in enumerate(g.items):
                where = f"item #{k} ({it.id}) of group {g.id}"
                check(it.id, g.id, where)
                metrics = [t.metric for t in it.targets]
                dup = next((m for m in metrics if metrics.count(m) > 1), None)
                if dup is not None:
                    msg = f"{path}: {where}: target metric {dup!r} given twice; give each metric once"
                    raise SchemaError(msg)
    return doc
