"""Jinja2 environment of the HTML reports: templates in ``cityplan/report/templates``, autoescaped.

Every value a template prints is HTML-escaped (names from user data included); templates mark
nothing ``|safe``. Undefined variables raise instead of printing nothing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined


def cell(v: Any) -> str:
    """A table cell as text: large floats with thousands separators, small ones to 4 significant digits."""
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def table(df: pd.DataFrame) -> dict[str, list]:
    """``{"columns": [...], "rows": [[...], ...]}`` of ``df`` with empty cells for missing values."""
    cells = df.astype(object).where(df.notna(), "")
    return {"columns": [str(c) for c in df.columns], "rows": cells.to_numpy().tolist()}


@cache
def environment() -> Environment:
    """The shared environment (autoescape on for every template)."""
    env = Environment(loader=PackageLoader("cityplan.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = cell
    return env


def render(template: str, /, **context: Any) -> str:
    """Render ``template`` (e.g. ``district.html.j2``) with ``context``."""
    return environment().get_template(template).render(**context)
