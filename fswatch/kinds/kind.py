"""What a kind of watch is: its target fields, its probe's stages, the words its alerts use,
its clp_*mon options, and how its settings become a probe target.

Each kind (fswatch.kinds.samba, fswatch.kinds.nfs) is one Kind value in its own module; code
elsewhere asks the kind and never tests its name. The probe modules are imported only when
a watch of that kind needs them, so an NFS watch never pays for smbprotocol's import
(memory and start-up time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional, Tuple

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import UsageError
from fswatch.core.observation import Observation
from fswatch.probes import write_canary

Probe = Callable[[object, Deadline], Observation]


@dataclass(frozen=True)
class Secrets:
    """What a watch logs on with, kept apart from its settings (which name no secret): the
    password, or for a Kerberos watch the keytab file (a path: libkrb5 reads it) and the
    watch's private credential cache, where its tickets live between probes."""

    password: Optional[str] = field(default=None, repr=False)
    keytab: Optional[str] = None
    ccache: Optional[str] = None


@dataclass(frozen=True)
class TargetField:
    """One setting of a kind's target: its check, default and help, for every surface."""

    name: str  # config key; the CLI option is --name with '_' as '-'
    check: Callable[[object], object]
    default: object = None
    required: bool = False
    help: str = ""
    integer: bool = False  # a whole number (OCF meta-data's content type)
    boolean: bool = False  # yes/no: a CLI flag without a value, "yes" in the conf, OCF type boolean

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Stage:
    """A stage of a kind's probe and the alert a failure there reports: what `fswatch inject`
    may name, and the alert its injected failure reports (the seed's text for that stage)."""

    name: str
    alert: int


@dataclass(frozen=True, repr=False)
class Kind:
    """A kind of watch: its target fields, its probe's stages, its alerts' words, its probe."""

    name: str
    # The words its alerts use (fswatch.core.alerts): command, service, resource, server, option.
    phrases: Mapping[str, str]
    fields: Tuple[TargetField, ...]
    label_field: str  # the field alert texts show as [xxx] / 'xxx'
    stages: Tuple[Stage, ...]  # the probe's stages in order (fswatch inject; the first is its default)
    # target values (checked, defaults filled in), secrets, the owner of its write canary's
    # files (fswatch.probes.write_canary.owner) → the probe's target value
    target: Callable[[Mapping[str, object], Secrets, str], object]
    # the probe function, imported when first asked for
    probe: Callable[[], Probe]
    # how the values combine (one field at a time is checked by the fields): a refusal, or None
    combination: Callable[[Mapping[str, object]], Optional[str]] = lambda values: None
    # clp_*mon's options for the kind's own fields (the common -a -i -c -r are clp's)
    clp_options: Mapping[str, str] = field(default_factory=dict)
    takes_password: bool = False  # logs on with a password (kept in a 0600 file, never argv)
    takes_keytab: bool = False  # logs on with Kerberos from a keytab (its `principal` field; a 0600 file)
    # alerts that, met by one probe at `fswatch add` of a watch without Kerberos, refuse the watch:
    # it could never work (NFS: the export requires Kerberos, alert 150)
    refused_at_add: Tuple[int, ...] = ()
    # alerts logged after the stage's alert when the watch declares its server failed (the
    # seed's NFS monitor said "detected an error in NFS", alert 66)
    declared_alerts: Tuple[int, ...] = ()
    # the command names of the processes that usually serve it on a node: where the owner of
    # the probe's socket is searched for first (fswatch.host.procfs); never a rule
    servers: Tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"

    @property
    def command(self) -> str:
        """The seed's command name (clp_sambamon), as alert texts say it."""
        return self.phrases["command"]

    @property
    def required(self) -> TargetField:
        """The field naming what is watched (share, export): its absence is alert 12."""
        return next(f for f in self.fields if f.required)

    def stage(self, name: Optional[str] = None) -> Stage:
        """The stage named `name` (None: the first); UsageError (alert 11) for another name."""
        if name is None:
            return self.stages[0]
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise UsageError(f"{self.name} probes have no stage {name!r}: {', '.join(s.name for s in self.stages)}")

    def check_target(self, values: Mapping[str, object]) -> Dict[str, object]:
        """Validated target fields, defaults filled in (None = decided at probe time): each
        field by its own check, then how they combine (NFSv4 runs over TCP only), so a bad
        setting is refused before anything is written. The one validation of a target: the
        probe targets trust what they are given."""
        unknown = set(values) - {f.name for f in self.fields}
        if unknown:
            raise UsageError(f"unknown {self.name} setting(s): {', '.join(sorted(unknown))}")
        out: Dict[str, object] = {}
        for f in self.fields:
            value = values.get(f.name)
            if value is None or value == "":
                if f.required:
                    raise UsageError(f"{f.option} is required", alert=alerts.NO_TARGET)
                out[f.name] = f.default
            else:
                out[f.name] = f.check(value)
        refused = self.combination(out)
        if refused:
            raise UsageError(refused)
        return out

    def label(self, target: Mapping[str, object]) -> str:
        return str(target[self.label_field])

    def make_target(
        self,
        target: Mapping[str, object],
        password: Optional[str] = None,
        watch_id: Optional[str] = None,
        *,
        keytab: Optional[str] = None,
        ccache: Optional[str] = None,
    ) -> object:
        """The probe's target; `watch_id` names the write canary's files (None: `fswatch probe`)."""
        return self.target(target, Secrets(password, keytab, ccache), write_canary.owner(self.name, watch_id))

    def check_logon(self, target: Mapping[str, object], password: Optional[str], keytab: bool) -> None:
        """A Kerberos watch (a `principal`) logs on with its keytab and nothing else; a keytab
        needs a principal. UsageError (alert 11) otherwise: the same words at add, probe and run."""
        principal = target.get("principal")
        if principal and not keytab:
            raise UsageError(f"--principal {principal} needs its keytab: --keytab FILE")
        if keytab and not principal:
            raise UsageError("--keytab needs --principal NAME@REALM: the principal whose key it holds")
        if principal and password:
            raise UsageError("a Kerberos watch logs on with its keytab only: give no password")

    def probe_function(self) -> Probe:
        return self.probe()


# The data-path check (opt-in): each probe also reads the first bytes of this file.
CANARY_HELP = "a file to read in each probe, relative to the {where} root (default: none)"
# The write canary's stages, in both kinds' probes after the read canary, each with the alert its
# failure most often reports (fswatch inject): a read-only file system refuses the create, a
# stalled storage the write.
WRITE_STAGES = (
    Stage("write_create", alerts.WRITE_READ_ONLY),
    Stage("write", alerts.WRITE_BLOCKED),
    Stage("write_readback", alerts.WRITE_MISMATCH),
    Stage("write_remove", alerts.WRITE_FAILED),
    Stage("write_sweep", alerts.WRITE_BLOCKED),  # earlier probes' leftovers
)
# The write canary (opt-in, fswatch.probes.write_canary): each probe writes a file there.
CANARY_WRITE_HELP = (
    "a directory, relative to the {where} root ('.' for the root), in which each probe creates, "
    "writes to stable storage, reads back and removes a file of its own (default: none)"
)
