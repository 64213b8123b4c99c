"""District quotas (``quotas.yaml`` of the city profile): how a city target of the task register is split by district.

File format::

    version: 1
    quotas:
      - task_id: "2.3.3"          # an item of tasks.yaml (quoted text)
        metric: projects          # one of that item's target metrics
        unit: projects            # a unit of cityplan.schema.units.UNITS (the target's, or convertible)
        districts:                # district adcode (6 digits, quoted or not) -> quota (number >= 0)
          "230102": 60
          230103: 80

Use::

    from cityplan.schema.quotas import load_quotas
    quotas = load_quotas("quotas.yaml")            # tuple[Quota, ...]
    quotas = load_quotas(path, register=load_register())  # also checked against the register
    q = quotas[0]; q.task_id, q.metric, q.unit, q.districts["230102"], q.total

Checked here: keys and types (one-line :class:`SchemaError` naming the quota and field), known units
(:class:`UnitError`), adcodes of 6 digits, finite values >= 0, at most one quota per
(task_id, metric). With ``register``: the task and its target metric exist and the unit is
convertible to the target's (:class:`UnknownTaskIdError`, :class:`SchemaError`, :class:`UnitError`).
Not checked: whether the quotas add up to the city target, or whether an adcode is a district of
the one map -- that is the progress ledger's report, not a file error.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from cityplan._errors import SchemaError, UnknownTaskIdError
from cityplan.schema._base import StrictModel, Unit, load_document

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cityplan.tasks.register import Register

_ADCODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Quota:
    """The split of one target (``task_id``, ``metric``) by district adcode, in ``unit``."""

    task_id: str
    metric: str
    unit: Unit
    districts: Mapping[str, float]

    @property
    def total(self) -> float:
        """Sum of the district quotas."""
        return float(sum(self.districts.values()))


class QuotaModel(StrictModel):
    """One quota entry."""

    task_id: str
    metric: str
    unit: Unit
    districts: dict[int | str, float] = Field(min_length=1)

    @field_validator("task_id")
    @classmethod
    def _task(cls, v: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+", v):
            msg = f"{v!r} is not an item id of the task register like '2.3.3'"
            raise ValueError(msg)
        return v


    @field_validator("districts")
    @classmethod
    def _districts(cls, v: dict[Any, float]) -> dict[Any, float]:
        seen: set[str] = set()
        for code, value in v.items():
            key = str(code)
            if isinstance(code, bool) or not _ADCODE.match(key):
                msg = f"adcode {code!r} is not a 6-digit district code like 230102"
                raise ValueError(msg)
            if key in seen:
                msg = f"adcode {key} given twice (once quoted, once not)"
                raise ValueError(msg)
            seen.add(key)
            if not (math.isfinite(value) and value >= 0):
                msg = f"{key}: quota {value!r} must be a finite number >= 0"
                raise ValueError(msg)
        return v


class QuotasModel(StrictModel):
    """The whole quotas file."""

    version: Literal[1] = 1
    quotas: list[QuotaModel]


def load_quotas(path: str | os.PathLike[str] | Traversable, *, register: Register | None = None) -> tuple[Quota, ...]:
    """District quotas from ``path`` (format and checks: see the module docstring).

    Parameters
    ----------
    path
        The quotas YAML file.
    register
        When given, every quota must name an item of it, one of that item's target metrics, and
        a unit convertible to the target's.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError, UnitError, UnknownTaskIdError
        One line naming the file, the quota and the field.
    """
    p = path if isinstance(path, Traversable) else Path(path)
    doc = load_document(p, QuotasModel, what="quotas file")
    out: list[Quota] = []
    seen: set[tuple[str, str]] = set()
    for i, q in enumerate(doc.quotas):
        where = f"{p}: quota #{i} ({q.task_id} {q.metric})"
        if (q.task_id, q.metric) in seen:
            msg = f"{where}: a second quota for task {q.task_id} metric {q.metric!r}; merge them into one"
            raise SchemaError(msg)
        seen.add((q.task_id, q.metric))
        if register is not None:
            from cityplan.schema.units import conversion_factor  # noqa: PLC0415 (cityplan.tasks imports schemas)

            try:
                target = register.target(q.task_id, q.metric)
            except SchemaError as exc:
                msg = f"{where}: {exc}"
                raise SchemaError(msg) from None
            except UnknownTaskIdError as exc:
                msg = f"{where}: {exc}"
                raise UnknownTaskIdError(msg) from None
            conversion_factor(q.unit, target.unit, where=where)
        districts = MappingProxyType({str(k): float(v) for k, v in q.districts.items()})
        out.append(Quota(task_id=q.task_id, metric=q.metric, unit=q.unit, districts=districts))
    return tuple(out)
