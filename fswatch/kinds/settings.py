"""A watch's settings as a whole: its kind, ID, schedule, target, attribute and CTDB mark,
built and checked in one place from whatever states them — `fswatch add`'s options, a config file,
clp_*mon's options, an OCF agent's parameters — so every surface refuses the same input
with the same words (UsageError, alert 11 unless a field says otherwise)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

from fswatch import __version__
from fswatch.core.protocol import CURRENT
from fswatch.core.settings import Schedule, check_attribute, check_bool, check_cluster_name, check_id
from fswatch.kinds.kind import Kind

SCHEDULE_KEYS = ("interval", "retries", "timeout", "evidence")
# A watch for CTDB probes its node's own server, never a public address (which CTDB moves to
# another node): the loopback address, where CTDB's own checks look too (50.samba's port
# check, 60.nfs's rpcinfo on 127.0.0.1), unless the watch names another address of the node.
CTDB_ADDRESS = "127.0.0.1"
# Written by the OCF agent into the runtime settings it keeps: the resource it runs as and
# the node, so the watch tells Pacemaker itself the instant it declares (crm_resource --fail).
PACEMAKER_KEYS = ("pacemaker_resource", "pacemaker_node")


@dataclass(frozen=True)
class PacemakerResource:
    """The cluster resource a watch runs as (resource mode, under ocf:fswatch:KIND)."""

    resource: str
    node: str


@dataclass(frozen=True)
class WatchSettings:
    """A watch as written in <config dir>/<kind>/<ID>.conf."""

    kind: Kind
    watch_id: str
    schedule: Schedule
    target: Mapping[str, object] = field(default_factory=dict)  # validated kind-specific fields
    has_password: bool = False
    attribute: Optional[str] = None  # health attribute mode: the node attribute it publishes
    ctdb: bool = False  # its verdict fails CTDB's monitor event (fswatch.surfaces.ctdb)
    pacemaker: Optional[PacemakerResource] = None  # where to push a declared failure

    @property
    def keeps_probing(self) -> bool:
        """A declared failure is published (a node attribute, CTDB's monitor), not the end of
        the watch, so the watch can publish the recovery too."""
        return self.attribute is not None or self.ctdb

    @property
    def label(self) -> str:
        """What alert texts show as [xxx] / 'xxx': the share, the export."""
        return self.kind.label(self.target)

    def values(self) -> Dict[str, str]:
        """The settings as the config file states them (its kind and ID aside), each as text:
        what a running watch records, to tell whether its file still says the same."""
        out = {key: str(value) for key, value in self.schedule.fields.items()}
        if self.schedule.evidence != Schedule().evidence:  # the default is left out: it may improve
            out["evidence"] = self.schedule.evidence
        if self.attribute:
            out["attribute"] = self.attribute
        if self.ctdb:
            out["ctdb"] = "yes"
        if self.pacemaker is not None:
            out["pacemaker_resource"] = self.pacemaker.resource
            out["pacemaker_node"] = self.pacemaker.node
        # A yes/no setting is written "yes" when set and left out when not (absent = no).
        out.update(
            (key, "yes" if value is True else str(value))
            for key, value in self.target.items()
            if value is not None and value is not False
        )
        return out

    def to_conf(self) -> str:
        lines = [
            # The release that wrote it (fswatch.core.protocol: every release reads its predecessors').
            f"# fswatch {self.kind.name} watch {self.watch_id}: written by fswatch {__version__} "
            f"(control protocol {CURRENT.number}); edit with care.",
            "[watch]",
            f"kind = {self.kind.name}",
            f"id = {self.watch_id}",
            *(f"{key} = {value}" for key, value in self.values().items()),
        ]
        return "\n".join(lines) + "\n"


def build(kind: Kind, watch_id: str, values: Mapping[str, object], *, has_password: bool = False) -> WatchSettings:
    """Settings from named values: the schedule's (absent: Schedule's defaults), `attribute`,
    `ctdb`, the Pacemaker resource and node (both or neither), and the kind's target fields.
    Checked in this order: identifier, schedule, attribute, ctdb, resource, target. An unknown
    name is refused. A watch for CTDB without an address probes CTDB_ADDRESS (its node's own
    server)."""
    watch_id = check_id(watch_id)
    rest = {k: v for k, v in values.items() if v is not None}
    schedule = Schedule.parse(*(rest.pop(key, None) for key in SCHEDULE_KEYS))
    attribute = rest.pop("attribute", None)
    attribute = check_attribute(attribute) if attribute else None
    ctdb = check_bool("ctdb", rest.pop("ctdb", False))
    if ctdb and not rest.get("address") and any(f.name == "address" for f in kind.fields):
        rest["address"] = CTDB_ADDRESS
    resource, node = (rest.pop(key, None) for key in PACEMAKER_KEYS)
    pacemaker = None
    if resource or node:
        pacemaker = PacemakerResource(
            check_cluster_name("pacemaker_resource", resource or ""), check_cluster_name("pacemaker_node", node or "")
        )
    target = kind.check_target(rest)
    return WatchSettings(
        kind, watch_id, schedule, target, has_password=has_password, attribute=attribute, ctdb=ctdb,
        pacemaker=pacemaker,
    )  # fmt: skip
