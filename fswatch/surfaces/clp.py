"""`clp_sambamon` and `clp_nfsmon`: CLUSTERPRO's command lines, unchanged (seed chapter 7).

    clp_sambamon ID -s SHARE [-a IP] [-u USER] [-p PASS] [-i N] [-c N] [-r N]
    clp_nfsmon   ID -d DIR   [-a IP] [-n PORT]           [-i N] [-c N] [-r N]
    clp_*mon     ID -stop [WAIT] | -pause | -continue | -disp | -del
    clp_*mon     ID -inject [STAGE] [N]        (fswatch extension: CLUSTERPRO X's dummy failure)

The start form blocks until the watch declares its server failed (exit 1, after alert 6)
or is stopped (exit 0, alert 3), so CLUSTERPRO's PID monitor on an asynchronous EXEC
resource works as the seed describes. Where systemd is PID 1 the watch runs as its unit
fswatch-KIND@ID, with runtime settings under /run/fswatch and a runtime drop-in that
points the unit at them; elsewhere it runs in this process. Either way -stop, -pause and
-continue work from another shell. fswatch extensions: clp_sambamon also takes -n PORT;
-inject makes the next N probes (default retries + 1) fail at STAGE (default the probe's
first), like `fswatch inject`; -continue also clears it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import EXIT_FAILED, EXIT_OK, FswatchError, NotRunning, UsageError
from fswatch.core.settings import check_id, check_password, check_range
from fswatch.host import keytabs, logs, passwords, signals
from fswatch.host.control import Control
from fswatch.host.sinks import report_error, system_fault
from fswatch.host.store import SettingsStore
from fswatch.host.supervisor import ENDED, STOP_WAIT, Supervisor
from fswatch.kinds import KINDS, Kind, WatchSettings, build
from fswatch.watch import inject as injection
from fswatch.watch import status
from fswatch.watch.runner import exit_now, run_watch

CONTROL_FORMS = ("-stop", "-pause", "-continue", "-disp", "-del", "-inject")
PASSWORD_FILE_ENV = "FSWATCH_PASSWORD_FILE"  # set when -p was moved out of argv (in-process mode)
WRITER = "clp_sambamon/clp_nfsmon"  # who wrote a runtime watch's drop-in

# The options every kind takes; a kind adds its own (Kind.clp_options: -s, -d, -u, -p, -n).
COMMON_OPTIONS = {"-a": "address", "-i": "interval", "-c": "retries", "-r": "timeout"}


def options(kind: Kind) -> Dict[str, str]:
    """The start form's options of `kind`: option -> setting name (each takes a value)."""
    return {**kind.clp_options, **COMMON_OPTIONS}


@dataclass
class Request:
    """One clp_*mon command line: the watch it names, its form and its values."""

    kind: Kind
    watch_id: str
    form: str  # "start" or one of CONTROL_FORMS
    values: Dict[str, str] = field(default_factory=dict)
    wait: int = STOP_WAIT
    password_at: Optional[int] = None  # argv index of the -p option (its value follows)
    stage: Optional[str] = None  # -inject's STAGE (None: the probe's first)
    count: Optional[int] = None  # -inject's N (None: retries + 1)


def parse(kind: Kind, argv: Sequence[str]) -> Request:
    """The seed's syntax: the identifier first, then one control form or the start options."""
    if not argv or argv[0].startswith("-"):
        raise UsageError("the identifier must be the first argument", alert=alerts.NO_ID)
    watch_id = check_id(argv[0])
    rest = list(argv[1:])
    if rest and rest[0] in CONTROL_FORMS:
        form, extra = rest[0], rest[1:]
        if form == "-stop" and len(extra) == 1:
            return Request(kind, watch_id, form, wait=check_range("-stop wait", extra[0]))
        if form == "-inject":
            return _inject_request(kind, watch_id, extra)
        if extra:
            raise UsageError(f"{form} takes {'at most one wait time' if form == '-stop' else 'nothing'} after it")
        return Request(kind, watch_id, form)
    known = options(kind)
    values: Dict[str, str] = {}
    password_at = None
    i = 1
    while i < len(argv):  # by position: a value may look like an option ("-u -p")
        option = argv[i]
        if option in CONTROL_FORMS:
            raise UsageError(f"{option} cannot be combined with other parameters")
        if option not in known:
            raise UsageError(f"unknown parameter {option!r}")
        if i + 1 >= len(argv):
            raise UsageError(f"{option} needs a value")
        name = known[option]
        if name in values:
            raise UsageError(f"{option} given twice")
        values[name] = argv[i + 1]
        if name == "password":
            password_at = i
        i += 2
    required = kind.required.name
    if required not in values:
        option = next(o for o, name in known.items() if name == required)
        raise UsageError(f"{option} is required", alert=alerts.NO_TARGET)
    return Request(kind, watch_id, "start", values, password_at=password_at)


