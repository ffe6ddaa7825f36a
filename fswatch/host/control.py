"""Control files under <runtime dir>/<kind>/<ID>/: the pause request, the instance lock, the state.

Pause and continue are files, never SIGSTOP (SPEC.md section 5): `fswatch pause` writes
`pause`, `fswatch continue` removes it, the watch looks before every probe and while
paused, so a change is noticed within one interval. A pause's expiry is kept on
CLOCK_BOOTTIME, which no wall-clock change moves and which every process shares.

Every file here is reached through directory descriptors opened without following links
(fswatch.host.files.open_tree), and read with fswatch.host.files' bounds (SPEC.md section 9).
"""

from __future__ import annotations

import errno as errno_mod
import fcntl
import json
import os
import stat
import struct
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from fswatch.core import protocol
from fswatch.core.errors import FswatchError, SystemFault, UsageError, WatchBusy
from fswatch.core.protocol import Version
from fswatch.core.settings import check_id
from fswatch.host import files, paths
from fswatch.host.atomic import write_atomic


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


CREDENTIAL_CACHE = "krb5cc"


@dataclass(frozen=True)
class PauseState:
    """Whether the watch is paused, until when, and for how long it was asked."""

    paused: bool
    until: Optional[float] = None  # on CLOCK_BOOTTIME; None = until continued
    seconds: Optional[int] = None  # the requested duration, for alert 93


