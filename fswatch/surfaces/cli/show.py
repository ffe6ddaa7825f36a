"""`fswatch status`: every known watch, from the status model (fswatch.watch.status), as a table,
a JSON array or each watch's failure timeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from fswatch import __version__
from fswatch.core.errors import EXIT_OK, FswatchError, SystemFault
from fswatch.core.settings import check_id, valid_id
from fswatch.host import paths
from fswatch.host.files import fault
from fswatch.host.sinks import report_error
from fswatch.host.systemctl import Systemctl, systemd_booted, unit_name
from fswatch.kinds import KINDS
from fswatch.watch import history, status
from fswatch.watch.status import Health


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
        configured = {i for i in configured if valid_id(i)}
        # The runtime kind directory also holds clp_*'s ID.conf and ID.password files: only
        # names that are watch identifiers and not files count (a link is shown, as an error).
        runtime = paths.runtime_dir() / kind
        running = {name for name in _listing(runtime, problems, directories=True) if valid_id(name)}
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
        problems.append(fault("scandir", exc, directory))
        return []


# The phase `status --json` shows for a watch that no longer runs (its health otherwise).
_ENDED_PHASE = {Health.STOPPED: "stopped", Health.FAILED: "failed", Health.DEAD: "dead", Health.INACTIVE: "inactive"}


def _record(kind: str, watch_id: str, configured: bool, problems: List[FswatchError]) -> dict:
    """One watch as `status --json` shows it: its state file's fields, then what is seen from
    outside (pid: the lock holder), its health and the reason, and its unit."""
    record: dict = {"kind": kind, "id": watch_id, "configured": configured}
    try:
        view = status.look(kind, watch_id)
    except FswatchError as exc:  # the lock cannot be examined (alert 42)
        if isinstance(exc, SystemFault):
            problems.append(exc)
        return {**record, "pid": None, "paused": False, "phase": "unknown", "health": "unknown", "reason": "",
                "error": str(exc)}  # fmt: skip
    state = view.current
    if state is not None:
        record.update({k: v for k, v in state.fields().items() if k not in record})
    record["pid"] = view.pid
    record["paused"] = view.paused
    health = view.health
    if not view.alive:
        record["phase"] = _ENDED_PHASE.get(health, health.value)
    elif state is None:
        record["phase"] = status.STARTING
    record["health"] = health.value
    record["reason"] = view.reason
    # A live watch's state that is not being written (a full /run: alert 42) is shown, marked
    # stale; and what its settings file says now, when that differs from what it runs.
    silent = view.silent_for(time.time())
    record["stale_for"] = round(silent, 1) if silent is not None else None
    drift = status.settings_drift(kind, watch_id, state.settings) if view.alive and state is not None else None
    record["settings_changed"] = drift.fields() if drift is not None and drift.differs else None
    # Which release it runs (or ran), and whether that is older than the installed one.
    record["version"] = view.release or None
    if view.alive and view.release:
        record["protocol"] = view.protocol.number
    else:
        record["protocol"] = state.protocol if state is not None else None
    record["outdated"] = view.outdated
    errors = [view.error] if view.error else []
    if systemd_booted():
        try:
            unit = Systemctl().state(unit_name(kind, watch_id))
            record["unit"] = {"name": unit_name(kind, watch_id), **{k.lower(): v for k, v in unit.items()}}
        except SystemFault as exc:
            errors.append(str(exc))
            problems.append(exc)
    if errors:
        record["error"] = "; ".join(errors)
    return record


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
        report_error(problem, KINDS[args.kind or next(iter(KINDS))])
    return problems[0].exit_code if problems else EXIT_OK


def _print_status(records: List[dict]) -> None:
    print(f"{'KIND':<6} {'ID':<20} {'STATE':<10} {'PID':>7} {'FAILED':>6} {'LAST PROBE':<20} {'MS':>8}  TARGET")
    pad = f"{'':<6} {'':<20}"
    for r in records:
        last = r.get("last_probe") or {}
        when = _when(last["started"]) if last else "-"
        ms = f"{last['total_ms']:.1f}" if last else "-"
        failed = f"{r.get('failures', 0)}/{r.get('attempts', '-')}" if r.get("attempts") else "-"
        print(
            f"{r['kind']:<6} {r['id']:<20} {r['health']:<10} {r['pid'] or '-':>7} {failed:>6} {when:<20} {ms:>8}  "
            f"{r.get('target', '')}"
        )
        if r.get("unit"):
            u = r["unit"]
            print(f"{pad} unit {u['name']}: {u.get('activestate')} ({u.get('substate')}, {u.get('result')})")
        for line in _detail_lines(r, last):
            print(f"{pad} {line}")


def _detail_lines(r: dict, last: dict) -> List[str]:
    lines = []
    if last:
        lines.append("stages (ms): " + ", ".join(f"{s['stage']} {s['ms']:.1f}" for s in last.get("stages", [])))
        if last.get("failure"):
            lines.append(f"failure: {last['failure']['stage']}: {last['failure']['reason']}")
        if last.get("posture"):
            lines.append("security: " + ", ".join(f"{k} {v or '-'}" for k, v in last["posture"].items()))
        if isinstance(last.get("evidence"), dict):
            lines.append(f"server process: {last['evidence'].get('text')}")
    evidence = r.get("evidence") if isinstance(r.get("evidence"), dict) else {}
    if evidence.get("unavailable"):
        lines.append(f"server process not readable (evidence {evidence.get('setting')}): {evidence['unavailable']}")
    if r.get("slow_stage"):
        slow = r["slow_stage"]
        lines.append(f"slow: {slow['stage']} {slow['ms']:.0f} ms of {slow['budget_ms']:.0f} ms budget")
    if r.get("injection") and r["injection"]["left"]:
        i = r["injection"]
        lines.append(f"injected: {i['left']} more probes fail at {i['stage']} (fswatch inject)")
    if r.get("degraded"):
        lines.append(f"degraded ({r['degraded']['cause']}): {r['degraded']['reason']}")
    if r.get("stale_for") is not None:
        when = _when(r["updated"]) if r.get("updated") else "?"
        lines.append(f"stale: the watch has not written its state for {r['stale_for']:.0f} s (last at {when}); "
                     "what is shown may be out of date (see its journal or log: alert 42)")
    if r.get("settings_changed"):
        lines.append(f"settings: {r['settings_changed']['summary']}; the watch keeps what it runs until restarted")
    if r.get("outdated"):
        lines.append(
            f"release: fswatch {r['version']} (control protocol {r['protocol']}), older than the installed "
            f"{__version__}: it runs the old code until restarted; restart it in a maintenance window "
            "(README: Upgrading)"
        )
    if r["health"] in (Health.FAILED.value, Health.DEAD.value) and r.get("reason"):
        lines.append(f"{r['health']}: {r['reason']}")
    if r.get("error"):
        lines.append(f"error: {r['error']}")
    return lines


def _print_history(records: List[dict]) -> None:
    """Each watch's last probes (fswatch.watch.history), oldest first."""
    for n, r in enumerate(records):
        if n:
            print()
        print(f"{r['kind']} {r['id']} ({r.get('target', '')}): {r['health']}; {r.get('status', '')}".rstrip())
        entries = r.get("history") or []
        print(history.table(entries, r.get("attempts")) if entries else "  no probe recorded")
        if r.get("error"):
            print(f"error: {r['error']}")

