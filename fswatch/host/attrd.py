"""Health attribute mode: a watch's verdict as a transient Pacemaker node attribute.

`attrd_updater -n NAME -U 1|0` sets NAME on this node (1 healthy, 0 declared failed), the
way ocf:pacemaker:ping publishes `pingd`, so a location rule moves a service group away
from nodes that cannot see the server (SPEC.md section 8). An attribute named #health-NAME
is Pacemaker's node health instead: green (healthy), yellow (slow or degraded), red
(declared failed), which the cluster's node-health-strategy acts on by itself, the way it
acts on storage-mon's and HealthIOWait's. This module only runs the command, bounded in
time; the reporter decides when (every change of the value) and turns a failure into alert
96. The runner is passed in, so tests use fake commands.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence, Tuple

from fswatch.core.settings import is_health_attribute

ATTRD_UPDATER = "attrd_updater"
# attrd_updater answers in milliseconds; the whole call, kill included, stays well inside
# the watchdog's slack (timeout + 5 s) after a probe that ran to its deadline.
CALL_TIMEOUT = 2.0
KILL_WAIT = 0.5

Runner = Callable[[Sequence[str], float], Tuple[int, str]]  # argv, seconds → exit status, output


class CallTimedOut(Exception):
    pass


def run_bounded(argv: Sequence[str], seconds: float) -> Tuple[int, str]:
    """Run argv in its own process group; past `seconds` the whole group is killed (a
    wrapper's children too, which would otherwise hold the output pipe open)."""
    import signal
    import subprocess  # here: a watch that never publishes an attribute never loads it (its memory)

    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.communicate(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            # A descendant left the group and holds the pipe: stop reading it.
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            proc.wait(timeout=KILL_WAIT)
        raise CallTimedOut() from None
    return proc.returncode, out


# A verdict, as node health names it (Pacemaker: "Tracking Node Health").
GREEN, YELLOW, RED = "green", "yellow", "red"


class AttributePublisher:
    """Sets one node attribute; returns None on success, else a one-line reason."""

    def __init__(self, name: str, runner: Runner = run_bounded, timeout: float = CALL_TIMEOUT) -> None:
        self.name = name
        self.runner = runner
        self.timeout = timeout

    def value(self, level: str) -> str:
        """What the attribute holds for a verdict level: the level itself for a #health-*
        attribute; else 1 (healthy, slow or degraded: it still answers) or 0 (declared failed)."""
        if is_health_attribute(self.name):
            return level
        return "0" if level == RED else "1"

    def __call__(self, value: str) -> Optional[str]:
        return call([ATTRD_UPDATER, "-n", self.name, "-U", value], self.runner, self.timeout)


def call(argv: Sequence[str], runner: Runner, timeout: float) -> Optional[str]:
    """Run a cluster command bounded in time: None on success, else a one-line reason."""
    name = argv[0]
    try:
        status, output = runner(argv, timeout)
    except CallTimedOut:
        return f"{name} did not end within {timeout:g} s and was killed"
    except OSError as exc:
        return f"cannot run {name}: {exc.strerror or exc}"
    if status != 0:
        last = output.strip().splitlines()[-1:] or [""]
        return f"{name} exited with status {status}" + (f": {last[0][:200]}" if last[0] else "")
    return None
