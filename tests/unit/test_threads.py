"""fswatch.core.threads: a watch's own threads leave the signals it answers to the main thread."""

from __future__ import annotations

import signal
import threading

import pytest

from fswatch.core import threads


def _mask_of(start) -> frozenset:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(frozenset(signal.pthread_sigmask(signal.SIG_BLOCK, []))))
    start(thread)
    thread.join(10)
    return seen[0]


def test_a_started_thread_blocks_every_asynchronous_signal_and_the_caller_keeps_its_mask():
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    mask = _mask_of(threads.start)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM, signal.SIGRTMIN} <= mask
    assert not mask & {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}  # a fault kills at once
    assert signal.SIGTERM not in _mask_of(threading.Thread.start)  # what a plain start gives


def test_a_thread_that_cannot_start_leaves_the_callers_mask_as_it_was():
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    thread = threading.Thread(target=lambda: None)
    threads.start(thread)
    thread.join(10)
    with pytest.raises(RuntimeError):
        threads.start(thread)  # "threads can only be started once"
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
