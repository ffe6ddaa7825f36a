"""The kinds of watch (fswatch.kinds.kind.Kind), by name: every surface and the watch loop
ask these, never a kind's name. A new kind is a module here with its Kind, and its line below."""

from __future__ import annotations

from typing import Dict

from fswatch.core.errors import UsageError
from fswatch.kinds.kind import CANARY_HELP, Kind, Probe, Stage, TargetField
from fswatch.kinds.nfs import NFS
from fswatch.kinds.samba import SAMBA
from fswatch.kinds.settings import WatchSettings, build

KINDS: Dict[str, Kind] = {k.name: k for k in (SAMBA, NFS)}

__all__ = [
    "CANARY_HELP", "KINDS", "NFS", "SAMBA", "Kind", "Probe", "Stage", "TargetField", "WatchSettings", "build", "kind"
]


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise UsageError(f"unknown kind {name!r}: {' or '.join(KINDS)}") from None
