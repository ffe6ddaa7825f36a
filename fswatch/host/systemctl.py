"""systemctl, and the watches' unit names: fswatch-KIND@ID.service.

systemctl is run through an injectable runner (bounded by a Deadline where a caller must
answer in time: the OCF agents); the commands are tested for real inside a booted systemd
container (tests/integration/test_units.py, test_clp_units.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Dict, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.core.errors import EXIT_FAILED, EXIT_OK, FswatchError, SystemFault, UsageError
from fswatch.core.settings import check_id
from fswatch.kinds import KINDS

if TYPE_CHECKING:  # a watch imports this module for unit names only: subprocess when a command runs
    import subprocess

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    import subprocess

    return subprocess.run(list(argv), capture_output=True, text=True)


def bounded(deadline: Deadline) -> Runner:
    """A runner whose commands end by `deadline` (at least 0.5 s each): exit 124 past it."""

    def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        import subprocess

        try:
            return subprocess.run(list(argv), capture_output=True, text=True, timeout=max(0.5, deadline.remaining()))
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(argv), 124, "", f"{argv[0]} timed out")

    return run


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
