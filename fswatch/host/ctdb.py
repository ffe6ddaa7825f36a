"""CTDB's configuration, as far as fswatch reads it: the public addresses of this node.

CTDB moves a public address to another node when this one is unhealthy, so a watch that
probed a public address would judge whichever node holds it now. A watch for CTDB must
probe its own node's server (fswatch.kinds.settings.CTDB_ADDRESS by default): `fswatch add
--ctdb` and the event script's startup refuse one whose address is listed here.

The file is CTDB's own (ctdb(7), "PUBLIC ADDRESSES"): one `ADDRESS/MASK [IFACE[,IFACE...]]`
per line, `#` comments, in $CTDB_BASE (set by ctdbd for its event scripts; /etc/ctdb).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import FrozenSet, Mapping, Optional

from fswatch.host import files

DEFAULT_BASE = "/etc/ctdb"
PUBLIC_ADDRESSES = "public_addresses"


def base(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("CTDB_BASE") or DEFAULT_BASE)


def parse_public_addresses(text: str) -> FrozenSet[str]:
    """The addresses (normalised, without their mask) of a public_addresses file's text.
    A line that is not an address is skipped: CTDB itself refuses such a file at start."""
    found = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            found.add(str(ipaddress.ip_interface(words[0]).ip))
        except ValueError:
            continue
    return frozenset(found)


def public_addresses(environ: Mapping[str, str] = os.environ) -> FrozenSet[str]:
    """This node's public addresses; empty where CTDB has none configured (or is absent)."""
    text: Optional[str] = files.read_text(
        base(environ) / PUBLIC_ADDRESSES, files.CONFIG_LIMIT, what="CTDB public addresses file", follow=True
    )
    return frozenset() if text is None else parse_public_addresses(text)
