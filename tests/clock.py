"""A clock for tests of time limits: epoch seconds that move only when told."""

from __future__ import annotations

#: a fixed moment (2027-01-15 08:00 UTC) so stored timestamps are the same on every run
START = 1_800_000_000.0


class Clock:
    """Callable like ``time.time``; set or advance ``t`` to move it."""

    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
