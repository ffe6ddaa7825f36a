"""One supervisor for every surface: how a watch is started, stopped and forgotten.

`fswatch`, clp_*mon and the OCF agents start, stop and forget a watch through this class
only, so they do it the same way:

- the supervision mode: where systemd is PID 1 a watch runs as its unit fswatch-KIND@ID,
  elsewhere as a process of its own (`fswatch run`, in the caller's process or detached);
  FSWATCH_SUPERVISION=systemd|inprocess forces one or the other;
- start: a watch configured under /etc/fswatch is its unit as installed; a watch whose
  settings come from a command line or the cluster (clp_*mon, the OCF agents) has them
  written under the runtime dir (fswatch.host.store) and a runtime drop-in that points its unit
  at them;
- stop-and-wait: SIGTERM (the watch ends cleanly with alert 3) and SIGCONT (a stopped or
  frozen watch must see it), then SIGKILL when the wait is nearly over, all bounded by one
  Deadline; under systemd the unit is stopped too;
- forget, for a watch that is not running: its state and control files, runtime settings,
  published metrics and unit drop-in (as any release named it), and the unit's failed state.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from fswatch.core.deadline import Deadline
from fswatch.core.errors import EXIT_OK, NotEnded, SystemFault, WatchBusy
from fswatch.core.protocol import CURRENT, DROPINS
from fswatch.core.settings import check_id
from fswatch.host import metrics_files, paths
from fswatch.host.atomic import write_atomic
from fswatch.host.control import Control, holder
from fswatch.host.files import fault
from fswatch.host.store import SettingsStore
from fswatch.host.systemctl import Systemctl, UnitFailed, bounded, systemd_booted, unit_name
from fswatch.kinds import Kind, WatchSettings

MODE_ENV = "FSWATCH_SUPERVISION"
# The names the clp commands and the OCF agents read before there was one switch; still honoured.
OLD_MODE_ENVS = ("FSWATCH_CLP_MODE", "FSWATCH_OCF_MODE")
SYSTEMD, INPROCESS = "systemd", "inprocess"
STOP_WAIT = 60  # seconds a stop waits for the watch to end by default (the seed's -stop default)
POLL = 0.1  # seconds between looks at a watch that is asked to end
KILL_GRACE = 1.0  # seconds of a stop's wait kept for SIGKILL and the kernel's cleanup
LOG_KEEP = 1 << 20  # bytes of a detached watch's alert log before it is rotated at start
# What a detached watch must not inherit from whoever starts it: a systemd notify, watchdog
# or journal hand-over meant for that process, and the mode switch itself.
PRIVATE_ENV = (MODE_ENV, *OLD_MODE_ENVS, "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
               "CREDENTIALS_DIRECTORY")  # fmt: skip
# Until, for start_unit: the first healthy probe (READY=1), the unit's end, or the job queued.
READY, ENDED, QUEUED = "ready", "ended", "queued"


def supervision_mode(environ: Mapping[str, str] = os.environ) -> str:
    """SYSTEMD where systemd is PID 1, else INPROCESS; FSWATCH_SUPERVISION forces one."""
    for name in (MODE_ENV, *OLD_MODE_ENVS):
        if environ.get(name) in (SYSTEMD, INPROCESS):
            return environ[name]
    return SYSTEMD if systemd_booted() else INPROCESS


DROPIN_DIR = Path("/run/systemd/system")  # runtime unit configuration, gone at reboot (systemd.unit(5))


def dropin_path(kind: str, watch_id: str, name: str = CURRENT.dropin) -> Path:
    """The unit's runtime drop-in (`name`: as a release of the control protocol named it)."""
    return DROPIN_DIR / f"{unit_name(kind, watch_id)}.d" / name


class SystemdAbsent(SystemFault):
    """A systemctl action where systemd is not PID 1 (alert 42): one line that says so."""

    def __init__(self, action: str, kind: str, watch_id: str) -> None:
        super().__init__(
            "systemd",
            errno.ENOENT,
            f"systemd is not running on this machine (PID 1 is not systemd), so there is no unit to {action}; "
            f"`fswatch run {kind} {watch_id}` runs the watch in the foreground",
        )


