"""Reading fswatch's own small files safely, and walking its runtime tree without links.

Every file fswatch reads (config, password, credential, lock, state, pause, the clp_*
runtime files) goes through read_bounded(): it never blocks (a FIFO or a device in place
of a file is refused before it is read, and opened O_NONBLOCK in case it is swapped in
between), never reads more than its limit (/dev/zero cannot fill memory), and does not
follow a symbolic link unless the caller named the file itself (--password-file).

Errors are fswatch's own (SPEC.md section 9): an errno from the kernel is a SystemFault
(alert 42, exit 5); a file of the wrong type, too large or not valid text is refused
(FileRefused, alert 11, exit 2). A missing file is None: each caller knows what that means.
"""

from __future__ import annotations

import errno as errno_mod
import json
import os
import stat
from pathlib import Path
from typing import Optional, Sequence, Union

from fswatch.core.errors import SystemFault, UsageError

CONFIG_LIMIT = 64 * 1024
PASSWORD_LIMIT = 1024  # bytes of a password file's content (the first line is the password)
STATE_LIMIT = 256 * 1024  # a state file is ~1 KiB
SMALL_LIMIT = 4096  # pause and lock files

_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

PathLike = Union[str, Path]


class FileRefused(UsageError):
    """A file fswatch will not read: not a regular file, too large, or not valid text."""


_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _type_name(mode: int) -> str:
    return next((name for test, name in _TYPES if test(mode)), "not a regular file")


def fault(function: str, exc: OSError, path: object) -> SystemFault:
    """An OSError as alert 42, naming the system call, the errno and the path."""
    return SystemFault(function, exc.errno or 0, f"{function} {path}: {exc.strerror or exc}")


def _check(st: os.stat_result, path: object, limit: int, what: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise SystemFault(
            "open", errno_mod.ELOOP, f"{what} {path} is a symbolic link; fswatch does not follow links there"
        )
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"{what} {path} is {_type_name(st.st_mode)}, not a regular file: refused")
    if st.st_size > limit:
        raise FileRefused(f"{what} {path} is larger than {limit} bytes: refused")


def read_bounded(
    path: PathLike,
    limit: int,
    *,
    what: str = "file",
    dir_fd: Optional[int] = None,
    follow: bool = False,
    shown: Optional[object] = None,
) -> Optional[bytes]:
    """The content of a regular file of at most `limit` bytes; None when it does not exist.

    `shown`: the path to name in messages (with `dir_fd`, `path` is only a name)."""
    shown = path if shown is None else shown
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise fault("stat", exc, shown) from None
    _check(st, shown, limit, what)  # before open: opening a device can have side effects
    try:
        fd = os.open(path, _READ | (0 if follow else os.O_NOFOLLOW), dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno_mod.ELOOP and not follow:
            _check(os.stat(path, dir_fd=dir_fd, follow_symlinks=False), shown, limit, what)
        raise fault("open", exc, shown) from None
    try:
        _check(os.fstat(fd), shown, limit, what)  # the file may have been swapped since the stat
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew after the fstat
            raise FileRefused(f"{what} {shown} is larger than {limit} bytes: refused")
        return b"".join(chunks)
    except OSError as exc:
        raise fault("read", exc, shown) from None
    finally:
        os.close(fd)


def decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused(f"{what} is not valid UTF-8 text: refused") from None


def read_text(
    path: PathLike, limit: int, *, what: str = "file", dir_fd: Optional[int] = None, follow: bool = False
) -> Optional[str]:
    data = read_bounded(path, limit, what=what, dir_fd=dir_fd, follow=follow)
    return None if data is None else decode(data, f"{what} {path}")


def read_line(fd: int, limit: int, what: str) -> bytes:
    """The first line from a stream (standard input), reading at most limit + 1 bytes."""
    data = b""
    while b"\n" not in data and len(data) <= limit:
        try:
            chunk = os.read(fd, limit + 1 - len(data))
        except OSError as exc:
            raise fault("read", exc, what) from None
        if not chunk:
            break
        data += chunk
    line = data.split(b"\n", 1)[0]
    if len(line) > limit:
        raise FileRefused(f"{what}: the first line is longer than {limit} bytes: refused")
    return line


def load_json(text: str, what: str) -> object:
    """JSON from one of fswatch's own files; any malformation is FileRefused, never a crash
    (a deeply nested array raises RecursionError, not ValueError)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise FileRefused(f"{what} is not valid JSON") from None


# -- the runtime tree -----------------------------------------------------------------------


def open_tree(root: Path, parts: Sequence[str], *, create: bool) -> Optional[int]:
    """An O_PATH directory descriptor of root/parts[0]/parts[1]/... (usable as dir_fd);
    None when a part is missing and `create` is false, else missing parts are made (0755).

    `root` (FSWATCH_RUNTIME_DIR, /run/fswatch) is the administrator's choice and may be
    reached through links; no part below it is: each is opened O_NOFOLLOW relative to its
    parent, so a link planted in the runtime tree can redirect neither a write nor a delete.
    One link is systemd's own: for a unit with DynamicUser= and RuntimeDirectoryPreserve=,
    /run/fswatch/KIND/ID leads to /run/private/fswatch/KIND/ID (systemd.exec(5)). That exact
    link is taken, and the private twin is walked under the same rules. (fswatch's units
    run as the static user fswatch now; a unit an administrator overrode with DynamicUser=,
    or one kept from before, still makes that link.)
    O_PATH: walking needs only search permission, as a path lookup does.
    """
    fd = _open_root(root, create)
    if fd is None:
        return None
    where = root
    private = False
    try:
        i = 0
        while i < len(parts):
            part = parts[i]
            where = where / part
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _PATH | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if create:
                    raise
                os.close(fd)
                return None
            except OSError as exc:
                if exc.errno not in (errno_mod.ENOTDIR, errno_mod.ELOOP) or not _is_link(part, fd):
                    raise fault("open", exc, where) from None
                twin = _systemd_twin(root, parts[: i + 1], part, fd)
                if private or twin is None:
                    raise SystemFault(
                        "open",
                        errno_mod.ELOOP,
                        f"{where} is a symbolic link; fswatch does not follow links in its runtime directory",
                    ) from None
                # Walk again from the private twin's base: /run/private, then fswatch/KIND/ID.
                os.close(fd)
                fd = -1
                fd = _open_root(twin, False)
                if fd is None:
                    return None
                private = True
                parts = [root.name, *parts]
                where = twin
                i = 0
                continue
            os.close(fd)
            fd = child
            i += 1
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        raise fault("mkdir" if create else "open", exc, where) from None
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


_PATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def _open_root(root: Path, create: bool) -> Optional[int]:
    try:
        if create:
            os.makedirs(root, mode=0o755, exist_ok=True)
        return os.open(root, _PATH)
    except FileNotFoundError:
        if create:  # removed again between makedirs and open
            raise fault("open", FileNotFoundError(errno_mod.ENOENT, os.strerror(errno_mod.ENOENT)), root) from None
        return None
    except OSError as exc:
        raise fault("mkdir" if create else "open", exc, root) from None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _systemd_twin(root: Path, parts: Sequence[str], name: str, dir_fd: int) -> Optional[Path]:
    """root.parent/private when the link `name` is systemd's link from root/parts to
    root.parent/private/root.name/parts (its exact target, lexically); else None."""
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None
    link_dir = root.joinpath(*parts[:-1])
    base = root.parent / "private"
    expected = base.joinpath(root.name, *parts)
    if os.path.normpath(os.path.join(link_dir, target)) != str(expected):
        return None
    return base
