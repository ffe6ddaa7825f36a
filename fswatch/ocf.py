"""The OCF resource agents ocf:fswatch:samba and ocf:fswatch:nfs (SPEC.md section 8).

One declaration per agent, like resource-agents' heartbeat/ocf.py `Agent` and like
fswatch's alert table: its parameters come from the Kind's target fields plus the schedule,
password_file, attribute and watch_id, its actions name their handlers, and both the
meta-data XML and the dispatch are generated from it — a new kind needs no agent code.

The agent adds no watch logic of its own. start runs the watch (the unit fswatch-KIND@ID
where systemd is PID 1, else a detached `fswatch run` child) from settings written under
the runtime dir, exactly as clp_sambamon does; monitor reads what the watch itself says —
its instance lock (alive or not) and its state file — and turns it into an OCF exit code:

    lock held, healthy            0        lock held, slow (alert 92)   190 degraded
    declared failed               1 + ocf-exit-reason: stage, alert id, cause
    died without a verdict        1        cleanly stopped / never run  7

In health attribute mode (`attribute` set) the watch publishes the node attribute itself
and keeps probing after a declared failure; monitor then returns 0 while the watch runs.
OCF_CHECK_LEVEL=10 adds one live probe whose deadline stays below the action's timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html import escape  # XML-safe (&, <, >, quotes); xml.sax.saxutils would import urllib
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from fswatch import logs, paths
from fswatch.alerts import alert as alert_entry
from fswatch.control import holder
from fswatch.deadline import Deadline
from fswatch.errors import FswatchError, UsageError
from fswatch.kinds import KINDS, Kind
from fswatch.runner import control_for, read_password
from fswatch.settings import Schedule, WatchSettings, check_attribute, check_id
from fswatch.units import (
    MODE_SYSTEMD,
    Systemctl,
    remove_runtime_watch,
    supervision_mode,
    unit_name,
    write_runtime_dropin,
    write_runtime_settings,
)

# OCF exit codes (OCF resource agent API 1.1, "Return codes")
OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7
OCF_DEGRADED = 190

VERSION = "1.1"  # the OCF API these agents follow
MODE_ENV = "FSWATCH_OCF_MODE"  # "systemd" or "inprocess" (tests); default: systemd where it is PID 1
POLL = 0.1  # seconds between looks at the watch while start or stop waits
DEEP = 10  # OCF_CHECK_LEVEL from which monitor runs a live probe itself
LOG_KEEP = 1 << 20  # bytes of a supervised watch's alert log before it is rotated at start
ATTRD_UPDATER = "attrd_updater"
# Under systemd, attribute mode's watch must reach pacemaker-attrd: its IPC serves root,
# hacluster and the haclient group, through shared memory under /dev/shm.
ATTRIBUTE_SERVICE_LINES = ("SupplementaryGroups=haclient", "PrivateUsers=no", "PrivateDevices=no")

Result = Tuple[int, Optional[str]]  # exit code, exit reason (one line) or None


# -- the declaration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    shortdesc: str
    longdesc: str
    integer: bool = False
    boolean: bool = False  # content type boolean, default "false" (check_bool reads true/false)
    default: object = None  # None: no default (required), "" : empty means "decided at run time"
    required: bool = False
    unique: bool = False


@dataclass(frozen=True)
class Action:
    name: str
    timeout: int  # seconds: the default Pacemaker gives the action
    handler: Optional[Callable[[Request], Result]] = None
    interval: Optional[int] = None
    depth: Optional[int] = None


@dataclass(frozen=True)
class Agent:
    kind: Kind
    parameters: Tuple[Parameter, ...]
    actions: Tuple[Action, ...]

    @property
    def name(self) -> str:
        return self.kind.name

    def handler(self, action: str) -> Optional[Callable[[Request], Result]]:
        for a in self.actions:
            if a.name == action:
                return a.handler
        return None

    def timeout(self, action: str) -> int:
        return max((a.timeout for a in self.actions if a.name == action), default=20)


def _parameters(kind: Kind) -> Tuple[Parameter, ...]:
    """watch_id, the kind's target fields, password_file where the kind logs on, the
    schedule and the attribute: everything a watch's settings have, nothing else."""
    out = [
        Parameter(
            "watch_id",
            "watch identifier",
            "The watch's identifier (letters, digits, '_' and '-', at most 200 bytes): names the "
            f"unit fswatch-{kind.name}@ID, the runtime files under /run/fswatch/{kind.name}/ID and the "
            "FSWATCH_WATCH field of its alerts. Default: the resource's name, other characters "
            "replaced by '_' and a clone's ':N' dropped.",
            default="",
            unique=True,
        )
    ]
    for f in kind.fields:
        # No default attribute where the default is decided at run time (the portmapper's
        # port, the node's address): the description says what happens.
        default = None if f.required or (f.default is None and f.integer) else ("" if f.default is None else f.default)
        if f.boolean:
            default = "true" if f.default else "false"
        out.append(
            Parameter(
                f.name,
                f.name.replace("_", " "),
                f"{f.help}; the same as `fswatch add {kind.name} --{f.name.replace('_', '-')}`.",
                integer=f.integer,
                boolean=f.boolean,
                default=default,
                required=f.required,
            )
        )
    if kind.takes_password:
        out.append(
            Parameter(
                "password_file",
                "file holding the password",
                "A file (root-only, mode 0600) whose first line is the password of `user`. The "
                "password never appears in the CIB, an environment or a command line. Empty: "
                "guest logon.",
                default="",
            )
        )
    defaults = Schedule()
    out += [
        Parameter(
            "interval",
            "seconds between probe starts",
            f"Seconds between the starts of two probes, 1-10000 (default {defaults.interval}).",
            integer=True,
            default=defaults.interval,
        ),
        Parameter(
            "retries",
            "failed probes retried before failure",
            "Failed probes retried before the server is declared failed, 1-10000 (default "
            f"{defaults.retries}): the watch declares failure after retries + 1 consecutive failed "
            "probes, within interval + retries x max(interval, timeout) + timeout seconds of the fault.",
            integer=True,
            default=defaults.retries,
        ),
        Parameter(
            "timeout",
            "deadline of one probe in seconds",
            f"Hard deadline of one probe in seconds, 1-10000 (default {defaults.timeout}). A probe "
            "that answers in more than half of it is reported slow (alert 92; monitor: degraded).",
            integer=True,
            default=defaults.timeout,
        ),
        Parameter(
            "attribute",
            "node attribute to publish (health attribute mode)",
            "Empty (default): resource mode, monitor fails when the watch declares the server "
            "failed. A name: health attribute mode, for a clone on every node: the watch sets the "
            "transient node attribute NAME to 1 (healthy) or 0 (declared failed) with "
            "attrd_updater at every verdict change and keeps probing, and monitor returns 0 "
            "while the watch runs; a location rule on NAME moves the service.",
            default="",
        ),
    ]
    return tuple(out)


