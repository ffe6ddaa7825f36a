"""Prometheus metrics of one watch: kept from each probe, rendered in the text exposition
format 0.0.4, and written atomically to <runtime dir>/<kind>/<ID>/metrics.prom, which
fswatch.host.metrics_files publishes into node_exporter's textfile directory.

The format is written here rather than with prometheus_client: see bench/RESULTS.md
("Metrics") for the measured cost of each. Counters live as long as the watch process;
a restart resets them, which Prometheus' rate() and increase() handle.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from fswatch.core import evidence
from fswatch.core.observation import Observation
from fswatch.core.settings import Schedule
from fswatch.host.atomic import write_atomic
from fswatch.host.metrics_files import publish, runtime_file, settle
from fswatch.watch import status

# Every state a watch can be in: the status model's phases, one-hot in the state gauge, so
# a query for one state never finds a stale series. A watch resuming after a pause is starting.
PHASE_STATE = {status.RESUMING: status.STARTING}
STATES = tuple(p for p in status.PHASES if p not in PHASE_STATE)
RESULTS = ("healthy", "slow", "degraded", "failed")
# What declared a failure: evidence from the server's own process at once (stopped, blocked),
# or retries + 1 failed probes (fswatch.core.verdict).
DECLARED_BY = evidence.DECLARED_BY
# Probe durations: from a loopback probe (~1 ms) to the longest default timeout; the
# watch's own timeout is added as a bucket, since no probe outlives its deadline.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_STAGES = 16  # bounds the file's size: a probe has a handful of fixed stages
MAX_LABEL_BYTES = 256  # longer targets (an export path may have 1024) are cut: bounds the file


def _escape(value: object) -> str:
    text = str(value).encode("utf-8", "replace")[:MAX_LABEL_BYTES].decode("utf-8", "ignore")
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[Tuple[str, object]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[i] += 1


class WatchMetrics:
    """The metrics of one watch: updated from each observation, rendered as text."""

    def __init__(self, kind: str, watch_id: str, target: str, schedule: Schedule, started: float) -> None:
        self.base = (("kind", kind), ("watch", watch_id), ("target", target))
        self.schedule = schedule
        self.started = started
        self.buckets = tuple(sorted(set(b for b in BUCKETS if b < schedule.timeout) | {float(schedule.timeout)}))
        self.stages: Dict[str, Histogram] = {}
        self.results: Dict[str, int] = {r: 0 for r in RESULTS}
        self.failures = 0
        self.last_healthy: Optional[float] = None
        self.declarations: Dict[str, int] = {by: 0 for by in DECLARED_BY}

    def observe(self, obs: Observation, result: str, failures: int, now: float) -> None:
        for timing in obs.stages:
            histogram = self.stages.get(timing.stage)
            if histogram is None:
                if len(self.stages) >= MAX_STAGES:
                    continue
                histogram = self.stages[timing.stage] = Histogram(self.buckets)
            histogram.observe(timing.ms / 1000.0)
        self.results[result] = self.results.get(result, 0) + 1
        self.failures = failures
        if obs.ok:
            self.last_healthy = now

    def render(self, phase: str) -> str:
        state = PHASE_STATE.get(phase, phase)
        base = self.base
        out: List[str] = []

        def head(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        s = self.schedule
        head("fswatch_watch_info", "gauge", "The watch's settings (seconds; bound = detection bound).")
        info = base + (("interval", s.interval), ("retries", s.retries), ("timeout", s.timeout),
                       ("bound", _number(s.detection_bound)))
        out.append(f"fswatch_watch_info{_labels(info)} 1")
        head("fswatch_watch_start_time_seconds", "gauge", "When the watch process started (counters start at 0).")
        out.append(f"fswatch_watch_start_time_seconds{_labels(base)} {_number(round(self.started, 3))}")
        head("fswatch_watch_state", "gauge", "The watch's state: 1 for the current one, 0 for the others.")
        for name in STATES:
            out.append(f"fswatch_watch_state{_labels(base + (('state', name),))} {1 if name == state else 0}")
        head("fswatch_consecutive_failed_probes", "gauge",
             "Failed probes in a row; retries + 1 of them declare the server failed.")
        out.append(f"fswatch_consecutive_failed_probes{_labels(base)} {self.failures}")
        head("fswatch_probes_total", "counter", "Probes by result since the watch started.")
        for result, count in self.results.items():
            out.append(f"fswatch_probes_total{_labels(base + (('result', result),))} {count}")
        head("fswatch_declarations_total", "counter",
             "Declared failures by what declared them: evidence from the server's process at once "
             "(stopped, blocked) or retries + 1 failed probes (retries).")
        for by, count in self.declarations.items():
            out.append(f"fswatch_declarations_total{_labels(base + (('evidence', by),))} {count}")
        if self.last_healthy is not None:
            head("fswatch_last_healthy_probe_timestamp_seconds", "gauge", "When the last healthy probe started.")
            out.append(f"fswatch_last_healthy_probe_timestamp_seconds{_labels(base)} "
                       f"{_number(round(self.last_healthy, 3))}")
        if self.stages:
            head("fswatch_probe_duration_seconds", "histogram", "How long each stage of a probe took.")
            for stage, h in self.stages.items():
                labels = base + (("stage", stage),)
                for bound, count in zip(h.buckets, h.counts):
                    out.append(f"fswatch_probe_duration_seconds_bucket{_labels(labels + (('le', _number(bound)),))} "
                               f"{count}")
                out.append(f"fswatch_probe_duration_seconds_bucket{_labels(labels + (('le', '+Inf'),))} {h.count}")
                out.append(f"fswatch_probe_duration_seconds_sum{_labels(labels)} {_number(round(h.sum, 6))}")
                out.append(f"fswatch_probe_duration_seconds_count{_labels(labels)} {h.count}")
        return "\n".join(out) + "\n"


def result_of(obs: Observation, slow: bool, phase: str) -> str:
    """The probe's result label: failed, degraded (the phase says the server is degraded),
    slow (healthy but slower than half the timeout) or healthy."""
    if not obs.ok:
        return "failed"
    if phase == status.DEGRADED:
        return "degraded"
    return "slow" if slow else "healthy"



class MetricsWriter:
    """The reporter's side effect: keeps a watch's metrics and writes them after each probe.

    write() raises SystemFault when the runtime file cannot be written (the reporter's alert
    42, once per streak, with the state file's), and returns None or the reason it could not
    be published (alert 110, once per streak); the watch goes on either way.
    """

    def __init__(self, metrics: WatchMetrics, kind: str, watch_id: str, directory: Optional[Path]) -> None:
        self.metrics = metrics
        self.kind = kind
        self.watch_id = watch_id
        self.directory = directory
        self.path = runtime_file(kind, watch_id)

    def observe(self, obs: Observation, result: str, failures: int, now: float) -> None:
        self.metrics.observe(obs, result, failures, now)

    def declared(self, by: str) -> None:
        """One declared failure, by `by` (DECLARED_BY)."""
        self.metrics.declarations[by] = self.metrics.declarations.get(by, 0) + 1

    def write(self, phase: str, final: bool = False) -> Optional[str]:
        """Write the runtime file and see that it is published (one readlink when it is)."""
        write_atomic(self.path, self.metrics.render(phase), mode=0o644, durable=False)  # SystemFault
        if final:
            # Best effort: inside a unit the textfile directory is read-only for the watch,
            # whose link then stays, to the last state it just wrote (fswatch-settle@ copies
            # it once the unit failed).
            settle(self.kind, self.watch_id, self.directory)
            return None
        return publish(self.kind, self.watch_id, self.directory)
