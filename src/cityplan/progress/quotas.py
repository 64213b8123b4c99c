"""District quotas: each city-wide target split per district (``quotas.yaml`` of the city profile).

A district's progress ratio is achieved / its quota. The quota file (format:
:mod:`cityplan.schema.quotas`) is human-edited; it can be regenerated from the one map
(:func:`derive_quotas`) or imported from a CSV/XLSX table (:func:`import_quota_table`). The split
rules used for the Harbin sample are an **assumption** (the report gives city-wide numbers only):

* ``sites`` — targets that plan sites measure: the district's share of the planned quantity of
  the (mostly illustrative) sites that lie in it;
* ``population`` — non-spatial targets (jobs, events...): in proportion to the districts' 2020
  census population, largest remainder, so quotas are whole numbers summing to the target. The
  sample one map holds five central districts, so the whole city target is given to them.
"""

from __future__ import annotations

import logging
import os
import re
from importlib.resources.abc import Traversable
from typing import Any

import numpy as np
import pandas as pd

from cityplan._errors import SchemaError
from cityplan.districts import district_population
from cityplan.profile import Profile, profile_file
from cityplan.tasks.link import LinkResult
from cityplan.tasks.register import Register
from cityplan.tasks.sites import allocate

logger = logging.getLogger(__name__)

QUOTA_COLUMNS = ["task_id", "metric", "unit", "adcode", "district", "quota", "rule"]


#: the quotas' file in a profile folder (a profile without one has no district quotas)
QUOTAS_FILE = "quotas.yaml"


def derive_quotas(register: Register, link: LinkResult, districts: pd.DataFrame) -> pd.DataFrame:
    """Quotas by the documented rules (see the module docstring); one row per target and district."""
    rows: list[dict[str, Any]] = []
    q = link.quantities
    dist = districts.sort_values("adcode")
    pop = district_population(dist).fillna(0).to_numpy(float)
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


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{float(v):.6g}"


def quotas_yaml(quotas: pd.DataFrame) -> str:
    """The quota file's text in the format of :mod:`cityplan.schema.quotas`; comments state the rule."""
    lines = [
        "# District quotas: every city-wide target of the profile's tasks.yaml split per district.",
        "# ASSUMPTION (illustrative): the 2023 report gives city-wide numbers only. Split rules:",
        "#   sites      - the district's share of the planned quantity of the plan sites in it",
        "#                (most plan sites are illustrative, placed by docs/plan_sites.md);",
        "#   population - by 2020 census population of the one map's districts (largest remainder);",
        "#                the sample covers five central districts, which get the whole city target;",
        "#   given      - imported from a district table (cityplan progress quotas import).",
        "# Regenerate: cityplan progress quotas derive --out PROFILE_DIR/quotas.yaml --overwrite (then rebuild)",
        "# Format: cityplan.schema.quotas (docs/progress.md#quotas).",
        "version: 1",
        "quotas:",
    ]
    for (tid, metric), sub in quotas.groupby(["task_id", "metric"], sort=False):
        rule = " + ".join(dict.fromkeys(r for r in sub["rule"].astype(str) if r))
        lines += [f'  - task_id: "{tid}"' + (f"    # rule: {rule}" if rule else ""), f"    metric: {metric}",
                  f"    unit: {sub['unit'].iloc[0]}", "    districts:"]
        lines += [f'      "{r.adcode}": {_num(r.quota)}    # {r.district}' for r in sub.itertuples()]
    return "\n".join(lines) + "\n"


def read_quotas(source: Profile | str | os.PathLike[str] | Traversable, *, register: Register | None = None,
                districts: pd.DataFrame | None = None) -> pd.DataFrame:
    """A profile's quota file (or a quota file; :func:`cityplan.schema.quotas.load_quotas`) as a
    frame (``QUOTA_COLUMNS``).

    Quotas are converted to the target's unit when the file gives a compatible one (ha -> m2).
    A profile without a quota file gives an empty frame (district ratios stay empty) with a warning.
    """
    from cityplan.schema.quotas import load_quotas
    from cityplan.schema.units import conversion_factor

    p = profile_file(source, QUOTAS_FILE)
    if isinstance(source, Profile) and not p.is_file():
        log = logger.warning if register is not None and register.items else logger.info
        log("%s: no %s; district ratios are left empty", source.label, QUOTAS_FILE)
        return pd.DataFrame(columns=QUOTA_COLUMNS)
    names = ({} if districts is None else
             dict(zip(districts["adcode"].astype(str), districts["name"].astype(str), strict=True)))
    rows = []
    for q in load_quotas(p, register=register):
        unit, f = q.unit, 1.0
        if register is not None:
            t = register.target(q.task_id, q.metric)
            f = conversion_factor(q.unit, t.unit, where=f"{p}: quota {q.task_id} {q.metric}")
            unit = t.unit
        rows += [{"task_id": q.task_id, "metric": q.metric, "unit": unit, "adcode": code,
                  "district": names.get(code, ""), "quota": v * f, "rule": ""} for code, v in q.districts.items()]
    out = pd.DataFrame(rows, columns=QUOTA_COLUMNS)
    rules = _rule_comments(p)
    out["rule"] = [rules.get((a, b), "") for a, b in zip(out.task_id, out.metric, strict=True)]
    if register is not None and len(out):
        for (tid, metric), total in out.groupby(["task_id", "metric"])["quota"].sum().items():
            tv = register.target(tid, metric).value
            if not np.isclose(total, tv, rtol=1e-9):
                logger.warning("%s: quotas of %s %s sum to %s, the city target is %s", p, tid, metric, total, tv)
    return out


def _rule_comments(path: Traversable) -> dict[tuple[str, str], str]:
    """``# rule: …`` comments the quota file keeps beside each entry (written by :func:`quotas_yaml`)."""
    out: dict[tuple[str, str], str] = {}
    pending: tuple[str, str] | None = None
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        m = re.match(r'\s*-\s*task_id:\s*"?([\d.]+)"?\s*#\s*rule:\s*(.+?)\s*$', line)
        if m:
            pending = (m.group(1), m.group(2))
            continue
        m = re.match(r"\s*metric:\s*(\S+)", line)
        if m and pending:
            out[(pending[0], m.group(1))] = pending[1]
        pending = None if not line.strip().startswith("unit") else pending
    return out


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
    """``base`` with the (target, district) quotas ``new`` gives replaced or added; others kept."""
    keys = set(zip(new.task_id, new.metric, new.adcode.astype(str), strict=True))
    keep = base[[(a, b, str(c)) not in keys for a, b, c in zip(base.task_id, base.metric, base.adcode, strict=True)]]
    out = pd.concat([keep, new], ignore_index=True)[QUOTA_COLUMNS]
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(out.task_id, out.metric, strict=True)))}
    out["_o"] = [order[k] for k in zip(out.task_id, out.metric, strict=True)]
    return out.sort_values(["_o", "adcode"], kind="stable").drop(columns="_o").reset_index(drop=True)
