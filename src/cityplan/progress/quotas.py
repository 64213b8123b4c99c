"""District quotas: each city-wide target split per district (``layers/quotas.yaml``).

A district's progress ratio is achieved / its quota. The quota file is human-edited; it can be
regenerated from the one map (:func:`derive_quotas`) or imported from a CSV/XLSX table
(:func:`import_quota_table`). The split rules used for the Harbin sample are an **assumption**
(the report gives city-wide numbers only):

* ``sites`` — targets that plan sites measure: the district's share of the planned quantity of
  the (mostly illustrative) sites that lie in it;
* ``population`` — non-spatial targets (jobs, events...): in proportion to the districts' 2020
  census population, largest remainder, so quotas are whole numbers summing to the target. The
  sample one map holds five central districts, so the whole city target is given to them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cityplan._errors import SchemaError
from cityplan.io.yamlfile import load_yaml
from cityplan.paths import project_root
from cityplan.tasks.link import LinkResult
from cityplan.tasks.register import Register
from cityplan.tasks.sites import allocate

logger = logging.getLogger(__name__)

QUOTA_COLUMNS = ["task_id", "metric", "unit", "adcode", "district", "quota", "rule"]
RULES = ("sites", "population", "given")
_TOP = {"version", "city", "assumption", "rules", "quotas"}
_ENTRY = {"task_id", "metric", "unit", "rule", "split", "note"}
_SPLIT = {"adcode", "district", "quota"}


def default_quotas_path() -> Path:
    """``layers/quotas.yaml`` (``$CITYPLAN_QUOTAS`` overrides)."""
    env = os.environ.get("CITYPLAN_QUOTAS")
    return Path(env) if env else project_root() / "layers" / "quotas.yaml"


def derive_quotas(register: Register, link: LinkResult, districts: pd.DataFrame) -> pd.DataFrame:
    """Quotas by the documented rules (see the module docstring); one row per target and district."""
    rows: list[dict[str, Any]] = []
    q = link.quantities
    dist = districts.sort_values("adcode")
    pop = pd.to_numeric(dist["pop_2020"], errors="coerce").fillna(0).to_numpy(float)
    for t in (t for i in register.items for t in i.targets if not t.check):
        sub = q[(q.task_id == t.task_id) & (q.metric == t.metric)]
        if len(sub):
            per = sub.groupby(["adcode", "district"], sort=True)["value"].sum()
            for (adcode, name), v in per.items():
                rows.append({"adcode": str(adcode), "district": str(name), "quota": float(v), "rule": "sites"})
                rows[-1] |= {"task_id": t.task_id, "metric": t.metric, "unit": t.unit}
        else:
            split = allocate(t.value, pop) if pop.sum() > 0 else np.zeros(len(dist))
            for (_, d), v in zip(dist.iterrows(), split, strict=True):
                rows.append({"task_id": t.task_id, "metric": t.metric, "unit": t.unit, "adcode": str(d["adcode"]),
                             "district": str(d["name"]), "quota": float(v), "rule": "population"})
    return pd.DataFrame(rows, columns=QUOTA_COLUMNS)


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 3)


def quotas_yaml(quotas: pd.DataFrame, *, city: str = "哈尔滨市 Harbin") -> str:
    """The quota file's text (comments state the assumption)."""
    head = (
        "# District quotas: every city-wide target of layers/tasks.yaml split per district.\n"
        "# ASSUMPTION (illustrative): the 2023 report gives city-wide numbers only. Split rules:\n"
        "#   sites      - the district's share of the planned quantity of the plan sites in it\n"
        "#                (most plan sites are illustrative, placed by docs/plan_sites.md);\n"
        "#   population - by 2020 census population of the one map's districts (largest remainder);\n"
        "#                the sample covers five central districts, which get the whole city target.\n"
        "#   given      - imported from a district table (cityplan progress quotas import).\n"
        "# Regenerate: cityplan progress quotas derive --out layers/quotas.yaml --overwrite.\n"
        "# Schema: docs/progress.md#quotas\n")
    entries = []
    for (tid, metric), sub in quotas.groupby(["task_id", "metric"], sort=False):
        rule = sub["rule"].iloc[0]
        entries.append({"task_id": str(tid), "metric": str(metric), "unit": str(sub["unit"].iloc[0]),
                        "rule": str(rule),
                        "split": [{"adcode": str(r.adcode), "district": str(r.district), "quota": _num(r.quota)}
                                  for r in sub.itertuples()]})
    body = {"version": 1, "city": city, "assumption": True,
            "rules": {"sites": "share of the planned quantity of the plan sites in the district",
                      "population": "share of the 2020 census population (largest remainder)",
                      "given": "imported from a district table"},
            "quotas": entries}
    text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=120, default_flow_style=None)
    return head + text


