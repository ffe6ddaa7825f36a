"""fswatch.probes.resolve with lookups the test controls: deadlines, the thread bound, errors, no cache.

The real resolver (glibc with a hosts file, a DNS server that stalls, NXDOMAIN) is proven in
tests/integration/test_names.py; here the lookup function is a stand-in, to count threads and
calls exactly.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Observation, StageRecorder, StageTiming
from fswatch.core.settings import Schedule
from fswatch.core.verdict import WatchState, judge
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import NFS, SAMBA
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.probes.resolve import MAX_LOOKUPS, Resolver, address_for, literal
from fswatch.probes.samba import SambaTarget, probe_samba
from fswatch.watch.reporter import Reporter

SLACK = 0.1  # a probe ends by its deadline + 0.1 s


class Stuck:
    """A lookup that never answers until released (a DNS server that swallows queries)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = []
        self.answer = "192.0.2.7"

    def __call__(self, host: str) -> str:
        self.calls.append(host)
        self.release.wait(30)  # bounded: the test releases it long before
        return self.answer


def resolver_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "fswatch-resolve" and t.is_alive())


def wait_no_resolver_threads() -> None:
    end = time.monotonic() + 5
    while resolver_threads() and time.monotonic() < end:  # bounded
        time.sleep(0.01)
    assert resolver_threads() == 0


@pytest.fixture
def stuck():
    wait_no_resolver_threads()  # an earlier test's released lookups have ended: counts start at 0
    lookup = Stuck()
    yield lookup
    lookup.release.set()
    wait_no_resolver_threads()


def test_literals_take_no_thread_and_no_lookup():
    def lookup(host):
        raise AssertionError("a literal was looked up")

    resolver = Resolver(lookup)
    for host, used in (("127.0.0.1", "127.0.0.1"), ("2001:DB8::1", "2001:db8::1")):
        rec = StageRecorder()
        before = threading.active_count()
        assert address_for(host, rec, Deadline.after(1), resolver) == used
        assert threading.active_count() == before
        assert [s.stage for s in rec.stages] == [] and dict(rec.notes) == {"address": used}
    assert literal("fs1.example") is None


def test_a_name_is_looked_up_in_stage_resolve_and_the_address_noted():
    resolver = Resolver(lambda host: {"fs1.example": "192.0.2.10"}[host])
    rec = StageRecorder()
    assert address_for("fs1.example", rec, Deadline.after(1), resolver) == "192.0.2.10"
    assert [(s.stage, s.ok) for s in rec.stages] == [("resolve", True)]
    assert dict(rec.notes) == {"address": "192.0.2.10"}


def test_every_probe_looks_up_again():
    answers = iter(["192.0.2.10", "192.0.2.11"])  # the name moved (a DNS failover)
    calls = []
    resolver = Resolver(lambda host: calls.append(host) or next(answers))
    first = resolver.address("fs1.example", Deadline.after(1))
    second = resolver.address("fs1.example", Deadline.after(1))
    assert (first, second, len(calls)) == ("192.0.2.10", "192.0.2.11", 2)
    assert resolver.in_flight == 0


@pytest.mark.parametrize(
    "error, detail, errno_field, words",
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), str(socket.EAI_NONAME), None, "EAI_NONAME"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), str(socket.EAI_AGAIN), None,
         "EAI_AGAIN"),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), str(errno.ENOMEM), errno.ENOMEM, "Cannot allocate"),
        (UnicodeError("label too long"), "-1", None, "UnicodeError"),
    ],
)
def test_a_failed_lookup_is_alert_61_with_its_code(error, detail, errno_field, words):
    def lookup(host):
        raise error

    with pytest.raises(ProbeFailure) as info:
        Resolver(lookup).address("fs1.example", Deadline.after(1))
    failure = info.value
    assert (failure.alert, failure.stage, failure.detail, failure.errno, failure.timed_out) == (
        61, "resolve", detail, errno_field, False
    )
    assert words in failure.reason and "'fs1.example'" in failure.reason
    assert "error[" + detail + "]" in failure.message(NFS, "/x")


def test_a_lookup_that_never_answers_ends_at_the_deadline(stuck):
    resolver = Resolver(stuck)
    t0 = time.monotonic()
    with pytest.raises(ProbeFailure) as info:
        resolver.address("fs1.example", Deadline.after(0.2))
    took = time.monotonic() - t0
    assert 0.2 <= took <= 0.2 + SLACK
    f = info.value
    assert (f.alert, f.stage, f.detail, f.errno, f.timed_out) == (61, "resolve", "110", errno.ETIMEDOUT, True)


