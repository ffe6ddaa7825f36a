"""Prometheus metrics of one watch: kept from each probe, rendered in the text exposition
format 0.0.4, and written atomically to <runtime dir>/<kind>/<ID>/metrics.prom, which
fswatch.host.metrics_files publishes into node_exporter's textfile directory.

The format is written here rather than with prometheus_client: see bench/RESULTS.md
("Metrics") for the measured cost of each. Counters live as long as the watch process;
a restart resets them, which Prometheus' rate() and increase() handle.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from fswatch.core import evidence
from fswatch.core.observation import Observation
from fswatch.core.settings import Schedule
from fswatch.host.atomic import write_atomic
from fswatch.host.files import fault
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
# Seconds between two writes of the file when nothing an alert rule reads has changed: well
# under node_exporter's scrape interval (Prometheus: 15-60 s), and 1/5 of the writes of a
# watch probing every second (README, "Metrics").
WRITE_EVERY = 5.0


def _escape(value: object) -> str:
    text = str(value).encode("utf-8", "replace")[:MAX_LABEL_BYTES].decode("utf-8", "ignore")
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[Tuple[str, object]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _sample(name: str, pairs: Sequence[Tuple[str, object]]) -> str:
    """A series' name and labels, up to its value: rendered once per series, not per write."""
    return f"{name}{_labels(pairs)} "


def _head(name: str, kind: str, text: str) -> str:
    return f"# HELP {name} {text}\n# TYPE {name} {kind}"


DURATION = "fswatch_probe_duration_seconds"
HEAD_STATE = _head("fswatch_watch_state", "gauge", "The watch's state: 1 for the current one, 0 for the others.")
HEAD_FAILURES = _head("fswatch_consecutive_failed_probes", "gauge",
                      "Failed probes in a row; retries + 1 of them declare the server failed.")
HEAD_PROBES = _head("fswatch_probes_total", "counter", "Probes by result since the watch started.")
HEAD_DECLARATIONS = _head("fswatch_declarations_total", "counter",
                          "Declared failures by what declared them: evidence from the server's process at once "
                          "(stopped, blocked) or retries + 1 failed probes (retries).")
HEAD_HEALTHY = _head("fswatch_last_healthy_probe_timestamp_seconds", "gauge", "When the last healthy probe started.")
HEAD_DURATION = _head(DURATION, "histogram", "How long each stage of a probe took.")


class Histogram:
    """One stage's durations; the text of its series is rendered again only after an observation."""

    def __init__(self, buckets: Sequence[float], labels: Sequence[Tuple[str, object]] = ()) -> None:
        self.buckets = tuple(buckets)
        self._hits = [0] * (len(self.buckets) + 1)  # per bucket, not cumulative: one increment a probe
        self.count = 0
        self.sum = 0.0
        labels = tuple(labels)
        bucket = f"{DURATION}_bucket"
        self._bucket_samples = tuple(_sample(bucket, labels + (("le", _number(b)),)) for b in self.buckets)
        self._inf = _sample(bucket, labels + (("le", "+Inf"),))
        self._sum = _sample(f"{DURATION}_sum", labels)
        self._count = _sample(f"{DURATION}_count", labels)
        self._text: Optional[str] = None

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds
        if seconds == seconds:  # a NaN falls in no bucket, as `seconds <= bound` says for each
            self._hits[bisect.bisect_left(self.buckets, seconds)] += 1  # the first bound >= seconds
        self._text = None

    @property
    def counts(self) -> List[int]:
        """Cumulative counts, one per bound: observations <= that bound."""
        return list(itertools.accumulate(self._hits[:-1]))

    def text(self) -> str:
        if self._text is None:
            lines = [sample + str(count) for sample, count in zip(self._bucket_samples, self.counts)]
            count = str(self.count)
            lines += [self._inf + count, self._sum + _number(round(self.sum, 6)), self._count + count]
            self._text = "\n".join(lines)
        return self._text