def _check_keys(raw: Any, allowed: set[str], where: str, required: tuple[str, ...]) -> None:
    if not isinstance(raw, dict):
        msg = f"{where}: expected a mapping, got {type(raw).__name__}"
        raise SchemaError(msg)
    extra = sorted(set(raw) - allowed)
    if extra:
        msg = f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}"
        raise SchemaError(msg)
    missing = [k for k in required if k not in raw]
    if missing:
        msg = f"{where}: missing key(s) {missing}"
        raise SchemaError(msg)


def read_quotas(path: str | os.PathLike[str] | None = None, *, register: Register | None = None) -> pd.DataFrame:
    """Load and validate the quota file into a frame (``QUOTA_COLUMNS``).

    Uses :func:`cityplan.schema.quotas.load_quotas` when that loader is installed, else the
    checks here: known keys, a register target per entry (when ``register`` is given), unique
    adcodes, non-negative finite quotas. A missing file gives an empty frame (no quotas).
    """
    p = Path(path) if path is not None else default_quotas_path()
    if not p.exists():
        if path is not None:
            msg = f"{p}: quota file not found; derive one with `cityplan progress quotas derive`"
            raise SchemaError(msg)
        logger.warning("%s: no quota file; district ratios are left empty", p)
        return pd.DataFrame(columns=QUOTA_COLUMNS)
    raw = load_yaml(p, what="quota file")
    _check_keys(raw, _TOP, f"{p}: top level", ("quotas",))
    if not isinstance(raw["quotas"], list):
        msg = f"{p}: 'quotas' must be a list of {{task_id, metric, unit, rule, split}} entries"
        raise SchemaError(msg)
    targets = ({(t.task_id, t.metric): t for i in register.items for t in i.targets}
               if register is not None else None)
    rows, seen = [], set()
    for n, e in enumerate(raw["quotas"]):
        where = f"{p}: quotas[{n}]"
        _check_keys(e, _ENTRY, where, ("task_id", "metric", "split"))
        tid, metric = str(e["task_id"]), str(e["metric"])
        if (tid, metric) in seen:
            msg = f"{where}: target {tid} {metric} given twice; merge the entries"
            raise SchemaError(msg)
        seen.add((tid, metric))
        unit = str(e.get("unit", ""))
        if targets is not None:
            t = targets.get((tid, metric))
            if t is None:
                msg = (f"{where}: {tid} {metric!r} is not a target of the register {register.path.name}; "
                       "use a task id and metric listed by `cityplan tasks`")
                raise SchemaError(msg)
            if unit and unit != t.unit:
                msg = f"{where}: unit {unit!r} differs from the target's unit {t.unit!r}; give the quota in {t.unit!r}"
                raise SchemaError(msg)
            unit = t.unit
        rule = str(e.get("rule", "given"))
        if rule not in RULES:
            msg = f"{where}: rule {rule!r} is not one of {RULES}"
            raise SchemaError(msg)
        if not isinstance(e["split"], list):
            msg = f"{where}: 'split' must be a list of {{adcode, district, quota}}"
            raise SchemaError(msg)
        codes = set()
        for m, s in enumerate(e["split"]):
            w = f"{where}.split[{m}]"
            _check_keys(s, _SPLIT, w, ("adcode", "quota"))
            code = str(s["adcode"])
            if code in codes:
                msg = f"{w}: district {code} given twice for {tid} {metric}"
                raise SchemaError(msg)
            codes.add(code)
            v = s["quota"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                msg = f"{w}: quota {v!r} must be a number >= 0"
                raise SchemaError(msg)
            rows.append({"task_id": tid, "metric": metric, "unit": unit, "adcode": code,
                         "district": str(s.get("district", "")), "quota": float(v), "rule": rule})
    out = pd.DataFrame(rows, columns=QUOTA_COLUMNS)
    if targets is not None:
        for (tid, metric), total in out.groupby(["task_id", "metric"])["quota"].sum().items():
            tv = targets[(tid, metric)].value
            if not np.isclose(total, tv, rtol=1e-9):
                logger.warning("%s: quotas of %s %s sum to %s, the city target is %s", p, tid, metric, total, tv)
    return out


def load_quotas_frame(path: str | os.PathLike[str] | None = None, *,
                      register: Register | None = None) -> pd.DataFrame:
    """The quotas as a frame, through the project's pydantic loader when it exists."""
    try:
        from cityplan.schema.quotas import load_quotas  # type: ignore[import-not-found]
    except ImportError:
        return read_quotas(path, register=register)
    p = Path(path) if path is not None else default_quotas_path()
    if not p.exists():
        return read_quotas(path, register=register)
    try:
        model = load_quotas(p)
    except TypeError:  # pragma: no cover - a loader with another signature
        return read_quotas(path, register=register)
    frame = _frame_from_model(model)
    return frame if frame is not None else read_quotas(path, register=register)


def _frame_from_model(model: Any) -> pd.DataFrame | None:
    """Rows from the pydantic model (duck-typed: ``.quotas[*].split[*]``); None if it differs."""
    rows = []
    try:
        for e in model.quotas:
            for s in e.split:
                rows.append({"task_id": str(e.task_id), "metric": str(e.metric), "unit": str(e.unit or ""),
                             "adcode": str(s.adcode), "district": str(getattr(s, "district", "") or ""),
                             "quota": float(s.quota), "rule": str(getattr(e, "rule", "given") or "given")})
    except AttributeError:
        return None
    return pd.DataFrame(rows, columns=QUOTA_COLUMNS)


def import_quota_table(table: pd.DataFrame, *, register: Register, districts: pd.DataFrame,
                       source: str) -> pd.DataFrame:
    """Quotas from a user table with columns task_id, metric, district (name or adcode), quota.

    Every row is checked (unknown target or district, non-numeric or negative quota, duplicates);
    all problems are raised together in one :class:`SchemaError` naming rows and fixes.
    """
    from cityplan._errors import DistrictNotFoundError
    from cityplan.districts import resolve_district

    cols = {c.split("/")[-1].strip().lower(): c for c in table.columns}
    need = ["task_id", "metric", "district", "quota"]
    missing = [c for c in need if c not in cols and not (c == "district" and "adcode" in cols)]
    if missing:
        msg = f"{source}: missing column(s) {missing}; the table needs task_id, metric, district (or adcode), quota"
        raise SchemaError(msg)
    targets = {(t.task_id, t.metric): t for i in register.items for t in i.targets if not t.check}
    rows, problems = [], []
    for i, r in enumerate(table.itertuples(index=False), start=2):
        rec = dict(zip(table.columns, r, strict=True))
        tid, metric = str(rec[cols["task_id"]]).strip(), str(rec[cols["metric"]]).strip()
        dname = str(rec[cols.get("district", cols.get("adcode"))]).strip()
        t = targets.get((tid, metric))
        if t is None:
            problems.append(f"row {i}: target {tid} {metric!r} unknown (use `cityplan tasks`)")
            continue
        try:
            d = resolve_district(dname, districts)
        except DistrictNotFoundError:
            problems.append(f"row {i}: district {dname!r} unknown (use a name or adcode of the one map)")
            continue
        v = pd.to_numeric(pd.Series([rec[cols["quota"]]]), errors="coerce").iloc[0]
        if not np.isfinite(v) or v < 0:
            problems.append(f"row {i}: quota {rec[cols['quota']]!r} must be a number >= 0")
            continue
        rows.append({"task_id": tid, "metric": metric, "unit": t.unit, "adcode": str(d["adcode"]),
                     "district": str(d["name"]), "quota": float(v), "rule": "given"})
    out = pd.DataFrame(rows, columns=QUOTA_COLUMNS)
    dup = out.duplicated(["task_id", "metric", "adcode"], keep=False)
    if dup.any():
        problems.append(f"targets given twice for one district: "
                        f"{sorted(set(map(tuple, out[dup][['task_id', 'metric', 'adcode']].values.tolist())))}")
    if problems:
        msg = f"{source}: {len(problems)} problem(s), nothing written: " + "; ".join(problems[:20])
        raise SchemaError(msg)
    return out


def merge_quotas(base: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``base`` with every (task, metric) present in ``new`` replaced by ``new``'s rows."""
    keys = set(zip(new.task_id, new.metric, strict=True))
    keep = base[[(a, b) not in keys for a, b in zip(base.task_id, base.metric, strict=True)]]
    return pd.concat([keep, new], ignore_index=True)[QUOTA_COLUMNS]