def agent_for(kind: Kind) -> Agent:
    return Agent(
        kind,
        _parameters(kind),
        (
            Action("start", 90, start),
            Action("stop", 60, stop),
            Action("monitor", 30, monitor, interval=10),
            Action("monitor", 90, monitor, interval=60, depth=DEEP),
            Action("validate-all", 10, validate_all),
            Action("meta-data", 5, None),
        ),
    )


def meta_data(agent: Agent) -> str:
    """OCF 1.1 meta-data; valid against resource-agents' ra-api-1.dtd (which ocf-tester uses)
    and metadata.rng, so content types are only those both know (string, integer, boolean)."""
    kind = agent.kind
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">',
        f'<resource-agent name="{kind.name}" version="{escape(_package_version())}">',
        f"<version>{VERSION}</version>",
        '<longdesc lang="en">',
        escape(
            f"Watches a {kind.name} server with fswatch's own probe ({kind.command} compatible) and "
            "reports its verdict to Pacemaker. start runs the watch (the systemd unit "
            f"fswatch-{kind.name}@ID where systemd is PID 1, a supervised process elsewhere) and "
            "returns once the first probe was healthy. monitor: 0 healthy; 1 declared failed, with "
            "an exit reason naming the probe stage, the alert id and the cause; 190 (degraded) "
            "while the server answers slowly (alert 92); 7 after a clean stop. OCF_CHECK_LEVEL=10 "
            "adds one live probe within the monitor's timeout. With `attribute` set the watch "
            "publishes a node attribute instead (health attribute mode). See ocf_fswatch(7)."
        ),
        "</longdesc>",
        f'<shortdesc lang="en">fswatch {kind.name} watch: fails over when the server is dead or stalled</shortdesc>',
        "<parameters>",
    ]
    for p in agent.parameters:
        attrs = f"name={quoteattr(p.name)}"
        if p.unique:
            attrs += ' unique="1"'
        if p.required:
            attrs += ' required="1"'
        content = f'type="{"integer" if p.integer else "boolean" if p.boolean else "string"}"'
        if p.default is not None:
            content += f" default={quoteattr(str(p.default))}"
        lines += [
            f"<parameter {attrs}>",
            f'<longdesc lang="en">{escape(p.longdesc)}</longdesc>',
            f'<shortdesc lang="en">{escape(p.shortdesc)}</shortdesc>',
            f"<content {content} />",
            "</parameter>",
        ]
    lines += ["</parameters>", "<actions>"]
    for a in agent.actions:
        attrs = f'name="{a.name}" timeout="{a.timeout}s"'
        if a.interval is not None:
            attrs += f' interval="{a.interval}s"'
        if a.depth is not None:
            attrs += f' depth="{a.depth}"'
        lines.append(f"<action {attrs} />")
    lines += ["</actions>", "</resource-agent>"]
    return "\n".join(lines) + "\n"


