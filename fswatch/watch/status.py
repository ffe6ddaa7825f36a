"""The one status model: what a watch says of itself, and what every surface reads.

A watch's reporter writes a WatchStatus to its state file (<runtime>/<kind>/<ID>/state.json)
after every probe and change of phase; `fswatch status`, clp_*mon -disp, the OCF monitor,
`fswatch inject` and the metrics read it through this module only. The file is read field by
field: a field that is missing (a state file written by an older release) takes its
default, one of the wrong type is left out and named, so one bad value never hides the rest.
The file says which release wrote it and the control protocol it speaks (fswatch.core.protocol);
one without them comes from 0.1.0, and then the lock tells which 0.1.0.

From outside, a watch is a WatchView: the PID holding its instance lock (alive or not), its
last state and whether a pause is requested. A view has one Health and one reason text, and
each surface is a mapping of those (OCF: 0 / 190 / 1 / 7; clp -disp: its exit codes;
`fswatch status`: its table). Judging a view is pure, so every state is unit-tested.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from fswatch import __version__
from fswatch.core import alerts
from fswatch.core.alerts import alert as alert_entry
from fswatch.core.errors import FswatchError, NotRunning
from fswatch.core.evidence import BLOCKED as BLOCKED_EVIDENCE
from fswatch.core.evidence import STOPPED as STOPPED_EVIDENCE
from fswatch.core.protocol import FLOCK, OFD, VERSIONS, Version, of_watch, release_tuple
from fswatch.host.control import Control, held
from fswatch.host.store import CONFIG, RUNTIME, SettingsStore
from fswatch.kinds import KINDS, WatchSettings

# The reporter's phases (fswatch.watch.reporter): where the watch is in its life.
STARTING, HEALTHY, DEGRADED, FAILING, FAILED = "starting", "healthy", "degraded", "failing", "failed"
PAUSED, RESUMING, STOPPED = "paused", "resuming", "stopped"
PHASES = (STARTING, HEALTHY, DEGRADED, FAILING, PAUSED, FAILED, STOPPED, RESUMING)
ENDED = (FAILED, STOPPED)  # the phases a watch can end in by itself

# A live watch's state file is fresh when written within interval + timeout + this (the
# slack the unit's watchdog allows beyond a probe's timeout): it writes after every probe.
SILENCE_SLACK = 5.0


class Health(Enum):
    """The one verdict on a watch, as every surface reports it."""

    STARTING = "starting"  # alive, no verdict yet (first probe, or resuming after a pause)
    HEALTHY = "healthy"
    SLOW = "slow"  # healthy, but slower than half the timeout (alert 92)
    DEGRADED = "degraded"  # answers, but does not serve everything yet (NFSv4 grace period)
    FAILING = "failing"  # failed probes, not yet retries + 1 of them
    FAILED = "failed"  # declared failed (alert 6, or 98 in health attribute mode)
    PAUSED = "paused"
    STOPPING = "stopping"  # alive, on its way out after a stop
    STOPPED = "stopped"  # ended cleanly (alert 3)
    DEAD = "dead"  # ended without a verdict: killed, or stopped by its watchdog
    INACTIVE = "inactive"  # no watch, no state: never ran, or forgotten


# -- the state file -----------------------------------------------------------------------------


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value: object) -> bool:
    return isinstance(value, str)


def _stage(value: object) -> bool:
    return isinstance(value, dict) and _text(value.get("stage")) and _number(value.get("ms"))


def _probe(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict) or not _number(value.get("started")) or not _number(value.get("total_ms")):
        return False
    stages = value.get("stages", [])
    failure = value.get("failure")
    failure_ok = failure is None or (
        isinstance(failure, dict) and _text(failure.get("stage")) and _text(failure.get("reason"))
    )
    # A kind's own facts (Observation.details, e.g. the SMB posture): a flat object of texts.
    posture = value.get("posture")
    posture_ok = posture is None or (
        isinstance(posture, dict) and all(v is None or _text(v) for v in posture.values())
    )
    return isinstance(stages, list) and all(_stage(s) for s in stages) and failure_ok and posture_ok


def _history_entry(value: object) -> bool:
    return isinstance(value, dict) and _probe(value) and _text(value.get("result"))


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


@dataclass(frozen=True)
class WatchStatus:
    """One state file: the watch's own account of itself."""

    kind: str = ""
    id: str = ""
    target: str = ""
    pid: int = -1  # the watch that wrote it
    phase: str = STARTING
    status: str = ""  # as in STATUS= (systemctl status)
    started: float = 0.0  # wall clock
    updated: float = 0.0  # wall clock of the last write
    failures: int = 0  # consecutive failed probes
    attempts: int = 0  # retries + 1: the failed probes that declare
    probes: int = 0
    slow: bool = False  # healthy but slower than half the timeout (alert 92)
    slow_stage: Optional[dict] = None  # fswatch.core.verdict.SlowStage.fields()
    paused_until: Optional[float] = None  # wall clock; None: until continued (or not paused)
    schedule: Optional[dict] = None  # interval, retries, timeout, detection_bound
    last_probe: Optional[dict] = None  # fswatch.core.observation.Observation.to_dict()
    history: List[dict] = field(default_factory=list)  # fswatch.watch.history entries
    injection: Optional[dict] = None  # what `fswatch inject` has pending
    attribute: Optional[dict] = None  # health attribute mode: name, published, failing
    degraded: Optional[dict] = None  # what degrades the server now (phase degraded)
    # The release that wrote it and its control protocol (fswatch.core.protocol); a state file
    # without them was written by 0.1.0, the one release that did not say.
    version: str = VERSIONS[1].release
    protocol: Optional[int] = None
    settings: Optional[dict] = None  # what the watch runs: settings_record()
    # Evidence from the server's own process: the setting, what declared the last failure
    # (stopped, blocked or retries) and why the process could not be looked at, if so.
    evidence: Optional[dict] = None

    def to_json(self, history_json: Optional[str] = None) -> str:
        """The state file's text. Its values are JSON already (dicts and lists of plain values),
        so no asdict(), whose deep copy cost more CPU than the rest of a watch's loop; and
        `history_json`, the history as JSON already (fswatch.watch.history keeps each entry's
        text), spares encoding the whole ring again after every probe."""
        if history_json is None:
            return json.dumps({name: getattr(self, name) for name in _FIELD_NAMES}) + "\n"
        head = json.dumps({name: getattr(self, name) for name in _FIELD_NAMES if name != "history"})
        return f'{head[:-1]}, "history": {history_json}}}\n'

    @classmethod
    def parse(cls, raw: object) -> Tuple[WatchStatus, str]:
        """The state file's known, well-typed fields (the others at their defaults), and
        what was wrong with the rest ('' if nothing)."""
        if not isinstance(raw, dict):
            return cls(), "not a JSON object"
        known = {key: raw[key] for key, good in _CHECKS.items() if key in raw and good(raw[key])}
        wrong = sorted(key for key in _CHECKS if key in raw and key not in known)
        if "phase" in known and known["phase"] not in PHASES:
            wrong.append("phase")
            del known["phase"]
        return cls(**known), ("unexpected values for " + ", ".join(wrong)) if wrong else ""

    def fields(self) -> dict:
        return asdict(self)

    @property
    def interval(self) -> Optional[float]:
        value = (self.schedule or {}).get("interval")
        return float(value) if _number(value) else None

    @property
    def timeout(self) -> Optional[float]:
        value = (self.schedule or {}).get("timeout")
        return float(value) if _number(value) else None

    @property
    def failure(self) -> Optional[dict]:
        """The last probe's failure, as the probe reported it (ProbeFailure.fields())."""
        last = self.last_probe or {}
        failure = last.get("failure")
        return failure if isinstance(failure, dict) else None


