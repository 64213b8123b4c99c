"""The strict base model of every YAML schema, and pydantic errors as one-line :class:`SchemaError`.

Models are strict (``extra="forbid"``, no coercion: ``"1"`` is not a number, ``1`` is not a string,
``maybe`` is not a boolean) and frozen. :func:`load_document` reads a file with
:func:`cityplan.schema._yaml.load_yaml` (size, UTF-8, duplicate keys, alias bombs) and validates it;
:func:`schema_error` turns the first pydantic error into one line naming the file, the entry
(``layer #3 (parks)``), the field path, the bad value and what is allowed.
"""

from __future__ import annotations

import os
import types
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from cityplan._errors import CityplanError, SchemaError, UnitError
from cityplan.schema._yaml import load_yaml

M = TypeVar("M", bound=BaseModel)

#: custom pydantic error type for unknown units (raised as :class:`UnitError`)
UNIT_ERROR = "cityplan_unit"
_ERROR_CLASSES: dict[str, type[CityplanError]] = {UNIT_ERROR: UnitError}
#: list fields whose entries are not named by stripping the plural "s"
_SINGULAR = {"facilities": "facility", "quantities": "quantity", "radius_rules": "radius rule"}
_IDENT_KEYS = ("id", "layer", "task_id")
_UNION_TAGS = {"int", "str", "float", "bool", "none"}
_EXPECTED = {
    "string_type": "text", "int_type": "a whole number", "float_type": "a number",
    "bool_type": "true or false", "list_type": "a list ([a, b] or '- ' lines)",
    "tuple_type": "a list ([a, b] or '- ' lines)", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
}


class StrictModel(BaseModel):
    """Base of every schema model: unknown keys refused, no type coercion, immutable.

    The one conversion: a YAML list given for a ``tuple[...]`` field becomes a tuple (YAML has no
    tuples, and strict pydantic would refuse every list there).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _lists_to_tuples(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixed = dict(data)
        for name, f in cls.model_fields.items():
            key = f.alias or name
            if isinstance(fixed.get(key), list) and get_origin(_unwrap(f.annotation)) is tuple:
                fixed[key] = tuple(fixed[key])
        return fixed


def check_unit_value(unit: str) -> str:
    """Field-validator helper: ``unit`` if known, else a pydantic error shown as :class:`UnitError`."""
    from cityplan.schema.units import UNITS  # noqa: PLC0415 (cityplan.tasks imports the schemas)

    if unit not in UNITS:
        msg = f"unknown unit {unit!r}; allowed units: {sorted(UNITS)}".replace("{", "(").replace("}", ")")
        raise PydanticCustomError(UNIT_ERROR, msg)
    return unit


#: a unit of ``cityplan.schema.units`` (unknown units are a :class:`UnitError`)
Unit = Annotated[str, AfterValidator(lambda u: check_unit_value(u))]


def load_document(path: str | os.PathLike[str], model: type[M], *, what: str) -> M:
    """Read the YAML file ``path`` and validate it as ``model``.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Unreadable, empty, not YAML, or not matching ``model`` (one line, see :func:`schema_error`).
    """
    raw = load_yaml(path, what=what)
    if raw is None:
        keys = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
        msg = f"{path}: {what} is empty; expected a mapping with the key(s) {keys}"
        raise SchemaError(msg)
    return validate(model, raw, source=f"{path}")


def validate(model: type[M], raw: Any, *, source: str) -> M:
    """``model.model_validate(raw)``, with errors as one-line :class:`SchemaError` naming ``source``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise schema_error(exc, raw, model, source=source) from None


def entry_label(raw: Any, loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """Name of the innermost list entry along ``loc`` (``layer #3 (parks)``) and the rest of ``loc``.

    ``raw`` is the parsed YAML document; ``("top level", loc)`` when ``loc`` crosses no list entry.
    An entry without an id is named with its parent entry (``item #0 (1.1.1) target #1``).
    """
    label, rest = "top level", tuple(loc)
    parent = ""
    node, prev = raw, None
    for k, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node) \
                and isinstance(node[part], dict):  # entries are mappings; scalars stay in the field path
            node = node[part]
            name = _SINGULAR.get(str(prev), str(prev).removesuffix("s")) if prev is not None else "entry"
            ident = next((node[key] for key in _IDENT_KEYS if isinstance(node, dict) and key in node), None)
            label = f"{name} #{part}" + (f" ({ident})" if ident is not None else "")
            if ident is None and parent:
                label = f"{parent} {label}"
            parent = label
            rest = tuple(loc[k + 1:])
        elif isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) \
                and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        prev = part
    return label, rest


