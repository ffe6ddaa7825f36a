"""The evidence rule (fswatch.core.evidence) as a pure function over samples: stopped, frozen,
blocked, progressing, and every way there is no evidence (issue 18)."""

from __future__ import annotations

import pytest

from fswatch.core import evidence as ev
from fswatch.core.evidence import ProcessSample, ThreadSample


def thread(tid, state="S", cpu=1_000_000, switches=10, wchan="do_epoll_wait"):
    return ThreadSample(tid, state, cpu, switches, wchan)


def proc(*threads, pid=4711, name="smbd", start=100, at=0.0, frozen=False, stack=""):
    return ProcessSample(pid, name, start, at, tuple(threads), frozen, stack)


def judged(first, last, at_deadline=True):
    return ev.judge([first], [last], at_deadline)


# -- stopped ----------------------------------------------------------------------------------


def test_every_thread_stopped_with_nothing_moving_is_stopped():
    a = proc(thread(1, "T"), thread(2, "T"), at=1.0)
    b = proc(thread(1, "T"), thread(2, "T"), at=2.0)
    e = judged(a, b)
    assert (e.kind, e.process, e.state, e.threads, e.seconds) == (ev.STOPPED, "smbd[4711]", "T", 2, 1.0)
    assert e.text() == "smbd[4711] stopped (T) for 1.0 s"
    assert e.declares(ev.STOPPED) and e.declares(ev.BLOCKED) and not e.declares(ev.OFF)


def test_a_tracer_stop_is_stopped_too():
    e = judged(proc(thread(1, "t")), proc(thread(1, "t"), at=1.0))
    assert e.kind == ev.STOPPED and e.text() == "smbd[4711] stopped (t) for 1.0 s"


def test_a_frozen_cgroup_is_stopped_whatever_the_thread_states_say():
    # cgroup v1's freezer shows frozen threads in D on this kernel (measured): the cgroup decides
    a = proc(thread(1, "D", wchan="hrtimer_nanosleep"), frozen=True)
    b = proc(thread(1, "D", wchan="hrtimer_nanosleep"), frozen=True, at=1.5)
    e = judged(a, b)
    assert e.kind == ev.STOPPED and e.state == "frozen"
    assert e.text() == "smbd[4711] frozen (cgroup freezer) for 1.5 s"


def test_frozen_at_one_sample_only_is_not_stopped():
    e = judged(proc(thread(1, "S")), proc(thread(1, "S"), frozen=True, at=1.0))
    assert e.kind == ev.BLOCKED  # asleep and not moving, but not frozen for the whole window


def test_stopped_but_moving_between_the_samples_progressed():
    # continued and stopped again between the samples: it ran in between
    e = judged(proc(thread(1, "T", cpu=5)), proc(thread(1, "T", cpu=900), at=1.0))
    assert e.kind == ev.PROGRESSING and not e.declares(ev.BLOCKED)


# -- blocked ----------------------------------------------------------------------------------


def test_every_thread_asleep_and_still_is_blocked_and_names_where_they_wait():
    fuse = "request_wait_answer"
    a = proc(thread(1, "S", wchan=""), thread(2, "S", wchan=""), thread(3, "D", wchan=""), name="ganesha.nfsd")
    b = proc(thread(1, "S", wchan="futex_do_wait"), thread(2, "S", wchan=fuse), thread(3, "D", wchan="io_schedule"),
             name="ganesha.nfsd", at=1.0)  # fmt: skip
    e = judged(a, b)
    assert e.kind == ev.BLOCKED and e.state == "D/S"
    # uninterruptible first, then the waits idle threads do not sit in, then idle ones
    assert e.waits == (("io_schedule", 1), (fuse, 1), ("futex_do_wait", 1))
    assert e.text() == ("ganesha.nfsd[4711]: 3 threads blocked (D/S) for 1.0 s, none ran "
                        "(1 in io_schedule, 1 in request_wait_answer, 1 in futex_do_wait)")
    assert e.declares(ev.BLOCKED) and not e.declares(ev.STOPPED)


def test_blocked_text_shows_four_waits_and_counts_the_rest():
    names = ["a_wait", "b_wait", "c_wait", "d_wait", "e_wait", "f_wait"]
    threads = [thread(i, "S", wchan=w) for i, w in enumerate(names)]
    e = judged(proc(*threads), proc(*threads, at=1.0))
    assert e.text().endswith("(1 in a_wait, 1 in b_wait, 1 in c_wait, 1 in d_wait, 2 more)")


def test_compiler_suffixes_do_not_hide_an_idle_wait():
    threads = [thread(1, "S", wchan="do_sigtimedwait.isra.0"), thread(2, "S", wchan="fuse_wait")]
    e = judged(proc(*threads), proc(*threads, at=1.0))
    assert [w for w, _ in e.waits] == ["fuse_wait", "do_sigtimedwait.isra.0"]


