"""Pace: the share of a target that should be done on a day (linear, milestones, S-curve).

A pace runs from ``start`` (0 %) to ``deadline`` (100 %). ``milestones`` are joined by straight
lines (0 at the start, 1 at the deadline added when not declared); the S-curve is a logistic
curve rescaled so that it passes exactly through 0 at the start and 1 at the deadline.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from cityplan.schema.monitor import PaceModel


@dataclass(frozen=True)
class Pace:
    """A resolved pace (dates filled in)."""

    kind: str
    start: dt.date
    deadline: dt.date
    milestones: tuple[tuple[dt.date, float], ...] = ()
    steepness: float = 8.0

    @classmethod
    def from_model(cls, m: PaceModel, *, start: dt.date, deadline: dt.date) -> Pace:
        """``m`` with its missing dates taken from ``start`` / ``deadline``."""
        return cls(kind=m.kind, start=m.start or start, deadline=m.deadline or deadline,
                   milestones=tuple((x.date, float(x.share)) for x in m.milestones), steepness=float(m.steepness))

    def share(self, day: dt.date) -> float:
        """The share of the target due on ``day`` (0..1)."""
        return float(self.shares([day])[0])

    def shares(self, days: list[dt.date] | np.ndarray) -> np.ndarray:
        """:meth:`share` for many days at once."""
        span = (self.deadline - self.start).days
        t = np.array([(d - self.start).days for d in days], dtype=float) / span
        t = np.clip(t, 0.0, 1.0)
        if self.kind == "linear":
            return t
        if self.kind == "milestones":
            xs = [0.0] + [(d - self.start).days / span for d, _ in self.milestones]
            ys = [0.0] + [s for _, s in self.milestones]
            if xs[-1] < 1.0:
                xs, ys = [*xs, 1.0], [*ys, 1.0]
            return np.interp(t, np.clip(xs, 0.0, 1.0), ys)
        k = self.steepness
        lo, hi = 1 / (1 + math.exp(k / 2)), 1 / (1 + math.exp(-k / 2))
        return (1 / (1 + np.exp(-k * (t - 0.5))) - lo) / (hi - lo)

    def describe(self) -> str:
        """``linear 2023-01-01 → 2023-12-31`` and the like, for tables and charts."""
        base = f"{self.kind} {self.start} → {self.deadline}"
        if self.kind == "milestones":
            base += " (" + ", ".join(f"{d}: {s:.0%}" for d, s in self.milestones) + ")"
        if self.kind == "s_curve":
            base += f" (steepness {self.steepness:g})"
        return base
