"""The watch engine, the same for every kind (SPEC.md section 2).

Probes start on a fixed cadence of `interval` seconds on a monotonic clock and never
overlap; each has one Deadline `timeout` seconds from its start; `retries + 1`
consecutive failures declare the server failed. Pause/continue come from control files,
looked at before every probe. The clock, the waiting, the probe and the reporter are
passed in, so the engine is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from fswatch.core.deadline import Deadline
from fswatch.core.errors import EXIT_FAILED, EXIT_OK, ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.core.verdict import WatchState, after_pause, judge
from fswatch.host.control import Control, PauseState
from fswatch.watch.reporter import Reporter

PING_EVERY = 1.0  # seconds between watchdog pings while waiting; far below any watchdog period


class StopNow(BaseException):
    """Raised by the SIGTERM handler into a probe in flight, so a stop does not wait for the
    probe's deadline (up to `timeout`, 60 s by default) while a stalled server holds it.

    A BaseException, so no `except Exception` in a probe swallows it; the probes' finally
    blocks close their sockets and threads on the way out.
    """


def crashed(exc: Exception, started: float, clock: Callable[[], float]) -> Observation:
    """The Observation of a probe that raised instead of returning one.

    The probes turn every server answer into an Observation themselves; this is the last
    line of defence, so a bug fails one probe (judged and retried like any other) and the
    watch goes on. Alert 42 with the "function" `probe` and the exception's type.
    """
    try:
        text = " ".join(str(exc).split())[:200]
    except Exception:
        text = ""
    name = type(exc).__name__
    failure = ProbeFailure(
        42, "probe", f"the probe raised {name}" + (f": {text}" if text else ""), name, function="probe"
    )
    return Observation(time.time(), (StageTiming("probe", (clock() - started) * 1000.0, ok=False),), failure)


class StopSignal:
    """What signals ask of the engine (fswatch.host.signals): a stop, or a report of the
    settings it runs; waiting on it is how the engine sleeps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.probing = False  # set by the engine around each probe
        # Counted, not flagged: a handler runs between any two bytecodes, and a count the
        # engine only reads cannot lose a request that comes while it looks.
        self._reports = 0
        self._reported = 0

    def request_report(self) -> None:
        """From a signal handler: log the running settings between probes (never from the
        handler itself, which may have interrupted the main thread inside a write)."""
        self._reports += 1

    def report_requested(self) -> bool:
        """Whether a report was asked since the last call."""
        asked = self._reports
        if asked == self._reported:
            return False
        self._reported = asked
        return True

    def request(self) -> None:
        """From a signal handler: stop, and end a probe in flight at once."""
        self._event.set()
        if self.probing:
            self.probing = False
            raise StopNow()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


class Watch:
    def __init__(
        self,
        schedule: Schedule,
        probe: Callable[[Deadline], Observation],
        reporter: Reporter,
        control: Control,
        stop: Optional[StopSignal] = None,
        clock: Callable[[], float] = time.monotonic,
        keep_probing: bool = False,
    ) -> None:
        self.schedule = schedule
        self.probe = probe
        self.reporter = reporter
        self.control = control
        self.stop = stop or StopSignal()
        self.clock = clock
        # Health attribute mode: a declared failure is published, not the end of the watch,
        # so a recovery can be published too (SPEC.md section 8).
        self.keep_probing = keep_probing

    def run(self) -> int:
        """Watch until stopped (exit 0, alert 3) or the server is declared failed (exit 1)."""
        schedule, reporter = self.schedule, self.reporter
        self.control.ensure()
        reporter.started()
        state = WatchState()
        paused = False
        declared = False  # keep_probing: the current failure streak was declared
        next_start = self.clock()
        while not self.stop.is_set():
            pause = self._pause_state()
            if pause.paused:
                if not paused:
                    paused = True
                    reporter.paused(pause.until, pause.seconds)
                reporter.still_paused()
                next_start = max(next_start + schedule.interval, self.clock())
            else:
                if paused:
                    paused = False
                    state = after_pause(state)
                    reporter.resumed(pause.seconds)
                    next_start = self.clock()
                reporter.watchdog()
                if not state.seen_healthy:
                    reporter.probing_before_ready()
                started = self.clock()
                try:
                    self.stop.probing = True
                    obs = self.probe(Deadline(started + schedule.timeout, self.clock))
                    self.stop.probing = False
                except StopNow:
                    break
                except Exception as exc:  # a probe bug is a failed probe, never the end of the watch
                    self.stop.probing = False
                    obs = crashed(exc, started, self.clock)
                judgement = judge(state, obs, schedule)
                state = judgement.state
                obs = judgement.observation or obs  # a grace period past its limit is judged a failure
                if judgement.declared_failed:
                    reporter.probed(obs, judgement)
                    if not self.keep_probing:
                        reporter.declared_failed(obs)
                        return EXIT_FAILED
                    if not declared:
                        reporter.declared_failed(obs, final=False)
                    declared = True
                else:
                    declared = False
                    reporter.probed(obs, judgement)
                # Fixed cadence from the planned start; a probe that ran long delays only the next.
                next_start = max(next_start + schedule.interval, self.clock())
            if self._sleep_until(next_start):
                break
        reporter.stopping()
        return EXIT_OK

    def _pause_state(self) -> PauseState:
        pause = self.control.pause_state()
        if pause.paused and self.control.pause_expired(pause):
            self.control.request_continue()
            # `seconds` travels with a not-paused state so the reporter can say it expired.
            return PauseState(False, None, pause.seconds)
        if not pause.paused:
            return PauseState(False)
        return pause

    def _sleep_until(self, instant: float) -> bool:
        """Wait until `instant`, pinging the watchdog; True when a stop was requested."""
        for _ in range(int(self.schedule.interval / PING_EVERY) + 3):  # bounded: one interval of pings
            if self.stop.report_requested():  # SIGHUP, SIGUSR1: answered within PING_EVERY
                self.reporter.report_settings()
            left = instant - self.clock()
            if left <= 0:
                return self.stop.is_set()
            if self.stop.wait(min(left, PING_EVERY)):
                return True
            self.reporter.watchdog()
        return self.stop.is_set()
