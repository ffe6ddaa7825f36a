"""One hard deadline per probe: an absolute instant on a monotonic clock.

Computed once when the probe starts (trio's idea) and handed to every layer, which asks it
for the time left instead of carrying loose timeout floats around.
"""

from __future__ import annotations

import time
from typing import Callable

from fswatch.core.errors import DeadlineExceeded

Clock = Callable[[], float]


class Deadline:
    __slots__ = ("_at", "_clock")

    def __init__(self, at: float, clock: Clock = time.monotonic) -> None:
        self._at = at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    @property
    def at(self) -> float:
        """The instant, on this deadline's clock."""
        return self._at

    @property
    def clock(self) -> Clock:
        return self._clock

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._at

    def timeout(self, what: str = "") -> float:
        """Seconds left for a blocking call (a socket timeout, a library `timeout=`).

        Raises DeadlineExceeded instead of returning 0, because 0 means "non-blocking" to
        sockets and "no timeout" to some libraries.
        """
        left = self._at - self._clock()
        if left <= 0:
            raise DeadlineExceeded(what or "deadline reached")
        return left

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"
