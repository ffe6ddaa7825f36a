"""One thread for every timed action of a watch's process: the Samba probe's deadline
(fswatch.probes.smb.Reaper) and the looks of the evidence sampler (fswatch.watch.evidence).

A healthy probe costs this thread no wake-up it would not have anyway, and the probe's own
thread never wakes it: a timer set later than the one the thread already sleeps towards is
only added to the heap, and a cancelled one is only marked. The thread wakes when the earliest
entry comes, live or cancelled, runs the live ones that are due and sleeps towards the next.
At interval 1 s every new entry comes after one already waiting, so the probe's thread never
notifies at all. Waking this idle thread from the probe's thread, while that one ran Python,
cost the watch 0.13-0.33 ms of CPU per probe (two hand-overs of the interpreter lock per probe);
a timed wake-up while the watch sleeps between probes costs ~0.1 ms on this VM, once per timer.
(Waking it by the process's alarm instead, none for a cancelled timer, measured ~0.27 ms less
per Samba probe, but SIGALRM then lands in whatever the probe's thread runs, C libraries too.)

A timer set again (`again=`: each probe sets its deadline and its evidence's checkpoint again)
keeps its one entry in the heap while that entry comes no later than the new instant: the
thread, when the entry comes, finds the timer moved on and sleeps on towards it. So a watch
whose probes end long before their timers are due wakes this thread about once per timeout,
not once per probe and timer.

An action runs on this thread, so it must be short (shut a socket, read a few /proc files) and
must check for itself whether it is still wanted: cancel() after the thread has taken an entry
does not stop it. An exception in an action is dropped: every later timer depends on the thread.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
import time
from typing import Callable, List, Optional, Tuple

from fswatch.core import threads


class Timer:
    """One timed action; cancel() marks it, the thread drops it when it comes to it."""

    __slots__ = ("when", "action", "cancelled", "queued", "serial")

    def __init__(self, when: float, action: Callable[[], None]) -> None:
        self.when = when
        self.action = action
        self.cancelled = False
        self.queued: Optional[float] = None  # the instant of its entry in the heap; None: none
        self.serial = 0  # which setting of it the thread took: a later one runs its own action

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    def __init__(self, name: str = "fswatch-timers") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._heap: List[Tuple[float, int, Timer]] = []
        self._order = itertools.count()  # ties: first come, first served; never compares timers
        self._thread: Optional[threading.Thread] = None
        self._waking_at = math.inf  # when the thread wakes next by itself

    def after(self, seconds: float, action: Callable[[], None], again: Optional[Timer] = None) -> Timer:
        """Run `action` on the timer thread `seconds` from now (time.monotonic), unless
        cancelled. `again`: that timer, set anew (whatever it was: pending, cancelled or run)."""
        when = time.monotonic() + seconds
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                threads.start(thread)  # RuntimeError on a host out of threads: the caller's to report
                self._thread = thread
                self._waking_at = -math.inf  # it looks at the heap first thing
            timer = again if again is not None else Timer(when, action)
            timer.when, timer.action, timer.cancelled = when, action, False
            timer.serial += 1
            if timer.queued is not None and timer.queued <= when:
                return timer  # its entry comes first: the thread finds it moved then
            timer.queued = when
            heapq.heappush(self._heap, (when, next(self._order), timer))
            if when < self._waking_at:
                self._waking_at = when
                self._cond.notify()  # it sleeps towards a later instant: it must wake sooner
        return timer

    def pending(self) -> int:
        """Entries still in the heap, cancelled ones included (tests)."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:  # the process's lifetime: a daemon thread
            with self._cond:
                due = self._due()
            self._fire(due)

    @staticmethod
    def _fire(due: List[Tuple[Timer, Callable[[], None], int]]) -> None:
        """Run each action taken as due, unless its timer was cancelled or set again since."""
        for timer, action, serial in due:
            if not timer.cancelled and timer.serial == serial:
                try:
                    action()
                except Exception:  # nothing may end this thread: every later timer depends on it
                    pass

    def _due(self) -> List[Tuple[Timer, Callable[[], None], int]]:
        """Sleep until the earliest entry has come; every timer due by then, with the action
        and the setting it was due by (cancelled ones are dropped by the caller's check,
        without a wake-up of their own)."""
        while True:
            now = time.monotonic()
            due = []
            while self._heap and self._heap[0][0] <= now:
                at, _, timer = heapq.heappop(self._heap)
                if timer.queued != at:
                    continue  # set again earlier: its newer entry stands for it
                timer.queued = None
                if timer.cancelled:
                    continue
                if timer.when > now:  # set again, later: one entry, pushed on
                    timer.queued = timer.when
                    heapq.heappush(self._heap, (timer.when, next(self._order), timer))
                    continue
                due.append((timer, timer.action, timer.serial))
            if due:
                self._waking_at = -math.inf  # it looks at the heap again once they have run
                return due
            self._waking_at = self._heap[0][0] if self._heap else math.inf
            self._cond.wait(None if not self._heap else self._waking_at - now)


_timers = Timers()


def after(seconds: float, action: Callable[[], None], again: Optional[Timer] = None) -> Timer:
    """The process's timers: `action` on their thread `seconds` from now, unless cancelled
    (`again`: that timer, set anew)."""
    return _timers.after(seconds, action, again)


def _after_fork() -> None:
    """A forked child has no timer thread, and its lock may have been held by it: start afresh."""
    global _timers
    _timers = Timers()


os.register_at_fork(after_in_child=_after_fork)