class Control:
    """The control directory of one watch: <root>/<kind>/<ID>.

    `root` is the trusted runtime directory (default: two levels up); the parts below it
    are never followed through a symbolic link.
    """

    @classmethod
    def of(cls, kind: str, watch_id: str) -> Control:
        """The control directory of the watch KIND ID, under the runtime dir."""
        return cls(paths.watch_runtime_dir(kind, check_id(watch_id)))

    def __init__(self, directory: Path, clock: Callable[[], float] = boottime, root: Optional[Path] = None) -> None:
        self.directory = Path(directory)
        self.clock = clock
        self.root = Path(root) if root is not None else self.directory.parent.parent
        self._parts = self.directory.relative_to(self.root).parts
        self._holding = False  # hold(): the running watch keeps its directory open
        self._held: Optional[int] = None

    @property
    def pause_file(self) -> Path:
        return self.directory / "pause"

    @property
    def lock_file(self) -> Path:
        return self.directory / "lock"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def credential_cache(self) -> Path:
        """A Kerberos watch's private credential cache (libkrb5's FILE format, 0600): its tickets
        between probes, never the node's or root's cache (fswatch.probes.kerberos)."""
        return self.directory / CREDENTIAL_CACHE

    def open_dir(self, create: bool = False) -> Optional[int]:
        """A descriptor of the directory (made when `create`); None when it does not exist."""
        return files.open_tree(self.root, self._parts, create=create)

    def hold(self) -> None:
        """Keep the directory open while this process runs the watch.

        The watch looks at its pause and injection files before every probe and writes its
        state after it: from one descriptor that is one system call each, where a walk from
        the runtime root without links costs seven (tests/unit/test_watch_cost.py counts them).
        A directory removed meanwhile is walked to again, so nothing changes for a reader.
        """
        self._holding = True
        if self._held is None:
            self._held = self.open_dir(create=True)

    def let_go(self) -> None:
        self._holding = False
        if self._held is not None:
            os.close(self._held)
            self._held = None

    @contextmanager
    def _dir(self, create: bool = False) -> Iterator[Optional[int]]:
        """The directory's descriptor for one use: the held one, else one walked to and closed after."""
        if self._holding:
            yield self._current(create)
            return
        fd = self.open_dir(create=create)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    def _current(self, create: bool) -> Optional[int]:
        """The held descriptor while its directory exists (a removed one has no links left)."""
        if self._held is not None:
            try:
                if os.fstat(self._held).st_nlink > 0:
                    return self._held
            except OSError:
                pass
            os.close(self._held)
            self._held = None
        self._held = self.open_dir(create=create)
        return self._held

    def forget(self) -> None:
        """Remove the state, pause and lock files and the directory of a watch that is not running.

        WatchBusy when a watch holds the lock. The lock is held while deleting, so a start
        cannot slip in between the check and the deletion; deletion happens only by name
        inside the directory opened without links, never outside the runtime tree.
        """
        fd = self.open_dir()
        if fd is None:
            return
        try:
            lock = _open_lock(fd, self.lock_file)
            try:
                if not _try_locks(lock):  # both: a watch of any release is running
                    raise WatchBusy(f"a watch is running for {self.directory} (pid {_pid_in(lock)})")
                for name in ("state.json", "pause", "inject", CREDENTIAL_CACHE, "lock"):
                    try:
                        os.unlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        raise files.fault("unlink", exc, self.directory / name) from None
            finally:
                os.close(lock)
        finally:
            os.close(fd)
        parent = files.open_tree(self.root, self._parts[:-1], create=False)
        if parent is None:
            return
        try:
            os.rmdir(self._parts[-1], dir_fd=parent)
        except OSError:
            pass  # not empty (files we don't own) or already gone
        finally:
            os.close(parent)

    def ensure(self) -> None:
        fd = self.open_dir(create=True)
        assert fd is not None
        os.close(fd)

    def request_pause(self, seconds: Optional[int] = None, version: Version = protocol.CURRENT) -> None:
        """Write the pause request as the running watch's protocol `version` reads it."""
        now = self.clock()
        record = {"requested_at": time.time(), "seconds": seconds, "until_boottime": None}
        if seconds is not None:
            record["until_boottime"] = now + seconds
        self._write(protocol.PAUSE, protocol.request_fields(version, record))

    def request_continue(self) -> bool:
        """Remove the pause request; False when there was none."""
        return self._remove("pause")

    # -- fault injection (fswatch.watch.inject) -------------------------------------------------------
    def request_injection(self, record: dict, version: Version = protocol.CURRENT) -> None:
        """Write the injection request as the running watch's protocol `version` reads it
        (fswatch.watch.inject refuses a version that reads none)."""
        self._write(protocol.INJECT, protocol.request_fields(version, record))

    def injection(self) -> Optional[object]:
        """The injection request's JSON (any shape: fswatch.watch.inject checks it); None when there
        is none, or it cannot be read: a request that cannot be read fails no probe."""
        try:
            raw = self._read("inject", files.SMALL_LIMIT)
            if raw is None:
                return None
            return files.load_json(raw.decode("utf-8", "replace"), "inject file")
        except FswatchError:
            return None

    def clear_injection(self) -> bool:
        """Remove the injection request; False when there was none."""
        return self._remove("inject")

    def clear_credentials(self) -> bool:
        """Remove the credential cache: a watch starts, and ends, holding no ticket."""
        return self._remove(CREDENTIAL_CACHE)

    def pause_state(self) -> PauseState:
        try:
            raw = self._read("pause", files.SMALL_LIMIT)
        except FswatchError:
            return PauseState(True)  # present but unreadable: honour the pause
        if raw is None:
            return PauseState(False)
        try:
            record = files.load_json(raw.decode("utf-8", "replace"), "pause file")
            until = record.get("until_boottime")  # type: ignore[union-attr]
            seconds = record.get("seconds")  # type: ignore[union-attr]
            until = float(until) if until is not None else None
            seconds = int(seconds) if seconds is not None else None
        except (FswatchError, ValueError, TypeError, AttributeError, OverflowError):
            return PauseState(True)  # a hand-made `touch pause` pauses until continued
        return PauseState(True, until, seconds)

    def pause_expired(self, state: PauseState) -> bool:
        return state.until is not None and self.clock() >= state.until

    def read_state(self) -> Optional[object]:
        """The state file's JSON as written by the reporter (any shape: the reader checks);
        None when there is none. FswatchError when it cannot be read or is not JSON."""
        raw = self._read("state.json", files.STATE_LIMIT)
        if raw is None:
            return None
        return files.load_json(files.decode(raw, str(self.state_file)), f"state file {self.state_file}")

    def write_state(self, text: str) -> None:
        self.write_file("state.json", text)

    def write_file(self, name: str, text: str, mode: int = 0o644) -> None:
        """A runtime file of the watch's (state.json, metrics.prom), atomically; not synced: /run is a tmpfs."""
        with self._dir(create=True) as fd:
            assert fd is not None
            write_atomic(name, text, mode=mode, durable=False, dir_fd=fd)

    def _write(self, name: str, record: dict) -> None:
        """A request file (pause, inject) as one JSON line, atomically, in the watch's directory."""
        with self._dir(create=True) as fd:
            assert fd is not None
            write_atomic(name, json.dumps(record) + "\n", dir_fd=fd)

    def _remove(self, name: str) -> bool:
        """Remove a request file; False when there was none."""
        with self._dir() as fd:
            if fd is None:
                return False
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise files.fault("unlink", exc, self.directory / name) from None
        return True

    def _read(self, name: str, limit: int) -> Optional[bytes]:
        with self._dir() as fd:
            if fd is None:
                return None
            return files.read_bounded(name, limit, what="runtime file", dir_fd=fd, shown=f"{self.directory}/{name}")