_CHECKS: Dict[str, Callable[[object], bool]] = {
    "kind": _text,
    "id": _text,
    "target": _text,
    "pid": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "phase": _text,
    "status": _text,
    "started": _number,
    "updated": _number,
    "failures": _count,
    "attempts": _count,
    "probes": _count,
    "slow": lambda v: isinstance(v, bool),
    "slow_stage": _optional(lambda v: _stage(v) and _number(v.get("budget_ms"))),  # type: ignore[union-attr]
    "paused_until": _optional(_number),
    "schedule": _optional(lambda v: isinstance(v, dict) and all(_number(x) for x in v.values())),
    "last_probe": _probe,
    "history": lambda v: isinstance(v, list) and all(_history_entry(e) for e in v),
    "injection": _optional(lambda v: isinstance(v, dict) and _text(v.get("stage")) and _count(v.get("left"))),
    "attribute": _optional(lambda v: isinstance(v, dict) and _text(v.get("name"))),
    "degraded": _optional(lambda v: isinstance(v, dict) and _text(v.get("cause")) and _text(v.get("reason"))),
    "version": _text,
    "protocol": _optional(lambda v: _count(v) and v > 0),  # type: ignore[operator]
    "settings": _optional(
        lambda v: isinstance(v, dict)
        and _optional(_text)(v.get("source"))
        and isinstance(v.get("values"), dict)
        and all(_text(value) for value in v["values"].values())
    ),
    "evidence": _optional(lambda v: isinstance(v, dict) and _text(v.get("setting"))),
}
_FIELD_NAMES = tuple(f.name for f in fields(WatchStatus))
assert set(_CHECKS) == set(_FIELD_NAMES), "every field of the state file is checked"


