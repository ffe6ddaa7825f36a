"""The v4.1/4.2 session probe against an in-process fake server: the order of the operations,
what each failure leaves behind, and answers a real server is hard to provoke.

The real proof is tests/integration/test_nfs41_probe.py (nfs-ganesha); this fake checks that a
failed step still tears the session and client ID down while the server answers, and that a
stalled or garbled one does not wait for it.
"""

from __future__ import annotations

import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import probe_nfs
from fswatch.rpc import nfs4, nfs41
from fswatch.rpc.message import Call
from fswatch.rpc.xdr import Decoder
from tests.socket.test_nfs_probe import GARBAGE, STALL, FakeService
from tests.unit.test_rpc_nfs41 import (
    SESSION,
    compound_res,
    create_session_resok,
    exchange_id_resok,
    getattr_resok,
    sequence_resok,
)

SLACK = 0.1
CLIENTID = 0x1122334455667788  # what exchange_id_resok() hands out


class Session41:
    """A v4.1/4.2 server: each COMPOUND answered by its first operation; `answers` overrides one
    operation's status (or STALL / GARBAGE for the whole reply). Records (minor, ops, args)."""

    def __init__(self, **answers):
        self.answers = answers
        self.seen = []

    def __call__(self, call: Call):
        dec = Decoder(call.args)
        dec.opaque()
        minor, count = dec.uint32(), dec.uint32()
        first = dec.uint32()
        ops = [first] + self._rest(dec, first, count)
        self.seen.append((minor, ops, call.args))
        name = nfs4.OP_NAMES[first]
        answer = self.answers.get(name)
        if answer in (STALL, GARBAGE):
            return answer
        if first == nfs41.OP_EXCHANGE_ID:
            return self._one(first, answer, exchange_id_resok())
        if first == nfs41.OP_CREATE_SESSION:
            return self._one(first, answer, create_session_resok())
        if first in (nfs41.OP_DESTROY_SESSION, nfs41.OP_DESTROY_CLIENTID):
            return self._one(first, answer, b"")
        results, extra = [], {nfs41.OP_SEQUENCE: sequence_resok(), nfs4.OP_GETATTR: getattr_resok(lease=60)}
        for op in ops:
            status = self.answers.get(nfs4.OP_NAMES[op], 2 if op == nfs41.OP_OPEN else 0)
            results.append((op, status, extra.get(op, b"") if status == 0 else b""))
            if status:
                return compound_res(status, results)
        return compound_res(0, results)

    @staticmethod
    def _one(op, status, resok):
        return compound_res(status or 0, [(op, status or 0, b"" if status else resok)])

    @staticmethod
    def _rest(dec, first, count):
        if first != nfs41.OP_SEQUENCE:
            return []
        # SEQUENCE's arguments are fixed-size; the rest only by number: the probe's layout.
        dec.skip(16 + 4 * 4)
        return [nfs41.OP_RECLAIM_COMPLETE, nfs4.OP_PUTROOTFH] + [nfs4.OP_LOOKUP] * (count - 5) + [
            nfs4.OP_GETATTR,
            nfs41.OP_OPEN,
        ]

    def first_ops(self):
        return [nfs4.OP_NAMES[ops[0]] for _, ops, _ in self.seen]


@pytest.fixture
def server():
    made = []

    def make(**answers):
        handler = Session41(**answers)
        made.append(FakeService(compound=handler))
        return made[-1], handler

    yield make
    for service in made:
        service.close()


def probe(service, seconds=5.0, **kw):
    t0 = time.monotonic()
    obs = probe_nfs(service.target(version=4, mount_port=None, **kw), Deadline.after(seconds))
    return obs, time.monotonic() - t0


SESSION_OPS = ["EXCHANGE_ID", "CREATE_SESSION", "SEQUENCE", "DESTROY_SESSION", "DESTROY_CLIENTID"]


def test_healthy_session_probe_and_what_it_sends(server):
    service, fake = server()
    obs, _ = probe(service)
    assert obs.ok and obs.degraded is None, obs.to_dict()
    assert fake.first_ops() == SESSION_OPS
    assert {minor for minor, _, _ in fake.seen} == {2}
    assert dict(obs.notes)["nfs_version"] == "4.2"
    _, ops, args = fake.seen[2]
    assert [nfs4.OP_NAMES[op] for op in ops] == ["SEQUENCE", "RECLAIM_COMPLETE", "PUTROOTFH", "LOOKUP", "LOOKUP",
                                                "GETATTR", "OPEN"]  # fmt: skip
    assert SESSION in args  # SEQUENCE on the session CREATE_SESSION made
    assert fake.seen[3][2].endswith(SESSION)  # DESTROY_SESSION of that session
    assert fake.seen[4][2].endswith(CLIENTID.to_bytes(8, "big"))  # DESTROY_CLIENTID of the client ID
    assert b".fswatch-grace-" in args  # the OPEN's name


