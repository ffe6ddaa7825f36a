"""A clock for running the real watch loop without waiting (the unit tier, bench/run's metrics cost)."""

from __future__ import annotations


class SimulatedClock:
    """Seconds that pass only when the engine waits (its stop signal's wait()) or a probe adds
    them: the engine's clock and its stop signal at once, stopping the watch at `end`."""

    def __init__(self, end: float) -> None:
        self.t = 0.0
        self.end = end

    def __call__(self) -> float:
        return self.t

    def is_set(self) -> bool:
        return self.t >= self.end

    def report_requested(self) -> bool:  # no SIGHUP here
        return False

    def wait(self, seconds: float) -> bool:
        self.t = min(self.t + seconds, self.end)
        return self.is_set()
