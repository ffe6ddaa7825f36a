"""Where alerts go: the journal under systemd, one stderr line each in a terminal.

Under systemd, stderr is connected to the journal and JOURNAL_STREAM names it; that is
how a service knows to send structured entries instead (sd_journal_print(3)).
"""

from __future__ import annotations

import os
import sys
from typing import IO, Callable, Dict, List, Mapping, Optional, Tuple

from fswatch import __version__
from fswatch.core import alerts
from fswatch.core.alerts import Alert, Voice
from fswatch.core.errors import FswatchError, SystemFault
from fswatch.host import files


class StderrSink:
    """`fswatch: samba web1: alert 62: <seed text> (tree_connect: <reason>)` per alert."""

    def __init__(self, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream

    def emit(self, alert: Alert, message: str, priority: int, fields: Mapping[str, str]) -> None:
        who = " ".join(x for x in (fields.get("FSWATCH_KIND"), fields.get("FSWATCH_WATCH")) if x)
        line = f"fswatch: {who + ': ' if who else ''}alert {alert.id}: {message}"
        reason = fields.get("FSWATCH_REASON")
        if reason:
            stage = fields.get("FSWATCH_STAGE")
            line += f" ({stage}: {reason})" if stage else f" ({reason})"
        if fields.get("FSWATCH_ATTEMPT"):
            line += f" [failed probes {fields['FSWATCH_ATTEMPT']}]"
            if fields.get("FSWATCH_EVIDENCE_TEXT"):  # what the server's own process did (fswatch.core.evidence)
                line += f" [server process: {fields['FSWATCH_EVIDENCE_TEXT']}]"
        if fields.get("FSWATCH_HISTORY"):  # alert 6 / 98: how the failure went (fswatch.watch.history)
            line += "".join(f"\n    {row}" for row in fields["FSWATCH_HISTORY"].splitlines())
        stream = self.stream or sys.stderr
        print(line, file=stream, flush=True)


class JournalSink:
    """Structured journal entries with MESSAGE_ID and the FSWATCH_* fields (SPEC.md section 4),
    and FSWATCH_VERSION: the release that logged it, so a watch still running the release
    before an upgrade says so (`journalctl -t fswatch FSWATCH_VERSION=0.2.0`)."""

    def __init__(self, sender: Optional[Callable[..., object]] = None) -> None:
        if sender is None:
            from systemd import journal

            sender = journal.send
        self._send = sender

    def emit(self, alert: Alert, message: str, priority: int, fields: Mapping[str, str]) -> None:
        self._send(
            MESSAGE=message,
            MESSAGE_ID=alert.message_id,
            PRIORITY=str(priority),
            SYSLOG_IDENTIFIER="fswatch",
            FSWATCH_VERSION=__version__,
            **fields,
        )


class ListSink:
    """Keeps alerts in memory: for tests, and for callers that want to look at them."""

    def __init__(self) -> None:
        self.alerts: List[Tuple[int, str, Dict[str, str]]] = []

    def emit(self, alert: Alert, message: str, priority: int, fields: Mapping[str, str]) -> None:
        self.alerts.append((alert.id, message, dict(fields)))

    @property
    def ids(self) -> List[int]:
        return [a[0] for a in self.alerts]


def under_journal(env: Mapping[str, str] = os.environ) -> bool:
    stream = env.get("JOURNAL_STREAM", "")
    if not stream:
        return False
    try:
        st = os.fstat(2)
    except OSError:
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def default_sink(env: Mapping[str, str] = os.environ):  # -> StderrSink | JournalSink
    if under_journal(env):
        try:
            return JournalSink()
        except ImportError:
            pass
    return StderrSink()


def system_fault(exc: OSError) -> SystemFault:
    """An OSError nobody translated nearer its cause: alert 42 naming the file it concerns."""
    return files.fault("os", exc, exc.filename if exc.filename is not None else "")


def say(
    alert_id: int, kind: Voice, watch_id: Optional[str] = None, *, target: object = None, detail: object = None,
    priority: Optional[int] = None, **fields: str,
) -> None:
    """One alert from a command (not from a running watch's reporter): one line on stderr,
    or one journal entry under systemd."""
    entry = alerts.alert(alert_id)
    message = entry.render(kind, target=target, detail=detail)
    base = {"FSWATCH_KIND": kind.name, "FSWATCH_EVENT": str(alert_id)}
    if watch_id:
        base["FSWATCH_WATCH"] = watch_id
    default_sink().emit(entry, message, entry.priority if priority is None else priority, {**base, **fields})


def report_error(
    exc: FswatchError, kind: Voice, watch_id: Optional[str] = None, priority: Optional[int] = None
) -> int:
    """A command's refusal or failure: one line on stderr (or one journal entry under
    systemd) naming the alert, then the exit code — the same for every surface's command.
    `priority`: where a caller knows better than the alert's own (what is routine there)."""
    if exc.alert is not None:
        say(exc.alert, kind, watch_id, target=getattr(exc, "function", None), detail=getattr(exc, "errno", None),
            priority=priority, FSWATCH_REASON=str(exc))
    else:
        print(f"fswatch: {exc}", file=sys.stderr)
    return exc.exit_code