def test_a_threaded_server_stuck_in_one_thread_is_blocked_while_its_housekeeping_wakes():
    # ganesha during a FUSE freeze (measured): one worker waits for the FUSE answer, timers
    # and new pool workers run and go back to idle waits meanwhile
    fuse = "request_wait_answer"
    a = proc(thread(1, "S", cpu=5), thread(2, "S", cpu=7, switches=3), name="ganesha.nfsd")
    b = proc(thread(1, "S", cpu=5, wchan=fuse), thread(2, "S", cpu=9, switches=4, wchan="futex_do_wait"),
             thread(3, "S", wchan="futex_do_wait"), name="ganesha.nfsd", at=1.0)  # fmt: skip
    e = judged(a, b)
    assert (e.kind, e.stuck, e.woke) == (ev.BLOCKED, 1, 2)
    assert e.text() == ("ganesha.nfsd[4711]: 3 threads blocked (S) for 1.0 s, only 2 idle threads woke "
                        "(1 in request_wait_answer, 2 in futex_do_wait)")


@pytest.mark.parametrize("woke_to, why", [
    ("some_work", "a thread that ran is not back in an idle wait"),
    ("0", "where it waits is not known (wchan not readable): not idle"),
])  # fmt: skip
def test_a_thread_that_ran_and_is_not_idle_again_is_progress(woke_to, why):
    a = proc(thread(1, "S"), thread(2, "S", cpu=1))
    b = proc(thread(1, "S", wchan="request_wait_answer"), thread(2, "S", cpu=2, wchan=woke_to), at=1.0)
    assert judged(a, b).kind == ev.PROGRESSING, why


def test_housekeeping_without_a_stuck_thread_is_progress():
    a = proc(thread(1, "S"), thread(2, "S", cpu=1))
    b = proc(thread(1, "S", wchan="do_epoll_wait"), thread(2, "S", cpu=2, wchan="futex_do_wait"), at=1.0)
    e = judged(a, b)
    assert e.kind == ev.PROGRESSING
    assert e.why == "only idle threads woke (0.000 ms of CPU, 0 context switches), none stuck"


def test_an_idle_helper_whose_timer_woke_keeps_a_blocked_server_company():
    helper_a = proc(thread(1, "S", switches=1), pid=10, name="rpcbind")
    helper_b = proc(thread(1, "S", switches=2, wchan="do_epoll_wait"), pid=10, name="rpcbind", at=1.0)
    server = proc(thread(1, "S", wchan="request_wait_answer"), pid=20, name="ganesha.nfsd")
    e = ev.judge([helper_a, server], [helper_b, server], True)
    assert e.kind == ev.BLOCKED and e.process == "ganesha.nfsd[20]"


# -- progressing ------------------------------------------------------------------------------


def test_a_starved_runnable_server_is_never_frozen():
    # throttled by a CPU quota: runnable, and no CPU time at all between the samples
    a = proc(thread(1, "R", cpu=5), thread(2, "S"))
    b = proc(thread(1, "R", cpu=5), thread(2, "S"), at=1.0)
    e = judged(a, b)
    assert e.kind == ev.PROGRESSING and "runnable" in e.why and not e.declares(ev.BLOCKED)


def test_runnable_at_one_sample_is_enough():
    e = judged(proc(thread(1, "R")), proc(thread(1, "S"), at=1.0))
    assert e.kind == ev.PROGRESSING


def test_a_few_ns_of_cpu_or_one_context_switch_is_progress():
    cpu = judged(proc(thread(1, "S", cpu=10)), proc(thread(1, "S", cpu=11), at=1.0))
    switch = judged(proc(thread(1, "S", switches=3)), proc(thread(1, "S", switches=4), at=1.0))
    assert cpu.kind == switch.kind == ev.PROGRESSING
    assert switch.why == "only idle threads woke (0.000 ms of CPU, 1 context switch), none stuck"
    busy = judged(proc(thread(1, "S", switches=3)), proc(thread(1, "S", switches=4, wchan="tcp_recvmsg"), at=1.0))
    assert busy.text() == "smbd[4711] progressed: 0.000 ms of CPU, 1 context switch"


@pytest.mark.parametrize("first, last, why", [
    ((1,), (1, 2), "1 thread(s) appeared"),
    ((1, 2), (1,), "1 thread(s) ended"),
    ((1, 2), (1, 3), "1 thread(s) appeared, 1 thread(s) ended"),
])  # fmt: skip
def test_a_thread_that_appeared_or_ended_mid_probe_is_progress(first, last, why):
    e = judged(proc(*(thread(t, "T") for t in first)), proc(*(thread(t, "T") for t in last), at=1.0))
    assert e.kind == ev.PROGRESSING and e.why == why


def test_an_unknown_state_letter_counts_as_progress():
    e = judged(proc(thread(1, "W")), proc(thread(1, "W"), at=1.0))
    assert e.kind == ev.PROGRESSING


# -- no evidence ------------------------------------------------------------------------------


def test_an_exited_process_gives_no_evidence():
    e = ev.judge([proc(thread(1, "T"))], [None], True)
    assert e.kind == ev.NONE and e.why == "smbd[4711] exited during the probe" and not e.declares(ev.BLOCKED)