# -- the instance lock --------------------------------------------------------------------------
#
# Two kernel locks on <dir>/lock, held for the watch's life (fswatch.core.protocol): an
# open-file-description lock (fcntl F_OFD_SETLK, Linux >= 3.15) and an flock. They do not see
# each other, and releases before 0.2.0 held one or the other: 0.1.0 as first released an
# flock, then an OFD lock. Holding both, a watch is seen by the lookers of every release, and
# a start that takes both fails beside a watch of any release (alert 14). Both belong to the
# open file, not the process: other descriptors in the same process conflict, and the kernel
# drops them when the process dies, even by SIGKILL.
#
# Asking whether a watch runs tests the OFD lock with F_OFD_GETLK, which takes nothing; only
# where no OFD lock is held (nothing runs, or a watch of the flock release does) it tests the
# flock, which has no test: a shared flock taken and dropped at once. A start whose flock meets
# that shared lock tries again for FLOCK_WAIT, so looking (status, -disp, pause, -stop, the OCF
# monitor) never makes a start fail, while a watch of the flock release keeps its exclusive
# flock for good.

F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)  # Linux values; Python < 3.9 lacks the names
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
_FLOCK = "hhqqi"  # struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid
_FLOCK_SIZE = 32  # with its trailing padding
# Seconds a start or a reset retries an flock held by someone else: a looker's shared flock
# lasts two system calls, and a looker descheduled between them on a loaded node must not
# fail a start; a watch of the flock release holds its flock for its life.
FLOCK_WAIT = 2.0
_FLOCK_RETRY = 0.005
_BUSY = (errno_mod.EAGAIN, errno_mod.EACCES, errno_mod.EWOULDBLOCK)


def _flock(lock_type: int) -> bytes:
    # whole file (start 0, length 0 = to the end); l_pid must be 0 for OFD locks
    return struct.pack(_FLOCK, lock_type, os.SEEK_SET, 0, 0, 0).ljust(_FLOCK_SIZE, b"\0")


def _taken(function: str, take: Callable[[], object]) -> bool:
    """Run a non-blocking lock call; False when another open file holds a conflicting lock."""
    try:
        take()
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        raise files.fault(function, exc, "lock") from None
    return True


def _ofd_try_lock(fd: int) -> bool:
    """Take the exclusive OFD lock; False when another open file holds it."""
    return _taken("fcntl", lambda: fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_WRLCK)))


def _ofd_locked(fd: int) -> bool:
    """Whether another open file holds the OFD lock; takes nothing."""
    try:
        out = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_RDLCK))
    except OSError as exc:
        raise files.fault("fcntl", exc, "lock") from None
    return struct.unpack(_FLOCK, out[: struct.calcsize(_FLOCK)])[0] != fcntl.F_UNLCK


def _flock_try(fd: int, operation: int) -> bool:
    """flock(fd, operation | LOCK_NB); False when another open file holds a conflicting one."""
    return _taken("flock", lambda: fcntl.flock(fd, operation | fcntl.LOCK_NB))


def _flock_locked(fd: int) -> bool:
    """Whether another open file holds an exclusive flock (a watch of the flock release)."""
    if not _flock_try(fd, fcntl.LOCK_SH):
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _try_locks(fd: int) -> bool:
    """Take both exclusive locks; False when a watch holds either. The flock is retried for
    FLOCK_WAIT (bounded in count too), past a looker's shared flock."""
    if not _ofd_try_lock(fd):
        return False
    for _ in range(int(FLOCK_WAIT / _FLOCK_RETRY)):
        if _flock_try(fd, fcntl.LOCK_EX):
            return True
        time.sleep(_FLOCK_RETRY)
    return _flock_try(fd, fcntl.LOCK_EX)


