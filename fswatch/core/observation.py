"""What one probe saw: per-stage latencies and, on failure, the ProbeFailure.

Probes only do I/O and return an Observation; judging (fswatch.core.verdict) and reporting
(fswatch.watch.reporter) happen elsewhere (STYLE.md: probe, judge, report are apart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Protocol, Tuple

from fswatch.core import alerts
from fswatch.core.errors import ProbeFailure
from fswatch.core.evidence import Evidence


@dataclass(frozen=True)
class StageTiming:
    """One stage of a probe: its name, how long it took, whether it succeeded."""

    stage: str
    ms: float
    ok: bool = True


@dataclass(frozen=True)
class Degradation:
    """A probe that succeeded against a server that does not serve everything yet.

    The probe only says what it saw; fswatch.core.verdict decides how long that may last (e.g. an
    NFSv4 grace period: up to a limit derived from `lease_seconds`) and the reporter says it.
    A degradation that is not `bounded` sets no limit there: it ends by itself or turns into a
    failed probe (a Kerberos ticket the KDC cannot renew serves until it expires).
    """

    cause: str  # what the server is in, e.g. "grace period"
    stage: str
    reason: str  # one line for humans
    status: str = ""  # the server's status that showed it, e.g. NFS4ERR_GRACE
    lease_seconds: Optional[int] = None  # the server's lease time, where it said
    # The alerts that announce it and its end (the grace period's unless a cause has its own),
    # and the announcing alert's detail ("": the limit in seconds).
    alert: int = alerts.DEGRADED
    ended_alert: int = alerts.DEGRADED_ENDED
    detail: str = ""
    bounded: bool = True
    krb5_error: str = ""  # the Kerberos error's name, for a Kerberos renewal that failed

    def fields(self) -> dict:
        out = {"cause": self.cause, "stage": self.stage, "reason": self.reason}
        if self.alert != alerts.DEGRADED:
            out["alert"] = self.alert
        if self.status:
            out["status"] = self.status
        if self.lease_seconds is not None:
            out["lease_seconds"] = self.lease_seconds
        if self.krb5_error:
            out["krb5_error"] = self.krb5_error
        return out


class Details(Protocol):
    """What a kind's probe saw beyond stages and failures (the SMB security posture,
    fswatch.probes.posture.Posture): opaque here, shown under its own key and label."""

    key: str  # its key in Observation.to_dict(): probe --json, the state file
    label: str  # its line in text output (`fswatch probe`)

    def fields(self) -> dict: ...

    def journal_fields(self) -> Dict[str, str]: ...

    def text(self) -> str: ...


@dataclass(frozen=True)
class Observation:
    """What one probe saw: its stages, and its failure, notes, degradation and kind's details."""

    started_wall: float  # time.time() at the start, for humans and state files
    stages: Tuple[StageTiming, ...]
    failure: Optional[ProbeFailure] = None
    notes: Tuple[Tuple[str, str], ...] = ()  # facts worth showing, e.g. ("source_port", "reserved")
    # Succeeded, but the server is not fully serving; with a failure only once the verdict judged it too long.
    degraded: Optional[Degradation] = None
    details: Optional[Details] = None  # the kind's own facts (SMB: dialect, signing, encryption)
    # What the server's own process did, where it runs on this node and the probe ran past its
    # checkpoint (fswatch.watch.evidence); added around the probe, never by it.
    evidence: Optional[Evidence] = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def total_ms(self) -> float:
        return sum(s.ms for s in self.stages)

    def to_dict(self) -> dict:
        out = {
            "ok": self.ok,
            "started": self.started_wall,
            "total_ms": round(self.total_ms, 3),
            "stages": [{"stage": s.stage, "ms": round(s.ms, 3), "ok": s.ok} for s in self.stages],
        }
        if self.notes:
            out["notes"] = dict(self.notes)
        if self.failure is not None:
            out["failure"] = self.failure.fields()
        if self.degraded is not None:
            out["degraded"] = self.degraded.fields()
        if self.details is not None:
            out[self.details.key] = self.details.fields()
        if self.evidence is not None:
            out["evidence"] = self.evidence.fields()
        return out


class Stage:
    """`with rec.stage(name):` times the block as stage `name`; an exception leaving it marks
    the stage failed and goes on (a class, not a generator: a probe enters several per probe)."""

    __slots__ = ("_rec", "_name", "_t0")

    def __init__(self, rec: StageRecorder, name: str) -> None:
        self._rec = rec
        self._name = name
        self._t0 = 0.0

    def __enter__(self) -> None:
        self._t0 = self._rec.clock()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        self._rec.add(self._name, (self._rec.clock() - self._t0) * 1000.0, ok=exc_type is None)
        return False


@dataclass
class StageRecorder:
    """Times each stage of one probe and builds its Observation.

    A probe runs `with rec.stage("connect"): ...` for each stage; an exception leaving the
    block marks the stage failed and propagates, so the probe can translate it.
    """

    clock: Callable[[], float] = time.monotonic
    stages: List[StageTiming] = field(default_factory=list)
    notes: List[Tuple[str, str]] = field(default_factory=list)
    started_wall: float = field(default_factory=time.time)
    details: Optional[Details] = None  # set by a probe that sees more (SMB: its posture)

    def stage(self, name: str) -> Stage:
        return Stage(self, name)

    def add(self, name: str, ms: float, ok: bool = True) -> None:
        """Record a stage timed by other means (one library call that covers two stages)."""
        self.stages.append(StageTiming(name, ms, ok))

    def note(self, key: str, value: str) -> None:
        self.notes.append((key, value))

    def observation(
        self, failure: Optional[ProbeFailure] = None, degraded: Optional[Degradation] = None
    ) -> Observation:
        return Observation(
            self.started_wall,
            tuple(self.stages),
            failure,
            tuple(self.notes),
            None if failure else degraded,
            self.details,
        )
