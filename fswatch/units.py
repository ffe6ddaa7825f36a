"""The watches as systemd units: fswatch-KIND@ID.service, driven through systemctl.

systemctl is run through an injectable runner; the commands are tested for real inside a
booted systemd container (tests/integration/test_units.py, test_clp_units.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from fswatch import files, paths
from fswatch.atomic import write_atomic
from fswatch.errors import EXIT_FAILED, EXIT_OK, FswatchError, SystemFault, UsageError
from fswatch.kinds import KINDS
from fswatch.settings import WatchSettings, check_id

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


def unit_name(kind: str, watch_id: str) -> str:
    # IDs are letters, digits, '_' and '-' (settings.check_id): valid instance names as they are.
    return f"fswatch-{kind}@{check_id(watch_id)}.service"


def watch_of_unit(unit: str) -> Tuple[str, str]:
    """(kind, ID) of a watch's unit name, the inverse of unit_name(); UsageError otherwise."""
    prefix, at, rest = unit.partition("@")
    kind = prefix[len("fswatch-"):] if prefix.startswith("fswatch-") else ""
    if not at or kind not in KINDS or not rest.endswith(".service"):
        raise UsageError(f"not a watch's unit: {unit!r} (fswatch-samba@ID.service or fswatch-nfs@ID.service)")
    return kind, check_id(rest[: -len(".service")])


def systemd_booted() -> bool:
    """sd_booted(3): systemd is PID 1 when /run/systemd/system exists."""
    return os.path.isdir("/run/systemd/system")


RUNNING_PROPERTIES = ("ActiveState", "Job")


def running_in(shown: Dict[str, str]) -> bool:
    """Whether a unit is running by its RUNNING_PROPERTIES (Systemctl.show): active, on its
    way up or down, or with a job queued. The job counts because `systemctl start --no-block`
    returns once the job is queued, and until systemd dispatches it the unit still says
    inactive (or failed)."""
    return bool(shown.get("Job")) or shown.get("ActiveState") in ("active", "activating", "reloading", "deactivating")


class Systemctl:
    def __init__(self, runner: Runner = _run) -> None:
        self.runner = runner

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return self.runner(["systemctl", *args])
        except FileNotFoundError as exc:
            raise SystemFault("systemctl", exc.errno or 2, "systemctl not found: is systemd installed?") from None
        except OSError as exc:  # not executable, out of processes or memory
            raise SystemFault("systemctl", exc.errno or 0, f"cannot run systemctl: {exc.strerror or exc}") from None

    def show(self, unit: str, *props: str) -> Dict[str, str]:
        proc = self("show", unit, "--property=" + ",".join(props))
        out = {}
        for line in proc.stdout.splitlines():
            key, _, value = line.partition("=")
            out[key] = value
        return out

    def start(self, unit: str, wait: bool = False) -> int:
        """Start; returns when the watch saw its server healthy (READY=1) or failed.

        With wait, follow the unit until it ends and return its exit status (the watch's
        verdict: 0 stopped, 1 server declared failed).
        """
        if wait:
            # One call that returns when the unit has ended: a second `start` after the
            # first returned could start a watch that had just failed again.
            self("start", "--wait", unit)
            return self.exit_status(unit)
        proc = self("start", unit)
        if proc.returncode != 0:
            raise UnitFailed(unit, "start", proc.stderr.strip())
        return EXIT_OK

    def exit_status(self, unit: str) -> int:
        props = self.show(unit, "ActiveState", "Result", "ExecMainStatus")
        if props.get("Result") == "success":
            return EXIT_OK
        status = props.get("ExecMainStatus", "")
        return int(status) if status.isdigit() and int(status) else EXIT_FAILED

    def stop(self, unit: str) -> int:
        proc = self("stop", unit)
        if proc.returncode != 0:
            raise UnitFailed(unit, "stop", proc.stderr.strip())
        return EXIT_OK

    def reset_failed(self, unit: str) -> None:
        self("reset-failed", unit)

    def running(self, unit: str) -> bool:
        """Active, on its way up or down, or with a job queued: a second watch of this ID must
        not start (see running_in())."""
        return running_in(self.show(unit, *RUNNING_PROPERTIES))

    def state(self, unit: str) -> Dict[str, str]:
        return self.show(unit, "ActiveState", "SubState", "Result", "MainPID", "StatusText")


class UnitFailed(FswatchError):
    """systemctl refused or the unit failed to start: the journal says why."""

    def __init__(self, unit: str, verb: str, detail: str) -> None:
        super().__init__(f"systemctl {verb} {unit} failed{': ' + detail if detail else ''}; see journalctl -u {unit}")