def _open_lock(dir_fd: int, shown: Path, create: bool = True) -> int:
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open("lock", flags | (os.O_CREAT if create else 0), 0o644, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno_mod.ELOOP:
            raise SystemFault("open", exc.errno, f"{shown} is a symbolic link; fswatch does not follow it") from None
        raise files.fault("open", exc, shown) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise files.FileRefused(f"{shown} is {files._type_name(st.st_mode)}, not a regular file: refused")
    except BaseException:
        os.close(fd)
        raise
    return fd


# The PID, right-aligned in a fixed width: one write, so a looker reads the old PID or the
# new one. Every release reads it as digits around white space (0.1.0 first wrote "PID\n").
_PID_WIDTH = 16


def _pid_in(fd: int) -> Optional[int]:
    """The PID written in the lock file; None while it holds none (just created, or cleared)."""
    text = os.pread(fd, _PID_WIDTH, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


class InstanceLock:
    """One live watch per kind and ID: both locks on <dir>/lock, held for the process's life.

    The kernel drops them when the process dies, even by SIGKILL, so a stale lock cannot
    block the identifier (the seed's -del exists only because its lock could).
    """

    def __init__(self, control: Control) -> None:
        self.control = control
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        # A reset may unlink the lock file between our open and our lock: then the lock we
        # got is on a file nobody else will look at. Check that the name still leads to the
        # locked file, and try again (bounded) if it does not.
        for _ in range(10):
            directory = self.control.open_dir(create=True)
            assert directory is not None
            try:
                fd = _open_lock(directory, self.control.lock_file)
                try:
                    if not _try_locks(fd):
                        raise WatchBusy(
                            f"a watch is already running for {self.control.directory} (pid {_pid_in(fd) or -1})"
                        )
                    if _same_file(fd, directory):
                        os.pwrite(fd, f"{os.getpid()}\n".rjust(_PID_WIDTH).encode(), 0)
                        os.ftruncate(fd, _PID_WIDTH)
                        self._fd, fd = fd, -1
                        return
                finally:
                    if fd >= 0:
                        os.close(fd)  # drops whatever it took
            except OSError as exc:
                raise files.fault("write", exc, self.control.lock_file) from None
            finally:
                os.close(directory)
        raise SystemFault("open", errno_mod.EAGAIN, f"{self.control.lock_file} keeps being replaced")

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # no stale PID for the next watch's lookers
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, directory: int) -> bool:
    try:
        by_name = os.stat("lock", dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (by_name.st_dev, by_name.st_ino) == (mine.st_dev, mine.st_ino) and mine.st_nlink > 0


@dataclass(frozen=True)
class Holder:
    """The live watch holding the lock: its PID (-1: alive, its PID not readable yet) and the
    lock that showed it (protocol.OFD, or protocol.FLOCK alone: a watch of the flock release)."""

    pid: int
    lock: str


def held(control: Control) -> Optional[Holder]:
    """The live watch holding the lock, or None when no watch is alive.

    Never takes the OFD lock (F_OFD_GETLK) and takes the flock only shared and only where no
    OFD lock is held, so looking never makes a start fail. A lock file that is missing, not a
    regular file or a symbolic link cannot be held by a watch: None. Raises SystemFault when
    the runtime directory cannot be examined (EACCES, ENOTDIR, ELOOP).
    """
    directory = control.open_dir()
    if directory is None:
        return None
    try:
        try:
            st = os.stat("lock", dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise files.fault("stat", exc, control.lock_file) from None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            fd = os.open("lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise files.fault("open", exc, control.lock_file) from None
    finally:
        os.close(directory)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        for _ in range(50):  # the watch writes its PID just after it took the lock (bounded: 50 ms)
            if _ofd_locked(fd):
                lock = protocol.OFD
            elif _flock_locked(fd):
                lock = protocol.FLOCK
            else:
                return None
            pid = _pid_in(fd)
            if pid is not None:
                return Holder(pid, lock)
            time.sleep(0.001)
        return Holder(-1, lock)
    except OSError as exc:
        raise files.fault("read", exc, control.lock_file) from None
    finally:
        os.close(fd)


def holder(control: Control) -> Optional[int]:
    """The PID of the live watch holding the lock (held()), or None when no watch is alive."""
    found = held(control)
    return found.pid if found is not None else None
