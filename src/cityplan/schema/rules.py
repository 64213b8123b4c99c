"""Schema of the review rules (``layers/review_rules.yaml``); parsed by :mod:`cityplan.review.rules`.

``rules``: a non-empty list; each rule has a unique ``id``, titles, ``layers`` (catalog ids, merged),
a ``relation`` (``intersects``, ``within_distance`` with a positive ``distance_m``,
``must_be_inside``), a ``severity`` (``forbidden``, ``needs_approval``, ``note``), a ``citation``,
an optional attribute filter ``where: {column: [values]}`` and ``illustrative``.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

from pydantic import Field, model_validator

from cityplan._errors import SchemaError
from cityplan.schema._base import StrictModel, load_document

RELATIONS = ("intersects", "within_distance", "must_be_inside")
SEVERITIES = ("forbidden", "needs_approval", "note")


class RuleModel(StrictModel):
    """One constraint check."""

    id: str = Field(min_length=1)
    title_zh: str
    title_en: str
    layers: list[str] = Field(min_length=1)
    relation: Literal[RELATIONS]  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    citation: str = Field(min_length=1)
    distance_m: float = 0.0
    where: dict[str, list[Any]] = {}
    illustrative: bool = False

    @model_validator(mode="after")
    def _distance(self) -> RuleModel:
        d = self.distance_m
        if not math.isfinite(d) or d < 0:
            msg = f"distance_m {d!r} must be a finite number >= 0"
            raise ValueError(msg)
        if self.relation == "within_distance" and not d > 0:
            msg = "within_distance needs a positive distance_m (metres), e.g. distance_m: 50"
            raise ValueError(msg)
        return self


class RulesModel(StrictModel):
    """The whole rules file."""

    rules: list[RuleModel] = Field(min_length=1)


def load_rules_document(path: str | os.PathLike[str]) -> RulesModel:
    """Read and validate a rules file (ids unique).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the rule and field.
    """
    doc = load_document(path, RulesModel, what="review rules file")
    seen: set[str] = set()
    for i, r in enumerate(doc.rules):
        if r.id in seen:
            msg = f"{path}: rule #{i} ({r.id}): duplicate rule id {r.id!r}; ids must be unique"
            raise SchemaError(msg)
        seen.add(r.id)
    return doc
