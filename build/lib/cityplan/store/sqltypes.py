"""Backend-neutral helpers: SQL column types for frames, numpy arrays <-> rows (no pickle)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def sql_type(s: pd.Series) -> str:
    """A portable SQL type for a column (TEXT, INTEGER, REAL, BOOLEAN)."""
    if pd.api.types.is_bool_dtype(s):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(s):
        return "INTEGER"
    if pd.api.types.is_float_dtype(s):
        return "REAL"
    return "TEXT"


def arrays_to_rows(arrays: Mapping[str, np.ndarray]) -> list[tuple[str, str, str, bytes]]:
    """``(name, dtype, shape, bytes)`` rows of plain arrays; object arrays are refused."""
    rows = []
    for name, a in arrays.items():
        arr = np.require(np.asarray(a), requirements="C")  # ascontiguousarray would make 0-d 1-d
        if arr.dtype.kind not in "biufcUSM":
            msg = f"cache array {name!r} has dtype {arr.dtype}; only numeric and fixed-width text are stored"
            raise TypeError(msg)
        rows.append((name, arr.dtype.str, json.dumps(list(arr.shape)), arr.tobytes()))
    return rows


def arrays_from_rows(rows: Iterable[tuple[str, str, str, bytes]]) -> dict[str, np.ndarray]:
    """Inverse of :func:`arrays_to_rows` (``np.frombuffer``: nothing is executed)."""
    out = {}
    for name, dtype, shape, data in rows:
        dt = np.dtype(dtype)
        if dt.kind not in "biufcUSM":
            msg = f"cache array {name!r}: refusing dtype {dtype}"
            raise TypeError(msg)
        out[name] = np.frombuffer(bytes(data), dtype=dt).reshape(json.loads(shape)).copy()
    return out
