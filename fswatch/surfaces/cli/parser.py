"""The `fswatch` command line's grammar (SPEC.md section 5): every command, generated for
every kind from its Kind's target fields."""

from __future__ import annotations

import argparse

from fswatch import __version__
from fswatch.core.errors import UsageError
from fswatch.core.evidence import POLICIES as EVIDENCE_POLICIES
from fswatch.core.protocol import CURRENT
from fswatch.core.settings import Schedule
from fswatch.host.supervisor import STOP_WAIT
from fswatch.kinds import KINDS, Kind
from fswatch.surfaces.ctdb import EVENTS

EPILOG = """exit status: 0 healthy/done, 1 probe failed or watch declared failed, 2 invalid input
(alert 11-13), 3 identifier in use (alert 14), 4 did not end in time (alert 15), 5 system error (alert 42),
6 no watch is running for pause, continue, inject or stop (alert 145), 7 the running watch cannot take
the request: paused, or an earlier release (alert 146).
Config: $FSWATCH_CONFIG_DIR (default /etc/fswatch); runtime: $FSWATCH_RUNTIME_DIR (default /run/fswatch).
FSWATCH_DEBUG=1: show the libraries' own log lines (smbprotocol, pyspnego) on stderr; unset: only fswatch's alerts."""

DEFAULTS = Schedule()


class _Parser(argparse.ArgumentParser):
    """argparse that reports a refusal as alert 11 (exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _add_target_options(parser: argparse.ArgumentParser, kind: Kind) -> None:
    for field in kind.fields:
        if field.boolean:  # a flag; absent leaves the value unset (None), so the default applies
            parser.add_argument(field.option, dest=field.name, action="store_const", const=True, help=field.help)
            continue
        parser.add_argument(field.option, dest=field.name, metavar=field.name.upper(), help=field.help)
    if kind.takes_password:
        parser.add_argument(
            "--password-file", metavar="FILE", help="file whose first line is the password ('-': standard input)"
        )
    if kind.takes_keytab:
        parser.add_argument(
            "--keytab", metavar="FILE", help="keytab with the key of --principal (add keeps a 0600 copy of it)"
        )


def _add_schedule_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--interval", metavar="S", help=f"seconds between probe starts, 1-10000 ({d.interval})")
    parser.add_argument("--retries", metavar="N", help=f"failed probes retried before failure ({d.retries})")
    parser.add_argument("--timeout", metavar="S", help=f"deadline of one probe in seconds ({d.timeout})")


def _watch(sub, name: str, text: str) -> argparse.ArgumentParser:
    """A command that names one watch: KIND ID."""
    p = sub.add_parser(name, help=text)
    p.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help=" or ".join(KINDS))
    p.add_argument("id", metavar="ID")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fswatch",
        description="Watch Samba shares and NFS exports; fail over when a server dies or stalls.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"fswatch {__version__} (control protocol {CURRENT.number})"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_settings_commands(sub)
    _add_watch_commands(sub)
    _add_status_commands(sub)
    return parser


def _add_settings_commands(sub) -> None:
    """probe and add: a kind's target options, per kind."""
    probe = sub.add_parser("probe", help="probe a server once and report each stage")
    probe_kinds = probe.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    probe_kinds.required = True
    for kind in KINDS.values():
        p = probe_kinds.add_parser(kind.name, help=f"probe a {kind.name} server once", epilog=EPILOG)
        _add_target_options(p, kind)
        p.add_argument("--timeout", metavar="S", help=f"deadline of the whole probe in seconds ({DEFAULTS.timeout})")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    add = sub.add_parser(
        "add", help="write a watch's settings (validated, atomically); a running watch keeps its own until restarted"
    )
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
            help="health attribute mode: publish NAME=1 (healthy) / 0 (failed) with attrd_updater; keep probing "
            "(#health-NAME: Pacemaker's node health, green / yellow / red)",
        )
        p.add_argument(
            "--evidence",
            choices=EVIDENCE_POLICIES,
            help="declare at once, without the remaining retries, a probe that failed while the local server's "
            "process was stopped (stopped, the default), also blocked in the kernel (blocked), or never (off)",
        )
        p.add_argument(
            "--ctdb",
            action="store_const",
            const=True,
            help="a watch for CTDB: its verdict fails CTDB's monitor event (45.fswatch); keep probing; "
            "--address defaults to 127.0.0.1, this node's own server, never a CTDB public address",
        )
    _watch(sub, "remove", "delete a watch's settings")


