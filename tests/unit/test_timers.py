"""The process's one timer thread (fswatch.core.timers): actions run when due, cancelled ones
never, a failing action harms no later one, and a probe that sets and cancels a timer behind
one already pending wakes no thread (counted: the issue-21 cost of the evidence's looks)."""

from __future__ import annotations

import threading
import time

from fswatch.core import timers
from fswatch.core.timers import Timers
from fswatch.watch.evidence import Looks, _Worker

WAIT = 5.0  # seconds any test here waits at most for a timer that should run in ~0.05 s


class Counting(threading.Condition):
    """A condition that counts the wake-ups it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def counting(name: str = "test-timers") -> Timers:
    t = Timers(name)
    t._cond = Counting()
    return t


def test_an_action_runs_when_due_and_a_cancelled_one_never():
    t = counting()
    ran = threading.Event()
    skipped = []
    began = time.monotonic()
    t.after(0.05, ran.set)
    t.after(0.02, lambda: skipped.append(1)).cancel()
    assert ran.wait(WAIT)
    assert time.monotonic() - began >= 0.05
    time.sleep(0.05)
    assert skipped == []


def test_a_failing_action_harms_no_later_one():
    t = counting()
    ran = threading.Event()
    t.after(0.01, lambda: 1 / 0)
    t.after(0.03, ran.set)
    assert ran.wait(WAIT)


def test_an_earlier_timer_wakes_the_thread_sooner():
    t = counting()
    t.after(60, lambda: None)  # the thread sleeps towards this one
    ran = threading.Event()
    t.after(0.02, ran.set)
    assert ran.wait(WAIT)


def test_a_timer_behind_a_pending_one_wakes_nothing():
    """Interval 1 s, timeout 5 s: each probe's timer falls after one of an earlier probe's, so the
    probe's thread only adds to the heap and marks it cancelled, and never notifies."""
    t = counting()
    t.after(30, lambda: None)
    deadline = time.monotonic() + WAIT
    while t._waking_at > 31 and time.monotonic() < deadline:  # the thread has gone to sleep
        time.sleep(0.001)
    before = t._cond.notified
    for _ in range(100):  # a hundred healthy probes
        t.after(40, lambda: None).cancel()
    assert t._cond.notified == before
    assert t.pending() == 101  # dropped only when they come, by the sleeping thread


def test_a_healthy_probe_arms_and_disarms_the_evidence_without_a_wake_up(monkeypatch):
    t = counting()
    t.after(30, lambda: None)
    monkeypatch.setattr(timers, "_timers", t)
    looked = []
    worker = _Worker(lambda: looked.append("checkpoint") or Looks(), lambda looks: looked.append("end"))
    deadline = time.monotonic() + WAIT
    while t._waking_at > 31 and time.monotonic() < deadline:
        time.sleep(0.001)
    before = t._cond.notified
    for _ in range(10):
        now = time.monotonic()
        worker.arm((now + 32, now + 34), time.monotonic)  # later than the pending timer
        assert worker.collect() is None
    assert t._cond.notified == before and looked == []


def test_the_evidence_looks_twice_only_when_the_first_look_found_a_server(monkeypatch):
    t = counting()
    monkeypatch.setattr(timers, "_timers", t)
    ended = threading.Event()
    worker = _Worker(lambda: Looks(servers=["smbd"]), lambda looks: ended.set())
    now = time.monotonic()
    worker.arm((now + 0.01, now + 0.03), time.monotonic)
    assert ended.wait(WAIT)
    looks = worker.collect()
    assert looks is not None and looks.servers == ["smbd"]
    nothing = _Worker(lambda: Looks(), lambda looks: ended.clear())
    now = time.monotonic()
    nothing.arm((now + 0.01, now + 0.03), time.monotonic)
    time.sleep(0.1)
    assert nothing.collect() == Looks() and ended.is_set()  # no second look: nobody to look at


def test_a_timer_set_again_later_keeps_its_one_entry_and_wakes_nothing():
    """Each probe sets its timers again, later than they were: one entry each in the heap, no
    notify; the thread, when the old instant comes, finds the timer moved and sleeps on."""
    t = counting()
    ran = []
    timer = t.after(0.05, lambda: ran.append("first"))
    deadline = time.monotonic() + WAIT
    while t._waking_at > time.monotonic() + 1 and time.monotonic() < deadline:  # asleep towards it
        time.sleep(0.001)
    before = t._cond.notified
    for i in range(100):  # a hundred healthy probes: set, then cancelled at their end
        again = t.after(0.2, lambda i=i: ran.append(i), again=timer)
        assert again is timer
        timer.cancel()
    done = threading.Event()
    t.after(0.25, done.set, again=timer)
    assert t._cond.notified == before and t.pending() == 1
    assert done.wait(WAIT) and ran == []  # only the last setting's action, at its own instant
    assert time.monotonic() - deadline + WAIT >= 0.25


def test_a_timer_set_again_earlier_runs_then_once():
    t = counting()
    ran = []
    timer = t.after(30, lambda: ran.append("late"))
    done = threading.Event()
    t.after(0.02, lambda: ran.append("early") or done.set(), again=timer)
    assert done.wait(WAIT)
    time.sleep(0.05)
    assert ran == ["early"] and t.pending() == 1  # the 30 s entry: dropped unrun when it comes


def test_an_action_taken_by_the_thread_does_not_run_once_its_timer_is_set_again():
    t = counting()
    timer = t.after(30, lambda: None)
    old = []
    entry = (timer, lambda: old.append(1), timer.serial)
    t._fire([entry])
    assert old == [1]  # what the thread runs when nothing happened in between
    t.after(30, lambda: None, again=timer)  # set again between the thread's take and its run
    t._fire([entry])
    assert old == [1]


def test_a_samba_probes_deadline_timer_is_handed_to_the_next_probe_once(monkeypatch):
    from fswatch.core.deadline import Deadline
    from fswatch.probes import smb

    t = counting()
    monkeypatch.setattr(timers, "_timers", t)
    monkeypatch.setattr(smb, "_spare_timers", [])
    first = smb.Reaper(object(), Deadline.after(30))
    first.finish()
    first.finish()  # twice: handed on once
    assert smb._spare_timers == [first._timer]
    second = smb.Reaper(object(), Deadline.after(30))
    third = smb.Reaper(object(), Deadline.after(30))  # at once with the second: a timer of its own
    assert second._timer is first._timer and third._timer is not second._timer
    assert not second._timer.cancelled and t.pending() == 2
    second.finish()
    third.finish()
