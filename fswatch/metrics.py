"""Prometheus metrics of one watch, as a file for node_exporter's textfile collector.

After every probe (and at every change of state) the watch renders its metrics in the
Prometheus text exposition format 0.0.4 and writes them atomically to
<runtime dir>/<kind>/<ID>/metrics.prom. node_exporter reads
<metrics dir>/fswatch_<kind>_<ID>.prom, a symbolic link to that file.

Why a link and not the file itself: the textfile directory belongs to root (mode 0755 in
Debian's prometheus-node-exporter), and the hardened units run as the unprivileged user
fswatch, who cannot create files there; the runtime directory is the watch's own, and
node_exporter (an unprivileged user too) can read it. The unit makes the link with a
privileged `ExecStartPre=+fswatch metrics publish`. A watch writes its last state itself
("stopped", or "failed") as it ends; when the unit fails, its `OnFailure=` unit
(fswatch-settle@) runs `fswatch metrics settle UNIT`, which replaces the link by a copy of
the last state marked failed: a watch killed by its watchdog could not say so. That runs
once the unit is failed already, so it never delays the failure the cluster acts on. At
boot, systemd-tmpfiles removes fswatch's files from the textfile directories (fswatch.conf
in tmpfiles.d): a link into /run would dangle (node_exporter counts that as a scrape
error), and a copy would describe a watch from before the reboot. A watch that runs
outside a unit with the rights to do so publishes and settles itself.

The format is written here rather than with prometheus_client: see bench/RESULTS.md
("Metrics") for the measured cost of each. Counters live as long as the watch process;
a restart resets them, which Prometheus' rate() and increase() handle.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from fswatch import paths
from fswatch.atomic import write_atomic
from fswatch.errors import SystemFault
from fswatch.observation import Observation
from fswatch.settings import Schedule

# Debian's prometheus-node-exporter reads this directory by default (its built-in
# --collector.textfile.directory). RHEL has no node_exporter of its own; the upstream
# example unit (used by the common RPM builds) reads /var/lib/node_exporter/textfile_collector:
# set FSWATCH_METRICS_DIR there (see README, "Metrics").
DEFAULT_DIR = "/var/lib/prometheus/node-exporter"
RHEL_DIR = "/var/lib/node_exporter/textfile_collector"
OFF = "off"
RUNTIME_NAME = "metrics.prom"

# Every state a watch can be in; the state gauge is one-hot over all of them, so a query
# for one state never finds a stale series. "degraded" is the NFS grace / slow-server phase.
STATES = ("starting", "healthy", "degraded", "failing", "paused", "failed", "stopped")
# Reporter phases that are not states of their own.
PHASE_STATE = {"resuming": "starting"}
RESULTS = ("healthy", "slow", "degraded", "failed")
# Probe durations: from a loopback probe (~1 ms) to the longest default timeout; the
# watch's own timeout is added as a bucket, since no probe outlives its deadline.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_STAGES = 16  # bounds the file's size: a probe has a handful of fixed stages
MAX_LABEL_BYTES = 256  # longer targets (an export path may have 1024) are cut: bounds the file


def metrics_dir(environ: Optional[Dict[str, str]] = None) -> Optional[Path]:
    """The textfile directory from FSWATCH_METRICS_DIR (default Debian's); None when "off"."""
    value = (os.environ if environ is None else environ).get("FSWATCH_METRICS_DIR") or DEFAULT_DIR
    return None if value == OFF else Path(value)


def published_name(kind: str, watch_id: str) -> str:
    return f"fswatch_{kind}_{watch_id}.prom"


def runtime_file(kind: str, watch_id: str) -> Path:
    return paths.watch_runtime_dir(kind, watch_id) / RUNTIME_NAME


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
    if phase == "degraded":
        return "degraded"
    return "slow" if slow else "healthy"


# -- files ------------------------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    """strerror of an OSError, or of write_atomic's translation of one (alert 42's facts)."""
    if isinstance(exc, SystemFault):
        return os.strerror(exc.errno) if exc.errno else str(exc)
    return getattr(exc, "strerror", None) or str(exc)


def _same_link(link: Path, target: Path) -> bool:
    try:
        return os.readlink(link) == str(target)
    except OSError:
        return False


def publish(kind: str, watch_id: str, directory: Optional[Path], placeholder: bool = False) -> Optional[str]:
    """Make <directory>/fswatch_<kind>_<ID>.prom a link to the watch's runtime file.

    None when done or nothing to do (metrics off, or no textfile directory: node_exporter
    is not installed); else a one-line reason. Replaced atomically (a temp link renamed
    over it), so a scrape sees the old file or the new link, never no file. With
    `placeholder` (the unit, before the watch runs) a missing runtime file is created
    empty, which node_exporter reads as no metrics, so the link never dangles.
    """
    if directory is None or not directory.is_dir():
        return None
    source = runtime_file(kind, watch_id)
    link = directory / published_name(kind, watch_id)
    if _same_link(link, source):
        return None
    tmp = directory / f".{link.name}.link"  # not *.prom: the collector ignores it
    try:
        if placeholder and not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            write_atomic(source, "", mode=0o644, durable=False)
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(source, tmp)
        os.replace(tmp, link)
    except (OSError, SystemFault) as exc:
        return f"cannot publish {link}: {_reason(exc)}"
    return None


def settle(kind: str, watch_id: str, directory: Optional[Path], failed: bool = False) -> Optional[str]:
    """After the watch ended: replace the link by a plain copy of its last metrics (a
    link into /run would dangle after a reboot). `failed` (the unit failed, e.g. killed by
    its watchdog) marks a state the watch could not write itself as failed."""
    if directory is None or not directory.is_dir():
        return None
    link = directory / published_name(kind, watch_id)
    try:
        text = _read_runtime(runtime_file(kind, watch_id))
    except FileNotFoundError:
        text = None
    except (OSError, ValueError) as exc:
        return f"cannot read {runtime_file(kind, watch_id)}: {_reason(exc)}"
    try:
        if text is None:
            if link.is_symlink():
                link.unlink()
            return None
        write_atomic(link, ended(text, "failed" if failed else "stopped"), durable=False)
    except (OSError, SystemFault) as exc:  # inside a unit: EROFS, the directory is not the watch's
        return f"cannot settle {link}: {_reason(exc)}"
    return None


MAX_FILE_BYTES = 1 << 20


def _read_runtime(path: Path) -> str:
    """The runtime file, read as root from a directory the sandboxed watch owns: so no
    symbolic link (O_NOFOLLOW), no FIFO or device, bounded, and only fswatch's own series,
    lest a subverted watch make root copy a file it may not read into a world-readable place."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        raw = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    text = raw.decode("utf-8")
    if any(not line.startswith(("fswatch_", "# HELP fswatch_", "# TYPE fswatch_")) for line in text.splitlines()):
        raise ValueError("not fswatch metrics")
    return text


# Compiled at first use (re caches it): only `fswatch metrics settle` needs it, not a watch.
_STATE_LINE = r'(?m)^(fswatch_watch_state\{.*,state=")([a-z]+)("\}) [01]$'


def ended(text: str, state: str) -> str:
    """The metrics of a watch that is no longer running: its state cannot stay
    starting/healthy/degraded/failing/paused. A watch that said failed or stopped keeps that."""
    current = [m.group(2) for m in re.finditer(_STATE_LINE, text) if m.group(0).endswith(" 1")]
    if current and current[0] in ("failed", "stopped"):
        return text
    return re.sub(_STATE_LINE, lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)} {int(m.group(2) == state)}", text)


def forget(kind: str, watch_id: str) -> None:
    """Remove a watch's metrics (fswatch remove, reset, clp -del): the published file or
    link, and the runtime file. Only fswatch's own name is touched."""
    directory = metrics_dir()
    targets = [runtime_file(kind, watch_id)]
    if directory is not None:
        targets.append(directory / published_name(kind, watch_id))
    for path in targets:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise


class MetricsWriter:
    """The reporter's side effect: keeps a watch's metrics and writes them after each probe.

    write() returns None or the reason the runtime file could not be written; the reporter
    turns that into one alert per streak of failures, and the watch goes on.
    """

    def __init__(self, metrics: WatchMetrics, kind: str, watch_id: str, directory: Optional[Path]) -> None:
        self.metrics = metrics
        self.kind = kind
        self.watch_id = watch_id
        self.directory = directory
        self.path = runtime_file(kind, watch_id)

    def observe(self, obs: Observation, result: str, failures: int, now: float) -> None:
        self.metrics.observe(obs, result, failures, now)

    def write(self, phase: str, final: bool = False) -> Optional[str]:
        """Write the runtime file and see that it is published (one readlink when it is)."""
        try:
            write_atomic(self.path, self.metrics.render(phase), mode=0o644, durable=False)
        except (OSError, SystemFault) as exc:
            return f"cannot write {self.path}: {_reason(exc)}"
        if final:
            # Best effort: inside a unit the textfile directory is read-only for the watch,
            # whose link then stays, to the last state it just wrote (fswatch-settle@ copies
            # it once the unit failed).
            settle(self.kind, self.watch_id, self.directory)
            return None
        return publish(self.kind, self.watch_id, self.directory)


USAGE = "usage: fswatch metrics publish|settle KIND ID, or fswatch metrics settle fswatch-KIND@ID.service"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`fswatch metrics publish|settle KIND ID`, run by the units as root (see above), and
    `fswatch metrics settle UNIT`, run by fswatch-settle@UNIT once a watch unit failed."""
    from fswatch.errors import UsageError
    from fswatch.kinds import KINDS
    from fswatch.settings import check_id

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "settle":
        return _settle_failed_unit(args[1])
    if len(args) != 3 or args[0] not in ("publish", "settle") or args[1] not in KINDS:
        raise UsageError(USAGE)
    action, kind, watch_id = args[0], args[1], check_id(args[2])
    directory = metrics_dir()
    if action == "publish":
        error = publish(kind, watch_id, directory, placeholder=True)
    else:
        # Run by hand or as an ExecStopPost=: systemd tells how the unit ended; anything but
        # success (a watchdog kill, a crash) leaves a state the watch could not write: failed.
        failed = os.environ.get("SERVICE_RESULT", "success") != "success"
        error = settle(kind, watch_id, directory, failed=failed)
    return _report(f"{kind} {watch_id}", error)


def _settle_failed_unit(unit: str) -> int:
    """fswatch-settle@UNIT: UNIT (a watch's unit) has failed. Its textfile directory is the
    one its own environment names (a drop-in may set FSWATCH_METRICS_DIR); a unit already
    started again is left alone, lest its live link be replaced by a stale copy."""
    import shlex

    from fswatch.units import RUNNING_PROPERTIES, Systemctl, running_in, watch_of_unit

    kind, watch_id = watch_of_unit(unit)
    shown = Systemctl().show(unit, *RUNNING_PROPERTIES, "Environment")
    if running_in(shown):
        return 0
    try:
        environ = dict(item.partition("=")[::2] for item in shlex.split(shown.get("Environment", "")))
    except ValueError:  # unbalanced quotes: systemd would not print them; take the default
        environ = {}
    return _report(unit, settle(kind, watch_id, metrics_dir(environ), failed=True))


def _report(what: str, error: Optional[str]) -> int:
    if error is not None:
        print(f"fswatch: {what}: {error}", file=sys.stderr)
        return 1
    return 0
