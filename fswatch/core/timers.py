"""One thread for every timed action of a watch's process: the Samba probe's deadline
(fswatch.probes.smb.Reaper) and the looks of the evidence sampler (fswatch.watch.evidence).

A probe that ends in time should cost this thread nothing. Two ways to wake it:

- In a watch's process (fswatch.watch.runner: use_alarm()), the process's alarm
  (ITIMER_REAL) is set for the earliest live timer and wakes the thread through Python's
  signal wake-up descriptor; a timer cancelled in time moves or clears the alarm (one
  setitimer()), so a healthy probe wakes no thread at all.
- Elsewhere (a probe run from another thread, `fswatch probe`, tests) the thread sleeps
  towards the earliest entry, live or cancelled: a timer later than that one is only added to
  the heap and a cancelled one only marked, so the probe's thread never notifies it at
  interval 1 s; the thread then wakes once per timer, while the watch sleeps between probes.

Each wake-up costs: waking this idle thread from the probe's thread, while that one ran Python,
cost the watch 0.13-0.33 ms of CPU per probe (two hand-overs of the interpreter lock); a timed
wake-up of an idle thread ~0.1 ms on this VM (bench/RESULTS.md, "Before and after").

An action runs on this thread, so it must be short (shut a socket, read a few /proc files) and
must check for itself whether it is still wanted: cancel() after the thread has taken an entry
does not stop it. An exception in an action is dropped: every later timer depends on the thread.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import signal
import threading
import time
from typing import Callable, List, Optional, Tuple


class Timer:
    """One timed action; cancel() marks it, the thread drops it when it comes to it."""

    __slots__ = ("when", "action", "cancelled", "_owner")

    def __init__(self, when: float, action: Callable[[], None], owner: Optional[Timers] = None) -> None:
        self.when = when
        self.action = action
        self.cancelled = False
        self._owner = owner

    def cancel(self) -> None:
        self.cancelled = True
        if self._owner is not None and self._owner.alarmed:
            self._owner._cancelled(self)


class Timers:
    def __init__(self, name: str = "fswatch-timers") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._heap: List[Tuple[float, int, Timer]] = []
        self._order = itertools.count()  # ties: first come, first served; never compares timers
        self._thread: Optional[threading.Thread] = None
        self._waking_at = math.inf  # when the thread wakes next by itself (or the alarm rings)
        self.alarmed = False  # woken by the process's ITIMER_REAL (use_alarm()), not a timed wait
        self._pipe: Optional[Tuple[int, int]] = None  # the alarm's wake-up pipe: read end, write end
        self.wakes = 0  # times the thread woke from a wait (tests: what a healthy probe costs)

    def after(self, seconds: float, action: Callable[[], None]) -> Timer:
        """Run `action` on the timer thread `seconds` from now (time.monotonic), unless cancelled."""
        timer = Timer(time.monotonic() + seconds, action, self)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()  # RuntimeError on a host out of threads: the caller's to report
                self._thread = thread
                self._waking_at = -math.inf  # it looks at the heap first thing
            heapq.heappush(self._heap, (timer.when, next(self._order), timer))
            if timer.when < self._waking_at:
                self._waking_at = timer.when
                if self.alarmed:
                    _ring_at(timer.when)
                else:
                    self._cond.notify()  # it sleeps towards a later instant: it must wake sooner
        return timer

    def use_alarm(self) -> Callable[[], None]:
        """From here on the process's ITIMER_REAL wakes the timer thread, through the wake-up
        descriptor of Python's signal handling (signal.set_wakeup_fd): the alarm is set for the
        earliest live timer, and a timer cancelled in time is one setitimer() and no wake-up
        at all (a probe that ends in time: ~0.1 ms of CPU per timer on this VM, bench/RESULTS.md).

        Only from the main thread, with a Python handler for SIGALRM (fswatch.host.signals:
        nothing), and where nothing else of the process took the wake-up descriptor; else the
        thread keeps waking by itself. SIGALRM restarts the system calls it interrupts
        (siginterrupt False): a C library mid-call never sees EINTR for it. Returns what puts
        the timed waits back."""
        if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGALRM)):
            return lambda: None
        if self._pipe is None:
            read_end, write_end = os.pipe()
            os.set_blocking(write_end, False)  # set_wakeup_fd's condition
            self._pipe = (read_end, write_end)
        previous = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
        if previous != -1:  # someone else's (asyncio's): theirs stays
            signal.set_wakeup_fd(previous)
            return lambda: None
        signal.siginterrupt(signal.SIGALRM, False)
        with self._cond:
            self.alarmed = True
            self._cond.notify()  # a thread in a timed wait sets the alarm and sleeps on the pipe

        def restore() -> None:
            with self._cond:
                self.alarmed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            signal.set_wakeup_fd(-1)
            os.write(self._pipe[1], b"\0")  # the thread, on the pipe, goes back to timed waits

        return restore

    def pending(self) -> int:
        """Entries still in the heap, cancelled ones included (tests)."""
        with self._cond:
            return len(self._heap)

    def _cancelled(self, timer: Timer) -> None:
        """With the alarm: a cancelled earliest timer takes its alarm with it."""
        with self._cond:
            if not self._heap or self._heap[0][2] is not timer:
                return  # the alarm is set for another, which is still live
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            self._waking_at = self._heap[0][0] if self._heap else math.inf
            _ring_at(self._waking_at)

    def _run(self) -> None:
        while True:  # the process's lifetime: a daemon thread
            with self._cond:
                due = self._due()
                pipe = self._pipe if self.alarmed else None
            if not due and pipe is not None:
                os.read(pipe[0], 512)  # until the alarm rings (or any signal: then it looks again)
                self.wakes += 1
            for timer in due:
                if not timer.cancelled:
                    try:
                        timer.action()
                    except Exception:  # nothing may end this thread: every later timer depends on it
                        pass

    def _due(self) -> List[Timer]:
        """Every entry due now (cancelled ones are dropped by the caller's check). With none due:
        under the alarm, the alarm set for the earliest and nothing (the caller then sleeps on
        the pipe); else sleep until the earliest entry, live or cancelled, has come."""
        while True:
            now = time.monotonic()
            due = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
            if due:
                self._waking_at = -math.inf  # it looks at the heap again once they have run
                return due
            if self.alarmed:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                self._waking_at = self._heap[0][0] if self._heap else math.inf
                _ring_at(self._waking_at)
                return due
            self._waking_at = self._heap[0][0] if self._heap else math.inf
            self._cond.wait(None if not self._heap else self._waking_at - now)
            self.wakes += 1


def _ring_at(when: float) -> None:
    """The process's alarm at `when` (time.monotonic), or none for math.inf."""
    if when == math.inf:
        signal.setitimer(signal.ITIMER_REAL, 0)
    else:
        signal.setitimer(signal.ITIMER_REAL, max(when - time.monotonic(), 1e-6))


_timers = Timers()


def after(seconds: float, action: Callable[[], None]) -> Timer:
    """The process's timers: `action` on their thread `seconds` from now, unless cancelled."""
    return _timers.after(seconds, action)


def use_alarm() -> Callable[[], None]:
    """The process's timers woken by its alarm (Timers.use_alarm); returns what undoes it."""
    return _timers.use_alarm()


def _after_fork() -> None:
    """A forked child has no timer thread, and its lock may have been held by it: start afresh."""
    global _timers
    _timers = Timers()


os.register_at_fork(after_in_child=_after_fork)
