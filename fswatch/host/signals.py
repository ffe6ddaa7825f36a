"""What a signal does to a watch: one table for `fswatch run` (the body of every unit, of
the OCF agents' watches and of clp_*mon's in-process start form) and for clp_*mon's start
form that follows its unit, the process CLUSTERPRO's PID monitor watches.

A watch that dies is a failed resource to Pacemaker and CLUSTERPRO: a false failover. So
no signal a user space tool sends by convention ends a watch without its verdict:

- STOP (SIGTERM, SIGINT, SIGQUIT): end cleanly, alert 3, exit 0.
- REPORT (SIGHUP, SIGUSR1): log the settings the watch runs and whether its settings file
  says otherwise (alert 160 or 161). There is no reload: a watch's settings are its
  detection bound, which the cluster was promised; new settings take effect at a restart.
- IGNORE: the signals whose default action ends a process but which mean nothing to a
  watch (SIGUSR2, timers, SIGIO, SIGPWR, the resource limits' SIGXCPU and SIGXFSZ — a file
  too large then fails its write, which is reported —, SIGSTKFLT, the real-time signals).

Left at their default action: SIGKILL and SIGSTOP (they cannot be caught), SIGABRT (systemd's
WatchdogSignal=: a watch that stopped pinging must die at once and dump its core) and the
signals of a broken process (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS). `fswatch
status` shows a watch ended by one of them as `dead`.

Python runs a handler in the main thread between two bytecodes, so a handler only records
what was asked (or raises, for a stop during a probe: fswatch.watch.engine.StopNow); the
watch answers a report between probes. Handlers, not SIG_IGN: an ignored disposition would
be inherited by the programs a watch runs (attrd_updater, systemctl), a handler is not.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, Dict, Tuple

STOP: Tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
REPORT: Tuple[signal.Signals, ...] = (signal.SIGHUP, signal.SIGUSR1)
IGNORE: Tuple[int, ...] = (
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGVTALRM,
    signal.SIGPROF,
    signal.SIGIO,
    signal.SIGPWR,
    signal.SIGXCPU,
    signal.SIGXFSZ,
    signal.SIGSTKFLT,
    *range(signal.SIGRTMIN, signal.SIGRTMAX + 1),
)

# Left at their default action, on purpose (see above); and those whose default ends no
# process (SIGPIPE: Python ignores it, a broken pipe is an EPIPE the caller sees).
DEFAULT: Tuple[signal.Signals, ...] = (
    signal.SIGKILL, signal.SIGSTOP, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE,
    signal.SIGTRAP, signal.SIGSYS,
)  # fmt: skip
HARMLESS: Tuple[signal.Signals, ...] = (
    signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
    signal.SIGPIPE,
)  # fmt: skip

Handler = Callable[[int], None]


def _ignore(signum: int) -> None:
    """Nothing: the watch goes on."""


def install(on_stop: Handler, on_report: Handler) -> Callable[[], None]:
    """Set the table's handlers; returns what puts the previous ones back. Outside the main
    thread (where Python cannot set handlers) nothing is set: the caller owns the stop."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: Dict[int, object] = {}
    for signals, handler in ((STOP, on_stop), (REPORT, on_report), (IGNORE, _ignore)):
        for sig in signals:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, lambda signum, _frame, handler=handler: handler(signum))

    def restore() -> None:
        for sig, old in previous.items():
            # None: a handler not set from Python (none is, in fswatch): the default then.
            signal.signal(sig, signal.SIG_DFL if old is None else old)  # type: ignore[arg-type]

    return restore
