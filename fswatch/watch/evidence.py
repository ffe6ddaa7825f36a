"""Evidence from the server's own process, taken around the probe function the way
fswatch.watch.inject wraps it: the probes never know about it.

The process's timer thread looks at the server twice while a probe still waits for it:

- at the probe's checkpoint, half its timeout after its start (Schedule.checkpoint), when a
  healthy probe has long ended: it finds the local processes serving the connections the
  probe waits on (fswatch.host.procfs) and samples them;
- just before the probe's deadline (END_LEAD), while the probe still waits: it samples them
  again, before the probe's own teardown (closing its connections) wakes the server up.

fswatch.core.evidence judges the two samples; the judgement rides on the Observation (its
`evidence`), so the verdict, the reporter, the history, the state file and the metrics all
see the same thing. A probe that ended between the two instants is sampled again when it
ends (its evidence then never declares: it did not fail at its deadline). A healthy probe
costs no look, and the worker's one timer, armed again by each probe, wakes the process's
timer thread about once per checkpoint, not once per probe (fswatch.core.timers); a remote
server costs a probe still waiting at its checkpoint one look at the socket tables.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable, List, Optional, Sequence

from fswatch.core import evidence as rule
from fswatch.core import timers
from fswatch.core.deadline import Deadline
from fswatch.core.evidence import ProcessSample
from fswatch.core.observation import Observation
from fswatch.core.settings import Schedule
from fswatch.host.procfs import NOT_PERMITTED, ProcFS, ServerProcess

# Seconds the probe's end waits for a look still in progress (a process with thousands of
# threads, a full /proc scan on a loaded node: tens of ms); past it the probe has no evidence.
COLLECT_WAIT = 1.0
# The second look comes this long before the deadline (at most a twentieth of the timeout):
# the probe still waits then, and has not closed its connections yet.
END_LEAD = 0.05


@dataclass
class Looks:
    """What the worker saw during one probe."""

    servers: List[ServerProcess] = field(default_factory=list)
    first: List[ProcessSample] = field(default_factory=list)
    last: Optional[List[Optional[ProcessSample]]] = None  # None: not taken before the probe ended
    problem: str = ""


class _Worker:
    """Runs `checkpoint` at the first armed instant and `end` at the second, unless disarmed
    first, on the process's timer thread (fswatch.core.timers): arming and disarming a probe
    that ends in time wakes no thread."""

    def __init__(self, checkpoint: Callable[[], Looks], end: Callable[[Looks], None]) -> None:
        self._jobs = (checkpoint, end)
        self._cond = threading.Condition()
        self._instants: Sequence[float] = ()
        self._clock: Callable[[], float] = lambda: 0.0
        self._generation = 0  # which arming a result belongs to
        self._running = False
        self._looks: Optional[Looks] = None
        # One timer, set again by each arming and cancelled by each collect (fswatch.core.timers).
        self._timer: Optional[timers.Timer] = None

    def arm(self, instants: Sequence[float], clock: Callable[[], float]) -> None:
        with self._cond:
            self._generation += 1
            self._instants, self._clock, self._looks = instants, clock, None
            self._schedule(0)

    def _schedule(self, index: int) -> None:
        generation = self._generation
        self._timer = timers.after(self._instants[index] - self._clock(), lambda: self._look(generation, index),
                                   again=self._timer)

    def collect(self, wait: float = COLLECT_WAIT) -> Optional[Looks]:
        """Disarm; what was seen (waiting up to `wait` for a look in progress)."""
        with self._cond:
            if self._running:
                self._cond.wait_for(lambda: not self._running, timeout=wait)
            looks = None if self._running else self._looks
            self._generation += 1
            self._looks = None
            if self._timer is not None:
                self._timer.cancel()  # one that has run already: harmless, the next arming sets it again
            return looks

    def _look(self, generation: int, index: int) -> None:
        """On the timer thread: the look due at instant `index` of arming `generation`."""
        with self._cond:
            if generation != self._generation or self._running:
                return
            looks = self._looks
            self._running = True
        try:
            if index == 0:
                looks = self._jobs[0]()
            elif looks is not None:
                self._jobs[1](looks)
        except Exception:  # /proc surprises: no evidence for this probe, never a crash
            looks = None
        with self._cond:
            self._running = False
            if generation == self._generation:
                self._looks = looks
                if looks is not None and looks.servers and index + 1 < len(self._instants):
                    self._schedule(index + 1)  # something to look at again
            self._cond.notify_all()


class EvidenceSampler:
    """Wraps the probe function of a watch whose `evidence` setting is not off.

    `unavailable(reason)` is told why the server could not be sampled (not permitted), so the
    reporter can say it once (alert 118). `servers`: the kind's usual server commands, where a
    socket's owner is searched for first."""

    def __init__(
        self,
        schedule: Schedule,
        procfs: Optional[ProcFS] = None,
        unavailable: Callable[[str], None] = lambda reason: None,
        servers: Sequence[str] = (),
    ) -> None:
        self.schedule = schedule
        self.procfs = procfs or ProcFS(prefer=servers)
        self.unavailable = unavailable

    def wrap(self, probe: Callable[[Deadline], Observation]) -> Callable[[Deadline], Observation]:
        if self.schedule.evidence == rule.OFF:
            return probe
        worker = _Worker(self._checkpoint, self._end)
        timeout = self.schedule.timeout
        checkpoint = timeout - self.schedule.checkpoint  # seconds before the deadline
        lead = min(END_LEAD, timeout / 20)

        def sampled(deadline: Deadline) -> Observation:
            worker.arm((deadline.at - checkpoint, deadline.at - lead), deadline.clock)
            try:
                obs = probe(deadline)
            finally:
                at_deadline = deadline.expired()  # before collect(), which may wait
                looks = worker.collect()
            if obs.ok or looks is None:
                return obs
            return replace(obs, evidence=self._judge(looks, at_deadline))

        return sampled

    def _checkpoint(self) -> Looks:
        servers, problem = self.procfs.servers()
        samples = [self.procfs.sample(s) for s in servers]
        kept = [(s, x) for s, x in zip(servers, samples) if x is not None]
        return Looks([s for s, _ in kept], [x for _, x in kept], None, problem)

    def _end(self, looks: Looks) -> None:
        looks.last = [self.procfs.sample(s, detail=True) for s in looks.servers]

    def _judge(self, looks: Looks, at_deadline: bool) -> Optional[rule.Evidence]:
        if looks.problem == NOT_PERMITTED:  # a setup to fix (alert 118); a kernel server is just not sampled
            self.unavailable(looks.problem)
        if not looks.first:
            return rule.none(looks.problem) if looks.problem else None  # a remote server: nothing to say
        if looks.last is None:  # ended before the deadline: looked at once more, for the record
            looks.last = [self.procfs.sample(s, detail=True) for s in looks.servers]
        return rule.judge(looks.first, looks.last, at_deadline, looks.problem,
                          min_seconds=self.schedule.checkpoint / 2)
