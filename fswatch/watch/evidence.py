"""Evidence from the server's own process, taken around the probe function the way
fswatch.watch.inject wraps it: the probes never know about it.

At the probe's checkpoint — half its timeout after its start (Schedule.checkpoint), when a
healthy probe has long ended — a worker thread looks for the local processes serving the
probe's open connections (fswatch.host.procfs) and samples them; when a probe that got that
far ends failed, they are sampled again and fswatch.core.evidence judges the two samples.
The judgement rides on the Observation (its `evidence`), so the verdict, the reporter, the
history, the state file and the metrics all see the same thing. A healthy probe costs two
wake-ups of an idle thread; a remote server costs one look at the socket tables per failed
probe.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable, List, Optional, Tuple

from fswatch.core import evidence as rule
from fswatch.core.deadline import Deadline
from fswatch.core.evidence import ProcessSample
from fswatch.core.observation import Observation
from fswatch.core.settings import Schedule
from fswatch.host.procfs import ProcFS, ServerProcess

# Seconds the probe's end waits for a checkpoint still sampling (a process with thousands of
# threads, a full /proc scan on a loaded node: tens of ms); past it the probe has no evidence.
COLLECT_WAIT = 1.0

Checkpoint = Tuple[List[ServerProcess], List[ProcessSample], str]  # servers, their samples, problem


class _Worker:
    """One daemon thread that runs `job` once the armed instant comes, unless disarmed first."""

    def __init__(self, job: Callable[[], Checkpoint]) -> None:
        self._job = job
        self._cond = threading.Condition()
        self._at: Optional[float] = None  # the armed instant (monotonic); None: disarmed
        self._clock: Callable[[], float] = lambda: 0.0
        self._generation = 0  # which arming a result belongs to
        self._running = False
        self._result: Optional[Checkpoint] = None
        self._thread = threading.Thread(target=self._loop, name="fswatch-evidence", daemon=True)
        self._thread.start()

    def arm(self, at: float, clock: Callable[[], float]) -> None:
        with self._cond:
            self._generation += 1
            self._at, self._clock, self._result = at, clock, None
            self._cond.notify_all()

    def collect(self, wait: float = COLLECT_WAIT) -> Optional[Checkpoint]:
        """Disarm; the checkpoint's result if it ran (waiting up to `wait` for one in progress)."""
        with self._cond:
            if self._running:
                self._cond.wait_for(lambda: not self._running, timeout=wait)
            result = None if self._running else self._result
            self._generation += 1
            self._at, self._result = None, None
            self._cond.notify_all()
            return result

    def _loop(self) -> None:
        while True:  # the watch's lifetime: a daemon thread, idle between probes
            with self._cond:
                self._cond.wait_for(lambda: self._at is not None)
                generation = self._generation
                while self._at is not None and generation == self._generation:
                    left = self._at - self._clock()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._at is None or generation != self._generation:
                    continue
                self._running = True
            try:
                result: Optional[Checkpoint] = self._job()
            except Exception:  # /proc surprises: no evidence for this probe, never a crash
                result = None
            with self._cond:
                self._running = False
                if generation == self._generation:
                    self._result, self._at = result, None
                self._cond.notify_all()


class EvidenceSampler:
    """Wraps the probe function of a watch whose `evidence` setting is not off.

    `unavailable(reason)` is told why the server could not be sampled (not permitted), so the
    reporter can say it once (alert 118)."""

    def __init__(
        self,
        schedule: Schedule,
        procfs: Optional[ProcFS] = None,
        unavailable: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.schedule = schedule
        self.procfs = procfs or ProcFS()
        self.unavailable = unavailable
        self._worker: Optional[_Worker] = None

    def wrap(self, probe: Callable[[Deadline], Observation]) -> Callable[[Deadline], Observation]:
        if self.schedule.evidence == rule.OFF:
            return probe
        self._worker = worker = _Worker(self._checkpoint)
        before_deadline = self.schedule.timeout - self.schedule.checkpoint

        def sampled(deadline: Deadline) -> Observation:
            worker.arm(deadline.at - before_deadline, deadline.clock)
            try:
                obs = probe(deadline)
            finally:
                at_deadline = deadline.expired()  # before collect(), which may wait
                seen = worker.collect()
            if obs.ok or seen is None:
                return obs
            return replace(obs, evidence=self._judge(seen, at_deadline))

        return sampled

    def _checkpoint(self) -> Checkpoint:
        servers, problem = self.procfs.servers()
        samples = [self.procfs.sample(s) for s in servers]
        kept = [(s, x) for s, x in zip(servers, samples) if x is not None]
        return [s for s, _ in kept], [x for _, x in kept], problem

    def _judge(self, seen: Checkpoint, at_deadline: bool) -> Optional[rule.Evidence]:
        servers, first, problem = seen
        if problem:
            self.unavailable(problem)
        if not first:
            return rule.none(problem) if problem else None  # a remote server: nothing to say
        last = [self.procfs.sample(s, detail=True) for s in servers]
        return rule.judge(first, last, at_deadline, problem)
