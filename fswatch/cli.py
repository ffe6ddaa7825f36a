"""The `fswatch` command line (SPEC.md section 5).

Every refusal is one line naming its alert, with a distinct exit code (fswatch.errors);
nothing is written before the whole input has been validated.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from fswatch import __version__, files, history, inject, logs, metrics, paths
from fswatch.alerts import alert as alert_entry
from fswatch.atomic import write_atomic
from fswatch.control import holder, parse_duration
from fswatch.deadline import Deadline
from fswatch.errors import EXIT_FAILED, EXIT_OK, FswatchError, NotRunning, SystemFault, UsageError
from fswatch.kinds import KINDS, Kind
from fswatch.observation import Observation
from fswatch.runner import (
    control_for,
    exit_now,
    load_settings,
    password_from_bytes,
    read_password,
    run_watch,
    stopped_control,
)
from fswatch.settings import Schedule, WatchSettings, check_attribute, check_id, check_range
from fswatch.sinks import default_sink
from fswatch.units import Systemctl, systemd_booted, unit_name
from fswatch.verdict import slowest

EPILOG = """exit status: 0 healthy/done, 1 probe failed or watch declared failed, 2 invalid input
(alert 11-13), 3 identifier in use (alert 14), 4 did not end in time (alert 15), 5 system error (alert 42).
Config: $FSWATCH_CONFIG_DIR (default /etc/fswatch); runtime: $FSWATCH_RUNTIME_DIR (default /run/fswatch).
FSWATCH_DEBUG=1: show the libraries' own log lines (smbprotocol, pyspnego) on stderr; unset: only fswatch's alerts."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a refusal as alert 11 (exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _add_target_options(parser: argparse.ArgumentParser, kind: Kind) -> None:
    for field in kind.fields:
        option = "--" + field.name.replace("_", "-")
        if field.boolean:  # a flag; absent leaves the value unset (None), so the default applies
            parser.add_argument(option, dest=field.name, action="store_const", const=True, help=field.help)
            continue
        parser.add_argument(option, dest=field.name, metavar=field.name.upper(), help=field.help)
    if kind.name == "samba":
        parser.add_argument(
            "--password-file", metavar="FILE", help="file whose first line is the password ('-': standard input)"
        )


def _add_schedule_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", default="30", metavar="S", help="seconds between probe starts, 1-10000 (30)")
    parser.add_argument("--retries", default="5", metavar="N", help="failed probes retried before failure (5)")
    parser.add_argument("--timeout", default="60", metavar="S", help="deadline of one probe in seconds (60)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fswatch",
        description="Watch Samba shares and NFS exports; fail over when a server dies or stalls.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fswatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    probe = sub.add_parser("probe", help="probe a server once and report each stage")
    probe_kinds = probe.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    probe_kinds.required = True
    for kind in KINDS.values():
        p = probe_kinds.add_parser(kind.name, help=f"probe a {kind.name} server once", epilog=EPILOG)
        _add_target_options(p, kind)
        p.add_argument("--timeout", default="60", metavar="S", help="deadline of the whole probe in seconds (60)")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    add = sub.add_parser("add", help="write a watch's settings (validated, atomically)")
    add_kinds = add.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    add_kinds.required = True
    for kind in KINDS.values():
        p = add_kinds.add_parser(kind.name, help=f"add a {kind.name} watch", epilog=EPILOG)
        p.add_argument("id", metavar="ID", help="identifier: letters, digits, '_' and '-', at most 200 bytes")
        _add_target_options(p, kind)
        _add_schedule_options(p)
        p.add_argument(
            "--attribute",
            metavar="NAME",
            help="health attribute mode: publish NAME=1 (healthy) / 0 (failed) with attrd_updater; keep probing",
        )

    for name, text in (
        ("remove", "delete a watch's settings"),
        ("run", "run a watch in the foreground (the body of fswatch-KIND@ID.service)"),
        ("continue", "resume a paused watch"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="samba or nfs")
        p.add_argument("id", metavar="ID")

    pause = sub.add_parser("pause", help="pause a running watch (no probes, no failure) until continued")
    pause.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="samba or nfs")
    pause.add_argument("id", metavar="ID")
    pause.add_argument("--for", dest="duration", metavar="DURATION", help="resume by itself after 90s, 15m, 2h, 1d")

    injector = sub.add_parser(
        "inject",
        help="make the next probes of a running watch fail at a stage (test the failover chain)",
        epilog="stages: " + "; ".join(f"{k.name}: {', '.join(s.name for s in k.stages)}" for k in KINDS.values()),
    )
    injector.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="samba or nfs")
    injector.add_argument("id", metavar="ID")
    injector.add_argument("--stage", metavar="STAGE", help="a stage of the kind's probe (default: the first)")
    injector.add_argument(
        "--count", metavar="N", help="how many probes fail, 1-10000 (default: retries + 1, enough to declare)"
    )

    start = sub.add_parser("start", help="systemctl start fswatch-KIND@ID: returns once the server was seen healthy")
    start.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="samba or nfs")
    start.add_argument("id", metavar="ID")
    start.add_argument("--wait", action="store_true", help="follow the unit until it ends; exit with its status")
    stop = sub.add_parser("stop", help="systemctl stop fswatch-KIND@ID (alert 3, exit 0)")
    stop.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="samba or nfs")
    stop.add_argument("id", metavar="ID")
    reset = sub.add_parser("reset", help="clear a dead watch's state and the unit's failed state")
    reset.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="samba or nfs")
    reset.add_argument("id", metavar="ID")

    metrics_cmd = sub.add_parser("metrics", help="publish|settle a watch's metrics file (run by the units as root)")
    metrics_cmd.add_argument("action", choices=("publish", "settle"), metavar="ACTION", help="publish or settle")
    metrics_cmd.add_argument("kind", metavar="KIND|UNIT",
                             help="samba or nfs, then ID; or (settle) a failed watch's unit, fswatch-KIND@ID.service")
    metrics_cmd.add_argument("id", nargs="?", metavar="ID")

    status = sub.add_parser("status", help="show every watch: state, last probe, failures, PID")
    status.add_argument("kind", nargs="?", choices=sorted(KINDS), metavar="KIND")
    status.add_argument("id", nargs="?", metavar="ID")
    status.add_argument("--json", action="store_true", help="print a JSON array")
    status.add_argument("--history", action="store_true", help="print each watch's last probes as a table")
    return parser


