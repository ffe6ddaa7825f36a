"""The OCF resource agents ocf:fswatch:samba and ocf:fswatch:nfs (SPEC.md section 8),
declared once for every kind with the OCF library (fswatch.surfaces.ocf.agent): the parameters come
from the Kind's target fields plus the schedule, password_file, attribute and watch_id, so a
new kind needs no agent code.

The agents add no watch logic of their own. start runs the watch through the one supervisor
(fswatch.host.supervisor: the unit fswatch-KIND@ID where systemd is PID 1, else a detached
`fswatch run`) from settings kept under the runtime dir, exactly as clp_sambamon does;
monitor maps the watch's health from the status model (fswatch.watch.status) to an OCF code:

    starting, healthy, failing, paused, stopping   0
    slow (alert 92), degraded (grace period)       190, with the reason
    failed (declared), dead (ended, no verdict)    1, with stage, alert id and cause
    stopped cleanly, or never ran                   7

In health attribute mode (`attribute` set) the watch publishes the node attribute itself
and keeps probing after a declared failure; monitor then returns 0 while the watch runs.
OCF_CHECK_LEVEL=10 adds one live probe whose deadline stays below the action's timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fswatch import __version__
from fswatch.core.deadline import Deadline
from fswatch.core.errors import FswatchError, UsageError
from fswatch.core.settings import Schedule, check_attribute, check_bool, check_id
from fswatch.host import keytabs, logs, passwords
from fswatch.host.control import CREDENTIAL_CACHE
from fswatch.host.crm import CRM_RESOURCE, stop_post_line
from fswatch.host.supervisor import QUEUED, SYSTEMD, Supervisor, supervision_mode
from fswatch.host.systemctl import unit_name
from fswatch.kinds import KINDS, Kind, WatchSettings, build
from fswatch.surfaces.ocf.agent import (
    OCF_DEGRADED,
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    Action,
    Agent,
    Parameter,
    Request,
    Result,
    one_line,
    run,
)
from fswatch.watch import status
from fswatch.watch.status import Health, WatchView

POLL = 0.1  # seconds between looks at the watch while start waits
DEEP = 10  # OCF_CHECK_LEVEL from which monitor runs a live probe itself
ATTRD_UPDATER = "attrd_updater"
# Under systemd, attribute mode's watch must reach pacemaker-attrd (attrd_updater): its IPC
# serves root, hacluster and the haclient group, through shared memory under /dev/shm.
CLUSTER_SERVICE_LINES = ("SupplementaryGroups=haclient", "PrivateUsers=no", "PrivateDevices=no")

# The monitor's answer for each health of a running or ended watch (fswatch.watch.status).
OCF_CODE: Dict[Health, int] = {
    Health.STARTING: OCF_SUCCESS,
    Health.HEALTHY: OCF_SUCCESS,
    Health.FAILING: OCF_SUCCESS,  # retrying: the verdict is the watch's to give
    Health.PAUSED: OCF_SUCCESS,
    Health.STOPPING: OCF_SUCCESS,  # on its way out: Pacemaker's stop will wait
    Health.SLOW: OCF_DEGRADED,
    Health.DEGRADED: OCF_DEGRADED,
    Health.FAILED: OCF_ERR_GENERIC,
    Health.DEAD: OCF_ERR_GENERIC,  # killed or stopped by its watchdog: Pacemaker must recover it
    Health.STOPPED: OCF_NOT_RUNNING,
    Health.INACTIVE: OCF_NOT_RUNNING,
}


# -- the declaration ------------------------------------------------------------------------------


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
    if kind.takes_keytab:
        out.append(
            Parameter(
                "keytab",
                "keytab file of the principal",
                "A keytab file (root-only) with the key of `principal`, which makes the watch log on "
                "with Kerberos only; fswatch checks it and keeps a 0600 copy for the watch. Empty: no "
                "Kerberos.",
                default="",
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
    return tuple(out) + _schedule_parameters()


def _schedule_parameters() -> Tuple[Parameter, ...]:
    """The schedule and health attribute mode: the same for every kind."""
    defaults = Schedule()
    return (
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
            "while the watch runs; a location rule on NAME moves the service. A name "
            "#health-NAME is Pacemaker's node health instead: green (healthy), yellow (slow or "
            "degraded), red (declared failed), acted on by the cluster property "
            "node-health-strategy (migrate-on-red, progressive).",
            default="",
        ),
        Parameter(
            "evidence",
            "evidence from the server's process that declares at once",
            "Where the server runs on this node (resource mode probes the group's floating IP on "
            "the node running the group), the watch samples the process serving its connection: "
            "a probe that failed at its deadline while that process was stopped (SIGSTOP, a frozen "
            "cgroup) declares at once, within interval + timeout whatever `retries` says. stopped "
            f"(default {defaults.evidence}): only then; blocked: also when every thread slept with "
            "no CPU time and no context switch through the second half of the probe (a storage "
            "hang, but also a wait on a backend's short hiccup); off: retries + 1 failed probes only.",
            default=defaults.evidence,
        ),
        Parameter(
            "push",
            "tell Pacemaker at once",
            "Resource mode: when the watch declares its server failed, its unit tells Pacemaker at "
            "once (ExecStopPost=, as root: crm_resource --fail for this resource on this node; alert "
            "116, or 117 if that failed), instead of waiting for the next monitor operation (which "
            "still reports the failure: the fallback). Where systemd is not PID 1 the monitor alone "
            "reports it. Ignored in health attribute mode, whose attribute is the push.",
            boolean=True,
            default="true",
        ),
    )


def agent_for(kind: Kind) -> Agent:
    return Agent(
        kind.name,
        __version__,
        f"fswatch {kind.name} watch: fails over when the server is dead or stalled",
        f"Watches a {kind.name} server with fswatch's own probe ({kind.command} compatible) and "
        "reports its verdict to Pacemaker. start runs the watch (the systemd unit "
        f"fswatch-{kind.name}@ID where systemd is PID 1, a supervised process elsewhere) and "
        "returns once the first probe was healthy. monitor: 0 healthy; 1 declared failed, with "
        "an exit reason naming the probe stage, the alert id and the cause; 190 (degraded) "
        "while the server answers slowly (alert 92); 7 after a clean stop. OCF_CHECK_LEVEL=10 "
        "adds one live probe within the monitor's timeout. A server on this node whose process is "
        "stopped is declared at once (evidence), and the watch's unit tells Pacemaker the instant it "
        "ends (push: crm_resource --fail for this resource), the monitor being the fallback. With "
        "`attribute` set the watch publishes a node attribute instead (health attribute mode; #health-NAME: "
        "node health). See ocf_fswatch(7).",
        _parameters(kind),
        (
            Action("start", 90, start),
            Action("stop", 60, stop),
            Action("monitor", 30, monitor, interval=10),
            Action("monitor", 90, monitor, interval=60, depth=DEEP),
            Action("validate-all", 10, validate_all),
            Action("meta-data", 5, None),
        ),
        _failure,
    )


def _failure(exc: Exception) -> Optional[Result]:
    """fswatch's errors as OCF codes: bad settings 6, anything else 1; the alert in the reason."""
    if isinstance(exc, UsageError):
        return OCF_ERR_CONFIGURED, f"alert {exc.alert}: {exc}"
    if isinstance(exc, FswatchError):
        return OCF_ERR_GENERIC, f"alert {exc.alert}: {exc}" if exc.alert else str(exc)
    if isinstance(exc, OSError):
        return OCF_ERR_GENERIC, f"{exc}"
    return None