def quoteattr(value: str) -> str:
    return f'"{escape(value)}"'


def _package_version() -> str:
    from fswatch import __version__

    return __version__


# -- one invocation -------------------------------------------------------------------------------

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Request:
    """One call of the agent: its action and what Pacemaker put in the environment."""

    agent: Agent
    action: str
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0

    def __post_init__(self) -> None:
        # Pacemaker's timeout runs from the fork: count the interpreter's start-up too.
        self.started = self.clock() - (_process_age() if self.clock is time.monotonic else 0.0)

    def param(self, name: str) -> Optional[str]:
        value = self.env.get(f"OCF_RESKEY_{name}")
        return value if value else None  # Pacemaker passes an unset parameter as absent or empty

    @property
    def is_probe(self) -> bool:
        """A monitor with interval 0: Pacemaker asking whether the resource runs here."""
        return self.action == "monitor" and self.env.get("OCF_RESKEY_CRM_meta_interval", "0") in ("", "0")

    @property
    def depth(self) -> int:
        level = self.env.get("OCF_CHECK_LEVEL", "0")
        return int(level) if level.isdigit() else 0

    @property
    def attribute(self) -> Optional[str]:
        name = self.param("attribute")
        return check_attribute(name) if name else None

    def watch_id(self) -> str:
        """watch_id, else the resource's name made into an identifier (clone suffix dropped)."""
        given = self.param("watch_id")
        if given:
            return check_id(given)
        instance = self.env.get("OCF_RESOURCE_INSTANCE", "").split(":", 1)[0]
        return check_id(_NOT_ID.sub("_", instance))

    def deadline(self) -> Deadline:
        """Pacemaker's timeout for this action (CRM_meta_timeout, ms) less a margin, so the
        agent answers with a diagnosis before Pacemaker gives up on it."""
        ms = self.env.get("OCF_RESKEY_CRM_meta_timeout", "")
        seconds = int(ms) / 1000.0 if ms.isdigit() and int(ms) > 0 else float(self.agent.timeout(self.action))
        margin = max(0.5, min(5.0, seconds * 0.1))
        return Deadline(self.started + max(0.5, seconds - margin), self.clock)


