"""A bounded fuzz run in CI (issue 9, point 7): the harnesses of tests/fuzz/ on the captured
corpus with a fixed seed. bench/fuzz runs the same harnesses at scale (>= 1,000,000 cases;
figures in bench/RESULTS.md); what it found is pinned down byte for byte in
tests/socket/test_samba_hostile.py (case seeds depend on the corpus, which re-capturing changes)."""

from __future__ import annotations

import logging
import random
import threading

import pytest

from fswatch.host import logs
from fswatch.rpc import mount, nfs3, nfs4, portmap
from tests.fuzz import corpus, harness
from tests.fuzz.mutate import Mutator

SEED = 20261201
TIMEOUT = 0.25  # the probes' deadline in a case, as in bench/fuzz
SLACK = 0.5

@pytest.fixture(scope="module")
def fuzz_corpus():
    saved = (logging.getLogger().handlers[:], threading.excepthook)
    logs.configure({})  # as fswatch's entry points do
    yield corpus.load()
    logging.getLogger().handlers[:] = saved[0]
    threading.excepthook = saved[1]
    logging.captureWarnings(False)


@pytest.fixture(scope="module")
def made(fuzz_corpus):
    made = {h.name: h for h in harness.harnesses(fuzz_corpus, harness.NAMES, TIMEOUT)}
    yield made
    for h in made.values():
        getattr(h, "close", lambda: None)()


def test_corpus_holds_every_reply_a_probe_reads(fuzz_corpus):
    keys = {r.key for r in fuzz_corpus.rpc}
    assert {
        (portmap.PROGRAM, portmap.VERSION, portmap.PROC_GETPORT),
        (mount.PROGRAM, mount.VERSION, mount.PROC_MNT),
        (mount.PROGRAM, mount.VERSION, mount.PROC_UMNT),
        (nfs3.PROGRAM, nfs3.VERSION, nfs3.PROC_NULL),
        (nfs3.PROGRAM, nfs3.VERSION, nfs3.PROC_GETATTR),
        (nfs3.PROGRAM, nfs3.VERSION, nfs3.PROC_FSSTAT),
        (nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND),
    } <= keys
    commands = [int.from_bytes(m[12:14], "little") for m in fuzz_corpus.conversation("guest-ok").replies]
    assert commands == [0, 1, 1, 3, 4, 2]  # negotiate, session setup x2, tree connect/disconnect, logoff
    assert all(m[:4] == b"\xfeSMB" for c in fuzz_corpus.smb for m in c.replies)


def test_unmutated_replays_are_healthy_probes(made):
    """The replaying servers are faithful: so mutations reach every stage, not only the first."""
    for version in (3, 4):
        obs = made["nfs-probe"].clean(version)
        assert obs.ok, obs.to_dict()
    obs = made["samba-probe"].clean("guest-ok")
    assert obs.ok, obs.to_dict()
    assert [s.stage for s in obs.stages][-1] == "teardown"


def test_mutator_is_deterministic(fuzz_corpus):
    pool = [r.data for r in fuzz_corpus.rpc]
    runs = [[Mutator(random.Random(7), pool).mutate(r.data) for r in fuzz_corpus.rpc] for _ in range(2)]
    assert runs[0] == runs[1]
    assert sum(out != r.data for (out, _), r in zip(runs[0], fuzz_corpus.rpc)) > len(pool) // 2


def test_the_gss_corpus_decodes_clean_and_its_checks_bite():
    """Every captured RPCSEC_GSS reply decodes unmutated with the replayed context; one byte
    changed in a MIC, a checksum or a seal is a GssError."""
    from fswatch.rpc.rpcsec_gss import GssError
    from tests.fuzz import gss

    replies, context = gss.load()
    assert {r.service for r in replies} == {1, 2, 3} and {r.kind for r in replies} == {"init", "data"}
    for reply in replies:
        gss.decode(reply, reply.record, context)
    getattr_krb5p = next(r for r in replies if r.name == "krb5p/getattr")
    flipped = bytearray(getattr_krb5p.record)
    flipped[-8] ^= 0x01  # inside the sealed body
    with pytest.raises(GssError):
        gss.decode(getattr_krb5p, bytes(flipped), context)


@pytest.mark.parametrize(
    "name,cases", [("nfs-decoders", 15000), ("nfs-probe", 150), ("samba-probe", 150), ("gss-decoders", 5000)]
)
def test_bounded_corpus_run(made, name, cases):
    stats = harness.run(made[name], cases, SEED, slack=SLACK, memory_limit=16 << 20)
    assert stats.cases == cases
    assert not stats.findings, [f.__dict__ for f in stats.findings[:5]]
    assert sum(stats.outcomes.values()) == cases
    if made[name].in_process:  # a loaded machine may fail every 0.25 s probe; the decoders have no deadline
        assert stats.outcomes.get("ok", 0) > 0  # not every mutation is fatal: the corpus reaches the decoders