# -- what a call says ----------------------------------------------------------------------------

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


def kind_of(req: Request) -> Kind:
    return KINDS[req.agent.name]


def watch_id(req: Request) -> str:
    """watch_id, else the resource's name made into an identifier (clone suffix dropped)."""
    given = req.param("watch_id")
    return check_id(given) if given else check_id(_NOT_ID.sub("_", req.instance))


def attribute(req: Request) -> Optional[str]:
    name = req.param("attribute")
    return check_attribute(name) if name else None


def watch_settings(req: Request) -> Tuple[WatchSettings, Optional[str], Optional[bytes]]:
    """The watch's settings from the parameters, checked the way `fswatch add` checks them
    (fswatch.kinds.build: the same one-line reasons), its password and its keytab."""
    kind = kind_of(req)
    names = [f.name for f in kind.fields] + ["interval", "retries", "timeout", "attribute", "evidence"]
    values = {name: req.param(name) for name in names}
    push = check_bool("push", req.param("push") or "true")
    if push and not values["attribute"] and req.resource and req.node:  # both absent when run by hand
        values.update(pacemaker_resource=req.resource, pacemaker_node=req.node)
    settings = build(kind, watch_id(req), values)
    password_file = req.param("password_file") if kind.takes_password else None
    password = passwords.read(Path(password_file), follow=True) if password_file else None
    keytab_file = (req.param("keytab") or None) if kind.takes_keytab else None
    kind.check_logon(settings.target, password, keytab_file is not None)
    keytab = keytabs.from_option(keytab_file, settings.target.get("principal"))  # type: ignore[arg-type]
    return replace(settings, has_password=password is not None), password, keytab


