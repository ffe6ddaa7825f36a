"""Where a Kerberos watch's keytab comes from, and the one rule for taking one.

The administrator names a keytab (`--keytab FILE`, the OCF agent's `keytab`, clp_sambamon's
`-k`); fswatch checks that it is a keytab with a key for the watch's principal, and keeps a
copy, mode 0600, beside the watch's settings (<ID>.keytab), as it keeps a password. The unit
gets it through LoadCredential=keytab: (its $CREDENTIALS_DIRECTORY/keytab, readable by the
unit's own user only); elsewhere the watch reads the copy. A keytab is rotated by running
`fswatch add` again with the new file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from fswatch.core.errors import UsageError
from fswatch.host import files

CREDENTIAL = "keytab"  # the unit's LoadCredential=keytab:...


def read(path: Path, principal: str) -> bytes:
    """The keytab the administrator named (links followed: they named it), checked: a keytab
    (MIT's format, which Samba and Heimdal write too) holding a key for `principal`."""
    from fswatch.probes import krb5files  # here: a watch without Kerberos never reads a keytab

    data = files.read_bounded(path, krb5files.KEYTAB_MAX_BYTES, what="keytab", follow=True)
    if data is None:
        raise UsageError(f"keytab {path} does not exist")
    try:
        entries = krb5files.parse_keytab(data)
    except krb5files.KeytabError as exc:
        raise UsageError(f"{path} is not a keytab ({exc}): refused") from None
    refused = krb5files.keytab_refusal(entries, principal, f"keytab {path}")
    if refused:
        raise UsageError(f"{refused}: refused")
    return data


def from_option(option: Optional[str], principal: Optional[str]) -> Optional[bytes]:
    """--keytab's value, read and checked; None when not given. A keytab needs a principal
    (fswatch.kinds.Kind.check_logon says so first)."""
    if option is None or not principal:
        return None
    return read(Path(option), principal)


KEYTAB_MAGIC = b"\x05\x02"  # MIT's keytab version: what the unit's placeholder credential is not


def of_watch(stored: Path, environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """The keytab file a running watch logs on with: systemd's credential when the unit passed
    a keytab (its SetCredential=keytab:"" stands in for a missing file), else the copy beside
    its settings; None for neither."""
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    candidates = [Path(credentials) / CREDENTIAL] if credentials else []
    for candidate in [*candidates, stored]:
        try:
            with open(candidate, "rb") as f:
                if f.read(len(KEYTAB_MAGIC)) == KEYTAB_MAGIC:
                    return str(candidate)
        except OSError:
            continue
    return None