# -- a watch seen from outside ----------------------------------------------------------------------


@dataclass(frozen=True)
class WatchView:
    """A watch as seen from outside: the PID holding its instance lock (None: no watch is
    alive; -1: alive, its PID not readable yet), its last state file (None: none), whether a
    pause is requested, and what could not be read."""

    kind: str
    id: str
    pid: Optional[int]
    state: Optional[WatchStatus]
    paused: bool = False
    error: str = ""
    lock: str = OFD  # the lock that showed the live watch (fswatch.host.control.Holder)

    @property
    def alive(self) -> bool:
        return self.pid is not None

    @property
    def current(self) -> Optional[WatchStatus]:
        """The state, unless a live watch has not written its own yet: a state file left by
        an earlier watch of this ID answers nothing for the one now running."""
        state = self.state
        if state is not None and self.pid is not None and self.pid > 0 and state.pid not in (self.pid, -1):
            return None
        return state

    @property
    def phase(self) -> Optional[str]:
        state = self.current
        return state.phase if state is not None else None

    @property
    def health(self) -> Health:
        state, phase = self.current, self.phase
        if not self.alive:
            if state is None:
                return Health.INACTIVE
            if phase == STOPPED:
                return Health.STOPPED
            return Health.FAILED if phase == FAILED else Health.DEAD
        if self.paused or phase == PAUSED:
            return Health.PAUSED
        if state is None or phase in (STARTING, RESUMING):
            return Health.STARTING
        if phase == STOPPED:
            return Health.STOPPING
        if phase == HEALTHY and state.slow:
            return Health.SLOW
        return Health(phase)

    @property
    def reason(self) -> str:
        """One line that says why the watch is in its health."""
        health, state = self.health, self.current
        if health is Health.FAILED and state is not None:
            return failure_reason(state)
        if health is Health.DEAD and state is not None:
            return (
                f"the watch ended without a verdict (last phase {state.phase!r}, pid {state.pid}): "
                "killed, or stopped by its watchdog; see its journal or log"
            )
        if health in (Health.SLOW, Health.DEGRADED) and state is not None:
            return degraded_reason(state)
        if health is Health.INACTIVE:
            return "no watch has run under this identifier since it was last forgotten"
        return _one_line(state.status) if state is not None else ""

    @property
    def protocol(self) -> Version:
        """The control protocol the live watch speaks: what a request to it must be written in."""
        state = self.current
        return of_watch(state.protocol if state is not None else None, self.lock)

    @property
    def release(self) -> str:
        """The release the watch runs (or ran); "" where that cannot be told yet: its state
        file says (0.1.0 wrote no version), and before it has written one, a watch holding the
        flock alone is of the flock release."""
        state = self.current
        if state is not None:
            return state.version
        return VERSIONS[1].release if self.alive and self.lock == FLOCK else ""

    @property
    def outdated(self) -> bool:
        """A live watch of an older release than the one installed: it runs the old code until
        it is restarted (README: Upgrading)."""
        return self.alive and bool(self.release) and release_tuple(self.release) < release_tuple(__version__)

    def silent_for(self, now: float) -> Optional[float]:
        """Seconds since a live, probing watch last wrote its state, when that is longer than a
        whole probe cycle plus the watchdog's slack; else None. Paused, it writes nothing."""
        state = self.current
        if not self.alive or state is None or state.phase in (PAUSED, STOPPED):
            return None
        if state.interval is None or state.timeout is None or not state.updated:
            return None
        age = now - state.updated
        return age if age > state.interval + state.timeout + SILENCE_SLACK else None