def missing_component(settings: WatchSettings, sup: Supervisor) -> Optional[str]:
    """What this node lacks to run the watch (OCF_ERR_INSTALLED), or None."""
    kind = settings.kind
    try:
        kind.probe_function()
    except ImportError as exc:
        return f"the {kind.name} probe cannot be loaded: {exc}"
    if settings.attribute and shutil.which(ATTRD_UPDATER) is None:
        return f"{ATTRD_UPDATER} not found (install pacemaker-cli-utils) but attribute={settings.attribute} needs it"
    if settings.pacemaker is not None and shutil.which(CRM_RESOURCE) is None:
        return f"{CRM_RESOURCE} not found (install pacemaker-cli-utils) but push=true needs it"
    if sup.systemd:
        template = unit_name(kind.name, "x").replace("@x.", "@.")
        state = sup.systemctl.show(template, "LoadState").get("LoadState")
        if state not in ("loaded", None):
            return f"the unit {template} is not installed ({state})"
    return None


# -- the monitor's verdict ------------------------------------------------------------------------


def verdict(view: WatchView, attribute_mode: bool = False, now: Optional[float] = None) -> Result:
    """The monitor's answer from the status model; pure, so every state is unit-tested.

    `now` (wall clock) is given where no systemd watchdog guards the watch (in-process
    supervision): a live watch whose state file went silent for longer than a whole probe
    cycle plus the watchdog's slack is frozen, and that is a failure too.
    """
    silent = view.silent_for(now) if now is not None else None
    if silent is not None:
        return OCF_ERR_GENERIC, (
            f"the watch (pid {view.pid}) has not reported for {silent:.0f} s, longer than interval + timeout "
            f"+ {status.SILENCE_SLACK:g} s: it is frozen, or cannot write its state (alert 42 in its log)"
        )
    if attribute_mode and view.alive:
        return OCF_SUCCESS, None  # the verdict travels in the node attribute
    code = OCF_CODE[view.health]
    return code, (one_line(view.reason) if code not in (OCF_SUCCESS, OCF_NOT_RUNNING) else None)


# -- the actions --------------------------------------------------------------------------------------


def validate_all(req: Request) -> Result:
    settings, _, _ = watch_settings(req)  # UsageError → 6
    missing = missing_component(settings, Supervisor(settings.kind, settings.watch_id, deadline=req.deadline()))
    if missing:
        return OCF_ERR_INSTALLED, missing
    return OCF_SUCCESS, None


def start(req: Request) -> Result:
    settings, password, keytab = watch_settings(req)
    deadline = req.deadline()
    sup = Supervisor(settings.kind, settings.watch_id, deadline=deadline)
    missing = missing_component(settings, sup)
    if missing:
        return OCF_ERR_INSTALLED, missing
    if not sup.running():
        # A fresh start: no state of an earlier run may answer for this one.
        sup.forget()
        if sup.systemd:
            lines = CLUSTER_SERVICE_LINES if settings.attribute else ()
            if settings.pacemaker is not None:  # push: the unit tells Pacemaker as the watch ends (fswatch.host.crm)
                p = settings.pacemaker
                lines += (stop_post_line(settings.kind, settings.watch_id, p.resource, p.node),)
            sup.start_unit(settings, password, keytab=keytab, writer=f"ocf:fswatch:{settings.kind.name}",
                           service_lines=lines, until=QUEUED)  # fmt: skip
        else:
            sup.spawn(settings, password, keytab)
    return _wait_first_verdict(sup, settings, deadline)


