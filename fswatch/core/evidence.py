"""Evidence from the server's own process (SPEC.md section 2): samples in, Evidence out.

A probe that fails at its deadline cannot tell a dead server from a slow one; where the
server runs on the watch's own node, the kernel can. fswatch.watch.evidence samples the
process serving the probe's connection (fswatch.host.procfs) twice: at the probe's
checkpoint, half its timeout after its start, and when the probe ends. Before the
checkpoint there is nothing to sample (no connection yet, or one not yet waited on), and a
healthy probe (milliseconds) never pays for sampling. This module only judges the two samples:

- STOPPED: every thread stopped (T, t) or the process's cgroup frozen at both samples, with
  no CPU time and no context switch between them. A stopped process answers nobody until
  someone continues it: a probe that failed at its deadline against it declares at once.
- BLOCKED: every thread asleep (S, D) at both samples, none with CPU time or a context switch
  between them; or, for a threaded server, a thread stuck all the while where idle threads
  never wait (D, or a named wait such as a FUSE request) while the only threads that ran were
  housekeeping that went back to an idle wait (ganesha's timers and the workers it starts
  while others wait: measured during a FUSE freeze). A storage hang looks like this, but so
  does a server waiting out a short hiccup of its own backend, so it declares at once only
  where the watch opted in.
- PROGRESSING: anything else seen to move: CPU time, a context switch, a thread that appeared
  or ended, or a runnable thread (R: starved of CPU, which is never frozen). The failed probe
  counts as any other.
- NONE: no local evidence (a remote server, a process not found or not readable, one that
  exited, a zombie, a PID reused by another process): today's retry rule.

/proc/PID/stat's utime and stime tick at 10 ms, too coarse for a server throttled to a few
ms per second: CPU time here is /proc/PID/task/TID/schedstat's, in nanoseconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

STOPPED, BLOCKED, PROGRESSING, NONE = "stopped", "blocked", "progressing", "none"

# The setting (`evidence`): which evidence declares a failed probe at once.
OFF = "off"
POLICIES = (OFF, STOPPED, BLOCKED)
# What declared a failure, as the reporter, the state file and the metrics name it.
RETRIES = "retries"  # retries + 1 failed probes, with no evidence that declared earlier
DECLARED_BY = (STOPPED, BLOCKED, RETRIES)
_DECLARING: Mapping[str, Tuple[str, ...]] = {OFF: (), STOPPED: (STOPPED,), BLOCKED: (STOPPED, BLOCKED)}

STOPPED_STATES = frozenset("Tt")  # stopped by a signal (T) or by a tracer (t)
# Asleep: interruptible (S), uninterruptible (D), idle kernel wait (I), parked (P). Stopped
# threads beside sleeping ones (a tracer's stop) also make no progress.
ASLEEP_STATES = frozenset("SDIP") | STOPPED_STATES
GONE_STATES = frozenset("ZX")  # a zombie or dead thread: it serves nobody

# Where idle threads wait (their wchan, less the compiler's clone suffixes): a threaded
# server's housekeeping may wake and go back there while a thread is stuck elsewhere (a FUSE
# request, a disk) and the server still counts as blocked; the text names those first. A
# wait missing here only makes the rule stricter (the server counts as progressing).
IDLE_WAITS = frozenset(
    {
        "do_epoll_wait", "ep_poll", "futex_wait_queue", "futex_do_wait", "futex_wait", "do_sigtimedwait",
        "hrtimer_nanosleep", "do_nanosleep", "do_select", "core_sys_select", "do_sys_poll", "poll_schedule_timeout",
        "pipe_read", "unix_stream_read_generic", "sk_wait_data", "inet_csk_accept", "do_wait",
    }
)  # fmt: skip
MAX_WAITS_SHOWN = 4


@dataclass(frozen=True)
class ThreadSample:
    """One thread of the server's process at one instant."""

    tid: int
    state: str  # the one letter of /proc/PID/task/TID/status State:
    cpu_ns: int  # schedstat: time spent on a CPU
    switches: int  # voluntary + involuntary context switches
    wchan: str = ""  # where it sleeps in the kernel, where the reader may see it


@dataclass(frozen=True)
class ProcessSample:
    """One look at a process: its identity (PID and start time, so a reused PID is never
    taken for it), when (monotonic seconds), its threads and whether its cgroup is frozen."""

    pid: int
    name: str
    start_ticks: int
    at: float
    threads: Tuple[ThreadSample, ...]
    frozen: bool = False  # cgroup v1 freezer.state FROZEN, or v2 cgroup.events frozen 1
    stack: str = ""  # the kernel stack of one waiting thread, where permitted (root only)

    @property
    def label(self) -> str:
        return f"{self.name}[{self.pid}]"