# -- what a watch runs, and what its settings file says now -----------------------------------------


def settings_record(settings: WatchSettings, source: Optional[str]) -> dict:
    """The state file's `settings`: the values the watch runs, which of the two roots its
    settings file is in (fswatch.host.store: CONFIG, RUNTIME; None: from a command line, no
    file), and whether it has a password (which is never recorded)."""
    return {"source": source, "values": settings.values(), "password": settings.has_password}


@dataclass(frozen=True)
class Drift:
    """How a watch's settings file compares with what the watch runs: the keys that differ
    (key, running value, the file's value; None: not set), or why the file cannot be read."""

    file: str
    changes: Tuple[Tuple[str, Optional[str], Optional[str]], ...] = ()
    error: str = ""

    @property
    def differs(self) -> bool:
        return bool(self.changes or self.error)

    def text(self) -> str:
        if self.error:
            return f"{self.file}: {self.error}"
        if not self.changes:
            return f"{self.file} says the same"
        said = ", ".join(f"{key} {_unset(now)} (runs {_unset(runs)})" for key, runs, now in self.changes)
        return f"{self.file} now says {said}"

    def fields(self) -> dict:
        changes = {key: {"runs": runs, "file": now} for key, runs, now in self.changes}
        out: dict = {"file": self.file, "changes": changes, "summary": self.text()}
        if self.error:
            out["error"] = self.error
        return out


def _unset(value: Optional[str]) -> str:
    return "(not set)" if value is None else value


def settings_drift(kind: str, watch_id: str, record: Optional[Mapping[str, object]]) -> Optional[Drift]:
    """What the watch's settings file says now against what the watch runs (its state's
    `settings`); None when the watch has no settings file (clp_*mon in-process: its command
    line) or recorded none. The file is looked up in this process's roots, never at a path
    the state file names, and read without its password."""
    if not isinstance(record, Mapping) or record.get("source") not in (CONFIG, RUNTIME):
        return None
    running = record.get("values")
    if not isinstance(running, Mapping):
        return None
    store = SettingsStore.named(str(record["source"]))
    path = str(store.conf_path(kind, watch_id))
    try:
        now = store.read(KINDS[kind], watch_id, has_password=record.get("password") is True).values()
    except FswatchError as exc:  # gone, unreadable, or no longer valid: a restart would not run it
        return Drift(path, error=_one_line(str(exc)))
    keys = sorted(set(running) | set(now))
    return Drift(path, tuple((k, running.get(k), now.get(k)) for k in keys if running.get(k) != now.get(k)))


