"""Reporting: judgements → alerts, sd_notify STATUS/READY/WATCHDOG, and the state file.

The engine decides what happened; this module only says it, in the three places an
administrator looks: the journal (or stderr), `systemctl status`, and `fswatch status`.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, Optional

from fswatch import __version__
from fswatch.core import alerts
from fswatch.core import evidence as evidence_rule
from fswatch.core.alerts import alert as alert_entry
from fswatch.core.errors import FswatchError, ProbeFailure
from fswatch.core.evidence import Evidence
from fswatch.core.observation import Observation
from fswatch.core.protocol import CURRENT
from fswatch.core.settings import Schedule
from fswatch.core.verdict import Event, Judgement, SlowStage, WatchState, degraded_limit
from fswatch.host import files
from fswatch.host.attrd import GREEN, RED, YELLOW, AttributePublisher
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.kinds import Kind
from fswatch.watch import status
from fswatch.watch.history import History, history_size, json_lines, table
from fswatch.watch.metrics import MetricsWriter, result_of
from fswatch.watch.status import WatchStatus


def failure_fields(failure: ProbeFailure) -> Dict[str, str]:
    fields = {"FSWATCH_STAGE": failure.stage, "FSWATCH_REASON": failure.reason}
    if failure.errno is not None:
        fields["FSWATCH_ERRNO"] = str(failure.errno)
    if failure.ntstatus is not None:
        fields["FSWATCH_NTSTATUS"] = f"0x{failure.ntstatus:08x}"
    if failure.rpc_status is not None:
        fields["FSWATCH_RPC_STATUS"] = failure.rpc_status
    if failure.injected:
        fields["FSWATCH_INJECTED"] = "1"
    if failure.canary is not None:
        fields["FSWATCH_CANARY"] = failure.canary
    if failure.krb5_error is not None:
        fields["FSWATCH_KRB5_ERROR"] = failure.krb5_error
    return fields


class Reporter:
    def __init__(
        self,
        kind: Kind,
        watch_id: str,
        label: str,
        schedule: Schedule,
        sink,
        notifier: Notifier,
        control: Optional[Control] = None,
        wall: Callable[[], float] = time.time,
        publisher: Optional[AttributePublisher] = None,
        metrics: Optional[MetricsWriter] = None,
        settings: Optional[dict] = None,
    ) -> None:
        self.kind = kind
        self.watch_id = watch_id
        self.label = label
        self.schedule = schedule
        self.sink = sink
        self.notifier = notifier
        self.control = control
        self.wall = wall
        self.started_at = wall()
        self.phase = status.STARTING
        self.last: Optional[Observation] = None
        self.last_seen: Optional[dict] = None  # self.last.to_dict(), made once per probe
        self.state = WatchState()
        self.slow: Optional[SlowStage] = None  # the last probe's slow stage, as the verdict named it
        self.status_text = "starting"
        self.paused_until: Optional[float] = None
        # Health attribute mode: the verdict (green healthy, yellow slow or degraded, red
        # declared failed) goes to the publisher at every change of the attribute's value;
        # `published` is the value the cluster last accepted.
        self.publisher = publisher
        self.published: Optional[str] = None
        self.publish_failing = False
        self.declared = False  # declared failed and still watching (health attribute mode)
        self.history = History(history_size(schedule.retries))  # the failure timeline (fswatch.watch.history)
        self.injection: Optional[Dict[str, object]] = None  # what `fswatch inject` has pending
        # Prometheus textfile metrics (fswatch.watch.metrics), written with the state file; a
        # failed publication is alert 110, once per streak of failures.
        self.metrics = metrics
        self.metrics_failing = False
        # A state or metrics file that cannot be written (a full or read-only /run): alert 42
        # once, alert 162 once it works again; the watch goes on probing either way.
        self.runtime_failing = False
        self.settings = settings  # what the watch runs (fswatch.watch.status.settings_record)
        self.ended = False  # the watch is ending: its metrics say so for good
        self.unmetered: Optional[Observation] = None  # the probe the next metrics write counts
        # Evidence from the server's own process (fswatch.watch.evidence): what declared the
        # current failure streak early, if anything; what declared the last failure (stopped,
        # blocked or retries); why the process could not be looked at (alert 118, once).
        self.early: Optional[Evidence] = None
        self.declared_by: Optional[str] = None
        self.evidence_unavailable: Optional[str] = None

    # -- alerts ---------------------------------------------------------------------------
    def alert(
        self,
        alert_id: int,
        *,
        detail: object = None,
        failure: Optional[ProbeFailure] = None,
        obs: Optional[Observation] = None,
        priority: Optional[int] = None,
        subject: Optional[str] = None,
        **extra: str,
    ) -> None:
        """`subject` stands for the target in the text: alert 42 names the failed system call."""
        entry = alert_entry(alert_id)
        if failure is not None and alert_id == failure.alert:
            message = failure.message(self.kind, self.label)
        else:
            message = entry.render(self.kind, target=subject or self.label, detail=detail)
        if failure is not None and failure.injected and "injected" not in message:
            message += " (injected)"  # after the seed's text, so its filters still match
        fields = {
            "FSWATCH_KIND": self.kind.name,
            "FSWATCH_WATCH": self.watch_id,
            "FSWATCH_EVENT": str(alert_id),
            "FSWATCH_TARGET": self.label,
        }
        if failure is not None:
            fields.update(failure_fields(failure))
        if obs is not None:
            fields["FSWATCH_LATENCY_MS"] = f"{obs.total_ms:.3f}"
            if obs.details is not None:
                fields.update(obs.details.journal_fields())  # SMB: FSWATCH_DIALECT, _SIGNING, _ENCRYPTION
        # The address the probe connected to (a host name's lookup, fswatch.probes.resolve); alert 6
        # and 66 carry a failure without its observation: the last probe's.
        probed = obs if obs is not None else self.last if failure is not None else None
        address = dict(probed.notes).get("address") if probed is not None else None
        if address:
            fields["FSWATCH_ADDRESS"] = address
        if failure is not None and probed is not None and probed.evidence is not None:
            fields.update(probed.evidence.journal_fields())  # FSWATCH_EVIDENCE, _PROCESS, _STATE, ...
        fields.update(extra)
        self.sink.emit(entry, message, entry.priority if priority is None else priority, fields)

    # -- lifecycle --------------------------------------------------------------------------
    def started(self) -> None:
        self.alert(alerts.STARTED)
        self.notifier.set_watchdog(self.schedule.watchdog_seconds)
        self._status("starting: first probe")

    def probing_before_ready(self) -> None:
        """Before READY=1, each probe may take a whole retry period: ask systemd for it."""
        self.notifier.extend_timeout(max(self.schedule.interval, self.schedule.timeout) + self.schedule.timeout + 5)

    def probed(self, obs: Observation, judgement: Judgement) -> None:
        previous, self.last, self.last_seen = self.last, obs, obs.to_dict()
        degraded = status.DEGRADED if obs.degraded is not None else status.HEALTHY  # the phase this probe leads to
        self.history.add(obs, result_of(obs, judgement.state.slow, degraded), judgement.state.failures, self.last_seen)
        self.unmetered = obs
        self.state = judgement.state
        self.slow = judgement.slow
        if judgement.early is not None:
            self.early = judgement.early
        events = judgement.events
        attempts = f"{judgement.state.failures}/{self.schedule.attempts}"
        if obs.failure is not None:
            self.phase = status.FAILED if judgement.declared_failed else status.FAILING
            text = f"failing: {attempts} failed probes; {obs.failure.stage}: {obs.failure.reason}"
            if Event.PROBE_FAILED in events:
                # A failed probe that does not yet declare failure: visible, but a warning.
                self.alert(
                    obs.failure.alert, failure=obs.failure, obs=obs, priority=alerts.WARNING, FSWATCH_ATTEMPT=attempts
                )
            if judgement.declared_failed and self.declared:
                self._publish(RED)  # a watch that keeps probing retries a failed update
            self._status(text)
            return
        self.phase = status.HEALTHY if obs.degraded is None else status.DEGRADED
        if Event.FIRST_HEALTHY in events:
            self.alert(alerts.WATCHING, obs=obs)
        if Event.RECOVERED in events:
            self.alert(alerts.RECOVERED, detail=judgement.streak, obs=obs)
        if Event.DEGRADED in events and obs.degraded is not None:
            d = obs.degraded
            fields = {
                "FSWATCH_STAGE": d.stage,
                "FSWATCH_REASON": d.reason,
                "FSWATCH_RPC_STATUS": d.status,
                "FSWATCH_KRB5_ERROR": d.krb5_error,
            }
            detail = d.detail or degraded_limit(d)
            self.alert(d.alert, detail=detail, obs=obs, **{k: v for k, v in fields.items() if v})
        if Event.DEGRADED_ENDED in events:
            # The degradation that ended is the one the previous probe saw (a streak has no gap).
            ended = previous.degraded if previous is not None and previous.degraded is not None else None
            ended_alert = ended.ended_alert if ended is not None else alerts.DEGRADED_ENDED
            self.alert(ended_alert, detail=judgement.degraded_streak, obs=obs)
        slow = judgement.slow
        if Event.SLOW in events and slow is not None:
            self.alert(
                alerts.SLOW,
                detail=f"{obs.total_ms:.0f} ms; {slow.text()}",
                obs=obs,
                FSWATCH_SLOW_STAGE=slow.stage,
                FSWATCH_SLOW_STAGE_MS=f"{slow.ms:.3f}",
                FSWATCH_BUDGET_MS=f"{slow.budget_ms:.0f}",
            )
        text = f"healthy: {obs.total_ms:.1f} ms, 0/{self.schedule.attempts} failed probes"
        if slow is not None:
            text += f"; {slow.text()}"
        if obs.degraded is not None:
            lasted = (judgement.state.degraded - 1) * self.schedule.interval
            limit = degraded_limit(obs.degraded)
            text = (
                f"degraded ({obs.degraded.cause}): {obs.total_ms:.1f} ms, for {lasted} s"
                f"{'' if limit is None else f' of at most {limit} s'}; {obs.degraded.reason}"
            )
        self.declared = False
        self.early = None
        self._publish(YELLOW if slow is not None or obs.degraded is not None else GREEN)
        if Event.FIRST_HEALTHY in events:
            self.status_text = text
            self._write_state()
            self.notifier.ready(text)
        else:
            self._status(text)

    def declared_failed(self, obs: Observation, final: bool = True) -> None:
        """The stage's alert, then alert 6 and STOPPING=1 when the watch ends (final), or
        alert 98 and READY=1 when it keeps probing (health attribute mode)."""
        assert obs.failure is not None
        self.phase = status.FAILED
        self.declared = True
        self.ended = final
        self.alert(
            obs.failure.alert,
            failure=obs.failure,
            obs=obs,
            FSWATCH_ATTEMPT=f"{self.state.failures}/{self.schedule.attempts}",
        )
        for alert_id in self.kind.declared_alerts:  # the seed's NFS monitor: "detected an error in NFS"
            self.alert(alert_id, failure=obs.failure)
        early = self.early
        self.declared_by = early.kind if early is not None else evidence_rule.RETRIES
        if early is not None:  # declared before the retries ran out: say on what
            evidence_alert = alerts.EVIDENCE_STOPPED if early.kind == evidence_rule.STOPPED else alerts.EVIDENCE_BLOCKED
            self.alert(evidence_alert, detail=early.text(), failure=obs.failure)
        if self.metrics is not None:
            self.metrics.declared(self.declared_by)
        self.status_text = f"failed: {obs.failure.stage}: {obs.failure.reason}"
        if early is not None:
            self.status_text += f" [declared at once: {early.text()}]"
        timeline = self.history_fields()
        if final:
            self.alert(alerts.TERMINATE, failure=obs.failure, **timeline)
            self.notifier.stopping(f"failed: {obs.failure.stage}: {obs.failure.reason}")
        else:
            self.alert(alerts.FAILED_WATCHING, failure=obs.failure, **timeline)
            self.notifier.ready(self.status_text)  # started, and publishing: a verdict is a result
        self._publish(RED)
        self._write_state()

    def unavailable(self, reason: str) -> None:
        """From fswatch.watch.evidence: the server's process could not be looked at (alert 118, once)."""
        if self.evidence_unavailable is None:
            self.evidence_unavailable = reason
            self.alert(alerts.EVIDENCE_UNAVAILABLE, detail=reason, FSWATCH_REASON=reason)

    def history_fields(self) -> Dict[str, str]:
        """How the failure went: the last probes, as a table and as JSON lines."""
        entries = self.history.entries()
        return {"FSWATCH_HISTORY": table(entries, self.schedule.attempts), "FSWATCH_HISTORY_JSON": json_lines(entries)}

    def injection_changed(self, info: Optional[Dict[str, object]], armed: bool) -> None:
        """From fswatch.watch.inject: what is pending (None: nothing); alert 113 for a new request."""
        self.injection = info
        if armed and info is not None:
            self.alert(
                alerts.INJECTED,
                detail=f"{info['count']} probe{'s' if info['count'] != 1 else ''} at stage {info['stage']}",
                FSWATCH_STAGE=str(info["stage"]),
                FSWATCH_INJECTED="1",
            )

    def _publish(self, level: str) -> None:
        """Publish a change of the attribute's value (alert 97); a failed update is alert 96,
        once per streak of failures, and is tried again at the next verdict."""
        if self.publisher is None:
            return
        new = self.publisher.value(level)
        if self.published == new:
            return
        self.notifier.watchdog()  # the call is bounded, but comes on top of a whole probe
        value = f"{self.publisher.name}={new}"
        error = self.publisher(new)
        if error is None:
            self.published = new
            self.publish_failing = False
            self.alert(alerts.ATTRIBUTE_SET, detail=value, FSWATCH_ATTRIBUTE=self.publisher.name)
        elif not self.publish_failing:
            self.publish_failing = True
            self.alert(alerts.ATTRIBUTE_FAILED, detail=f"{value}: {error}", FSWATCH_ATTRIBUTE=self.publisher.name,
                       FSWATCH_REASON=error)

    def paused(self, until: Optional[float], seconds: Optional[int]) -> None:
        self.phase = status.PAUSED
        self.paused_until = self.wall() + seconds if seconds else None
        self.alert(alerts.PAUSED)
        self._status("paused" + (f" for {seconds} s" if seconds else " until continued"))

    def still_paused(self) -> None:
        self.notifier.watchdog()

    def resumed(self, expired_after: Optional[int]) -> None:
        self.paused_until = None
        if expired_after is not None:
            self.alert(alerts.PAUSE_EXPIRED, detail=f"{expired_after} s")
        self.alert(alerts.RESUMED)
        self.phase = status.RESUMING
        self._status("resuming: probing")

    def stopping(self) -> None:
        self.phase = status.STOPPED
        self.ended = True
        self.alert(alerts.STOPPING)
        self.status_text = "stopped"
        self.notifier.stopping("stopping")
        self._write_state()

    def watchdog(self) -> None:
        self.notifier.watchdog()

    def report_settings(self) -> None:
        """SIGHUP, SIGUSR1 (fswatch.host.signals): the settings the watch runs, and whether its
        settings file says the same (alert 160) or otherwise (161). Nothing is reloaded."""
        values = (self.settings or {}).get("values") or {k: str(v) for k, v in self.schedule.fields.items()}
        running = ", ".join(f"{key} {value}" for key, value in values.items())
        drift = status.settings_drift(self.kind.name, self.watch_id, self.settings)
        fields = {"FSWATCH_SETTINGS": running}
        if drift is not None:
            fields["FSWATCH_SETTINGS_FILE"] = drift.file
        if drift is not None and drift.differs:
            self.alert(alerts.SETTINGS_DIFFER, detail=drift.text(), **fields)
        else:
            where = drift.text() if drift is not None else "from its command line, no settings file"
            self.alert(alerts.SETTINGS_SAME, detail=f"{running}; {where}", **fields)

    # -- status and state ---------------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.status_text = text
        self.notifier.status(text)
        self._write_state()

    def snapshot(self) -> WatchStatus:
        """What the state file says (fswatch.watch.status: its one schema)."""
        return WatchStatus(
            kind=self.kind.name,
            id=self.watch_id,
            target=self.label,
            pid=os.getpid(),
            phase=self.phase,
            status=self.status_text,
            started=self.started_at,
            updated=self.wall(),
            failures=self.state.failures,
            attempts=self.schedule.attempts,
            probes=self.state.probes,
            slow=self.state.slow,  # healthy but slower than half the timeout (OCF: degraded)
            slow_stage=self.slow.fields() if self.slow is not None and self.state.slow else None,
            paused_until=self.paused_until,
            schedule={**self.schedule.fields, "detection_bound": self.schedule.detection_bound},
            last_probe=self.last_seen,
            history=self.history.entries(),
            settings=self.settings,
            injection=self.injection,
            attribute=None
            if self.publisher is None
            else {"name": self.publisher.name, "published": None if self.published is None else self.published
                  not in ("0", RED), "value": self.published, "failing": self.publish_failing},
            degraded=self._degraded(),
            evidence={"setting": self.schedule.evidence, "declared_by": self.declared_by,
                      "unavailable": self.evidence_unavailable},
            version=__version__,
            protocol=CURRENT.number,
        )

    def _degraded(self) -> Optional[dict]:
        """What degrades the server now (phase "degraded"), for status --json and the OCF agent."""
        if self.phase != status.DEGRADED or self.last is None or self.last.degraded is None:
            return None
        limit = degraded_limit(self.last.degraded)
        return {**self.last.degraded.fields(), "probes": self.state.degraded, "limit_seconds": limit}

    def _write_state(self) -> None:
        """The metrics and the state file; one that cannot be written never stops the watch."""
        fault = self._write_metrics()
        if self.control is not None:
            try:
                self.control.write_state(self.snapshot().to_json(self.history.json()))
            except OSError as exc:
                fault = fault or files.fault("write", exc, self.control.state_file)
            except FswatchError as exc:
                fault = fault or exc
        self._runtime_written(fault)

    def _runtime_written(self, fault: Optional[FswatchError]) -> None:
        """Alert 42 when the runtime files stop being written, 162 when they are again: once
        each, however many probes come in between (status shows the old state as stale)."""
        if fault is None:
            if self.runtime_failing:
                self.runtime_failing = False
                where = self.control.directory if self.control is not None else "metrics"
                self.alert(alerts.RUNTIME_WRITABLE, detail=str(where))
            return
        if self.runtime_failing:
            return
        self.runtime_failing = True
        reason = f"{fault}; the watch goes on probing, fswatch status shows its last state as stale"
        fields = {"FSWATCH_REASON": reason}
        number = getattr(fault, "errno", None)
        if number:
            fields["FSWATCH_ERRNO"] = str(number)
        self.alert(alerts.SYSTEM, subject=getattr(fault, "function", None) or "write", detail=number, **fields)

    def _write_metrics(self) -> Optional[FswatchError]:
        """Write the metrics (a runtime file: what went wrong is returned) and see that they
        are published (alert 110 here, once per streak: the textfile directory is not ours)."""
        if self.metrics is None:
            return None
        obs, self.unmetered = self.unmetered, None
        if obs is not None:  # counted once, with the phase its judgement led to
            result = result_of(obs, self.state.slow, self.phase)
            self.metrics.observe(obs, result, self.state.failures, obs.started_wall)
        try:
            error = self.metrics.write(self.phase, final=self.ended)
        except FswatchError as exc:
            return exc
        if error is None:
            self.metrics_failing = False
        elif not self.metrics_failing:
            self.metrics_failing = True
            self.alert(alerts.METRICS_FAILED, detail=error, FSWATCH_REASON=error)
        return None
