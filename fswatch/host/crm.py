"""The verdict pushed to Pacemaker the instant the watch declares (resource mode, ocf:fswatch:KIND).

Without it the cluster learns of a declared failure only at the agent's next monitor operation
(up to one monitor interval later, plus the agent's own start), and the stop of the stalled
group follows only then. `crm_resource --fail --resource RESOURCE --node NODE` tells the
controller at once that the watch's own resource failed on its node, and Pacemaker recovers it
exactly as for a failed monitor (fail count, on-fail, migration-threshold).

The controller takes that request only from root or hacluster (measured: "fswatch does not have
permission to fail watch", and crm_resource still exits 0), and the watch runs as the
unprivileged user fswatch. So the watch does not call it: the runtime drop-in the agent writes
gives the watch's unit an `ExecStopPost=+` (root, outside the sandbox, the fixed command below
with names the agent checked) that runs as soon as the watch has ended, only when it ended with
status 1 (declared failed), bounded like attrd_updater's calls (2 s, killed after), and logs
alert 116 or 117 with `logger --journald`: a shell and two small C programs, no Python start on
the failover path, and the unit is inactive a few tens of ms after the watch ends. The monitor
operation stays the fallback.

The other candidate, a #health-* node attribute set red with node-health-strategy=migrate-on-red
(which the unprivileged watch could set itself), was measured beside it in the cluster tier
(bench/RESULTS.md, "Telling Pacemaker: the candidates"): with the daemon SIGSTOPped and the
command run at that instant, the client was served again a median 2.23 s later with
crm_resource --fail (1.98-3.05 s) against 2.80 s (1.26-3.15 s), 20 trials each. This one stays: it
moves only the failed resource's group, where red node health moves every resource off the node
and needs a cluster-wide property.
"""

from __future__ import annotations

import re

from fswatch.core import alerts
from fswatch.core.alerts import Voice
from fswatch.core.settings import check_cluster_name, check_id
from fswatch.host.attrd import CALL_TIMEOUT

CRM_RESOURCE = "crm_resource"
# What may appear in the drop-in's shell line from the alert table: no quote, $, `, \ or %.
_PLAIN = re.compile(r"[A-Za-z0-9 .,;:()_/@+=\[\]-]*\Z")
_SLOT = "\0"  # where the shell puts crm_resource's reason in alert 117's text


def command(resource: str, node: str) -> str:
    resource, node = check_cluster_name("pacemaker_resource", resource), check_cluster_name("pacemaker_node", node)
    return f"{CRM_RESOURCE} --fail --resource {resource} --node {node}"


def stop_post_line(voice: Voice, watch_id: str, resource: str, node: str) -> str:
    """The `ExecStopPost=` line of the watch's runtime drop-in that tells Pacemaker (see above).

    Every piece is either checked here (the watch's ID, the resource, the node: letters,
    digits and `_-.:`) or comes from the alert table without a character that the unit file or
    the shell would read (asserted), so nothing needs quoting."""
    watch_id = check_id(watch_id)
    call = command(resource, node)
    told = alerts.alert(alerts.PUSHED).render(voice, detail=call)
    untold = alerts.alert(alerts.PUSH_FAILED).render(voice, detail=_SLOT)
    before, _, after = untold.partition(_SLOT)
    for text in (voice.name, told, before, after):
        if not _PLAIN.match(text):
            raise ValueError(f"not plain enough for a unit file and a shell: {text!r}")
    fields = [
        "SYSLOG_IDENTIFIER=fswatch", f"FSWATCH_KIND={voice.name}", f"FSWATCH_WATCH={watch_id}", f"FSWATCH_PUSH={call}",
    ]  # fmt: skip

    def entry(alert_id: int, message: str, extra: str = "") -> str:
        entry = alerts.alert(alert_id)
        lines = [f"MESSAGE_ID={entry.message_id}", f"PRIORITY={entry.priority}", f"FSWATCH_EVENT={alert_id}",
                 *fields, f"MESSAGE={message}", *([extra] if extra else [])]  # fmt: skip
        return "for f in " + " ".join(f'"{line}"' for line in lines) + '; do echo "$$f"; done | logger --journald'

    script = "; ".join([
        'test "$$EXIT_CODE/$$EXIT_STATUS" = exited/1 || exit 0',  # only a declared failure (exit 1)
        f"out=$$(timeout -s KILL {CALL_TIMEOUT:g} {call} 2>&1)",  # bounded as attrd_updater's calls
        "rc=$$?",
        f"if test $$rc = 0; then {entry(alerts.PUSHED, told)}; exit 0; fi",
        'why=$$(echo "$$out" | tr -s "[:space:]" " " | tail -c 200)',  # one line, the end of it
        "why=\"crm_resource exited with status $$rc$${why:+: $$why}\"",
        entry(alerts.PUSH_FAILED, f"{before}$$why{after}", "FSWATCH_REASON=$$why"),
        "exit 0",
    ])  # fmt: skip
    return f"ExecStopPost=+/bin/sh -c '{script}'"