def _inject_request(kind: Kind, watch_id: str, extra: Sequence[str]) -> Request:
    """-inject [STAGE] [N]: a stage name is never a number, so one word is either."""
    if len(extra) > 2:
        raise UsageError("-inject takes at most a stage and a count after it")
    stage = count = None
    if extra and not extra[-1].isdigit():
        if len(extra) == 2:
            raise UsageError("-inject takes the stage first, then the count")
        stage = kind.stage(extra[0]).name
    elif extra:
        count = check_range("-inject count", extra[-1])
        if len(extra) == 2:
            stage = kind.stage(extra[0]).name
    return Request(kind, watch_id, "-inject", stage=stage, count=count)


SECRETS = ("password", "keytab")  # clp options that are no settings: -p PASS, -k KEYTAB (a file)


def settings_of(req: Request) -> WatchSettings:
    return build(req.kind, req.watch_id, {k: v for k, v in req.values.items() if k not in SECRETS})


# -- the start form -------------------------------------------------------------------------------


def start(req: Request, argv: Sequence[str]) -> int:
    settings = settings_of(req)  # validate everything before anything is written
    password = check_password(req.values.get("password"), "the password (-p)")
    keytab_file = req.values.get("keytab")
    req.kind.check_logon(settings.target, password, keytab_file is not None)
    keytab = keytabs.from_option(keytab_file, settings.target.get("principal"))  # type: ignore[arg-type]
    if password is not None:
        # This process blocks as long as the watch runs: its argv must not show the password.
        _reexec_without_password(req, argv, password)
    password_file = os.environ.pop(PASSWORD_FILE_ENV, None)  # not for the unit or children
    if password_file:
        password = passwords.read(Path(password_file))
    sup = Supervisor(req.kind, req.watch_id)
    if sup.systemd:
        exit_now(start_unit(sup, settings, password, keytab))
    exit_now(run_watch(settings, password, keytab=str(Path(keytab_file).resolve()) if keytab_file else None))


def argv_without_password(argv: Sequence[str], password_at: int) -> List[str]:
    """argv without the -p option at `password_at` and the value after it, by position:
    a password equal to another argument, or one that starts with '-', removes nothing else."""
    if argv[password_at] != "-p" or password_at + 1 >= len(argv):
        raise ValueError("password_at does not point at -p and its value")
    return [*argv[:password_at], *argv[password_at + 2 :]]


# The re-executed process runs this fswatch, from where this module was loaded, in an
# isolated interpreter (-I: no PYTHONPATH, no user site, and neither the working directory
# nor a script's directory on sys.path), so a `fswatch` package in the caller's working
# directory or on PYTHONPATH cannot take its place.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); from fswatch.surfaces.clp import reexec_main; sys.exit(reexec_main())"
)


def _reexec_without_password(req: Request, argv: Sequence[str], password: str) -> None:
    """-p is accepted for compatibility, but a long-running process must not show the
    password in its argv: move it to a 0600 file and run again without it."""
    Supervisor(req.kind, req.watch_id).ensure_stopped("a second one cannot start")
    assert req.password_at is not None
    args = argv_without_password(argv, req.password_at)
    path = SettingsStore.runtime().write_password(req.kind, req.watch_id, password)
    env = dict(os.environ, **{PASSWORD_FILE_ENV: str(path)})
    home = str(Path(__file__).resolve().parent.parent)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-I", "-c", _BOOTSTRAP, home, req.kind.name, *args], env)


def reexec_main() -> int:
    """The re-executed start form: argv is [-c, HOME, KIND, ID, options without -p]."""
    if len(sys.argv) < 3 or sys.argv[2] not in KINDS:
        print("fswatch.surfaces.clp: not to be run by hand", file=sys.stderr)
        return 2
    return main(sys.argv[2], sys.argv[3:])


