"""CTDB's event script for fswatch (SPEC.md section 10): `fswatch ctdb startup|shutdown|monitor`.

CTDB runs its event scripts in order for each event, with one timeout for all of them (its
EventScriptTimeout, 30 s by default), and moves a node's public addresses away when its
`monitor` event fails. packaging/ctdb/45.fswatch.script (installed in CTDB's data dir,
enabled with `ctdb event script enable legacy 45.fswatch`) hands the events below to this
module; the watches it acts on are those whose settings say `ctdb = yes` (`fswatch add ...
--ctdb`). Like every surface it adds no logic of its own: the verdict is the watch's, read
from the status model (fswatch.watch.status), and watches start and stop through the one
supervisor (fswatch.host.supervisor).

The script is numbered 45, before 50.samba and 60.nfs, which start smbd and nfs-ganesha at
startup and stop them at shutdown: so its shutdown stops the watches while their servers
still run (a watch that saw its server go would declare it failed), and its startup, which
comes before the servers are up, starts no watch (it would probe a server not started yet).

- monitor: fails when a watch has declared its node's own server failed (Health.FAILED),
  one line per such watch naming it, the stage, the alert and the cause (CTDB logs a
  script's output). It reads state files and never probes, so it answers in the time of a
  Python start (measured in the CTDB tier, tests/cluster/test_ctdb.py). A watch that is not
  running (not started yet: the first monitor event after startup starts them all; stopped;
  or ended without a verdict) is started, without waiting for its first probe, and a line
  says so; it has no verdict yet, so it fails nothing. A watch for CTDB keeps probing after a
  declaration (WatchSettings.keeps_probing): its first healthy probe ends it, so the next
  monitor passes and CTDB makes the node healthy again by its own rules.
- startup: checks the watches for CTDB: a settings file that cannot be read, or a watch that
  would probe one of CTDB's public addresses, fails the event, which CTDB retries until it
  succeeds (the node does not become healthy meanwhile).
- shutdown: stops every watch for CTDB, within EVENT_WAIT.

Nothing is printed while all is well: CTDB logs every line a script prints, at every monitor.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.core.errors import EXIT_FAILED, EXIT_OK, FswatchError, UsageError
from fswatch.host import ctdb
from fswatch.host.store import SettingsStore
from fswatch.host.supervisor import QUEUED, Supervisor
from fswatch.kinds import KINDS, WatchSettings
from fswatch.watch import status
from fswatch.watch.status import Health, WatchView

EVENTS = ("startup", "shutdown", "monitor")
# Seconds of CTDB's event timeout (30 s by default, shared by every script of the event) that
# starting or stopping the watches may take: systemctl calls are bounded by it.
EVENT_WAIT = 10.0


def label(settings: WatchSettings) -> str:
    return f"fswatch: {settings.kind.name} {settings.watch_id}"


def said(exc: FswatchError) -> str:
    """An error as one line of CTDB's log: its alert (where it has one) and its words."""
    return f"alert {exc.alert}: {exc}" if exc.alert is not None else str(exc)


def watches(store: Optional[SettingsStore] = None) -> Tuple[List[Tuple[WatchSettings, Optional[str]]], List[str]]:
    """The watches for CTDB (settings and password) under the config dir, and a line for each
    settings file that cannot be read (it may or may not be one: say so, never guess)."""
    store = store or SettingsStore.config()
    found, problems = [], []
    for kind in KINDS.values():
        try:
            ids = store.ids(kind.name)
        except FswatchError as exc:
            problems.append(f"fswatch: {kind.name}: {said(exc)}")
            continue
        for watch_id in ids:
            try:
                settings, password = store.load(kind, watch_id)
            except FswatchError as exc:
                problems.append(f"fswatch: {kind.name} {watch_id}: {said(exc)}")
                continue
            if settings.ctdb:
                found.append((settings, password))
    return found, problems