def _add_watch_commands(sub) -> None:
    """The commands that act on one watch: KIND ID."""
    run = _watch(sub, "run", "run a watch in the foreground (the body of fswatch-KIND@ID.service)")
    run.epilog = (
        "signals: SIGTERM, SIGINT, SIGQUIT stop it (alert 3, exit 0); SIGHUP, SIGUSR1 log the settings it runs and "
        "whether its settings file says otherwise (alert 160, 161): there is no reload, a restart applies new "
        "settings; SIGUSR2 and the other signals that would end a process by default are ignored."
    )
    _watch(sub, "continue", "resume a paused watch")
    pause = _watch(sub, "pause", "pause a running watch (no probes, no failure) until continued")
    pause.add_argument("--for", dest="duration", metavar="DURATION", help="resume by itself after 90s, 15m, 2h, 1d")

    injector = sub.add_parser(
        "inject",
        help="make the next probes of a running watch fail at a stage (test the failover chain)",
        epilog="stages: " + "; ".join(f"{k.name}: {', '.join(s.name for s in k.stages)}" for k in KINDS.values()),
    )
    injector.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help=" or ".join(KINDS))
    injector.add_argument("id", metavar="ID")
    injector.add_argument("--stage", metavar="STAGE", help="a stage of the kind's probe (default: the first)")
    injector.add_argument(
        "--count", metavar="N", help="how many probes fail, 1-10000 (default: retries + 1, enough to declare)"
    )

    start = _watch(sub, "start", "systemctl start fswatch-KIND@ID: returns once the server was seen healthy")
    start.add_argument("--wait", action="store_true", help="follow the unit until it ends; exit with its status")
    _watch(
        sub,
        "stop",
        f"stop the watch (its unit, or its process where systemd is not PID 1: alert 3) and wait for it to end, "
        f"at most {STOP_WAIT} s (SIGKILL near the end; alert 15 if it did not end)",
    )
    _watch(sub, "reset", "forget a dead watch: its state, runtime settings, metrics and the unit's failed state")


def _add_status_commands(sub) -> None:
    metrics_cmd = sub.add_parser("metrics", help="publish|settle a watch's metrics file (run by the units as root)")
    metrics_cmd.add_argument("action", choices=("publish", "settle"), metavar="ACTION", help="publish or settle")
    metrics_cmd.add_argument("kind", metavar="KIND|UNIT",
                             help=f"{' or '.join(KINDS)}, then ID; or (settle) a failed watch's unit, "
                             "fswatch-KIND@ID.service")
    metrics_cmd.add_argument("id", nargs="?", metavar="ID")

    ctdb_cmd = sub.add_parser(
        "ctdb",
        help="CTDB's event script (45.fswatch) runs this: monitor fails when a watch for CTDB has declared this "
        "node's server failed and starts one that is not running, startup checks their settings, shutdown stops them",
    )
    ctdb_cmd.add_argument("event", choices=EVENTS, metavar="EVENT", help=", ".join(EVENTS))

    status = sub.add_parser("status", help="show every watch: state, last probe, failures, PID")
    status.add_argument("kind", nargs="?", choices=sorted(KINDS), metavar="KIND")
    status.add_argument("id", nargs="?", metavar="ID")
    status.add_argument("--json", action="store_true", help="print a JSON array")
    status.add_argument("--history", action="store_true", help="print each watch's last probes as a table")