def test_many_probes_against_a_stuck_resolver_hold_one_thread(stuck):
    """The thread bound: 200 probes of one name while the lookup hangs start one lookup."""
    resolver = Resolver(stuck)
    before = resolver_threads()
    for _ in range(200):
        t0 = time.monotonic()
        with pytest.raises(ProbeFailure) as info:
            resolver.address("fs1.example", Deadline.after(0.005))
        assert time.monotonic() - t0 <= 0.005 + SLACK
        assert info.value.timed_out
        assert resolver_threads() - before <= 1
    assert len(stuck.calls) == 1 and resolver.in_flight == 1
    # A probe waiting on the stuck lookup takes its answer when it finally comes...
    waiter = threading.Timer(0.05, stuck.release.set)
    waiter.start()
    assert resolver.address("FS1.example.", Deadline.after(2)) == stuck.answer  # the same name
    waiter.join()
    # ...and the thread is gone: nothing is left behind.
    wait_no_resolver_threads()
    assert before == 0 and resolver.in_flight == 0


def test_the_process_holds_at_most_max_lookups_threads(stuck):
    resolver = Resolver(stuck)
    before = resolver_threads()
    for i in range(50):
        with pytest.raises(ProbeFailure) as info:
            resolver.address(f"fs{i % 10}.example", Deadline.after(0.005))
        assert resolver_threads() - before <= MAX_LOOKUPS
    assert len(stuck.calls) == MAX_LOOKUPS == resolver.in_flight
    # A further name fails at once and says why.
    t0 = time.monotonic()
    with pytest.raises(ProbeFailure) as info:
        resolver.address("other.example", Deadline.after(5))
    assert time.monotonic() - t0 < 0.1
    assert (info.value.alert, info.value.stage, info.value.errno) == (61, "resolve", errno.EAGAIN)
    assert "stuck" in info.value.reason


@pytest.mark.parametrize("kind", ["samba", "nfs"])
def test_both_probes_fail_at_stage_resolve_by_their_deadline(kind, stuck):
    resolver = Resolver(stuck)
    probe, target = (
        (probe_samba, SambaTarget("public", address="fs1.example", port=9))
        if kind == "samba"
        else (probe_nfs, NfsTarget("/x", address="fs1.example", port=9, mount_port=9))
    )
    t0 = time.monotonic()
    obs = probe(target, Deadline.after(0.3), resolver=resolver)
    assert time.monotonic() - t0 <= 0.3 + SLACK
    assert [(s.stage, s.ok) for s in obs.stages] == [("resolve", False)]
    assert obs.failure is not None and obs.failure.fields() == {
        "alert": 61,
        "stage": "resolve",
        "reason": "name resolution gave no answer for 'fs1.example' within the deadline",
        "detail": "110",
        "errno": 110,
        "timed_out": True,
    }
    assert "address" not in dict(obs.notes)


@pytest.mark.parametrize("kind", [SAMBA, NFS])
def test_the_address_used_is_a_journal_field_of_the_alerts(kind):
    """FSWATCH_ADDRESS on a failed probe's alert, and on alerts 6 (and 66) after it."""
    failure = ProbeFailure(72 if kind is SAMBA else 84, "connect", "refused", "111", errno=111)
    obs = Observation(0.0, (StageTiming("resolve", 0.2), StageTiming("connect", 0.1, False)), failure,
                      (("address", "192.0.2.10"),))
    sink = ListSink()
    schedule = Schedule(1, 1, 1)
    reporter = Reporter(kind, "w1", "x", schedule, sink, Notifier(None))
    state = WatchState()
    for _ in range(schedule.attempts):
        judgement = judge(state, obs, schedule)
        state = judgement.state
        reporter.probed(obs, judgement)
    reporter.declared_failed(obs)
    failed = [fields for _, _, fields in sink.alerts if fields.get("FSWATCH_STAGE")]
    assert len(failed) >= 3 and all(fields["FSWATCH_ADDRESS"] == "192.0.2.10" for fields in failed), sink.alerts
    assert sink.ids[-1] == 6
    assert all("FSWATCH_ADDRESS" not in fields for i, _, fields in sink.alerts if i == 1)  # no probe yet