class WatchMetrics:
    """The metrics of one watch: updated from each observation, rendered as text.

    What never changes (the settings, the start time, every series' labels) is rendered once;
    a render formats only the numbers, and a stage's histogram only after it changed.
    """

    def __init__(self, kind: str, watch_id: str, target: str, schedule: Schedule, started: float) -> None:
        self.base = base = (("kind", kind), ("watch", watch_id), ("target", target))
        self.schedule = s = schedule
        self.started = started
        self.buckets = tuple(sorted(set(b for b in BUCKETS if b < schedule.timeout) | {float(schedule.timeout)}))
        self.stages: Dict[str, Histogram] = {}
        self.results: Dict[str, int] = {r: 0 for r in RESULTS}
        self.failures = 0
        self.last_healthy: Optional[float] = None
        self.declarations: Dict[str, int] = {by: 0 for by in DECLARED_BY}
        self.last_result: Optional[str] = None
        info = base + (("interval", s.interval), ("retries", s.retries), ("timeout", s.timeout),
                       ("bound", _number(s.detection_bound)))
        self._static = "\n".join((
            _head("fswatch_watch_info", "gauge", "The watch's settings (seconds; bound = detection bound)."),
            f"fswatch_watch_info{_labels(info)} 1",
            _head("fswatch_watch_start_time_seconds", "gauge", "When the watch process started (counters start at 0)."),
            f"fswatch_watch_start_time_seconds{_labels(base)} {_number(round(started, 3))}",
        ))
        self._state_samples = tuple((n, _sample("fswatch_watch_state", base + (("state", n),))) for n in STATES)
        self._states: Dict[str, str] = {}  # the state gauge's lines, by state: each rendered once
        self._failures = _sample("fswatch_consecutive_failed_probes", base)
        self._results: Dict[str, str] = {}
        self._healthy = _sample("fswatch_last_healthy_probe_timestamp_seconds", base)
        self._declarations = tuple(
            (by, _sample("fswatch_declarations_total", base + (("evidence", by),))) for by in DECLARED_BY
        )

    def observe(self, obs: Observation, result: str, failures: int, now: float) -> None:
        for timing in obs.stages:
            histogram = self.stages.get(timing.stage)
            if histogram is None:
                if len(self.stages) >= MAX_STAGES:
                    continue
                histogram = self.stages[timing.stage] = Histogram(self.buckets, self.base + (("stage", timing.stage),))
            histogram.observe(timing.ms / 1000.0)
        self.results[result] = self.results.get(result, 0) + 1
        self.failures = failures
        self.last_result = result
        if obs.ok:
            self.last_healthy = now

    def render(self, phase: str) -> str:
        state = PHASE_STATE.get(phase, phase)
        states = self._states.get(state)
        if states is None:
            states = self._states[state] = "\n".join(f"{sample}{1 if name == state else 0}"
                                                     for name, sample in self._state_samples)
        out = [self._static, HEAD_STATE, states, HEAD_FAILURES, f"{self._failures}{self.failures}", HEAD_PROBES]
        for result, count in self.results.items():
            sample = self._results.get(result)
            if sample is None:
                sample = self._results[result] = _sample("fswatch_probes_total", self.base + (("result", result),))
            out.append(f"{sample}{count}")
        out.append(HEAD_DECLARATIONS)
        out += [f"{sample}{self.declarations.get(by, 0)}" for by, sample in self._declarations]
        if self.last_healthy is not None:
            out += [HEAD_HEALTHY, f"{self._healthy}{_number(round(self.last_healthy, 3))}"]
        if self.stages:
            out.append(HEAD_DURATION)
            out += [h.text() for h in self.stages.values()]
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
    """The reporter's side effect: keeps a watch's metrics and writes them when a scrape could notice.

    node_exporter reads the file when Prometheus scrapes it, every 15-60 s, while a watch may
    probe every second: rendering and replacing the file after every probe cost as much CPU as
    a whole NFS probe (bench/RESULTS.md, "Before and after"). So the file is written at once when
    what an alert rule reads changes - the state, the consecutive failed probes, the last
    probe's result (healthy, slow, degraded, failed) - and otherwise at most every `every`
    seconds, so counters, histograms and the last healthy probe's time are at most that old.
    The last state is always written (`final`).

    write() raises SystemFault when the runtime file cannot be written (the reporter's alert
    42, once per streak, with the state file's; the next probe tries again, due or not), and
    returns None or the reason it could not be published (alert 110, once per streak); the
    watch goes on either way.
    """

    def __init__(
        self,
        metrics: WatchMetrics,
        kind: str,
        watch_id: str,
        directory: Optional[Path],
        write: Optional[Callable[[str], None]] = None,
        clock: Callable[[], float] = time.monotonic,
        every: float = WRITE_EVERY,
    ) -> None:
        self.metrics = metrics
        self.kind = kind
        self.watch_id = watch_id
        self.directory = directory
        self.path = runtime_file(kind, watch_id)
        # The runner passes its control directory's writer (no walk from the runtime root).
        self._write = write or (lambda text: write_atomic(self.path, text, mode=0o644, durable=False))
        self.clock = clock
        self.every = every
        self._written: Optional[tuple] = None  # what the file says that alert rules read
        self._written_at = 0.0
        self._unpublished: Optional[str] = None  # why the last write could not be published
        self.writes = 0  # files written, for tests and the bench's counts

    def observe(self, obs: Observation, result: str, failures: int, now: float) -> None:
        self.metrics.observe(obs, result, failures, now)

    def declared(self, by: str) -> None:
        """One declared failure, by `by` (DECLARED_BY)."""
        self.metrics.declarations[by] = self.metrics.declarations.get(by, 0) + 1

    def write(self, phase: str, final: bool = False) -> Optional[str]:
        """Write the runtime file when due (SystemFault when it cannot be) and see that it is
        published (one readlink when it is)."""
        shown = (PHASE_STATE.get(phase, phase), self.metrics.failures, self.metrics.last_result)
        now = self.clock()
        if not final and shown == self._written and now - self._written_at < self.every:
            return self._unpublished  # as the last write left it: a streak of alert 110 goes on
        self._written = None  # due at the next probe until this write succeeds
        try:
            self._write(self.metrics.render(phase))
        except OSError as exc:
            raise fault("write", exc, self.path) from None
        self._written, self._written_at = shown, now
        self.writes += 1
        if final:
            # Best effort: inside a unit the textfile directory is read-only for the watch,
            # whose link then stays, to the last state it just wrote (fswatch-settle@ copies
            # it once the unit failed).
            settle(self.kind, self.watch_id, self.directory)
            return None
        self._unpublished = publish(self.kind, self.watch_id, self.directory)
        return self._unpublished
