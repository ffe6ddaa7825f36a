"""`clp_sambamon` and `clp_nfsmon`: CLUSTERPRO's command lines, unchanged (seed chapter 7).

    clp_sambamon ID -s SHARE [-a IP] [-u USER] [-p PASS] [-i N] [-c N] [-r N]
    clp_nfsmon   ID -d DIR   [-a IP] [-n PORT]           [-i N] [-c N] [-r N]
    clp_*mon     ID -stop [WAIT] | -pause | -continue | -disp | -del

The start form blocks until the watch declares its server failed (exit 1, after alert 6)
or is stopped (exit 0, alert 3), so CLUSTERPRO's PID monitor on an asynchronous EXEC
resource works as the seed describes. Where systemd is PID 1 the watch runs as its unit
fswatch-KIND@ID, with runtime settings under /run/fswatch and a runtime drop-in that
points the unit at them; elsewhere it runs in this process. Either way -stop, -pause and
-continue work from another shell. fswatch extension: clp_sambamon also takes -n PORT.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from fswatch import logs, metrics
from fswatch.control import holder
from fswatch.errors import EXIT_FAILED, EXIT_OK, FswatchError, NotEnded, NotRunning, UsageError, WatchBusy
from fswatch.kinds import KINDS, Kind
from fswatch.runner import control_for, exit_now, read_password, run_watch, stopped_control
from fswatch.settings import Schedule, WatchSettings, check_id, check_password, check_range
from fswatch.units import (
    Systemctl,
    remove_runtime_watch,
    supervision_mode,
    systemd_booted,
    unit_name,
    write_runtime_dropin,
    write_runtime_file,
    write_runtime_settings,
)

CONTROL_FORMS = ("-stop", "-pause", "-continue", "-disp", "-del")
STOP_WAIT = 60  # the seed's default for -stop's wait
PASSWORD_FILE_ENV = "FSWATCH_PASSWORD_FILE"  # set when -p was moved out of argv (in-process mode)
MODE_ENV = "FSWATCH_CLP_MODE"  # "systemd" or "inprocess"; default: systemd where it is PID 1
POLL = 0.1

# option -> (setting name, takes a value); per kind
_COMMON = {"-a": "address", "-i": "interval", "-c": "retries", "-r": "timeout"}
OPTIONS: Dict[str, Dict[str, str]] = {
    "samba": {"-s": "share", "-u": "user", "-p": "password", "-n": "port", **_COMMON},
    "nfs": {"-d": "export", "-n": "port", **_COMMON},
}


@dataclass
class Request:
    kind: Kind
    watch_id: str
    form: str  # "start" or one of CONTROL_FORMS
    values: Dict[str, str] = field(default_factory=dict)
    wait: int = STOP_WAIT
    password_at: Optional[int] = None  # argv index of the -p option (its value follows)


def parse(kind: Kind, argv: Sequence[str]) -> Request:
    """The seed's syntax: the identifier first, then one control form or the start options."""
    if not argv or argv[0].startswith("-"):
        raise UsageError("the identifier must be the first argument", alert=13)
    watch_id = check_id(argv[0])
    rest = list(argv[1:])
    if rest and rest[0] in CONTROL_FORMS:
        form, extra = rest[0], rest[1:]
        if form == "-stop" and len(extra) == 1:
            return Request(kind, watch_id, form, wait=check_range("-stop wait", extra[0]))
        if extra:
            raise UsageError(f"{form} takes {'at most one wait time' if form == '-stop' else 'nothing'} after it")
        return Request(kind, watch_id, form)
    options = OPTIONS[kind.name]
    values: Dict[str, str] = {}
    password_at = None
    i = 1
    while i < len(argv):  # by position: a value may look like an option ("-u -p")
        option = argv[i]
        if option in CONTROL_FORMS:
            raise UsageError(f"{option} cannot be combined with other parameters")
        if option not in options:
            raise UsageError(f"unknown parameter {option!r}")
        if i + 1 >= len(argv):
            raise UsageError(f"{option} needs a value")
        name = options[option]
        if name in values:
            raise UsageError(f"{option} given twice")
        values[name] = argv[i + 1]
        if name == "password":
            password_at = i
        i += 2
    required = "share" if kind.name == "samba" else "export"
    if required not in values:
        raise UsageError(f"{'-s' if kind.name == 'samba' else '-d'} is required", alert=12)
    return Request(kind, watch_id, "start", values, password_at=password_at)


def settings_of(req: Request) -> WatchSettings:
    values = dict(req.values)
    values.pop("password", None)
    schedule = Schedule.parse(values.pop("interval", 30), values.pop("retries", 5), values.pop("timeout", 60))
    target = req.kind.check_target(values)
    return WatchSettings(req.kind.name, req.watch_id, schedule, target)


# -- the start form -------------------------------------------------------------------------------


def start(req: Request, argv: Sequence[str]) -> int:
    settings = settings_of(req)  # validate everything before anything is written
    password = check_password(req.values.get("password"), "the password (-p)")
    if password is not None:
        # This process blocks as long as the watch runs: its argv must not show the password.
        _reexec_without_password(req, argv, password)
    password_file = os.environ.pop(PASSWORD_FILE_ENV, None)  # not for the unit or children
    if password_file:
        password = read_password(Path(password_file))
    if _mode() == "systemd":
        exit_now(start_unit(settings, password))
    exit_now(run_watch(settings, password))


def _mode() -> str:
    return supervision_mode(os.environ.get(MODE_ENV))


def _write_password(kind: str, watch_id: str, password: Optional[str]) -> Path:
    return write_runtime_file(kind, f"{watch_id}.password", (password or "") + "\n", 0o600)


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
_BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from fswatch.clp import reexec_main; sys.exit(reexec_main())"


