"""Where a watch's password comes from, and the one rule for reading it.

A password is the first line of a file (a trailing newline is not part of it): the 0600 file
beside the watch's settings, the one systemd hands the unit (LoadCredential=, in
$CREDENTIALS_DIRECTORY), a file the administrator names, or standard input. An empty file
is how a guest watch says it has no password. Never argv, never the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Optional

from fswatch.core.errors import UsageError
from fswatch.core.settings import check_password
from fswatch.host import files

CREDENTIAL = "password"  # the unit's LoadCredential=password:...
STDIN = "-"


def from_bytes(data: bytes, where: str) -> Optional[str]:
    """The password on the first line of `data`; None when that line is empty."""
    line = data.split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not valid UTF-8 text: refused") from None
    return check_password(text, where) or None


def read(path: Path, follow: bool = False) -> Optional[str]:
    """A password file that must exist. `follow`: the administrator named this file
    (--password-file, the OCF agent's password_file), so a link to it is taken; fswatch's
    own password files are read without following links."""
    data = files.read_bounded(path, files.PASSWORD_LIMIT, what="password file", follow=follow)
    if data is None:
        raise UsageError(f"password file {path} does not exist")
    return from_bytes(data, f"the password in {path}")


def from_option(option: Optional[str]) -> Optional[str]:
    """--password-file's value: a file the administrator names, or '-' for standard input."""
    if option is None:
        return None
    if option == STDIN:
        line = files.read_line(sys.stdin.fileno(), files.PASSWORD_LIMIT, "standard input")
        return from_bytes(line, "the password on standard input")
    return read(Path(option), follow=True)


def of_watch(stored: Path, environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """A running watch's password: systemd's credential when the unit passed one, else the
    0600 file beside its settings; None for neither (a guest watch, or no file)."""
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    candidates = [Path(credentials) / CREDENTIAL] if credentials else []
    for candidate in [*candidates, stored]:
        data = files.read_bounded(candidate, files.PASSWORD_LIMIT, what="password file")
        if data is not None:
            return from_bytes(data, f"the password in {candidate}")
    return None