# A first verdict that lets start succeed: the server answered (alert 2, READY=1).
ANSWERED = (Health.HEALTHY, Health.SLOW, Health.DEGRADED)


def _wait_first_verdict(sup: Supervisor, settings: WatchSettings, deadline: Deadline) -> Result:
    """Until the first answer (0), a declared failure (1) or the deadline (1, after stopping
    the watch). In attribute mode the first verdict of either kind is a success: the watch
    has published it."""
    view = status.look(settings.kind.name, settings.watch_id)
    for _ in range(int(deadline.remaining() / POLL) + 2):  # bounded by the deadline
        view = status.look(settings.kind.name, settings.watch_id)
        if view.alive and view.health in ANSWERED:
            return OCF_SUCCESS, None
        if view.health is Health.FAILED:
            if settings.attribute and view.alive:
                return OCF_SUCCESS, None
            return OCF_ERR_GENERIC, view.reason
        if not view.alive and not sup.running():
            return OCF_ERR_GENERIC, f"the watch ended before its first verdict; see {sup.where_alerts_go()}"
        if deadline.expired():
            break
        time.sleep(min(POLL, deadline.remaining()))
    last = view.current.status if view.current is not None else "no probe finished"
    sup.stop(deadline)
    sup.forget()
    return OCF_ERR_GENERIC, one_line(
        f"no healthy probe within the start timeout ({settings.kind.name} watch {settings.watch_id}: {last})"
    )


def stop(req: Request) -> Result:
    try:
        name = watch_id(req)
    except UsageError:
        return OCF_SUCCESS, None  # nothing can run under a name that cannot exist: stopped
    sup = Supervisor(kind_of(req), name, deadline=req.deadline())
    sup.stop(req.deadline())
    sup.forget(reload=False)  # the group's stop waits for this one: the next start reloads systemd
    return OCF_SUCCESS, None


def monitor(req: Request) -> Result:
    try:
        name = watch_id(req)
        attribute_mode = attribute(req) is not None
    except UsageError:
        if req.is_probe:
            return OCF_NOT_RUNNING, None  # nothing can run under a name that cannot exist
        raise
    now = None if supervision_mode() == SYSTEMD else time.time()  # under systemd its watchdog guards
    rc, reason = verdict(status.look(req.agent.name, name), attribute_mode, now)
    if rc in (OCF_SUCCESS, OCF_DEGRADED) and req.depth >= DEEP and not attribute_mode:
        live = live_probe(req)
        if live is not None:
            return OCF_ERR_GENERIC, live
    return rc, reason


def live_probe(req: Request) -> Optional[str]:
    """One probe run by the monitor itself; its deadline stays inside the action's timeout,
    so Pacemaker logs a diagnosis, never a bare "Timed Out". The failure text, or None."""
    settings, password, _ = watch_settings(req)
    kind = settings.kind
    seconds = min(float(settings.schedule.timeout), req.deadline().remaining())
    deadline = Deadline.after(seconds)  # before the probe's imports, which count too
    # The keytab the parameters name (checked above) and a cache of the live probe's own.
    keytab = (req.param("keytab") or None) if kind.takes_keytab else None
    with tempfile.TemporaryDirectory(prefix="fswatch-ocf-") as private:
        ccache = os.path.join(private, CREDENTIAL_CACHE)
        target = kind.make_target(settings.target, password, settings.watch_id, keytab=keytab, ccache=ccache)
        obs = kind.probe_function()(target, deadline)
    if obs.ok or obs.failure is None:
        return None
    text = status.failure_text(kind.name, settings.label, obs.failure.fields())
    return one_line(f"live probe ({seconds:.1f} s deadline) failed: {text}")


# -- entry point ------------------------------------------------------------------------------------


def main(kind_name: str, argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    env = dict(os.environ) if env is None else env
    logs.configure(env)  # library output never reaches Pacemaker's log except through alerts
    return run(agent_for(KINDS[kind_name]), argv, env)
