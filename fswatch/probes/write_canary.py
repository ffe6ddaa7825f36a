"""The write canary (opt-in, SPEC.md section 10): what the Samba and NFS probes share.

With `canary_write` set, each probe creates a file of its own in that directory of the share or
export, writes 4 KiB to stable storage, reads them back, compares, and removes the file, each step
a stage inside the probe's one deadline (write_create, write, write_readback, write_remove); then
it removes what earlier probes of the same watch left behind (write_sweep). A read served from a
cache passes through a read-only, full or stalled file system; a write does not.

Nothing is left behind, and nothing else is ever removed:

- A canary file is named `.fswatch-canary.<owner>.<life>.<token>`: a fixed prefix, the owner
  (`<kind>.<watch id>`: an ID has no '.', so the name parses one way), the seconds its probe had
  left when it made the file, and 16 random hex digits.
- A probe that ends mid-way (its deadline, kill -9, a server that died) leaves its file. A later
  probe of the same owner lists the directory and removes a file of that owner's name whose last
  modification, on the server's clock, is more than its life (+ CLOCK_SLACK) older than the
  file this probe just made: its probe is over by then, whoever ran it. So two probes of one
  watch that overlap (a cluster's clone on every node, the OCF monitor's live probe beside the
  watch) never remove each other's files in flight, and no two clocks are compared.
- Only regular files of that exact grammar are removed; a directory, another watch's or another
  kind's file, a name that merely starts with the prefix, is never touched.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import List, Optional

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.observation import Observation

PREFIX = ".fswatch-canary."
SIZE = 4096  # one page: the smallest write that reaches the storage as a client's would
ROOT = "."  # canary_write's spelling of the share's or export's root
CLOCK_SLACK = 2.0  # seconds: coarse file system time stamps (FAT: 2 s), not clock skew (one clock)
MAX_LIFE = 99999  # five digits: more than the longest timeout (10000 s)
PROBE_OWNER = "_probe"  # `fswatch probe`, which has no watch: '_' starts no watch ID
IDENTITY_NOTE = "write_canary_identity"  # who the server sees write (the note, for `add`'s refusal)
TOKEN_HEX = 16

# The server statuses that name a failure the administrator acts on in its own way; any other
# refusal is WRITE_FAILED with its status. smbd answers EDQUOT with STATUS_DISK_FULL (Samba's
# errmap_unix.c: "Windows apps need this"), so over SMB a quota is no space.
ALERT_OF_STATUS = {
    **dict.fromkeys(("STATUS_MEDIA_WRITE_PROTECTED", "NFS3ERR_ROFS", "NFS4ERR_ROFS"), alerts.WRITE_READ_ONLY),
    **dict.fromkeys(("STATUS_DISK_FULL", "NFS3ERR_NOSPC", "NFS4ERR_NOSPC"), alerts.WRITE_NO_SPACE),
    **dict.fromkeys(("STATUS_QUOTA_EXCEEDED", "NFS3ERR_DQUOT", "NFS4ERR_DQUOT"), alerts.WRITE_QUOTA),
    **dict.fromkeys(
        ("STATUS_ACCESS_DENIED", "NFS3ERR_ACCES", "NFS3ERR_PERM", "NFS4ERR_ACCESS", "NFS4ERR_PERM"),
        alerts.WRITE_DENIED,
    ),
}


def alert_of(status: str) -> int:
    """The alert for a server's refusal of a write canary step, by the status's name."""
    return ALERT_OF_STATUS.get(status, alerts.WRITE_FAILED)


def owner(kind: str, watch_id: Optional[str]) -> str:
    """Whose canary files these are: `samba.web1`; `fswatch probe` (no watch) is `<kind>._probe`."""
    return f"{kind}.{watch_id or PROBE_OWNER}"


@dataclass(frozen=True)
class CanaryFile:
    """The file one probe writes: where, its name, and the 4 KiB it writes (never logged)."""

    directory: str  # relative to the root, '/' between names; ROOT for the root
    name: str
    data: bytes = field(repr=False)

    @property
    def path(self) -> str:
        """Relative to the share's or export's root, '/' between names."""
        return self.name if self.directory == ROOT else f"{self.directory}/{self.name}"

    @property
    def directory_components(self) -> List[str]:
        return [] if self.directory == ROOT else self.directory.split("/")


def new_file(directory: str, owner_name: str, deadline: Deadline) -> CanaryFile:
    """A fresh file for this probe: unique name, random data (a stale cache cannot pass the compare)."""
    life = min(MAX_LIFE, max(1, math.ceil(deadline.remaining())))
    token = os.urandom(TOKEN_HEX // 2).hex()
    return CanaryFile(directory, f"{PREFIX}{owner_name}.{life}.{token}", os.urandom(SIZE))


def _grammar(owner_name: str) -> re.Pattern:
    return re.compile(re.escape(f"{PREFIX}{owner_name}.") + rf"([0-9]{{1,5}})\.[0-9a-f]{{{TOKEN_HEX}}}\Z")


def life_of(name: str, owner_name: str) -> Optional[int]:
    """The life in seconds of `name` if it is one of `owner_name`'s canary files, else None."""
    found = _grammar(owner_name).match(name)
    return int(found.group(1)) if found else None


def is_leftover(name: str, owner_name: str, modified: float, now: float) -> bool:
    """Whether a probe of `owner_name` may remove `name`: one of its canary files whose probe is
    certainly over. `modified` and `now` come from the same server's clock (seconds)."""
    life = life_of(name, owner_name)
    return life is not None and now - modified > life + CLOCK_SLACK


def search_pattern(owner_name: str) -> str:
    """An SMB wildcard for the owner's canary files (the server filters; the grammar decides)."""
    return f"{PREFIX}{owner_name}.*"


def refusal(obs: Observation) -> Optional[str]:
    """Why `fswatch add` refuses a write canary after one probe (issue 22): the server denied the
    watch's identity (the guest account, a root-squashed uid 0, a user) the write. None when it
    wrote, or failed for another reason, which a watch is there to report, not `add`."""
    failure = obs.failure
    if failure is None or failure.alert != alerts.WRITE_DENIED:
        return None
    identity = dict(obs.notes).get(IDENTITY_NOTE, "the watch's identity")
    return (
        f"the server denies {identity} the write canary ({failure.detail}, at {failure.stage}): give it "
        "write access to that directory, or choose another --canary-write directory"
    )


def mismatch(wrote: bytes, read: bytes) -> Optional[str]:
    """None when the bytes read back are the bytes written; else what differs (no data shown)."""
    if read == wrote:
        return None
    if len(read) != len(wrote):
        return f"read back {len(read)} of {len(wrote)} bytes"
    first = next(i for i, (a, b) in enumerate(zip(wrote, read)) if a != b)
    return f"{sum(a != b for a, b in zip(wrote, read))} of {len(wrote)} bytes differ, the first at offset {first}"