def _process_age() -> float:
    """Seconds since this process started (its start time in /proc is in clock ticks
    since boot, the clock CLOCK_BOOTTIME reads); 0 when unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, counted after the comm
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def watch_settings(req: Request) -> Tuple[WatchSettings, Optional[str]]:
    """The watch's settings from the parameters, checked the way `fswatch add` checks them
    (UsageError with the same one-line reasons), and its password."""
    kind = req.agent.kind
    watch_id = req.watch_id()
    defaults = Schedule()
    schedule = Schedule.parse(
        req.param("interval") or defaults.interval,
        req.param("retries") or defaults.retries,
        req.param("timeout") or defaults.timeout,
    )
    values = {f.name: req.param(f.name) for f in kind.fields if req.param(f.name) is not None}
    target = kind.check_target(values)
    password = None
    password_file = req.param("password_file") if kind.takes_password else None
    if password_file:
        password = read_password(Path(password_file))
    settings = WatchSettings(
        kind.name, watch_id, schedule, target, has_password=password is not None, attribute=req.attribute
    )
    return settings, password


def missing_component(req: Request, settings: WatchSettings) -> Optional[str]:
    """What this node lacks to run the watch (OCF_ERR_INSTALLED), or None."""
    try:
        req.agent.kind.probe_function()
    except ImportError as exc:
        return f"the {req.agent.kind.name} probe cannot be loaded: {exc}"
    if settings.attribute and shutil.which(ATTRD_UPDATER) is None:
        return f"{ATTRD_UPDATER} not found (install pacemaker-cli-utils) but attribute={settings.attribute} needs it"
    if _mode() == MODE_SYSTEMD:
        template = unit_name(settings.kind, "x").replace("@x.", "@.")
        state = Systemctl(_bounded_runner(req.deadline())).show(template, "LoadState").get("LoadState")
        if state not in ("loaded", None):
            return f"the unit {template} is not installed ({state})"
    return None


# -- what the watch says ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchView:
    """A watch as seen from outside: the PID holding its instance lock (None: no watch runs)
    and its last state file (None: none), as fswatch/reporter.py writes it."""

    pid: Optional[int]
    state: Optional[dict]

    @property
    def phase(self) -> Optional[str]:
        return (self.state or {}).get("phase")


def observe(kind: str, watch_id: str) -> WatchView:
    control = control_for(kind, watch_id)
    pid = holder(control)
    try:
        state = control.read_state()  # bounded, no links, never blocks (fswatch.files)
        state = state if isinstance(state, dict) else None
    except FswatchError:
        state = None
    return WatchView(pid, state)


def verdict(view: WatchView, attribute_mode: bool = False, now: Optional[float] = None) -> Result:
    """The monitor's answer from what the watch says; pure, so every state is unit-tested.

    `now` (wall clock) is given where no systemd watchdog guards the watch (in-process
    supervision): a live watch whose state file went silent for longer than a whole probe
    cycle plus the watchdog's slack is frozen, and that is a failure too.
    """
    phase = view.phase
    if view.pid is None:
        if view.state is None or phase == "stopped":
            return OCF_NOT_RUNNING, None
        if phase == "failed":
            return OCF_ERR_GENERIC, failure_reason(view.state)
        return OCF_ERR_GENERIC, (
            f"the watch ended without a verdict (last phase {phase!r}, pid {view.state.get('pid')}): "
            "killed, or stopped by its watchdog; see its journal or log"
        )
    silent = _silent_for(view.state, now)
    if silent is not None:
        return OCF_ERR_GENERIC, (
            f"the watch (pid {view.pid}) has not reported for {silent:.0f} s, longer than interval + timeout "
            f"+ {SILENCE_SLACK:g} s: it is frozen"
        )
    if attribute_mode:
        return OCF_SUCCESS, None  # the verdict travels in the node attribute
    if phase == "failed":
        return OCF_ERR_GENERIC, failure_reason(view.state or {})
    state = view.state or {}
    # Degraded, never failed: a slow server that answers within the timeout (alert 92), or an
    # NFSv4 server in its grace period (phase "degraded", alert 100, until the verdict's limit).
    if phase == "degraded" or (phase == "healthy" and (state.get("slow") or state.get("grace"))):
        return OCF_DEGRADED, degraded_reason(state)
    return OCF_SUCCESS, None


SILENCE_SLACK = 5.0  # seconds, as the unit's watchdog allows beyond a probe's timeout


def _silent_for(state: Optional[Mapping[str, object]], now: Optional[float]) -> Optional[float]:
    """Seconds since the watch last wrote its state, when that is too long; else None. A
    watch writes after every probe; paused, it probes nothing and writes nothing."""
    if now is None or not state or state.get("phase") in ("paused", "stopped"):
        return None
    try:
        schedule = state.get("schedule") or {}
        limit = float(schedule["interval"]) + float(schedule["timeout"]) + SILENCE_SLACK  # type: ignore[index]
        age = now - float(state["updated"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None
    return age if age > limit else None


def _failure_text(kind: str, target: str, failure: Mapping[str, object]) -> str:
    alert_id = failure.get("alert")
    try:
        message = alert_entry(int(alert_id)).render(  # type: ignore[arg-type]
            kind, target=failure.get("function") or target, detail=failure.get("detail")
        )
    except (KeyError, TypeError, ValueError):
        message = "(unknown alert)"
    if failure.get("injected") is True and "injected" not in message:
        message += " (injected)"  # by `fswatch inject`: the failover test, not the server
    return f"stage {failure.get('stage')}, alert {alert_id}: {message} (cause: {failure.get('reason')})"


def failure_reason(state: Mapping[str, object]) -> str:
    last = state.get("last_probe") or {}
    failure = last.get("failure") if isinstance(last, dict) else None
    counted = f" after {state.get('failures')}/{state.get('attempts')} failed probes" if state.get("attempts") else ""
    if not isinstance(failure, dict):
        return _one_line(f"the watch declared the server failed{counted}: {state.get('status', '')}")
    text = _failure_text(str(state.get("kind", "")), str(state.get("target", "")), failure)
    return _one_line(f"declared failed{counted}: {text}")


def degraded_reason(state: Mapping[str, object]) -> str:
    degraded = state.get("degraded")
    if isinstance(degraded, dict):
        return _one_line(
            f"{degraded.get('cause')} (alert 100), {degraded.get('probes')} probes, counted failed after "
            f"{degraded.get('limit_seconds')} s: {degraded.get('reason')}"
        )
    if state.get("grace"):
        return _one_line(f"NFSv4 grace period: {state.get('status', '')}")
    slow = state.get("slow_stage")
    if isinstance(slow, dict) and all(isinstance(slow.get(k), (int, float)) for k in ("ms", "budget_ms", "total_ms")):
        return _one_line(
            f"slow: {slow.get('stage')} {slow['ms']:.0f} ms of {slow['budget_ms']:.0f} ms budget "
            f"(probe {slow['total_ms']:.0f} ms, alert 92)"
        )
    last = state.get("last_probe") or {}
    total = last.get("total_ms") if isinstance(last, dict) else None
    timeout = (state.get("schedule") or {}).get("timeout")  # type: ignore[union-attr]
    return _one_line(f"slow: the last probe took {total} ms, more than half of the {timeout} s timeout (alert 92)")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- running the watch ------------------------------------------------------------------------------


def _mode() -> str:
    return supervision_mode(os.environ.get(MODE_ENV))


def _bounded_runner(deadline: Deadline):
    """systemctl with a time limit: an agent must answer before Pacemaker's timeout."""

    def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(list(argv), capture_output=True, text=True, timeout=max(0.5, deadline.remaining()))
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(argv), 124, "", f"{argv[0]} timed out")

    return run