def test_grace_is_degraded_with_the_lease_time(server):
    service, fake = server(OPEN=nfs4.NFS4ERR_GRACE)
    obs, _ = probe(service, minor_version=1)
    assert obs.ok and obs.failure is None
    assert obs.degraded.fields() == {
        "cause": "grace period", "stage": "compound", "status": "NFS4ERR_GRACE", "lease_seconds": 60,
        "reason": f"NFSv4.1 at 127.0.0.1:{service.port}/tcp: OPEN answered NFS4ERR_GRACE: no new opens or locks "
                  "until its grace period ends",
    }  # fmt: skip
    assert fake.first_ops() == SESSION_OPS  # torn down as usual


def test_an_unexpected_open_answer_is_a_note_not_a_failure(server):
    service, _ = server(OPEN=13)  # NFS4ERR_ACCESS: the export's root is not searchable for us
    obs, _ = probe(service)
    assert obs.ok and obs.degraded is None
    assert dict(obs.notes)["grace_period"] == "not known: OPEN of a name that does not exist answered NFS4ERR_ACCESS"


def test_failed_lookup_still_destroys_session_and_client_id(server):
    service, fake = server(LOOKUP=2)
    obs, _ = probe(service)
    assert (obs.failure.alert, obs.failure.stage, obs.failure.detail) == (81, "compound", "NFS4ERR_NOENT")
    assert fake.first_ops() == SESSION_OPS
    assert obs.stages[-1].stage == "compound" and "teardown" not in dict(obs.notes)


def test_failed_create_session_still_destroys_the_client_id(server):
    service, fake = server(CREATE_SESSION=10005)  # NFS4ERR_TOOSMALL
    obs, _ = probe(service)
    assert (obs.failure.alert, obs.failure.stage, obs.failure.detail) == (85, "create_session", "NFS4ERR_TOOSMALL")
    assert fake.first_ops() == ["EXCHANGE_ID", "CREATE_SESSION", "DESTROY_CLIENTID"]


def test_a_failed_teardown_after_a_failure_is_noted_and_the_first_failure_stands(server):
    service, _ = server(LOOKUP=2, DESTROY_CLIENTID=10074)
    obs, _ = probe(service)
    assert (obs.failure.alert, obs.failure.stage) == (81, "compound")
    assert dict(obs.notes)["teardown"] == "failed: DESTROY_CLIENTID: NFS4ERR_CLIENTID_BUSY"


def test_a_failed_teardown_of_a_healthy_probe_fails_it(server):
    service, _ = server(DESTROY_CLIENTID=10074)
    obs, _ = probe(service)
    assert (obs.failure.alert, obs.failure.stage, obs.failure.detail) == (
        85, "destroy_clientid", "NFS4ERR_CLIENTID_BUSY")  # fmt: skip


@pytest.mark.parametrize("op, stage", [("EXCHANGE_ID", "exchange_id"), ("SEQUENCE", "compound"),
                                       ("DESTROY_SESSION", "destroy_session")])  # fmt: skip
def test_stall_ends_at_the_deadline_without_teardown(server, op, stage):
    service, fake = server(**{op: STALL})
    obs, elapsed = probe(service, seconds=0.5)
    assert (obs.failure.alert, obs.failure.stage, obs.failure.timed_out) == (84, stage, True)
    assert 0.5 <= elapsed <= 0.5 + SLACK
    assert fake.first_ops()[-1] == op  # nothing sent after the stalled call


def test_garbage_is_85_and_no_teardown_waits_for_it(server):
    service, fake = server(CREATE_SESSION=GARBAGE)
    obs, elapsed = probe(service)
    assert (obs.failure.alert, obs.failure.stage, obs.failure.rpc_status) == (85, "create_session", "RPC_CANTDECODERES")
    assert fake.first_ops() == ["EXCHANGE_ID", "CREATE_SESSION"] and elapsed < 0.5