def _reexec_without_password(req: Request, argv: Sequence[str], password: str) -> None:
    """-p is accepted for compatibility, but a long-running process must not show the
    password in its argv: move it to a 0600 file and run again without it."""
    stopped_control(req.kind.name, req.watch_id, "a second one cannot start")
    if _mode() == "systemd":
        unit = unit_name(req.kind.name, req.watch_id)
        if Systemctl().running(unit):
            raise WatchBusy(f"{unit} is already running")
    assert req.password_at is not None
    args = argv_without_password(argv, req.password_at)
    path = _write_password(req.kind.name, req.watch_id, password)
    env = dict(os.environ, **{PASSWORD_FILE_ENV: str(path)})
    home = str(Path(__file__).resolve().parent.parent)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-I", "-c", _BOOTSTRAP, home, req.kind.name, *args], env)


def reexec_main() -> int:
    """The re-executed start form: argv is [-c, HOME, KIND, ID, options without -p]."""
    if len(sys.argv) < 3 or sys.argv[2] not in KINDS:
        print("fswatch.clp: not to be run by hand", file=sys.stderr)
        return 2
    return main(sys.argv[2], sys.argv[3:])


def start_unit(settings: WatchSettings, password: Optional[str], systemctl: Optional[Systemctl] = None) -> int:
    """Run the watch as fswatch-KIND@ID and follow it until it ends (its exit status)."""
    systemctl = systemctl or Systemctl()
    kind, watch_id = settings.kind, settings.watch_id
    unit = unit_name(kind, watch_id)
    if systemctl.running(unit):
        raise WatchBusy(f"{unit} is already running")
    takes_password = KINDS[kind].takes_password
    write_runtime_settings(settings, password, takes_password)
    write_runtime_dropin(settings, takes_password, "clp_sambamon/clp_nfsmon")
    systemctl("daemon-reload")
    stop_requested = []

    def forward_stop(*_: object) -> None:
        # CLUSTERPRO may end this process instead of running -stop: stop the unit too.
        stop_requested.append(True)
        systemctl("stop", "--no-block", unit)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward_stop)
    systemctl.reset_failed(unit)
    # One call: it returns when the unit has ended, whether it failed to start or ran and
    # ended. (A second `start` after the first returned could start a failed watch again.)
    systemctl("start", "--wait", unit)
    return systemctl.exit_status(unit)


# -- the control forms ----------------------------------------------------------------------------


def stop(req: Request, systemctl: Optional[Systemctl] = None) -> int:
    """End the watch and wait for it at most `wait` seconds (alert 15 otherwise)."""
    kind, watch_id = req.kind.name, req.watch_id
    control = control_for(kind, watch_id)
    unit_active = False
    if systemd_booted():
        systemctl = systemctl or Systemctl()
        unit = unit_name(kind, watch_id)
        unit_active = systemctl.state(unit).get("ActiveState") in ("active", "activating", "reloading")
        if unit_active:
            systemctl("stop", "--no-block", unit)
    pid = holder(control)
    if pid is None and not unit_active:
        return EXIT_OK  # nothing runs: an EXEC stop script must not fail for that
    if pid is not None and not unit_active and pid > 0:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return EXIT_OK
    deadline = time.monotonic() + req.wait
    for _ in range(int(req.wait / POLL) + 2):  # bounded by the wait time
        if holder(control) is None and (not unit_active or _unit_ended(systemctl, kind, watch_id)):
            return EXIT_OK
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    raise NotEnded(f"{kind} watch {watch_id} did not end within {req.wait} s")


def _unit_ended(systemctl: Optional[Systemctl], kind: str, watch_id: str) -> bool:
    assert systemctl is not None
    return systemctl.state(unit_name(kind, watch_id)).get("ActiveState") in ("inactive", "failed")


def pause(req: Request, resume: bool) -> int:
    control = control_for(req.kind.name, req.watch_id)
    if holder(control) is None:
        raise NotRunning(f"{req.kind.name} watch {req.watch_id} is not running")
    if resume:
        control.request_continue()
    else:
        control.request_pause()
    return EXIT_OK


def disp(req: Request) -> int:
    """The PID of the watch (the seed's -disp); after a kill -9 there is none."""
    pid = holder(control_for(req.kind.name, req.watch_id))
    if pid is None:
        print(f"{req.watch_id}: not running", file=sys.stderr)
        return EXIT_FAILED
    print(pid)
    return EXIT_OK


def delete(req: Request) -> int:
    """Forget a dead watch: state, control and runtime settings (the seed's -del)."""
    kind, watch_id = req.kind.name, req.watch_id
    control = stopped_control(kind, watch_id, "-del is only for a dead watch")
    metrics.forget(kind, watch_id)
    control.forget()
    remove_runtime_watch(kind, watch_id, dropin=systemd_booted())
    if systemd_booted():
        systemctl = Systemctl()
        systemctl("daemon-reload")
        systemctl.reset_failed(unit_name(kind, watch_id))
    return EXIT_OK


def main(kind_name: str, argv: Optional[Sequence[str]] = None) -> int:
    from fswatch.cli import report_error, system_fault

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
        return delete(req)
    except FswatchError as exc:
        return report_error(exc, kind.name, watch_id)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # every system error is alert 42 and exit 5
        return report_error(system_fault(exc), kind.name, watch_id)


def sambamon_main() -> int:
    return main("samba")


def nfsmon_main() -> int:
    return main("nfs")


if __name__ == "__main__":
    # `python -m fswatch.clp KIND ARGS...` by hand (the -p re-exec uses reexec_main)
    if len(sys.argv) < 2 or sys.argv[1] not in KINDS:
        print("usage: python -m fswatch.clp samba|nfs ID ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
