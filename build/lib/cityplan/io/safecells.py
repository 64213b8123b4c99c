"""Neutralise text cells so CSV/XLSX outputs can never hold a live formula (OWASP CSV injection).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab, CR or LF (or the full-width
``＝ ＋ － ＠``, which some spreadsheet locales also accept) is prefixed with a single quote.
Numbers, booleans and dates keep their type: a numeric column's ``-3.5`` is not text.
"""

from __future__ import annotations

import csv
import os
from typing import Any

import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """Return ``value`` with a leading ``'`` if it is text starting with a formula trigger."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def _neutralise_xlsx(value: Any) -> Any:
    """:func:`neutralise`, and control characters XLSX cannot store shown as U+FFFD."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return neutralise(value)


def _is_plain(series: pd.Series) -> bool:
    """Numeric, boolean and datetime columns hold no text."""
    dt = series.dtype
    return (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)
            or pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt))


def _text_mask(s: pd.Series, test: Any) -> pd.Series:
    """Boolean mask of the string cells of ``s`` for which ``test(str_accessor)`` is true."""
    try:
        m = test(s.str)
    except AttributeError:  # no string at all in the column
        return pd.Series(False, index=s.index)
    return m.eq(True)  # non-strings give NaN


def _starts_with_trigger(s: pd.Series) -> pd.Series:
    return _text_mask(s, lambda st: st.startswith(TRIGGERS))


def neutralise_frame(df: pd.DataFrame, *, xlsx: bool = False) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are neutralised.

    Columns are examined by dtype: numeric/bool/datetime columns are left alone; every other
    column is mapped cell by cell, so numbers inside an object column stay numbers. With
    ``xlsx``, control characters a workbook cannot hold become U+FFFD instead of crashing.
    """
    fix = _neutralise_xlsx if xlsx else neutralise
    out = pd.DataFrame(df, copy=True)
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if _is_plain(s):
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if xlsx:
            out.isetitem(i, s.map(fix, na_action="ignore"))
            continue
        hit = _starts_with_trigger(s)
        if hit.any():
            s = s.copy()
            s[hit] = "'" + s[hit].astype(str)
            out.isetitem(i, s)
    out.columns = [fix(c) for c in out.columns]
    return out


def force_text_cells(workbook: Any) -> int:
    """Turn any formula cell of an openpyxl ``workbook`` into a neutralised text cell.

    A second line of defence behind :func:`neutralise_frame`; returns how many cells changed.
    """
    changed = 0
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    text = neutralise(str(cell.value))
                    cell.value = text
                    cell.data_type = "s"
                    changed += 1
    return changed


def write_safe_csv(df: pd.DataFrame, target: str | os.PathLike[str] | None = None, *,
                   encoding: str = "utf-8") -> str | None:
    """Write ``df`` as CSV with neutralised text cells; return the text when ``target`` is None.

    Text holding a carriage return is quoted (QUOTE_NONNUMERIC for that table), since the csv
    module only quotes line feeds and a bare CR would split the row for most readers.
    """
    safe = neutralise_frame(df)
    has_cr = any(_text_mask(safe.iloc[:, i], lambda st: st.contains("\r", regex=False)).any()
                 for i in range(safe.shape[1]) if not _is_plain(safe.iloc[:, i])) or any(
        "\r" in str(c) for c in safe.columns)
    quoting = csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL
    return safe.to_csv(target, index=False, encoding=encoding, quoting=quoting)
