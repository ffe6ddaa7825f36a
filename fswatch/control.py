"""Control files under <runtime dir>/<kind>/<ID>/: the pause request and the instance lock.

Pause and continue are files, never SIGSTOP (SPEC.md section 5): `fswatch pause` writes
`pause`, `fswatch continue` removes it, the watch looks before every probe and while
paused, so a change is noticed within one interval. A pause's expiry is kept on
CLOCK_BOOTTIME, which no wall-clock change moves and which every process shares.
"""

from __future__ import annotations

import errno as errno_mod
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from fswatch.atomic import write_atomic
from fswatch.errors import SystemFault, UsageError, WatchBusy


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90', '90s', '15m', '2h', '1d' → seconds (1 s .. 30 days)."""
    text = text.strip()
    unit = text[-1:] if text[-1:] in _UNITS else "s"
    number = text[:-1] if text[-1:] in _UNITS else text
    if not number.isdigit() or not number.isascii():
        raise UsageError(f"duration {text!r} is not a number with an optional s, m, h or d")
    seconds = int(number) * _UNITS[unit]
    if not 1 <= seconds <= 30 * 86400:
        raise UsageError(f"duration {text!r} must be between 1 s and 30 days")
    return seconds


@dataclass(frozen=True)
class PauseState:
    paused: bool
    until: Optional[float] = None  # on CLOCK_BOOTTIME; None = until continued
    seconds: Optional[int] = None  # the requested duration, for alert 93


class Control:
    """The control directory of one watch."""

    def __init__(self, directory: Path, clock: Callable[[], float] = boottime) -> None:
        self.directory = directory
        self.clock = clock

    @property
    def pause_file(self) -> Path:
        return self.directory / "pause"

    @property
    def lock_file(self) -> Path:
        return self.directory / "lock"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def forget(self) -> None:
        """Remove the state, pause and lock files and the directory of a watch that is not running."""
        for path in (self.state_file, self.pause_file, self.lock_file):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        try:
            self.directory.rmdir()
        except OSError:
            pass  # not empty (files we don't own) or already gone

    def ensure(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        except OSError as exc:
            raise SystemFault("mkdir", exc.errno or 0, f"cannot create {self.directory}: {exc.strerror}") from exc

    def request_pause(self, seconds: Optional[int] = None) -> None:
        self.ensure()
        now = self.clock()
        record = {"requested_at": time.time(), "seconds": seconds, "until_boottime": None}
        if seconds is not None:
            record["until_boottime"] = now + seconds
        write_atomic(self.pause_file, json.dumps(record) + "\n")

    def request_continue(self) -> bool:
        """Remove the pause request; False when there was none."""
        try:
            self.pause_file.unlink()
        except FileNotFoundError:
            return False
        return True

    def pause_state(self) -> PauseState:
        try:
            raw = self.pause_file.read_text()
        except FileNotFoundError:
            return PauseState(False)
        except OSError:
            return PauseState(True)  # present but unreadable: honour the pause
        try:
            record = json.loads(raw)
            until = record.get("until_boottime")
            seconds = record.get("seconds")
            until = float(until) if until is not None else None
            seconds = int(seconds) if seconds is not None else None
        except (ValueError, TypeError, AttributeError):
            return PauseState(True)  # a hand-made `touch pause` pauses until continued
        return PauseState(True, until, seconds)

    def pause_expired(self, state: PauseState) -> bool:
        return state.until is not None and self.clock() >= state.until


class InstanceLock:
    """One live watch per kind and ID: an flock on <dir>/lock held for the process's life.

    The kernel drops the lock when the process dies, even by SIGKILL, so a stale lock
    cannot block the identifier (the seed's -del exists only because its lock could).
    """

    def __init__(self, control: Control) -> None:
        self.control = control
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        self.control.ensure()
        fd = os.open(self.control.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno_mod.EWOULDBLOCK, errno_mod.EAGAIN):
                raise WatchBusy(
                    f"a watch is already running for {self.control.directory} (pid {holder(self.control)})"
                ) from None
            raise SystemFault("flock", exc.errno or 0) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def holder(control: Control) -> Optional[int]:
    """The PID of the live watch holding the lock, or None when no watch is alive."""
    try:
        fd = os.open(control.lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