def test_a_reused_pid_gives_no_evidence():
    e = judged(proc(thread(1, "T"), start=100), proc(thread(1, "T"), start=200, name="bash", at=1.0))
    assert e.kind == ev.NONE and e.why == "PID 4711 now belongs to another process (bash[4711])"


def test_a_zombie_gives_no_evidence():
    e = judged(proc(thread(1, "T")), proc(thread(1, "Z"), at=1.0))
    assert e.kind == ev.NONE and "zombie" in e.why


def test_a_zombie_leader_with_live_threads_is_judged_by_them():
    a = proc(thread(1, "Z"), thread(2, "T"))
    b = proc(thread(1, "Z"), thread(2, "T"), at=1.0)
    assert judged(a, b).kind == ev.STOPPED


def test_nothing_sampled_is_no_evidence_with_the_reason():
    e = ev.judge([], [], True, "not permitted to read the server's open files")
    assert e.kind == ev.NONE and e.text() == "no evidence: not permitted to read the server's open files"
    assert ev.judge([], [], True).why == "no process on this node serves the probe's connections"


# -- the probe's deadline, and several processes ------------------------------------------------


def test_evidence_declares_only_a_probe_that_failed_at_its_deadline():
    stopped = judged(proc(thread(1, "T")), proc(thread(1, "T"), at=1.0), at_deadline=False)
    assert stopped.kind == ev.STOPPED and not stopped.declares(ev.STOPPED)


def test_one_stopped_process_stops_the_probe():
    idle = proc(thread(1, "S"), pid=10, name="rpcbind")
    stopped = proc(thread(1, "T"), pid=20, name="ganesha.nfsd")
    moving = proc(thread(1, "S", cpu=1), pid=30, name="other")
    e = ev.judge([idle, stopped, moving], [idle, stopped, proc(thread(1, "S", cpu=2), pid=30, name="other")], True)
    assert e.kind == ev.STOPPED and e.process == "ganesha.nfsd[20]"


def test_blocked_needs_every_process_blocked_an_idle_helper_does_not_outvote_progress():
    idle = proc(thread(1, "S"), pid=10, name="rpcbind")
    starved = proc(thread(1, "R"), pid=20, name="ganesha.nfsd")
    e = ev.judge([idle, starved], [idle, starved], True)
    assert e.kind == ev.PROGRESSING and e.process == "ganesha.nfsd[20]"


def test_blocked_everywhere_names_the_process_in_uninterruptible_sleep():
    idle = proc(thread(1, "S"), pid=10, name="rpcbind")
    disk = proc(thread(1, "D", wchan="io_schedule"), thread(2, "S"), pid=20, name="ganesha.nfsd")
    e = ev.judge([idle, disk], [idle, disk], True)
    assert e.kind == ev.BLOCKED and e.process == "ganesha.nfsd[20]"


def test_a_gone_process_beside_a_blocked_one_is_not_blocked():
    blocked = proc(thread(1, "S"), pid=10)
    e = ev.judge([blocked, proc(thread(1, "S"), pid=20)], [blocked, None], True)
    assert e.kind == ev.NONE


def test_samples_too_close_together_say_too_little():
    e = ev.judge([proc(thread(1, "T"), at=1.9)], [proc(thread(1, "T"), at=2.0)], True, min_seconds=0.5)
    assert e.kind == ev.NONE and e.why == "the server's process was seen for 0.10 s only, less than 0.50 s"
    assert not e.declares(ev.STOPPED)


# -- what the reporter, the state file and the journal carry -------------------------------------


def test_fields_and_journal_fields():
    b = proc(thread(1, "D", wchan="io_schedule"), at=1.25, stack="io_schedule < fuse_wait")
    e = judged(proc(thread(1, "D", wchan="io_schedule")), b)
    assert e.fields() == {
        "kind": "blocked", "text": e.text(), "at_deadline": True, "process": "smbd[4711]", "state": "D",
        "seconds": 1.25, "threads": 1, "waits": {"io_schedule": 1}, "stack": "io_schedule < fuse_wait",
    }  # fmt: skip
    assert e.journal_fields() == {
        "FSWATCH_EVIDENCE": "blocked", "FSWATCH_EVIDENCE_TEXT": e.text(), "FSWATCH_EVIDENCE_PROCESS": "smbd[4711]",
        "FSWATCH_EVIDENCE_STATE": "D", "FSWATCH_EVIDENCE_SECONDS": "1.250", "FSWATCH_EVIDENCE_WCHAN": "io_schedule",
        "FSWATCH_EVIDENCE_STACK": "io_schedule < fuse_wait",
    }  # fmt: skip
    none = ev.none("a remote server")
    assert none.fields() == {"kind": "none", "text": "no evidence: a remote server", "at_deadline": False,
                             "why": "a remote server"}  # fmt: skip
    assert none.journal_fields() == {
        "FSWATCH_EVIDENCE": "none", "FSWATCH_EVIDENCE_TEXT": "no evidence: a remote server"
    }  # fmt: skip
