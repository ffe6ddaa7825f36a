"""The verdict pushed to Pacemaker the instant the watch declares (resource mode).

Under ocf:fswatch:KIND the cluster would learn of a declared failure only at the agent's next
monitor operation (up to one monitor interval later), and the stop of the stalled group
follows only then. `crm_resource --fail -r RESOURCE -N NODE` tells the controller at once
that the watch's own resource failed on its node; Pacemaker then recovers it exactly as for a
failed monitor (fail count, on-fail, migration-threshold). The other candidate, a #health-*
node attribute set red with node-health-strategy=migrate-on-red, was measured beside it in the
cluster tier (bench/RESULTS.md, "Telling Pacemaker: the candidates"): CANDIDATES_FIGURES. This
one stays: it moves only the failed resource's group, where red node health moves every
resource off the node and needs a cluster-wide property.

The call is bounded like attrd_updater's (fswatch.host.attrd.run_bounded: 2 s, killed
after); if it fails the monitor operation still reports the failure, as before.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Tuple

from fswatch.host.attrd import CALL_TIMEOUT, Runner, call, run_bounded

CRM_RESOURCE = "crm_resource"


class FailurePusher:
    """Runs `crm_resource --fail` for one resource on one node: (None, what was done) on
    success, else (a one-line reason, what was tried)."""

    def __init__(
        self,
        resource: str,
        node: str,
        runner: Runner = run_bounded,
        timeout: float = CALL_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resource = resource
        self.node = node
        self.runner = runner
        self.timeout = timeout
        self.clock = clock

    @property
    def argv(self) -> Tuple[str, ...]:
        return (CRM_RESOURCE, "--fail", "--resource", self.resource, "--node", self.node)

    def __call__(self) -> Tuple[Optional[str], str]:
        began = self.clock()
        what = " ".join(self.argv)
        error = call(list(self.argv), self.runner, self.timeout)
        return (error, what) if error else (None, f"{what}, {(self.clock() - began) * 1000:.0f} ms")
