"""The threads a watch starts for itself (timers, name lookups, a probe's deadline) start with
every asynchronous signal blocked, so that the kernel hands a signal sent to the watch to its
main thread, the one that waits between probes and runs the probes.

Why it matters: Python runs a signal handler in the main thread only, when that thread next
runs Python. A signal the kernel gave another thread (it may give a process-directed signal
to any thread that does not block it, and after a SIGSTOP whichever thread wakes first takes
it) interrupts no system call of the main thread: a SIGTERM then waited until the main thread
woke by itself, up to a second between probes and up to the rest of the probe's deadline
during one, where it should end the probe at once (fswatch.watch.engine.StopNow). Measured
before this, on SIGTERM after a SIGSTOP: a watch ended 0.6 s later at the 90th percentile.

Left unblocked: SIGKILL and SIGSTOP (they cannot be blocked) and the signals the kernel raises
for a fault of the thread itself (blocking them is undefined, and a fault must kill at once).
"""

from __future__ import annotations

import signal
import threading
from typing import FrozenSet

_FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP, signal.SIGSYS)
BLOCKED: FrozenSet[int] = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP, *_FAULTS}


def start(thread: threading.Thread) -> None:
    """thread.start(), the new thread's signals blocked (it inherits the mask of the thread
    that starts it); this thread's own mask is put back before returning. A signal that comes
    meanwhile waits, pending, for this thread. RuntimeError as thread.start()'s."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