# -- a watch whose settings live only for this boot ---------------------------------------------
# clp_sambamon/clp_nfsmon and the OCF agents take a watch's settings on their command line or
# from the cluster, not from /etc/fswatch: they write them under the runtime dir, and a
# runtime drop-in points the unit (or an in-process `fswatch run`) at them.

MODE_SYSTEMD, MODE_INPROCESS = "systemd", "inprocess"


def supervision_mode(override: Optional[str] = None) -> str:
    """Run a watch as its unit where systemd is PID 1, in this process tree elsewhere;
    `override` (an environment variable's value, for tests) forces one or the other."""
    if override in (MODE_SYSTEMD, MODE_INPROCESS):
        return override  # type: ignore[return-value]
    return MODE_SYSTEMD if systemd_booted() else MODE_INPROCESS


def runtime_conf_path(kind: str, watch_id: str) -> Path:
    return paths.runtime_dir() / kind / f"{check_id(watch_id)}.conf"


def runtime_password_path(kind: str, watch_id: str) -> Path:
    return paths.runtime_dir() / kind / f"{check_id(watch_id)}.password"


def dropin_path(kind: str, watch_id: str) -> Path:
    return Path("/run/systemd/system") / f"{unit_name(kind, watch_id)}.d" / "50-runtime.conf"


def write_runtime_file(kind: str, name: str, text: str, mode: int) -> Path:
    """<runtime>/<kind>/<name>, written atomically in the kind's directory opened without
    following links (fswatch.files.open_tree), so no planted link redirects it."""
    fd = files.open_tree(paths.runtime_dir(), [kind], create=True)
    assert fd is not None
    try:
        write_atomic(name, text, mode=mode, dir_fd=fd)
    finally:
        os.close(fd)
    return paths.runtime_dir() / kind / name


def write_runtime_settings(settings: WatchSettings, password: Optional[str], takes_password: bool) -> Path:
    """<runtime>/<kind>/<ID>.conf (+ .password, 0600, empty for a guest), read by `fswatch run`
    with FSWATCH_CONFIG_DIR=<runtime>. Returns the runtime dir."""
    kind, watch_id = settings.kind, check_id(settings.watch_id)
    if takes_password:
        # Always, empty for a guest watch: the unit's LoadCredential= fails on a missing file.
        write_runtime_file(kind, f"{watch_id}.password", (password or "") + "\n", 0o600)
    write_runtime_file(kind, f"{watch_id}.conf", settings.to_conf(), 0o644)
    return paths.runtime_dir()


def write_runtime_dropin(
    settings: WatchSettings, takes_password: bool, writer: str, service_lines: Sequence[str] = ()
) -> Path:
    """The runtime drop-in that points fswatch-KIND@ID at the runtime settings; the caller
    runs `systemctl daemon-reload`."""
    kind, watch_id = settings.kind, settings.watch_id
    runtime = paths.runtime_dir()
    lines = [
        f"# Written by {writer}: this watch's settings live under {runtime}.",
        "[Service]",
        f"Environment=FSWATCH_CONFIG_DIR={runtime}",
    ]
    if takes_password:
        lines += ["LoadCredential=", f"LoadCredential=password:{runtime_password_path(kind, watch_id)}"]
    lines += list(service_lines)
    dropin = dropin_path(kind, watch_id)
    try:
        dropin.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    except OSError as exc:
        raise files.fault("mkdir", exc, dropin.parent) from None
    write_atomic(dropin, "\n".join(lines) + "\n", mode=0o644)
    return dropin


def remove_runtime_watch(kind: str, watch_id: str, dropin: bool) -> bool:
    """Delete the runtime settings (and the drop-in); True when a drop-in was removed, so
    the caller knows a daemon-reload is due. The settings go by name inside <runtime>/<kind>
    opened without links: nothing outside the runtime tree is deleted."""
    fd = files.open_tree(paths.runtime_dir(), [kind], create=False)
    if fd is not None:
        try:
            for name in (f"{check_id(watch_id)}.conf", f"{watch_id}.password"):
                try:
                    os.unlink(name, dir_fd=fd)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise files.fault("unlink", exc, paths.runtime_dir() / kind / name) from None
        finally:
            os.close(fd)
    removed_dropin = False
    if dropin:
        try:
            dropin_path(kind, watch_id).unlink()
            removed_dropin = True
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise files.fault("unlink", exc, dropin_path(kind, watch_id)) from None
        try:
            dropin_path(kind, watch_id).parent.rmdir()
        except OSError:
            pass
    return removed_dropin
