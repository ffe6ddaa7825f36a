"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Optional, Union

from fswatch.host.files import fault


def write_atomic(
    path: Union[str, Path],
    data: Union[str, bytes],
    mode: int = 0o644,
    durable: bool = True,
    dir_fd: Optional[int] = None,
) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename it over `path`.

    With `dir_fd`, `path` is a name in that directory (fswatch.host.files.open_tree), so no link
    in the path can redirect the write. The temp file is created O_EXCL|O_NOFOLLOW with
    `mode` from the start: a 0600 secret is never readable by others, not even for an
    instant, and a planted link cannot make it write elsewhere. Any system error is a
    SystemFault (alert 42).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    own_dir = dir_fd is None
    if own_dir:
        path = Path(path)
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise fault("open", exc, path.parent) from None
        name = path.name
    else:
        name = str(path)  # a name in dir_fd (a watch writes its state so after every probe: no Path to build)
    assert dir_fd is not None
    try:
        _write(dir_fd, name, raw, mode, durable, path)
    finally:
        if own_dir:
            os.close(dir_fd)


def _write(dir_fd: int, name: str, raw: bytes, mode: int, durable: bool, shown: Union[str, Path]) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(10):  # a name collision is a 1-in-2^48 event; ten tries bound the loop
        tmp = f".{name}.{os.urandom(6).hex()}.tmp"  # what secrets.token_hex does, without its imports
        try:
            fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise fault("open", exc, shown) from None
    else:
        raise fault("open", FileExistsError(17, "File exists"), shown)
    step = "write"
    try:
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow what was asked for
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            if durable:  # state files on tmpfs need no fsync; settings do
                step = "fsync"
                os.fsync(fd)
        finally:
            os.close(fd)
        step = "rename"
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        if durable:
            step = "fsync"
            _sync_dir(dir_fd)
    except BaseException as exc:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise fault(step, exc, shown) from None
        raise


def _sync_dir(dir_fd: int) -> None:
    """The rename itself survives a crash only once its directory is synced. An O_PATH
    descriptor (fswatch.host.files.open_tree) cannot be synced: the runtime tree is a tmpfs."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.EBADF, errno.EINVAL):
            raise
