"""The control protocol: what a running watch and the commands that look at it and steer it
share, versioned, so that a release sees, pauses, continues, stops and reports every watch an
earlier release started and never starts a second one beside it (README: Upgrading).

A running watch outlives its release: the packages replace the files and restart no watch,
so the installed commands meet watches of earlier releases for as long as those run. They share:

- the instance lock, <runtime>/<kind>/<ID>/lock: which kernel lock a watch holds for its life
  (the file holds its PID, in every version);
- the state file, state.json (fswatch.watch.status.WatchStatus), read field by field: a field a
  later release added is missing from an earlier one's file and takes its default;
- the requests a command writes and the watch reads before every probe: pause and inject,
  one JSON object each; a watch reads every field it knows and ignores the others;
- the runtime settings of a watch started by clp_*mon or an OCF agent: <runtime>/<kind>/<ID>.conf
  (and .password), and the unit's runtime drop-in that points the unit at them.

The versions, as released. A command of this release reads all of them; what it writes for
a running watch is what that watch's version reads (request_fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Mapping, Optional, Tuple

# The kernel locks a watch holds on its lock file for its life.
FLOCK = "flock"  # flock(2): a lock of the open file, invisible to fcntl locks
OFD = "ofd"  # fcntl F_OFD_SETLK: an open-file-description lock, invisible to flock(2)

# The requests a command writes into the watch's control directory.
PAUSE, INJECT = "pause", "inject"


@dataclass(frozen=True)
class Version:
    """One version of the control protocol, and the release that speaks it."""

    number: int
    release: str  # the package version of the release that introduced it
    locks: Tuple[str, ...]  # held for the watch's life
    requests: FrozenSet[str]  # the requests its watches read
    dropin: str  # its runtime drop-in's file name (under /run/systemd/system/fswatch-KIND@ID.service.d/)
    versioned: bool  # its state file and requests say their version ("version", "protocol")

    def reads(self, request: str) -> bool:
        return request in self.requests

    @property
    def name(self) -> str:
        return f"fswatch {self.release} (control protocol {self.number})"


VERSIONS: Dict[int, Version] = {
    v.number: v
    for v in (
        # 0.1.0 as first released (git 03fd184): an flock; pause only; runtime watches from clp_*mon only.
        Version(1, "0.1.0", (FLOCK,), frozenset({PAUSE}), "50-clp.conf", False),
        # 0.1.0 as last released (git 23f6984): an OFD lock, which looking can test without taking
        # it; fault injection; the OCF agents' runtime watches; metrics.
        Version(2, "0.1.0", (OFD,), frozenset({PAUSE, INJECT}), "50-runtime.conf", False),
        # 0.2.0: both locks, so a watch is seen by the lookers of versions 1 and 2 too (a
        # downgrade keeps seeing it), and a start fails beside a watch of either; the state
        # file and the requests say their version.
        Version(3, "0.2.0", (OFD, FLOCK), frozenset({PAUSE, INJECT}), "50-runtime.conf", True),
    )
}
CURRENT = VERSIONS[max(VERSIONS)]
# Every runtime drop-in name a version wrote: forgetting a watch removes whichever is there.
DROPINS: Tuple[str, ...] = tuple(sorted({v.dropin for v in VERSIONS.values()}))


def of_watch(stated: Optional[int], lock: Optional[str]) -> Version:
    """The version a running watch speaks: the one its state file states (versions from 3 on;
    a later one than ours reads what we write, as every version reads its predecessors'
    requests), else the one its lock tells: an flock alone is version 1, an OFD lock 2."""
    if stated is not None and stated >= 3:
        return VERSIONS.get(stated, CURRENT)
    return VERSIONS[1] if lock == FLOCK else VERSIONS[2]


def request_fields(version: Version, record: Mapping[str, object]) -> Dict[str, object]:
    """A request as `version` reads it: the version of the protocol it was written in where
    that version reads it, and exactly the released fields where it does not."""
    return {**record, "protocol": CURRENT.number} if version.versioned else dict(record)


def release_tuple(release: str) -> Tuple[int, ...]:
    """'0.10.1' -> (0, 10, 1), for ordering releases; a part that is not a number counts 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in release.split("."))