def admit(settings: WatchSettings, public: Optional[Iterable[str]] = None) -> None:
    """UsageError (alert 11) for a watch that would probe one of CTDB's public addresses
    (default: this node's, from CTDB's configuration): CTDB moves those, and the watch must
    judge its own node's server."""
    address = settings.target.get("address")
    public = ctdb.public_addresses() if public is None else public
    if address is not None and str(address) in set(public):
        raise UsageError(
            f"{settings.kind.name} watch {settings.watch_id} probes {address}, one of CTDB's public addresses, "
            f"which CTDB moves between nodes: a watch for CTDB probes its own node's server "
            f"(--address 127.0.0.1 or this node's private address)"
        )


@dataclass(frozen=True)
class Answer:
    """What the monitor event says: its exit status, the lines for CTDB's log, and the
    watches to start (not running)."""

    failed: Tuple[str, ...]
    notes: Tuple[str, ...]
    start: Tuple[Tuple[str, str], ...]  # (kind, ID) of each watch that is not running

    @property
    def code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK


def judge(views: Sequence[WatchView]) -> Answer:
    """The monitor event's answer from the watches' views (pure): FAILED fails it; a watch
    that is not alive is to be started, with a note when it ended without a verdict."""
    failed, notes, start = [], [], []
    for view in views:
        name = f"fswatch: {view.kind} {view.id}"
        health = view.health
        if health is Health.FAILED:
            failed.append(f"{name}: {view.reason}")
        if not view.alive:
            start.append((view.kind, view.id))
            if health is Health.DEAD:
                notes.append(f"{name}: {view.reason}; starting it again")
            elif health is not Health.FAILED:
                notes.append(f"{name}: not running ({health.value}); starting it")
        if view.error:
            notes.append(f"{name}: {view.error}")
    return Answer(tuple(failed), tuple(notes), tuple(start))


def _start(settings: WatchSettings, password: Optional[str], deadline: Deadline) -> None:
    """Start the watch without waiting for its first probe: its unit where systemd is PID 1
    (as installed: its settings are the config dir's), else a detached `fswatch run`."""
    sup = Supervisor(settings.kind, settings.watch_id, deadline=deadline)
    if sup.systemd:
        sup.start_unit(until=QUEUED)
    else:
        sup.spawn(settings, password)


def monitor(out: Callable[[str], None] = print) -> int:
    found, problems = watches()
    answer = judge([status.look(s.kind.name, s.watch_id) for s, _ in found])
    deadline = Deadline.after(EVENT_WAIT)
    lines = [*answer.failed, *answer.notes, *problems]
    public = ctdb.public_addresses() if answer.start else frozenset()
    for settings, password in found:
        if (settings.kind.name, settings.watch_id) not in answer.start:
            continue
        try:
            admit(settings, public)
            _start(settings, password, deadline)
        except FswatchError as exc:  # not a verdict on the server: said, never failing the node
            lines.append(f"{label(settings)}: cannot start: {said(exc)}")
    for line in lines:
        out(line)
    return answer.code


def startup(out: Callable[[str], None] = print) -> int:
    found, problems = watches()
    public = ctdb.public_addresses()
    code = EXIT_FAILED if problems else EXIT_OK
    for line in problems:
        out(line)
    for settings, _ in found:
        try:
            admit(settings, public)
        except FswatchError as exc:
            out(f"{label(settings)}: {said(exc)}")
            code = EXIT_FAILED
    return code


def shutdown(out: Callable[[str], None] = print) -> int:
    found, problems = watches()
    deadline = Deadline.after(EVENT_WAIT)
    code = EXIT_OK
    for line in problems:  # a watch whose settings cannot be read is stopped by its unit's end
        out(line)
    for settings, _ in found:
        try:
            Supervisor(settings.kind, settings.watch_id, deadline=deadline).stop(deadline)
        except FswatchError as exc:
            out(f"{label(settings)}: cannot stop: {said(exc)}")
            code = EXIT_FAILED
    return code


ACTIONS = {"startup": startup, "shutdown": shutdown, "monitor": monitor}


def cmd_ctdb(args: argparse.Namespace) -> int:
    """`fswatch ctdb EVENT`: what 45.fswatch runs for CTDB's startup, shutdown and monitor."""
    code = ACTIONS[args.event]()
    sys.stdout.flush()
    return code
