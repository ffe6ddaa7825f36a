"""Fault injection, CLUSTERPRO X's "dummy failure": `fswatch inject KIND ID [--stage STAGE]
[--count N]` makes the next N probes of a running watch fail at STAGE, so an administrator
can test the whole failover chain (alerts, unit failure, clp_* exit, Pacemaker) without
touching the file server.

The request is a control file, <runtime dir>/<kind>/<ID>/inject, written atomically by
the command and read by the watch before every probe, like `pause` (fswatch.host.control). The
failure is made around the probe function — Injector.wrap — never inside the probes, and
then goes through the same judge and report path as a real one; only the alerts say
"injected" (FSWATCH_INJECTED=1). The watch never writes the file: it counts what it used
of a request in memory, by the request's nonce, so a new request cannot be lost to a write
of the watch's. A request names the PID of the watch it was made for, so a file left by an
earlier watch (one killed before it could remove it) fails no probe of a later one; the
watch also removes it when it starts and ends, and `continue` and `reset` remove it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from fswatch.core.deadline import Deadline
from fswatch.core.errors import NotRunning, NotTaken, ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.protocol import INJECT
from fswatch.host.control import Control
from fswatch.kinds import Kind, Stage
from fswatch.watch import status
from fswatch.watch.status import WatchStatus

REASON = "injected failure (fswatch inject): the server was not contacted"


class InjectedFailure(ProbeFailure):
    """A failure made by `fswatch inject`: the stage's own alert, marked as injected."""

    injected = True


@dataclass(frozen=True)
class Request:
    """An injection request as its control file holds it."""

    nonce: str
    stage: str
    count: Optional[int]  # None: retries + 1 probes, enough to declare the failure
    pid: int  # the watch it is for
    requested_at: float

    @classmethod
    def parse(cls, raw: object) -> Optional[Request]:
        """A request from the file's JSON; None for anything else (it then fails no probe)."""
        if not isinstance(raw, dict):
            return None
        nonce, stage, count, pid = raw.get("nonce"), raw.get("stage"), raw.get("count"), raw.get("pid")
        requested_at = raw.get("requested_at", 0.0)
        if not (isinstance(nonce, str) and isinstance(stage, str) and _int(pid)):
            return None
        if count is not None and not (_int(count) and count > 0):
            return None
        if not isinstance(requested_at, (int, float)) or isinstance(requested_at, bool):
            return None
        return cls(nonce, stage, count, pid, float(requested_at))

    def to_record(self) -> dict:
        return {
            "nonce": self.nonce,
            "stage": self.stage,
            "count": self.count,
            "pid": self.pid,
            "requested_at": self.requested_at,
        }


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Injector:
    """The watch's side: before each probe, fail it at the requested stage while the request
    of this watch has probes left; otherwise run the real probe.

    `report(info, armed)` tells the reporter what is pending (None: nothing), `armed` once
    per new request (alert 113).
    """

    def __init__(
        self,
        control: Control,
        kind: Kind,
        attempts: int,
        report: Callable[[Optional[Dict[str, object]], bool], None] = lambda info, armed: None,
        pid: Optional[int] = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.control = control
        self.kind = kind
        self.attempts = attempts
        self.report = report
        self.pid = os.getpid() if pid is None else pid
        self.wall = wall
        self._nonce: Optional[str] = None
        self._used = 0
        self._pending = False

    def wrap(self, probe: Callable[[Deadline], Observation]) -> Callable[[Deadline], Observation]:
        def probe_or_inject(deadline: Deadline) -> Observation:
            stage = self.take()
            return probe(deadline) if stage is None else self.observation(stage)

        return probe_or_inject

    def take(self) -> Optional[Stage]:
        """The stage to fail this probe at, or None; counts the probe against the request."""
        request = Request.parse(self.control.injection())
        if request is None or request.pid != self.pid or not self._known(request.stage):
            self._clear()
            return None
        armed = request.nonce != self._nonce
        if armed:
            self._nonce, self._used = request.nonce, 0
        total = request.count if request.count is not None else self.attempts
        if self._used >= total:
            self._clear()
            return None
        self._used += 1
        info = {"stage": request.stage, "count": total, "left": total - self._used,
                "requested_at": request.requested_at}
        self._pending = True
        self.report(info, armed)
        return self.kind.stage(request.stage)

    def observation(self, stage: Stage) -> Observation:
        failure = InjectedFailure(stage.alert, stage.name, REASON, "injected failure")
        return Observation(self.wall(), (StageTiming(stage.name, 0.0, ok=False),), failure)

    def _known(self, name: str) -> bool:
        return any(s.name == name for s in self.kind.stages)

    def _clear(self) -> None:
        if self._pending:
            self._pending = False
            self.report(None, False)


# -- the command's side -------------------------------------------------------------------------


def request(kind: Kind, watch_id: str, stage_name: Optional[str], count: Optional[int], control: Control) -> Request:
    """Ask the running watch `control` to fail its next `count` probes at the stage (None:
    the kind's first), in the request format its release reads (fswatch.core.protocol).
    UsageError (11) for a stage the kind's probe does not have; NotRunning (145) when no watch
    runs; NotTaken (146) when it is paused (`continue` would clear the request) or its release
    reads no injection requests."""
    stage = kind.stage(stage_name)
    view = status.look(kind.name, watch_id, control)
    if view.pid is None:
        raise NotRunning(f"{kind.name} watch {watch_id} is not running; nothing to inject into")
    if view.pid < 0:
        raise NotRunning(f"{kind.name} watch {watch_id} is starting; try again")
    version = view.protocol
    if not version.reads(INJECT):
        raise NotTaken(
            f"{kind.name} watch {watch_id} (pid {view.pid}) runs {version.name}, which reads no injection "
            "requests: restart it with the installed release to test with it (README: Upgrading)"
        )
    if view.paused:
        raise NotTaken(f"{kind.name} watch {watch_id} is paused: continue it first (continue clears an injection)")
    req = Request(os.urandom(16).hex(), stage.name, count, view.pid, time.time())  # a nonce: uuid4's randomness
    control.request_injection(req.to_record(), version)
    return req


def describe(kind: Kind, watch_id: str, req: Request, state: Optional[WatchStatus]) -> str:
    """One line for the administrator: what will fail, and when the failure is declared."""
    attempts = state.attempts if state is not None and state.attempts else None
    if req.count is not None:
        probes = f"{req.count} probe{'s' if req.count != 1 else ''}"
    else:
        probes = f"{attempts} probes (retries + 1)" if attempts else "retries + 1 probes"
    stage = kind.stage(req.stage)
    declares = req.count is None or (attempts is not None and req.count >= attempts)
    what = "the watch declares its server failed" if declares else "the watch recovers at the next probe"
    return (
        f"{kind.name} watch {watch_id}: the next {probes} fail at {stage.name} (alert {stage.alert}, injected); "
        f"then {what}"
    )
