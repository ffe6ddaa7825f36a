"""The OCF resource agent API 1.1, as a small library: an agent is declared once (its
parameters and actions, like resource-agents' heartbeat/ocf.py `Agent`), and both its
meta-data XML and its dispatch are generated from that declaration. Nothing here knows
fswatch: fswatch.surfaces.ocf.watches declares the two agents.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from html import escape  # XML-safe (&, <, >, quotes); xml.sax.saxutils would import urllib
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from fswatch.core.deadline import Deadline

# OCF exit codes (OCF resource agent API 1.1, "Return codes")
OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7
OCF_DEGRADED = 190

VERSION = "1.1"  # the OCF API these agents follow

Result = Tuple[int, Optional[str]]  # exit code, exit reason (one line) or None


@dataclass(frozen=True)
class Parameter:
    """One OCF parameter of an agent, as its meta-data declares it."""

    name: str
    shortdesc: str
    longdesc: str
    integer: bool = False
    boolean: bool = False  # content type boolean, default "false" (check_bool reads true/false)
    default: object = None  # None: no default (required), "" : empty means "decided at run time"
    required: bool = False
    unique: bool = False


@dataclass(frozen=True)
class Action:
    """One OCF action of an agent: its default timeout and what runs it."""

    name: str
    timeout: int  # seconds: the default Pacemaker gives the action
    handler: Optional[Callable[[Request], Result]] = None
    interval: Optional[int] = None
    depth: Optional[int] = None


@dataclass(frozen=True)
class Agent:
    """An OCF resource agent: its parameters and actions, declared once."""

    name: str
    version: str
    shortdesc: str
    longdesc: str
    parameters: Tuple[Parameter, ...]
    actions: Tuple[Action, ...]
    # What the agent's failures have in common, beside the OCF code: its own errors, mapped
    # to (code, reason); None lets an exception through.
    failure: Callable[[Exception], Optional[Result]] = lambda exc: None

    def handler(self, action: str) -> Optional[Callable[[Request], Result]]:
        for a in self.actions:
            if a.name == action:
                return a.handler
        return None

    def timeout(self, action: str) -> int:
        return max((a.timeout for a in self.actions if a.name == action), default=20)


def meta_data(agent: Agent) -> str:
    """OCF 1.1 meta-data; valid against resource-agents' ra-api-1.dtd (which ocf-tester uses)
    and metadata.rng, so content types are only those both know (string, integer, boolean)."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">',
        f'<resource-agent name="{agent.name}" version="{escape(agent.version)}">',
        f"<version>{VERSION}</version>",
        '<longdesc lang="en">',
        escape(agent.longdesc),
        "</longdesc>",
        f'<shortdesc lang="en">{escape(agent.shortdesc)}</shortdesc>',
        "<parameters>",
    ]
    for p in agent.parameters:
        attrs = f"name={quoteattr(p.name)}"
        if p.unique:
            attrs += ' unique="1"'
        if p.required:
            attrs += ' required="1"'
        content = f'type="{"integer" if p.integer else "boolean" if p.boolean else "string"}"'
        if p.default is not None:
            content += f" default={quoteattr(str(p.default))}"
        lines += [
            f"<parameter {attrs}>",
            f'<longdesc lang="en">{escape(p.longdesc)}</longdesc>',
            f'<shortdesc lang="en">{escape(p.shortdesc)}</shortdesc>',
            f"<content {content} />",
            "</parameter>",
        ]
    lines += ["</parameters>", "<actions>"]
    for a in agent.actions:
        attrs = f'name="{a.name}" timeout="{a.timeout}s"'
        if a.interval is not None:
            attrs += f' interval="{a.interval}s"'
        if a.depth is not None:
            attrs += f' depth="{a.depth}"'
        lines.append(f"<action {attrs} />")
    lines += ["</actions>", "</resource-agent>"]
    return "\n".join(lines) + "\n"


def quoteattr(value: str) -> str:
    return f'"{escape(value)}"'


@dataclass
class Request:
    """One call of the agent: its action and what Pacemaker put in the environment."""

    agent: Agent
    action: str
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0

    def __post_init__(self) -> None:
        # Pacemaker's timeout runs from the fork: count the interpreter's start-up too.
        self.started = self.clock() - (_process_age() if self.clock is time.monotonic else 0.0)

    def param(self, name: str) -> Optional[str]:
        value = self.env.get(f"OCF_RESKEY_{name}")
        return value if value else None  # Pacemaker passes an unset parameter as absent or empty

    @property
    def is_probe(self) -> bool:
        """A monitor with interval 0: Pacemaker asking whether the resource runs here."""
        return self.action == "monitor" and self.env.get("OCF_RESKEY_CRM_meta_interval", "0") in ("", "0")

    @property
    def depth(self) -> int:
        level = self.env.get("OCF_CHECK_LEVEL", "0")
        return int(level) if level.isdigit() else 0

    @property
    def instance(self) -> str:
        """The resource's name, a clone's ':N' dropped."""
        return self.env.get("OCF_RESOURCE_INSTANCE", "").split(":", 1)[0]

    @property
    def resource(self) -> Optional[str]:
        """The resource as Pacemaker names it (a clone's ':N' kept); None when run by hand."""
        return self.env.get("OCF_RESOURCE_INSTANCE") or None

    @property
    def node(self) -> Optional[str]:
        """The node Pacemaker runs this action on (CRM_meta_on_node); None when run by hand."""
        return self.env.get("OCF_RESKEY_CRM_meta_on_node") or None

    def deadline(self) -> Deadline:
        """Pacemaker's timeout for this action (CRM_meta_timeout, ms) less a margin, so the
        agent answers with a diagnosis before Pacemaker gives up on it."""
        ms = self.env.get("OCF_RESKEY_CRM_meta_timeout", "")
        seconds = int(ms) / 1000.0 if ms.isdigit() and int(ms) > 0 else float(self.agent.timeout(self.action))
        margin = max(0.5, min(5.0, seconds * 0.1))
        return Deadline(self.started + max(0.5, seconds - margin), self.clock)


def _process_age() -> float:
    """Seconds since this process started (its start time in /proc is in clock ticks
    since boot, the clock CLOCK_BOOTTIME reads); 0 when unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, counted after the comm
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def one_line(text: str) -> str:
    return " ".join(text.split())


def usage(agent: Agent) -> str:
    names = sorted({a.name for a in agent.actions})
    return f"usage: {agent.name} {{{'|'.join(names)}}} (an OCF resource agent; parameters in OCF_RESKEY_*)"


def run(agent: Agent, argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    """Dispatch one call: meta-data, usage, or the action's handler; its exit reason goes to
    stderr after OCF_EXIT_REASON_PREFIX, on one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ) if env is None else env
    action = argv[0] if argv else env.get("__OCF_ACTION", "")
    if action == "meta-data":
        sys.stdout.write(meta_data(agent))
        return OCF_SUCCESS
    if action in ("usage", "help", "--help", ""):
        print(usage(agent), file=sys.stderr if not action else sys.stdout)
        return OCF_SUCCESS if action else OCF_ERR_ARGS
    handler = agent.handler(action)
    if handler is None:
        print(usage(agent), file=sys.stderr)
        return OCF_ERR_UNIMPLEMENTED
    try:
        rc, reason = handler(Request(agent, action, env))
    except Exception as exc:
        mapped = agent.failure(exc)
        if mapped is None:
            raise
        rc, reason = mapped
    if reason and rc != OCF_SUCCESS:
        cookie = env.get("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:")
        print(f"{cookie}{one_line(reason)}", file=sys.stderr, flush=True)
    return rc