def start_unit(
    sup: Supervisor, settings: WatchSettings, password: Optional[str], keytab: Optional[bytes] = None
) -> int:
    """Run the watch as fswatch-KIND@ID and follow it until it ends (its exit status).

    This process is the one CLUSTERPRO's PID monitor watches: a signal must do to it what it
    does to the watch (fswatch.host.signals), never end it while the watch runs on."""
    sup.ensure_stopped("a second one cannot start")

    def forward_stop(_: int) -> None:
        # CLUSTERPRO may end this process instead of running -stop: stop the unit too.
        sup.systemctl("stop", "--no-block", sup.unit)

    def forward_report(signum: int) -> None:
        pid = sup.holder()
        if pid is not None and pid > 0:
            try:
                os.kill(pid, signum)
            except OSError:  # ended meanwhile: the unit's end ends this process too
                pass

    signals.install(forward_stop, forward_report)
    return sup.start_unit(settings, password, keytab=keytab, writer=WRITER, until=ENDED)


# -- the control forms ----------------------------------------------------------------------------


def stop(req: Request) -> int:
    """End the watch and wait for it at most `wait` seconds (alert 15 otherwise).

    A watch that is not running is said (alert 145, at notice priority) but is not an error:
    exit 0, unlike `fswatch stop`. In the seed's design the watch's own end (alert 6) is what
    fails the group over, and the group's stop then runs the EXEC resource's stop.sh, whose
    -stop finds the watch ended: on every failover. CLUSTERPRO takes a non-zero exit of a
    deactivation as a failed deactivation, whose final action may stop the cluster or shut the
    node down; the seed's stop.sh always exits 0, but scripts built on it may pass -stop's
    status on. The watch is not running afterwards, which is all -stop promises."""
    if not Supervisor(req.kind, req.watch_id).stop(Deadline.after(req.wait)):
        report_error(
            NotRunning(f"{req.kind.name} watch {req.watch_id} is not running; nothing to stop"),
            req.kind, req.watch_id, priority=alerts.NOTICE,
        )  # fmt: skip
    return EXIT_OK


def pause(req: Request, resume: bool) -> int:
    view = status.running(req.kind.name, req.watch_id, "continue" if resume else "pause")
    control = Control.of(req.kind.name, req.watch_id)
    if resume:
        control.request_continue()
        control.clear_injection()  # -continue also ends a failure test (-inject)
    else:
        control.request_pause(version=view.protocol)  # as the watch's release reads it
    return EXIT_OK


def inject(req: Request) -> int:
    """Fail the watch's next probes at a stage (fswatch extension; fswatch.watch.inject)."""
    control = Control.of(req.kind.name, req.watch_id)
    made = injection.request(req.kind, req.watch_id, req.stage, req.count, control)
    print(injection.describe(req.kind, req.watch_id, made, status.look(req.kind.name, req.watch_id).current))
    return EXIT_OK


def disp(req: Request) -> int:
    """The PID of the watch (the seed's -disp); after a kill -9 there is none."""
    view = status.look(req.kind.name, req.watch_id)
    if not view.alive:
        print(f"{req.watch_id}: not running", file=sys.stderr)
        return EXIT_FAILED
    print(view.pid)
    return EXIT_OK


def delete(req: Request) -> int:
    """Forget a dead watch: state, control and runtime settings, metrics (the seed's -del)."""
    Supervisor(req.kind, req.watch_id).forget("-del is only for a dead watch")
    return EXIT_OK


def main(kind_name: str, argv: Optional[Sequence[str]] = None) -> int:
    logs.configure()
    kind = KINDS[kind_name]
    argv = list(sys.argv[1:] if argv is None else argv)
    watch_id = None
    try:
        req = parse(kind, argv)
        watch_id = req.watch_id
        if req.form == "start":
            return start(req, argv)
        if req.form == "-stop":
            return stop(req)
        if req.form in ("-pause", "-continue"):
            return pause(req, resume=req.form == "-continue")
        if req.form == "-disp":
            return disp(req)
        if req.form == "-inject":
            return inject(req)
        return delete(req)
    except FswatchError as exc:
        return report_error(exc, kind, watch_id)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # every system error is alert 42 and exit 5
        return report_error(system_fault(exc), kind, watch_id)


def sambamon_main() -> int:
    return main("samba")


def nfsmon_main() -> int:
    return main("nfs")


if __name__ == "__main__":
    # `python -m fswatch.surfaces.clp KIND ARGS...` by hand (the -p re-exec uses reexec_main)
    if len(sys.argv) < 2 or sys.argv[1] not in KINDS:
        print(f"usage: python -m fswatch.surfaces.clp {'|'.join(KINDS)} ID ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
