"""fswatch.host.signals: what each signal does to a watch. Real signals, sent to this
process, with the handlers the watch installs."""

from __future__ import annotations

import os
import signal

from fswatch.host import signals
from fswatch.watch.engine import StopNow, StopSignal


def test_every_signal_is_placed_once():
    """No signal is forgotten: each one Linux has is stopped on, reported on, ignored, or
    left at its default on purpose (or has a default that ends no process)."""
    groups = (signals.STOP, signals.REPORT, signals.IGNORE, signals.DEFAULT, signals.HARMLESS)
    placed = [int(s) for group in groups for s in group]
    assert len(placed) == len(set(placed))
    assert set(placed) == {int(s) for s in signal.valid_signals()}


def test_handlers_stop_report_or_ignore_and_are_restored():
    stop = StopSignal()
    before = {sig: signal.getsignal(sig) for sig in (*signals.STOP, *signals.REPORT, *signals.IGNORE)}
    restore = signals.install(lambda _: stop.request(), lambda _: stop.request_report())
    try:
        for sig in signals.IGNORE:
            os.kill(os.getpid(), sig)  # the default action would end this test run
        assert not stop.is_set() and not stop.report_requested()
        for sig in signals.REPORT:
            os.kill(os.getpid(), sig)
            assert stop.report_requested() and not stop.report_requested()  # once per signal
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.report_requested() and not stop.is_set()  # two asked, one report answers both
        for sig in signals.STOP:
            stop._event.clear()
            os.kill(os.getpid(), sig)
            assert stop.is_set()
    finally:
        restore()
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_stop_during_a_probe_raises_into_it():
    stop = StopSignal()
    restore = signals.install(lambda _: stop.request(), lambda _: stop.request_report())
    try:
        stop.probing = True
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raised = False
        except StopNow:
            raised = True
        assert raised and stop.is_set()
        stop.probing = True
        os.kill(os.getpid(), signal.SIGHUP)  # a report never interrupts the probe
        assert stop.probing and stop.report_requested()
    finally:
        restore()