class Supervisor:
    """Launches and stops the watch process: its unit, or a detached child."""

    def __init__(self, kind: Kind, watch_id: str, deadline: Deadline) -> None:
        self.kind = kind
        self.watch_id = watch_id
        self.deadline = deadline
        self.systemd = _mode() == MODE_SYSTEMD
        self.systemctl = Systemctl(_bounded_runner(deadline))
        self.unit = unit_name(kind.name, watch_id)
        self.child: Optional[subprocess.Popen] = None

    def log_path(self) -> Path:
        return paths.runtime_dir() / self.kind.name / f"{self.watch_id}.log"

    def launching_or_running(self) -> bool:
        """The watch's process exists (it may not hold its lock yet)."""
        if self.systemd:
            return self.systemctl.running(self.unit)
        if self.child is not None:
            return self.child.poll() is None
        return holder(control_for(self.kind.name, self.watch_id)) is not None

    def launch(self, settings: WatchSettings) -> Optional[str]:
        """Start the watch process; an error text when that was refused."""
        if self.systemd:
            lines = ATTRIBUTE_SERVICE_LINES if settings.attribute else ()
            write_runtime_dropin(settings, self.kind.takes_password, f"ocf:fswatch:{self.kind.name}", lines)
            self.systemctl("daemon-reload")
            self.systemctl.reset_failed(self.unit)
            proc = self.systemctl("start", "--no-block", self.unit)
            if proc.returncode != 0:
                return f"systemctl start {self.unit} failed: {proc.stderr.strip()}"
            return None
        # Nothing of the agent's own environment that would mislead the watch: Pacemaker's
        # OCF_* variables, and any systemd notify/watchdog/journal hand-over meant for others.
        private = (
            MODE_ENV, "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCF_") and k not in private}
        env["FSWATCH_CONFIG_DIR"] = str(paths.runtime_dir())
        env["FSWATCH_RUNTIME_DIR"] = str(paths.runtime_dir())
        log_path = self.log_path()
        try:
            if log_path.stat().st_size > LOG_KEEP:  # alerts only, but a node runs for years
                os.replace(log_path, log_path.with_name(log_path.name + ".1"))
        except FileNotFoundError:
            pass
        log = open(log_path, "ab")  # the child's alerts, one line each (no journal here)
        try:
            # A new session and no inherited pipes: the child outlives this agent, and whoever
            # reads the agent's output (Pacemaker, ocf-tester) is not kept waiting for it.
            self.child = subprocess.Popen(
                [sys.executable, "-m", "fswatch", "run", self.kind.name, self.watch_id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            return f"cannot run the watch: {exc}"
        finally:
            log.close()
        return None

    def stop(self) -> Optional[str]:
        """End the watch (its unit and any process holding its lock); an error text if it
        did not end in time."""
        if self.systemd:
            proc = self.systemctl("stop", self.unit)
            if proc.returncode != 0 and self.systemctl.running(self.unit):
                return f"systemctl stop {self.unit} failed: {proc.stderr.strip()}"
            self.systemctl.reset_failed(self.unit)
        control = control_for(self.kind.name, self.watch_id)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pid = holder(control)
            if pid is None:
                return None
            if pid > 0:
                try:
                    os.kill(pid, sig)
                    if sig == signal.SIGTERM:
                        os.kill(pid, signal.SIGCONT)  # a stopped (frozen) watch must see it too
                except ProcessLookupError:
                    pass
            # SIGTERM gets the time left less a moment for SIGKILL; bounded by count as well.
            wait_until = self.deadline.remaining() - 1.0 if sig == signal.SIGTERM else self.deadline.remaining()
            end = time.monotonic() + max(0.2, wait_until)
            for _ in range(int(max(0.2, wait_until) / POLL) + 2):
                if holder(control) is None:
                    return None
                if time.monotonic() >= end:
                    break
                time.sleep(POLL)
        return f"the watch (pid {holder(control)}) did not end within the stop timeout"

    def forget(self) -> None:
        """Remove the runtime settings, state and control files of a watch that has ended."""
        control_for(self.kind.name, self.watch_id).forget()
        if self.systemd:
            # The unit's RuntimeDirectory= (kept with RuntimeDirectoryPreserve=yes) is
            # systemd's to remove.
            self.systemctl("clean", "--what=runtime", self.unit)
        if remove_runtime_watch(self.kind.name, self.watch_id, dropin=self.systemd):
            self.systemctl("daemon-reload")


# -- the actions --------------------------------------------------------------------------------------


def validate_all(req: Request) -> Result:
    settings, _ = watch_settings(req)  # UsageError → 6 in main()
    missing = missing_component(req, settings)
    if missing:
        return OCF_ERR_INSTALLED, missing
    return OCF_SUCCESS, None


def start(req: Request) -> Result:
    settings, password = watch_settings(req)
    missing = missing_component(req, settings)
    if missing:
        return OCF_ERR_INSTALLED, missing
    deadline = req.deadline()
    sup = Supervisor(req.agent.kind, settings.watch_id, deadline)
    view = observe(settings.kind, settings.watch_id)
    if view.pid is None and not sup.launching_or_running():
        # A fresh start: no state of an earlier run may answer for this one.
        sup.forget()
        write_runtime_settings(settings, password, req.agent.kind.takes_password)
        error = sup.launch(settings)
        if error:
            return OCF_ERR_GENERIC, error
    return _wait_first_verdict(sup, settings, deadline)


def _wait_first_verdict(sup: Supervisor, settings: WatchSettings, deadline: Deadline) -> Result:
    """Until the first healthy probe (0), a declared failure (1) or the deadline (1, after
    stopping the watch). In attribute mode the first verdict of either kind is a success:
    the watch has published it."""
    view = WatchView(None, None)
    for _ in range(int(deadline.remaining() / POLL) + 2):  # bounded by the deadline
        view = observe(settings.kind, settings.watch_id)
        if view.phase == "healthy" and view.pid is not None:
            return OCF_SUCCESS, None
        if view.phase == "failed":
            if settings.attribute and view.pid is not None:
                return OCF_SUCCESS, None
            return OCF_ERR_GENERIC, failure_reason(view.state or {})
        if view.pid is None and not sup.launching_or_running():
            return OCF_ERR_GENERIC, f"the watch ended before its first verdict; see {_where_alerts_go(sup)}"
        if deadline.expired():
            break
        time.sleep(min(POLL, deadline.remaining()))
    last = (view.state or {}).get("status", "no probe finished")
    sup.stop()
    sup.forget()
    return OCF_ERR_GENERIC, _one_line(
        f"no healthy probe within the start timeout ({settings.kind} watch {settings.watch_id}: {last})"
    )


def _where_alerts_go(sup: Supervisor) -> str:
    return f"journalctl -u {sup.unit}" if sup.systemd else str(sup.log_path())


def stop(req: Request) -> Result:
    try:
        watch_id = req.watch_id()
    except UsageError:
        return OCF_SUCCESS, None  # nothing can run under a name that cannot exist: stopped
    sup = Supervisor(req.agent.kind, watch_id, req.deadline())
    error = sup.stop()
    if error:
        return OCF_ERR_GENERIC, error
    sup.forget()
    return OCF_SUCCESS, None


def monitor(req: Request) -> Result:
    try:
        watch_id = req.watch_id()
        attribute_mode = req.attribute is not None
    except UsageError:
        if req.is_probe:
            return OCF_NOT_RUNNING, None  # nothing can run under a name that cannot exist
        raise
    now = None if _mode() == MODE_SYSTEMD else time.time()  # under systemd its watchdog guards
    rc, reason = verdict(observe(req.agent.kind.name, watch_id), attribute_mode, now)
    if rc in (OCF_SUCCESS, OCF_DEGRADED) and req.depth >= DEEP and not attribute_mode:
        live = live_probe(req)
        if live is not None:
            return OCF_ERR_GENERIC, live
    return rc, reason


def live_probe(req: Request) -> Optional[str]:
    """One probe run by the monitor itself; its deadline stays inside the action's timeout,
    so Pacemaker logs a diagnosis, never a bare "Timed Out". The failure text, or None."""
    settings, password = watch_settings(req)
    kind = req.agent.kind
    seconds = min(float(settings.schedule.timeout), req.deadline().remaining())
    deadline = Deadline.after(seconds)  # before the probe's imports, which count too
    target = kind.make_target(settings.target, password)
    obs = kind.probe_function()(target, deadline)
    if obs.ok or obs.failure is None:
        return None
    text = _failure_text(kind.name, kind.label(settings.target), obs.failure.fields())
    return _one_line(f"live probe ({seconds:.1f} s deadline) failed: {text}")


# -- entry point ------------------------------------------------------------------------------------


def usage(agent: Agent) -> str:
    names = sorted({a.name for a in agent.actions})
    return f"usage: {agent.name} {{{'|'.join(names)}}} (an OCF resource agent; parameters in OCF_RESKEY_*)"


def main(kind_name: str, argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ) if env is None else env
    logs.configure(env)  # library output never reaches Pacemaker's log except through alerts
    agent = agent_for(KINDS[kind_name])
    action = argv[0] if argv else env.get("__OCF_ACTION", "")
    if action == "meta-data":
        sys.stdout.write(meta_data(agent))
        return OCF_SUCCESS
    if action in ("usage", "help", "--help", ""):
        print(usage(agent), file=sys.stderr if not action else sys.stdout)
        return OCF_SUCCESS if action else OCF_ERR_ARGS
    handler = agent.handler(action)
    if handler is None:
        print(usage(agent), file=sys.stderr)
        return OCF_ERR_UNIMPLEMENTED
    req = Request(agent, action, env)
    try:
        rc, reason = handler(req)
    except UsageError as exc:
        rc, reason = OCF_ERR_CONFIGURED, f"alert {exc.alert}: {exc}"
    except FswatchError as exc:
        rc, reason = OCF_ERR_GENERIC, f"alert {exc.alert}: {exc}" if exc.alert else str(exc)
    except OSError as exc:
        rc, reason = OCF_ERR_GENERIC, f"{action}: {exc}"
    if reason and rc != OCF_SUCCESS:
        cookie = env.get("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:")
        print(f"{cookie}{_one_line(reason)}", file=sys.stderr, flush=True)
    return rc