def schema_error(exc: ValidationError, raw: Any, model: type[BaseModel], *, source: str) -> CityplanError:
    """The first error of ``exc`` as one line: ``FILE: ENTRY: FIELD: PROBLEM, got VALUE; FIX``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind, loc = first["type"], tuple(first["loc"])
    if kind == "extra_forbidden":
        parent = loc[:-1]
        extra = sorted({str(e["loc"][-1]) for e in errors
                        if e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == parent})
        entry, rest = entry_label(raw, parent)
        allowed = _keys_at(model, parent)
        problem = f"unknown key(s) {extra}" + (f"; allowed keys: {allowed}" if allowed else "")
        shown = sum(1 for e in errors if e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == parent)
        if rest:
            problem = f"{_path(rest)}: {problem}"
    elif kind == "missing":
        entry, rest = entry_label(raw, loc[:-1])
        problem = f"missing key {str(loc[-1])!r}" + (f" in {_path(rest)}" if rest else "")
        shown = 1
    else:
        entry, rest = entry_label(raw, loc)
        problem = _problem(first, _path(rest), model, loc)
        shown = 1
    more = len(errors) - shown
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    cls = _ERROR_CLASSES.get(kind, SchemaError)
    return cls(f"{source}: {entry}: {problem}{tail}")


def _problem(err: Any, field: str, model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind, value, msg = err["type"], err.get("input"), err["msg"]
    head = f"{field}: " if field else ""
    got = f"{_kind(value)} {_short(value)}"
    if kind == "literal_error":
        return f"{field or 'value'} {_short(value)} is not one of {err['ctx']['expected']}"
    if kind in _EXPECTED:
        want = _EXPECTED[kind]
        if kind in ("model_type", "dict_type"):
            keys = _keys_at(model, loc)
            want += f" with the key(s) {keys}" if keys else ""
        fix = ""
        if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            fix = f"; quote it: \"{value}\""
        elif kind == "bool_type":
            fix = "; write true or false"
        return f"{head}expected {want}, got {got}{fix}"
    if kind in ("value_error", "assertion_error"):
        return head + msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == UNIT_ERROR or kind.startswith("cityplan_"):
        return head + msg
    if kind in ("too_short", "too_long"):
        n = err["ctx"].get("actual_length")
        bound = f"at least {err['ctx']['min_length']}" if kind == "too_short" else f"at most {err['ctx']['max_length']}"
        return f"{head}{_short(value)} has {n} item{'s' if n != 1 else ''}; give {bound}"
    if kind.startswith(("greater_than", "less_than", "string_pattern")):
        return f"{head}{_short(value)} {msg.replace('Input should', 'must').replace('Value should', 'must')}"
    return f"{head}{msg} (got {got})"


def _path(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, str) and (p in _UNION_TAGS or "[" in p and p != "[key]"):
            continue  # pydantic names the union member tried, e.g. ('by_class', 'int'); not a key
        if p == "[key]":
            out += " (the key)"
        elif isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "the number",
            float: "the number", type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
        else:
            return tp


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Keys the model allows at ``loc`` (empty when ``loc`` is not a model)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        else:
            args = [a for a in get_args(tp) if a is not Ellipsis]
            if not args:
                return []
            tp = args[-1]  # list[X] / tuple[X, ...] / dict[K, X] -> X
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def check_unique_ids(items: list[Any], path: str | os.PathLike[str], what: str) -> None:
    """Refuse a repeated ``id`` among ``items`` with one line naming the entry (``what #i (id)``)."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            msg = f"{path}: {what} #{i} ({item.id}): duplicate {what} id {item.id!r}; ids must be unique"
            raise SchemaError(msg)
        seen.add(item.id)