def look(kind: str, watch_id: str, control: Optional[Control] = None) -> WatchView:
    """The watch as it is now: the one reader of its lock, state and pause files (in `control`,
    by default the watch's own directory). Reading never blocks and never follows a link
    (fswatch.host.files); what cannot be read is named in `error`, and SystemFault (alert 42)
    is raised only when the lock cannot be examined."""
    control = control or Control.of(kind, watch_id)
    found = held(control)
    pid = found.pid if found is not None else None
    state: Optional[WatchStatus] = None
    errors = []
    try:
        raw = control.read_state()
        if raw is not None:
            state, wrong = WatchStatus.parse(raw)
            if wrong:
                errors.append(f"state file {control.state_file}: {wrong}")
            if state == WatchStatus():
                state = None  # nothing readable in it: it says nothing of a watch
    except FswatchError as exc:
        errors.append(str(exc))
    paused = pid is not None and control.pause_state().paused
    lock = found.lock if found is not None else OFD
    return WatchView(kind, watch_id, pid, state, paused, "; ".join(errors), lock)


def running(kind: str, watch_id: str, action: str) -> WatchView:
    """The live watch a request is for; NotRunning (alert 145, exit 6) when none runs, so a
    request is never silently left for nobody (pause, continue: fswatch and clp_*mon)."""
    view = look(kind, watch_id)
    if not view.alive:
        raise NotRunning(f"{kind} watch {watch_id} is not running; nothing to {action}")
    return view


def failure_text(kind: str, target: str, failure: Mapping[str, object]) -> str:
    """`stage S, alert N: <the alert's text> (cause: <reason>)` of a probe's failure fields."""
    alert_id = failure.get("alert")
    try:
        voice = KINDS[kind]
        message = alert_entry(int(alert_id)).render(  # type: ignore[arg-type]
            voice, target=failure.get("function") or target, detail=failure.get("detail")
        )
    except (KeyError, TypeError, ValueError):
        message = "(unknown alert)"
    if failure.get("injected") is True and "injected" not in message:
        message += " (injected)"  # by `fswatch inject`: the failover test, not the server
    return f"stage {failure.get('stage')}, alert {alert_id}: {message} (cause: {failure.get('reason')})"


def failure_reason(state: WatchStatus) -> str:
    counted = f" after {state.failures}/{state.attempts} failed probes" if state.attempts else ""
    early = declared_on(state)
    if early:
        counted = f" at once on evidence from the server's process ({early}){counted}"
    failure = state.failure
    if failure is None:
        return _one_line(f"the watch declared the server failed{counted}: {state.status}")
    return _one_line(f"declared failed{counted}: {failure_text(state.kind, state.target, failure)}")


def declared_on(state: WatchStatus) -> str:
    """The evidence text that declared the last failure before the retries ran out ('' if none)."""
    declared_by = (state.evidence or {}).get("declared_by")
    evidence = (state.last_probe or {}).get("evidence")
    if declared_by in (STOPPED_EVIDENCE, BLOCKED_EVIDENCE) and isinstance(evidence, dict):
        return str(evidence.get("text", declared_by))
    return ""


def degraded_reason(state: WatchStatus) -> str:
    degraded = state.degraded
    if isinstance(degraded, dict):
        limit = degraded.get("limit_seconds")
        # A degradation with no limit here ends, or fails the probe, by itself (a Kerberos ticket expires).
        until = f"counted failed after {limit} s" if limit is not None else "until it ends"
        return _one_line(
            f"{degraded.get('cause')} (alert {degraded.get('alert', alerts.DEGRADED)}), {degraded.get('probes')} "
            f"probes, {until}: {degraded.get('reason')}"
        )
    slow = state.slow_stage
    if isinstance(slow, dict) and all(_number(slow.get(k)) for k in ("ms", "budget_ms", "total_ms")):
        return _one_line(
            f"slow: {slow.get('stage')} {slow['ms']:.0f} ms of {slow['budget_ms']:.0f} ms budget "
            f"(probe {slow['total_ms']:.0f} ms, alert {alerts.SLOW})"
        )
    total = (state.last_probe or {}).get("total_ms")
    timeout = (state.schedule or {}).get("timeout")
    return _one_line(
        f"slow: the last probe took {total} ms, more than half of the {timeout} s timeout (alert {alerts.SLOW})"
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
