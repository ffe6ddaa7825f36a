"""The `fswatch` commands that act: probe, add, remove, run, pause, continue, inject, start,
stop, reset, metrics. Each validates all of its input before it touches anything; every
refusal is one line naming its alert, with a distinct exit code (fswatch.core.errors)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Optional

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import EXIT_FAILED, EXIT_OK, NotRunning, UsageError
from fswatch.core.evidence import OFF
from fswatch.core.observation import Observation
from fswatch.core.settings import Schedule, check_id, check_range
from fswatch.core.verdict import slowest
from fswatch.host import keytabs, metrics_files, passwords
from fswatch.host.control import CREDENTIAL_CACHE, Control, parse_duration
from fswatch.host.sinks import say
from fswatch.host.store import SettingsStore
from fswatch.host.supervisor import ENDED, READY, STOP_WAIT, Supervisor
from fswatch.kinds import KINDS, Kind, WatchSettings, build
from fswatch.probes import write_canary
from fswatch.surfaces import ctdb
from fswatch.watch import inject, status
from fswatch.watch.runner import run_configured


def _target_values(args: argparse.Namespace, kind: Kind) -> dict:
    return {f.name: getattr(args, f.name) for f in kind.fields if getattr(args, f.name) is not None}


# -- probe --------------------------------------------------------------------------------------


def cmd_probe(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    timeout = Schedule.parse(timeout=args.timeout).timeout
    target_values = kind.check_target(_target_values(args, kind))
    password = passwords.from_option(getattr(args, "password_file", None))
    keytab = getattr(args, "keytab", None)
    kind.check_logon(target_values, password, keytab is not None)
    if keytab is not None:
        keytabs.read(Path(keytab), str(target_values["principal"]))  # the add's refusals, before any I/O
    with _one_shot(kind, target_values, password, keytab, None) as target:
        obs = kind.probe_function()(target, Deadline.after(timeout))
    label = kind.label(target_values)
    slow = slowest(obs, Schedule(timeout=timeout).slow_ms)  # the watch's rule: the verdict decides
    if args.json:
        out = {"kind": kind.name, "target": label, "address": getattr(target, "address", None), **obs.to_dict()}
        out["slow"] = slow.fields() if slow is not None else None
        if obs.failure is not None:
            out["alert"] = obs.failure.alert
            out["message"] = obs.failure.message(kind, label)
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(_probe_text(kind, label, target, obs) + (f"\n{slow.text()}" if slow is not None else ""))
    return EXIT_OK if obs.ok else EXIT_FAILED


@contextlib.contextmanager
def _one_shot(
    kind: Kind, values: Mapping[str, object], password: Optional[str], keytab: Optional[str], watch_id: Optional[str]
) -> Iterator[object]:
    """The target of a probe outside a watch (`probe`, `add`'s check). Its tickets live in a cache
    of its own, deleted after it: never the node's, nor the watch's."""
    with tempfile.TemporaryDirectory(prefix="fswatch-probe-") as private:
        ccache = os.path.join(private, CREDENTIAL_CACHE)
        yield kind.make_target(values, password, watch_id, keytab=keytab, ccache=ccache)


def _probe_text(kind: Kind, label: str, target: object, obs: Observation) -> str:
    where = f"{getattr(target, 'address', '?')}:{getattr(target, 'port', None) or 'portmapper'}"
    head = f"{kind.name} {label!r} at {where}: "
    head += f"healthy in {obs.total_ms:.1f} ms" if obs.ok else f"FAILED at {obs.failure.stage}"  # type: ignore[union-attr]
    if obs.ok and obs.degraded is not None:
        head = head.replace("healthy", f"degraded ({obs.degraded.cause})", 1)
    lines = [head]
    for s in obs.stages:
        lines.append(f"  {s.stage:<14}{s.ms:>10.3f} ms{'' if s.ok else '  FAILED'}")
    for key, value in obs.notes:
        lines.append(f"  {key}: {value}")
    if obs.details is not None:
        lines.append(f"  {obs.details.label}: {obs.details.text()}")
    if obs.degraded is not None:
        lines.append(f"degraded: {obs.degraded.reason}")
    if obs.failure is not None:
        f = obs.failure
        lines.append(f"alert {f.alert}: {f.message(kind, label)}")
        lines.append(f"cause: {f.reason}")
    return "\n".join(lines)


# -- add / remove -------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    values = {**_target_values(args, kind), "attribute": args.attribute, "evidence": args.evidence, "ctdb": args.ctdb}
    values.update(interval=args.interval, retries=args.retries, timeout=args.timeout)
    settings = build(kind, args.id, values)
    if settings.ctdb:
        ctdb.admit(settings)
    password = passwords.from_option(getattr(args, "password_file", None))
    kind.check_logon(settings.target, password, getattr(args, "keytab", None) is not None)
    keytab = keytabs.from_option(getattr(args, "keytab", None), settings.target.get("principal"))  # type: ignore[arg-type]
    checked = _check_at_add(settings, password, getattr(args, "keytab", None))
    # Everything is valid: only now touch the file system.
    conf = SettingsStore.config().write(settings, password, keytab)
    schedule = settings.schedule
    stopped = f", {schedule.evidence_bound:.0f} s for a local server seen stopped" if schedule.evidence != OFF else ""
    for_ctdb = "; for CTDB: enable its event script with `ctdb event script enable legacy 45.fswatch`"
    print(
        f"{conf}: {kind.name} watch {settings.watch_id} ({settings.label}); "
        f"failure declared within {schedule.detection_bound:.0f} s of a fault{stopped}"
        + (for_ctdb if settings.ctdb else "")
    )
    if checked:
        print(checked)
    _notice_running(kind, settings.watch_id, conf)
    return EXIT_OK


def _notice_running(kind: Kind, watch_id: str, conf: Path) -> None:
    """`add` over a running watch writes, and says in one line (alert 161) that the watch
    keeps the settings it started with until it is restarted: a watch never reloads."""
    view = status.look(kind.name, watch_id)
    if not view.alive:
        return
    state = view.current
    drift = status.settings_drift(kind.name, watch_id, state.settings if state is not None else None)
    if drift is not None and drift.file == str(conf):
        detail = f"pid {view.pid}; {drift.text()}"
    elif drift is not None:
        detail = f"pid {view.pid} runs from {drift.file}, not from {conf}"
    else:
        detail = f"pid {view.pid}; {conf} written"
    say(alerts.SETTINGS_DIFFER, kind, watch_id, detail=detail, FSWATCH_SETTINGS_FILE=str(conf))


ADD_CHECK_SECONDS = 10  # `add` waits at most this long for its write canary check (or the watch's timeout)
REFUSAL_CHECK_SECONDS = 3  # without a write canary, how long `add` asks whether the server refuses the watch


def _check_at_add(settings: WatchSettings, password: Optional[str], keytab: Optional[str]) -> Optional[str]:
    """One probe now, as the watch will probe, where the server can refuse the watch outright:
    a write canary the server denies the watch's identity, or (NFS) an export that requires
    Kerberos of a watch without it. Refused: UsageError (alert 11). Otherwise what was seen of
    the write canary, for the operator. A server that cannot be reached now (a passive node)
    says nothing about the watch, so it refuses nothing."""
    kind = settings.kind
    canary_write = settings.target.get("canary_write")
    if not canary_write and (keytab is not None or not kind.refused_at_add):
        return None
    wait = ADD_CHECK_SECONDS if canary_write else REFUSAL_CHECK_SECONDS
    with _one_shot(kind, settings.target, password, keytab, settings.watch_id) as target:
        obs = kind.probe_function()(target, Deadline.after(min(wait, settings.schedule.timeout)))
    if obs.failure is not None and obs.failure.alert in kind.refused_at_add:
        raise UsageError(obs.failure.reason)
    if not canary_write:
        return None
    refused = write_canary.refusal(obs)
    if refused is not None:
        raise UsageError(f"--canary-write {canary_write}: {refused}")
    if obs.ok:
        return f"write canary checked: a file written, read back and removed in {obs.total_ms:.1f} ms"
    failure = obs.failure
    assert failure is not None
    return f"write canary not checked (alert {failure.alert} at {failure.stage}: {failure.reason})"


def cmd_remove(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    sup = Supervisor(kind, args.id)
    sup.ensure_stopped("stop it first")
    metrics_files.forget(kind.name, sup.watch_id)
    if not SettingsStore.config().remove(kind.name, sup.watch_id):
        raise UsageError(f"no {kind.name} watch {sup.watch_id!r} to remove")
    return EXIT_OK


# -- run / pause / continue / inject ------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    run_configured(args.kind, args.id)


def cmd_pause(args: argparse.Namespace) -> int:
    seconds = parse_duration(args.duration) if args.duration else None
    view = status.running(args.kind, args.id, "pause")
    Control.of(args.kind, args.id).request_pause(seconds, view.protocol)  # as the watch's release reads it
    return EXIT_OK


def cmd_continue(args: argparse.Namespace) -> int:
    status.running(args.kind, args.id, "continue")
    control = Control.of(args.kind, args.id)
    control.request_continue()
    control.clear_injection()  # continue also ends a failure test (fswatch inject)
    return EXIT_OK


def cmd_inject(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    count = check_range("--count", args.count) if args.count is not None else None
    control = Control.of(kind.name, args.id)
    req = inject.request(kind, args.id, args.stage, count, control)
    print(inject.describe(kind, args.id, req, status.look(kind.name, args.id).current))
    return EXIT_OK


# -- start / stop / reset -----------------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    return Supervisor(KINDS[args.kind], args.id).start_unit(until=ENDED if args.wait else READY)


def cmd_stop(args: argparse.Namespace) -> int:
    if not Supervisor(KINDS[args.kind], args.id).stop(Deadline.after(STOP_WAIT)):
        raise NotRunning(f"{args.kind} watch {args.id} is not running; nothing to stop")
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    Supervisor(KINDS[args.kind], args.id).forget()
    return EXIT_OK


# -- metrics (run by the units) -----------------------------------------------------------------


def cmd_metrics(args: argparse.Namespace) -> int:
    """`fswatch metrics publish|settle KIND ID`, run by the units as root, and `fswatch metrics
    settle UNIT`, run by fswatch-settle@UNIT once a watch unit failed (fswatch.host.metrics_files)."""
    error: Optional[str]
    if args.action == "settle" and args.id is None:
        what, error = args.kind, metrics_files.settle_failed_unit(args.kind)
    else:
        if args.kind not in KINDS or args.id is None:
            raise UsageError(
                "usage: fswatch metrics publish|settle KIND ID, or fswatch metrics settle fswatch-KIND@ID.service"
            )
        kind, watch_id = args.kind, check_id(args.id)
        what = f"{kind} {watch_id}"
        directory = metrics_files.metrics_dir()
        if args.action == "publish":
            error = metrics_files.publish(kind, watch_id, directory, placeholder=True)
        else:
            # Run by hand or as an ExecStopPost=: systemd tells how the unit ended; anything but
            # success (a watchdog kill, a crash) leaves a state the watch could not write: failed.
            failed = os.environ.get("SERVICE_RESULT", "success") != "success"
            error = metrics_files.settle(kind, watch_id, directory, failed=failed)
    if error is not None:
        print(f"fswatch: {what}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