# -- probe --------------------------------------------------------------------------------------


def _target_values(args: argparse.Namespace, kind: Kind) -> dict:
    return {f.name: getattr(args, f.name) for f in kind.fields if getattr(args, f.name) is not None}


def _password_from(option: Optional[str]) -> Optional[str]:
    if option is None:
        return None
    if option == "-":
        line = files.read_line(sys.stdin.fileno(), files.PASSWORD_LIMIT, "standard input")
        return password_from_bytes(line, "the password on standard input")
    return read_password(Path(option), follow=True)  # the user named this file


def cmd_probe(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    timeout = check_range("timeout", args.timeout)
    target_values = kind.check_target(_target_values(args, kind))
    password = _password_from(getattr(args, "password_file", None))
    target = kind.make_target(target_values, password)
    obs = kind.probe_function()(target, Deadline.after(timeout))
    label = kind.label(target_values)
    slow = slowest(obs, Schedule(timeout=timeout).slow_ms)  # the watch's rule: the verdict decides
    if args.json:
        out = {"kind": kind.name, "target": label, "address": getattr(target, "address", None), **obs.to_dict()}
        out["slow"] = slow.fields() if slow is not None else None
        if obs.failure is not None:
            out["alert"] = obs.failure.alert
            out["message"] = obs.failure.message(kind.name, label)
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(_probe_text(kind, label, target, obs) + (f"\n{slow.text()}" if slow is not None else ""))
    return EXIT_OK if obs.ok else EXIT_FAILED


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
    if obs.posture is not None:
        lines.append(f"  security: {obs.posture.text()}")
    if obs.degraded is not None:
        lines.append(f"degraded: {obs.degraded.reason}")
    if obs.failure is not None:
        f = obs.failure
        lines.append(f"alert {f.alert}: {f.message(kind.name, label)}")
        lines.append(f"cause: {f.reason}")
    return "\n".join(lines)


# -- add / remove -------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    watch_id = check_id(args.id)
    schedule = Schedule.parse(args.interval, args.retries, args.timeout)
    attribute = check_attribute(args.attribute) if args.attribute is not None else None
    target = kind.check_target(_target_values(args, kind))
    password = _password_from(getattr(args, "password_file", None))
    if password is not None and "\n" in password:
        raise UsageError("the password must be one line")
    settings = WatchSettings(
        kind.name, watch_id, schedule, target, has_password=password is not None, attribute=attribute
    )
    # Everything is valid: only now touch the file system.
    conf = paths.conf_path(kind.name, watch_id)
    try:
        conf.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    except OSError as exc:
        raise files.fault("mkdir", exc, conf.parent) from None
    if kind.name == "samba":
        # Always, empty for a guest watch: the unit's LoadCredential= fails on a missing file.
        write_atomic(paths.password_path(kind.name, watch_id), (password or "") + "\n", mode=0o600)
    write_atomic(conf, settings.to_conf(), mode=0o644)
    print(
        f"{conf}: {kind.name} watch {watch_id} ({kind.label(target)}); "
        f"failure declared within {schedule.detection_bound:.0f} s of a fault"
    )
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    watch_id = check_id(args.id)
    stopped_control(args.kind, watch_id, "stop it first")
    metrics.forget(args.kind, watch_id)
    removed = False
    for path in (paths.conf_path(args.kind, watch_id), paths.password_path(args.kind, watch_id)):
        try:
            path.unlink()  # unlink never follows a link: at most the link itself goes
            removed = True
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise files.fault("unlink", exc, path) from None
    if not removed:
        raise UsageError(f"no {args.kind} watch {watch_id!r} to remove")
    return EXIT_OK


# -- run / pause / continue ---------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings, password = load_settings(args.kind, args.id)
    exit_now(run_watch(settings, password))


def cmd_pause(args: argparse.Namespace) -> int:
    watch_id = check_id(args.id)
    seconds = parse_duration(args.duration) if args.duration else None
    control = control_for(args.kind, watch_id)
    if holder(control) is None:
        raise NotRunning(f"{args.kind} watch {watch_id} is not running; nothing to pause")
    control.request_pause(seconds)
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    return Systemctl().start(unit_name(args.kind, args.id), wait=args.wait)


def cmd_stop(args: argparse.Namespace) -> int:
    return Systemctl().stop(unit_name(args.kind, args.id))


def cmd_reset(args: argparse.Namespace) -> int:
    watch_id = check_id(args.id)
    control = stopped_control(args.kind, watch_id, "stop it first")
    metrics.forget(args.kind, watch_id)
    control.forget()
    if systemd_booted():
        Systemctl().reset_failed(unit_name(args.kind, watch_id))
    return EXIT_OK


def cmd_continue(args: argparse.Namespace) -> int:
    watch_id = check_id(args.id)
    control = control_for(args.kind, watch_id)
    control.request_continue()
    control.clear_injection()  # continue also ends a failure test (fswatch inject)
    return EXIT_OK


def cmd_inject(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    watch_id = check_id(args.id)
    count = check_range("--count", args.count) if args.count is not None else None
    control = control_for(kind.name, watch_id)
    req = inject.request(kind, watch_id, args.stage, count, control)
    try:
        state = control.read_state()
    except FswatchError:
        state = None
    print(inject.describe(kind, watch_id, req, state))
    return EXIT_OK


# -- status -------------------------------------------------------------------------------------


def watch_records(
    kind_filter: Optional[str] = None, id_filter: Optional[str] = None, problems: Optional[List[FswatchError]] = None
) -> List[dict]:
    """Every known watch: configured ones and those with runtime state, alive or not.

    One unreadable or stray entry never hides the others: a directory that cannot be
    listed goes to `problems`, a watch whose files cannot be read gets an "error" field.
    """
    problems = [] if problems is None else problems
    records = []
    for kind in sorted(KINDS):
        if kind_filter and kind != kind_filter:
            continue
        configured = {
            name[: -len(".conf")] for name in _listing(paths.config_dir() / kind, problems) if name.endswith(".conf")
        }
        configured = {i for i in configured if _valid_id(i)}
        # The runtime kind directory also holds clp_*'s ID.conf and ID.password files: only
        # names that are watch identifiers and not files count (a link is shown, as an error).
        runtime = paths.runtime_dir() / kind
        running = {name for name in _listing(runtime, problems, directories=True) if _valid_id(name)}
        for watch_id in sorted(configured | running):
            if id_filter and watch_id != id_filter:
                continue
            records.append(_record(kind, watch_id, watch_id in configured, problems))
    return records


def _listing(directory: Path, problems: List[FswatchError], directories: bool = False) -> List[str]:
    try:
        with os.scandir(directory) as entries:
            out = []
            for entry in entries:
                try:
                    if not directories or entry.is_dir(follow_symlinks=False) or entry.is_symlink():
                        out.append(entry.name)
                except OSError:
                    out.append(entry.name)
            return out
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.append(files.fault("scandir", exc, directory))
        return []


def _record(kind: str, watch_id: str, configured: bool, problems: List[FswatchError]) -> dict:
    control = control_for(kind, watch_id)
    record: dict = {"kind": kind, "id": watch_id, "configured": configured}
    errors = []
    pid = None
    state: dict = {}
    try:
        pid = holder(control)
        raw = control.read_state()
        if raw is not None:
            state, wrong = clean_state(raw)
            if wrong:
                errors.append(f"state file {control.state_file}: {wrong}")
        record.update(state)
        record["paused"] = pid is not None and control.pause_state().paused
        if systemd_booted():
            unit = Systemctl().state(unit_name(kind, watch_id))
            record["unit"] = {"name": unit_name(kind, watch_id), **{k.lower(): v for k, v in unit.items()}}
    except FswatchError as exc:
        errors.append(str(exc))
        if isinstance(exc, SystemFault):
            problems.append(exc)
    record["pid"] = pid
    record.setdefault("paused", False)
    if pid is None:
        phase = state.get("phase")
        record["phase"] = phase if phase in ("failed", "stopped") else ("dead" if state else "inactive")
    if errors:
        record["error"] = "; ".join(errors)
    return record


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
    posture = value.get("posture")
    posture_ok = posture is None or (
        isinstance(posture, dict) and all(v is None or _text(v) for v in posture.values())
    )
    return isinstance(stages, list) and all(_stage(s) for s in stages) and failure_ok and posture_ok


def _history_entry(value: object) -> bool:
    return isinstance(value, dict) and _probe(value) and _text(value.get("result"))


# What status shows from a state file, and what each value must be (the reporter writes
# these; anything else, or anything of another type, is left out and named).
_STATE_FIELDS = {
    "target": _text,
    "phase": _text,
    "status": _text,
    "started": _number,
    "updated": _number,
    "failures": _count,
    "attempts": _count,
    "probes": _count,
    "paused_until": lambda v: v is None or _number(v),
    "schedule": lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
    "last_probe": _probe,
    "attribute": lambda v: v is None or (isinstance(v, dict) and _text(v.get("name"))),
    "history": lambda v: isinstance(v, list) and all(_history_entry(e) for e in v),
    "injection": lambda v: v is None or (isinstance(v, dict) and _text(v.get("stage")) and _count(v.get("left"))),
    "slow": lambda v: isinstance(v, bool),
    "slow_stage": lambda v: v is None or (_stage(v) and _number(v.get("budget_ms"))),
    "degraded": lambda v: v is None or (isinstance(v, dict) and _text(v.get("cause")) and _text(v.get("reason"))),
}


def clean_state(raw: object) -> Tuple[dict, str]:
    """The known, well-typed fields of a state file, and what was wrong with the rest ('' if nothing)."""
    if not isinstance(raw, dict):
        return {}, "not a JSON object"
    state = {key: raw[key] for key, good in _STATE_FIELDS.items() if key in raw and good(raw[key])}
    wrong = sorted(key for key in _STATE_FIELDS if key in raw and key not in state)
    return state, ("unexpected values for " + ", ".join(wrong)) if wrong else ""


def _when(seconds: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    except (OverflowError, OSError, ValueError):
        return "?"


def cmd_status(args: argparse.Namespace) -> int:
    if args.id:
        check_id(args.id)
    problems: List[FswatchError] = []
    records = watch_records(args.kind, args.id, problems)
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=None))
    elif not records:
        print("no watches")
    elif args.history:
        _print_history(records)
    else:
        _print_status(records)
    sys.stdout.flush()
    for problem in problems:  # after the table: what could not be read (alert 42, exit 5)
        report_error(problem, args.kind or "samba")
    return problems[0].exit_code if problems else EXIT_OK


def _print_status(records: List[dict]) -> None:
    print(f"{'KIND':<6} {'ID':<20} {'STATE':<10} {'PID':>7} {'FAILED':>6} {'LAST PROBE':<20} {'MS':>8}  TARGET")
    booted = systemd_booted()
    for r in records:
        last = r.get("last_probe") or {}
        when = _when(last["started"]) if last else "-"
        ms = f"{last['total_ms']:.1f}" if last else "-"
        failed = f"{r.get('failures', 0)}/{r.get('attempts', '-')}" if r.get("attempts") else "-"
        state = "paused" if r.get("paused") else r.get("phase", "-")
        print(
            f"{r['kind']:<6} {r['id']:<20} {state:<10} {r['pid'] or '-':>7} {failed:>6} {when:<20} {ms:>8}  "
            f"{r.get('target', '')}"
        )
        if booted and r.get("unit"):
            u = r["unit"]
            print(f"{'':<6} {'':<20} unit {u['name']}: {u.get('activestate')} ({u.get('substate')}, {u.get('result')})")
        if last:
            stages = ", ".join(f"{s['stage']} {s['ms']:.1f}" for s in last.get("stages", []))
            print(f"{'':<6} {'':<20} stages (ms): {stages}")
            if last.get("failure"):
                print(f"{'':<6} {'':<20} failure: {last['failure']['stage']}: {last['failure']['reason']}")
            if last.get("posture"):
                seen = ", ".join(f"{k} {v or '-'}" for k, v in last["posture"].items())
                print(f"{'':<6} {'':<20} security: {seen}")
        if r.get("slow_stage"):
            slow = r["slow_stage"]
            print(f"{'':<6} {'':<20} slow: {slow['stage']} {slow['ms']:.0f} ms of {slow['budget_ms']:.0f} ms budget")
        if r.get("injection") and r["injection"]["left"]:
            i = r["injection"]
            print(f"{'':<6} {'':<20} injected: {i['left']} more probes fail at {i['stage']} (fswatch inject)")
        if r.get("degraded"):
            print(f"{'':<6} {'':<20} degraded ({r['degraded']['cause']}): {r['degraded']['reason']}")
        if r.get("error"):
            print(f"{'':<6} {'':<20} error: {r['error']}")


def _print_history(records: List[dict]) -> None:
    """Each watch's last probes (fswatch.history), oldest first."""
    for n, r in enumerate(records):
        if n:
            print()
        state = "paused" if r.get("paused") else r.get("phase", "-")
        print(f"{r['kind']} {r['id']} ({r.get('target', '')}): {state}; {r.get('status', '')}".rstrip())
        entries = r.get("history") or []
        print(history.table(entries, r.get("attempts")) if entries else "  no probe recorded")
        if r.get("error"):
            print(f"error: {r['error']}")


COMMANDS = {
    "probe": cmd_probe,
    "add": cmd_add,
    "remove": cmd_remove,
    "run": cmd_run,
    "pause": cmd_pause,
    "continue": cmd_continue,
    "inject": cmd_inject,
    "start": cmd_start,
    "stop": cmd_stop,
    "reset": cmd_reset,
    "status": cmd_status,
    "metrics": lambda args: metrics.main([args.action, args.kind] + ([args.id] if args.id is not None else [])),
}


def _guess_kind(argv: Sequence[str]) -> str:
    return "nfs" if "nfs" in argv[:3] else "samba"


def system_fault(exc: OSError) -> SystemFault:
    """An OSError nobody translated nearer its cause: alert 42 naming the file it concerns."""
    return files.fault("os", exc, exc.filename if exc.filename is not None else "")


def report_error(exc: FswatchError, kind: str, watch_id: Optional[str] = None) -> int:
    """One line (or one journal entry) naming the alert, then the exit code."""
    if exc.alert is not None:
        entry = alert_entry(exc.alert)
        detail = getattr(exc, "errno", None)
        target = getattr(exc, "function", None)
        message = entry.render(kind, target=target, detail=detail)
        fields = {"FSWATCH_KIND": kind, "FSWATCH_EVENT": str(exc.alert), "FSWATCH_REASON": str(exc)}
        if watch_id:
            fields["FSWATCH_WATCH"] = watch_id
        default_sink().emit(entry, message, entry.priority, fields)
    else:
        print(f"fswatch: {exc}", file=sys.stderr)
    return exc.exit_code


def main(argv: Optional[Sequence[str]] = None) -> int:
    logs.configure()
    argv = list(sys.argv[1:] if argv is None else argv)
    kind = _guess_kind(argv)
    watch_id = None
    try:
        args = build_parser().parse_args(argv)
        kind = getattr(args, "kind", None) or kind
        watch_id = getattr(args, "id", None)
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a full disk under stdout is reported here, not as a traceback at exit
        return status
    except FswatchError as exc:
        return report_error(exc, kind, watch_id if watch_id and _valid_id(watch_id) else None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # every system error is alert 42 and exit 5, whichever command met it
        return report_error(system_fault(exc), kind, watch_id if watch_id and _valid_id(watch_id) else None)


def _valid_id(watch_id: str) -> bool:
    try:
        check_id(watch_id)
    except UsageError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
