"""Units of targets and measured quantities, and conversion between compatible ones."""

from __future__ import annotations

from cityplan._errors import UnitError

#: unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    "m2": ("area", 1.0), "ha": ("area", 1e4), "km2": ("area", 1e6), "mu": ("area", 10000.0 / 15.0),
    "m": ("length", 1.0), "km": ("length", 1000.0),
    "min": ("time", 1.0), "h": ("time", 60.0),
    # counts: each its own dimension, so seats never add up with schools
    **{u: (u, 1.0) for u in (
        "actions", "projects", "spaces", "streets", "parks", "schools", "seats", "stations",
        "fields", "sets", "events", "persons", "colleges", "programmes", "zones", "sections",
    )},
}


def check_unit(unit: str, *, where: str) -> str:
    """Return ``unit`` if known, else raise :class:`UnitError` listing the allowed units."""
    if unit not in UNITS:
        msg = f"{where}: unknown unit {unit!r}; allowed units: {sorted(UNITS)}"
        raise UnitError(msg)
    return unit


def conversion_factor(src: str, dst: str, *, where: str) -> float:
    """Factor turning a value in ``src`` into ``dst``; :class:`UnitError` if incompatible."""
    check_unit(src, where=where)
    check_unit(dst, where=where)
    (ds, fs), (dd, fd) = UNITS[src], UNITS[dst]
    if ds != dd:
        msg = (f"{where}: unit {src!r} ({ds}) cannot be compared with the target's unit {dst!r} "
               f"({dd}); measure the quantity in {dst!r}")
        raise UnitError(msg)
    return fs / fd