@dataclass(frozen=True)
class Evidence:
    """What the server's process did during a probe: one of STOPPED, BLOCKED, PROGRESSING, NONE."""

    kind: str
    process: str = ""  # "smbd[4711]"
    state: str = ""  # "T", "frozen", "S", "S/D", "R"
    seconds: float = 0.0  # between the two samples
    threads: int = 0
    waits: Tuple[Tuple[str, int], ...] = ()  # (wchan, threads), the telling ones first
    why: str = ""  # for PROGRESSING and NONE: what was seen
    at_deadline: bool = False  # the probe was still waiting when its deadline passed
    stack: str = ""
    stuck: int = 0  # BLOCKED: threads that waited where idle threads do not, all the while
    woke: int = 0  # BLOCKED: threads that ran (or appeared) and went back to an idle wait

    def declares(self, policy: str) -> bool:
        """Whether this evidence declares a probe that failed at its deadline at once."""
        return self.at_deadline and self.kind in _DECLARING.get(policy, ())

    def text(self) -> str:
        """One line: `smbd[4711] stopped (T) for 1.0 s`."""
        if self.kind == STOPPED:
            state = "frozen (cgroup freezer)" if self.state == "frozen" else f"stopped ({self.state})"
            return f"{self.process} {state} for {self.seconds:.1f} s"
        if self.kind == BLOCKED:
            where = ", ".join(f"{n} in {w or '?'}" for w, n in self.waits[:MAX_WAITS_SHOWN])
            more = len(self.waits) - MAX_WAITS_SHOWN
            where += f", {more} more" if more > 0 else ""
            plural = "s" if self.threads != 1 else ""
            ran = "none ran" if not self.woke else f"only {self.woke} idle thread{'s' if self.woke != 1 else ''} woke"
            return (
                f"{self.process}: {self.threads} thread{plural} blocked ({self.state}) for {self.seconds:.1f} s, "
                f"{ran} ({where})"
            )
        if self.kind == PROGRESSING:
            return f"{self.process} progressed: {self.why}" if self.process else f"progressed: {self.why}"
        return f"no evidence: {self.why}" if self.why else "no evidence"

    def fields(self) -> dict:
        """For the state file, the history and `status --json`."""
        out: Dict[str, object] = {"kind": self.kind, "text": self.text(), "at_deadline": self.at_deadline}
        if self.process:
            out.update(process=self.process, state=self.state, seconds=round(self.seconds, 3), threads=self.threads)
        if self.waits:
            out["waits"] = {w or "?": n for w, n in self.waits}
        if self.why:
            out["why"] = self.why
        if self.stack:
            out["stack"] = self.stack
        return out

    def journal_fields(self) -> Dict[str, str]:
        out = {"FSWATCH_EVIDENCE": self.kind, "FSWATCH_EVIDENCE_TEXT": self.text()}
        if self.process:
            out.update(
                FSWATCH_EVIDENCE_PROCESS=self.process,
                FSWATCH_EVIDENCE_STATE=self.state,
                FSWATCH_EVIDENCE_SECONDS=f"{self.seconds:.3f}",
            )
        if self.waits:
            out["FSWATCH_EVIDENCE_WCHAN"] = self.waits[0][0] or "?"
        if self.stack:
            out["FSWATCH_EVIDENCE_STACK"] = self.stack
        return out


def none(why: str) -> Evidence:
    return Evidence(NONE, why=why)


def judge_process(first: Optional[ProcessSample], last: Optional[ProcessSample]) -> Evidence:
    """The evidence of one process from its first and last sample of a probe."""
    if first is None:
        return none("the process was not sampled")
    if last is None:
        return none(f"{first.label} exited during the probe")
    if last.start_ticks != first.start_ticks or last.pid != first.pid:
        return none(f"PID {first.pid} now belongs to another process ({last.label})")
    seconds = max(0.0, last.at - first.at)
    before = {t.tid: t for t in first.threads if t.state not in GONE_STATES}
    after = {t.tid: t for t in last.threads if t.state not in GONE_STATES}
    if not after:
        return none(f"{last.label} is a zombie: it serves nobody")
    threads, states = len(after), _states(after.values())
    woke = sorted(t for t in after if t not in before or _ran(before[t], after[t]))  # ran, or appeared
    ended = sorted(t for t in before if t not in after)
    still = not woke and not ended
    if still and first.frozen and last.frozen:
        return Evidence(STOPPED, last.label, "frozen", seconds, threads)
    seen = {t.state for t in before.values()} | {t.state for t in after.values()}
    if not seen <= ASLEEP_STATES:
        running = "/".join(sorted(seen - ASLEEP_STATES))
        why = f"{running}: runnable, waiting for a CPU (starved, never frozen)"
        return Evidence(PROGRESSING, last.label, states, seconds, threads, why=why)
    if still and seen <= STOPPED_STATES:
        return Evidence(STOPPED, last.label, states, seconds, threads)
    stuck = [t for tid, t in after.items() if tid not in woke and _telling(t)]
    # Housekeeping of a threaded server (ganesha's timers; workers it starts while others wait)
    # wakes and sleeps again meanwhile: only threads that ran and then went back to an idle
    # wait are allowed, and judge() wants a thread stuck where no idle thread waits beside them
    # (here or in another process of the probe) before it calls the probe blocked.
    if still or (not ended and all(after[t].state == "S" and _idle(after[t].wchan) for t in woke)):
        return Evidence(BLOCKED, last.label, states, seconds, threads, _waits(after.values()),
                        _movement(before, after), stack=last.stack, stuck=len(stuck), woke=len(woke))  # fmt: skip
    return Evidence(PROGRESSING, last.label, states, seconds, threads, why=_movement(before, after))