class Supervisor:
    """Starts, stops and forgets the watch KIND ID."""

    def __init__(
        self,
        kind: Kind,
        watch_id: str,
        *,
        deadline: Optional[Deadline] = None,
        environ: Mapping[str, str] = os.environ,
        systemctl: Optional[Systemctl] = None,
    ) -> None:
        self.kind = kind
        self.watch_id = check_id(watch_id)
        self.deadline = deadline
        self.systemd = supervision_mode(environ) == SYSTEMD
        # An agent must answer before the cluster's timeout: systemctl is bounded by it too.
        self.systemctl = systemctl or (Systemctl(bounded(deadline)) if deadline is not None else Systemctl())
        self.unit = unit_name(kind.name, watch_id)
        self.control = Control.of(kind.name, watch_id)
        self.child: Optional[subprocess.Popen] = None

    # -- looking ----------------------------------------------------------------------------
    def holder(self) -> Optional[int]:
        """The PID of the live watch (fswatch.host.control.holder); None when none is alive."""
        return holder(self.control)

    def running(self) -> bool:
        """The watch's process exists: it holds its lock, or its unit is up (it may not
        hold the lock yet), or the child this supervisor started has not ended."""
        if self.holder() is not None:
            return True
        if self.child is not None and self.child.poll() is None:
            return True
        return self.systemd and self.systemctl.running(self.unit)

    def ensure_stopped(self, why: str) -> None:
        """WatchBusy (alert 14) when the watch runs: `why` says what cannot be done."""
        pid = self.holder()
        if pid is not None:
            raise WatchBusy(f"{self.kind.name} watch {self.watch_id} is running (pid {pid}); {why}")
        if self.systemd and self.systemctl.running(self.unit):
            raise WatchBusy(f"{self.unit} is already running; {why}")

    def where_alerts_go(self) -> str:
        return f"journalctl -u {self.unit}" if self.systemd else str(self.log_path())

    def log_path(self) -> Path:
        """A detached watch's alerts (no journal outside systemd), one line each."""
        return paths.runtime_dir() / self.kind.name / f"{self.watch_id}.log"

    # -- starting ---------------------------------------------------------------------------
    def start_unit(
        self,
        settings: Optional[WatchSettings] = None,
        password: Optional[str] = None,
        *,
        keytab: Optional[bytes] = None,
        writer: str = "fswatch",
        service_lines: Sequence[str] = (),
        until: str = READY,
    ) -> int:
        """Start fswatch-KIND@ID: as installed (settings None), or with these settings kept
        for this boot (a runtime watch). Returns once the first probe was healthy (READY),
        once the job is queued (QUEUED), or once the unit has ended, with its exit status
        (ENDED: the watch's verdict, 0 stopped, 1 declared failed). UnitFailed when
        systemctl refuses; SystemdAbsent where systemd is not PID 1."""
        if not self.systemd:
            raise SystemdAbsent("start", self.kind.name, self.watch_id)
        if settings is not None:
            SettingsStore.runtime().write(settings, password, keytab)
            self._write_dropin(writer, service_lines, keytab is not None)
            self.systemctl("daemon-reload")
            self.systemctl.reset_failed(self.unit)
        if until == ENDED:
            # One call that returns when the unit has ended: a second `start` after the
            # first returned could start a watch that had just failed again.
            self.systemctl("start", "--wait", self.unit)
            return self.systemctl.exit_status(self.unit)
        proc = self.systemctl("start", *(["--no-block"] if until == QUEUED else []), self.unit)
        if proc.returncode != 0:
            raise UnitFailed(self.unit, "start", proc.stderr.strip())
        return EXIT_OK

    def _write_dropin(self, writer: str, service_lines: Sequence[str], keytab: bool = False) -> Path:
        """The runtime drop-in that points fswatch-KIND@ID at the runtime settings."""
        runtime = paths.runtime_dir()
        lines = [
            f"# Written by {writer} ({CURRENT.name}): this watch's settings live under {runtime}.",
            "[Service]",
            f"Environment=FSWATCH_CONFIG_DIR={runtime}",
        ]
        store = SettingsStore.runtime()
        if self.kind.takes_password or self.kind.takes_keytab:
            lines.append("LoadCredential=")  # the unit's own point at /etc/fswatch: these live under runtime
        if self.kind.takes_password:
            lines.append(f"LoadCredential=password:{store.password_path(self.kind.name, self.watch_id)}")
        if keytab:  # the unit's SetCredential=keytab:"" stays the default of a watch without one
            lines.append(f"LoadCredential=keytab:{store.keytab_path(self.kind.name, self.watch_id)}")
        lines += list(service_lines)
        dropin = dropin_path(self.kind.name, self.watch_id)
        try:
            # Never DROPIN_DIR itself: its existence is how every fswatch command tells that
            # systemd is PID 1 (sd_booted), so making it would mislead them all.
            dropin.parent.mkdir(exist_ok=True, mode=0o755)
        except OSError as exc:
            raise fault("mkdir", exc, dropin.parent) from None
        write_atomic(dropin, "\n".join(lines) + "\n", mode=0o644)
        self._remove_dropins(keep=dropin.name)  # an earlier release's, left by a watch it ran
        return dropin

    def spawn(self, settings: WatchSettings, password: Optional[str], keytab: Optional[bytes] = None) -> None:
        """Run the watch as a detached process of its own (`fswatch run`, in a new session)
        with these settings kept for this boot: the OCF agents' way where systemd is not
        PID 1. Its alerts go to log_path()."""
        SettingsStore.runtime().write(settings, password, keytab)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCF_") and k not in PRIVATE_ENV}
        env["FSWATCH_CONFIG_DIR"] = str(paths.runtime_dir())
        env["FSWATCH_RUNTIME_DIR"] = str(paths.runtime_dir())
        log_path = self.log_path()
        try:
            if log_path.stat().st_size > LOG_KEEP:  # alerts only, but a node runs for years
                os.replace(log_path, log_path.with_name(log_path.name + ".1"))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise fault("rename", exc, log_path) from None
        try:
            log = open(log_path, "ab")
        except OSError as exc:
            raise fault("open", exc, log_path) from None
        try:
            # A new session and no inherited pipes: the child outlives its starter, and whoever
            # reads the starter's output (Pacemaker, ocf-tester) is not kept waiting for it.
            self.child = subprocess.Popen(
                [sys.executable, "-m", "fswatch", "run", self.kind.name, self.watch_id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise fault("exec", exc, sys.executable) from None
        finally:
            log.close()

    # -- stopping ---------------------------------------------------------------------------
    def stop(self, deadline: Deadline) -> bool:
        """End the watch and wait for it until `deadline`: its unit (under systemd) and any
        process holding its lock get SIGTERM and SIGCONT; what still runs KILL_GRACE before
        the deadline gets SIGKILL. False when nothing ran; NotEnded (alert 15) when it did
        not end in time."""
        unit_up = self.systemd and self.systemctl.running(self.unit)
        if unit_up:
            self.systemctl("stop", "--no-block", self.unit)
        if not unit_up and not self.running():
            return False
        for sig, until in ((signal.SIGTERM, deadline.remaining() - KILL_GRACE), (signal.SIGKILL, None)):
            self._signal(sig)
            if sig == signal.SIGKILL and self.systemd:
                self.systemctl("kill", "--signal=SIGKILL", self.unit)
            if self._wait_ended(deadline, until):
                return True
        raise NotEnded(f"{self.kind.name} watch {self.watch_id} did not end within the stop's wait")

    def _signal(self, sig: int) -> None:
        pids = {self.holder()}
        if self.child is not None and self.child.poll() is None:
            pids.add(self.child.pid)
        for pid in pids:
            if pid is None or pid <= 0:
                continue
            try:
                os.kill(pid, sig)
                if sig == signal.SIGTERM:
                    os.kill(pid, signal.SIGCONT)  # a stopped (frozen) watch must see it too
            except ProcessLookupError:
                pass

    def _wait_ended(self, deadline: Deadline, seconds: Optional[float]) -> bool:
        """Whether the watch ended within `seconds` (None: until the deadline); bounded by count too."""
        wait = max(0.2, deadline.remaining() if seconds is None else seconds)
        end = time.monotonic() + wait
        for _ in range(int(wait / POLL) + 2):
            if not self.running():
                return True
            if time.monotonic() >= end:
                break
            time.sleep(POLL)
        return not self.running()

    # -- forgetting -------------------------------------------------------------------------
    def forget(self, why: str = "stop it first", reload: bool = True) -> None:
        """Remove everything a watch that is not running leaves: published metrics, state
        and control files, runtime settings, the unit's drop-in and its failed state.
        WatchBusy (alert 14) while it runs.

        `reload=False` removes the drop-in without `systemctl daemon-reload` (0.3-1.2 s measured
        in a node under load): for Pacemaker's stop, which lies on the failover path, while the
        unit stays inactive until a start writes its drop-in again and reloads."""
        self.ensure_stopped(why)
        kind, watch_id = self.kind.name, self.watch_id
        metrics_files.forget(kind, watch_id)  # before the control files: it is in their directory
        self.control.forget()
        SettingsStore.runtime().remove(kind, watch_id)
        if not self.systemd:
            return
        if self._remove_dropins() and reload:
            self.systemctl("daemon-reload")
        # A unit's RuntimeDirectory= (kept by RuntimeDirectoryPreserve=yes) is systemd's to remove.
        self.systemctl("clean", "--what=runtime", self.unit)
        self.systemctl.reset_failed(self.unit)

    def _remove_dropins(self, keep: str = "") -> bool:
        """Remove the unit's runtime drop-ins, as every release named them (fswatch.core.protocol),
        but `keep`; True when there was one."""
        removed = False
        for name in DROPINS:
            if name == keep:
                continue
            dropin = dropin_path(self.kind.name, self.watch_id, name)
            try:
                dropin.unlink()
                removed = True
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise fault("unlink", exc, dropin) from None
        if not keep:
            try:
                dropin_path(self.kind.name, self.watch_id).parent.rmdir()
            except OSError:
                pass
        return removed