def _ran(a: ThreadSample, b: ThreadSample) -> bool:
    return b.cpu_ns != a.cpu_ns or b.switches != a.switches


def _idle(wchan: str) -> bool:
    """Where a thread with nothing to do sleeps (its wchan; unknown is not idle)."""
    return _base(wchan) in IDLE_WAITS


def _telling(t: ThreadSample) -> bool:
    """A thread waiting where idle threads do not: uninterruptibly, or in a named non-idle wait."""
    return t.state == "D" or (t.state == "S" and t.wchan not in ("", "0") and not _idle(t.wchan))


def _movement(first: Mapping[int, ThreadSample], last: Mapping[int, ThreadSample]) -> str:
    """What moved between the samples ('' if nothing): threads that came or went, CPU time,
    context switches."""
    appeared, ended = sorted(set(last) - set(first)), sorted(set(first) - set(last))
    if appeared or ended:
        parts = [f"{len(appeared)} thread(s) appeared"] if appeared else []
        parts += [f"{len(ended)} thread(s) ended"] if ended else []
        return ", ".join(parts)
    cpu = sum(max(0, last[t].cpu_ns - first[t].cpu_ns) for t in last)
    switches = sum(max(0, last[t].switches - first[t].switches) for t in last)
    if cpu or switches:
        return f"{cpu / 1e6:.3f} ms of CPU, {switches} context switch{'es' if switches != 1 else ''}"
    return ""


def _states(threads: Iterable[ThreadSample]) -> str:
    return "/".join(sorted({t.state for t in threads}))


def _base(wchan: str) -> str:
    """`do_sigtimedwait.isra.0` → `do_sigtimedwait`: the compiler's clone suffixes say nothing."""
    return wchan.split(".", 1)[0]


def _waits(threads: Iterable[ThreadSample]) -> Tuple[Tuple[str, int], ...]:
    """(wchan, threads) with uninterruptible waits first, then the ones idle threads do not
    sit in, then by count."""
    threads = list(threads)
    counts = Counter(t.wchan for t in threads)
    in_d = {t.wchan for t in threads if t.state == "D"}
    order = sorted(counts, key=lambda w: (w not in in_d, _idle(w) or w in ("", "0"), -counts[w], w))
    return tuple((w, counts[w]) for w in order)


def judge(
    first: Sequence[ProcessSample],
    last: Sequence[Optional[ProcessSample]],
    at_deadline: bool,
    problem: str = "",
    min_seconds: float = 0.0,
) -> Evidence:
    """The evidence of a probe from the processes serving its connections, sampled at the
    checkpoint (`first`) and again when the probe ended (`last`, in the same order; None for
    one that is gone). One stopped process stops the probe: every process the probe talks to
    is part of the service. Blocked needs every one blocked: an idle helper (the portmapper)
    sleeps like a hung server, so it must not outvote one that progresses.

    `problem` says why no process could be found (not permitted, a remote server). Samples
    less than `min_seconds` apart (a checkpoint that ran late on a starved node) say too little."""
    if not first:
        return none(problem or "no process on this node serves the probe's connections")
    each = [judge_process(a, b) for a, b in zip(first, last)]
    span = min((e.seconds for e in each if e.process), default=min_seconds)
    if span < min_seconds:
        return replace(none(f"the server's process was seen for {span:.2f} s only, less than {min_seconds:.2f} s"),
                       at_deadline=at_deadline)  # fmt: skip
    pick: Optional[Evidence] = next((e for e in each if e.kind == STOPPED), None)
    # An idle helper whose housekeeping woke (nothing stuck in it) keeps a blocked server
    # company, but is not one by itself.
    if pick is None and all(e.kind == BLOCKED for e in each) and any(e.stuck or not e.woke for e in each):
        pick = max(each, key=lambda e: (_uninterruptible(e), e.stuck, not e.woke, e.threads))
    if pick is None:  # something moved, or some process cannot be judged: not blocked
        pick = next((e for e in each if e.kind in (PROGRESSING, NONE)), None)
    if pick is None:  # only idle housekeeping woke, nothing stuck anywhere: it moved
        why = f"only idle threads woke ({each[0].why}), none stuck"
        pick = replace(each[0], kind=PROGRESSING, why=why, waits=(), stuck=0, woke=0, stack="")
    return replace(pick, at_deadline=at_deadline)


def _uninterruptible(e: Evidence) -> bool:
    return "D" in e.state.split("/")
