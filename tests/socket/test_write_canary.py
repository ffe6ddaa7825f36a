"""The NFSv3 write canary's flow against an in-process fake server: the calls in their order, a
COMMIT where the server answered less stably, and what real servers are hard to make do: data
read back that differs (alert 140, and the file removed within the same deadline), a short
write, a WRITE that never answers (alert 139 by the deadline, the file left for a later probe),
and the sweep of a leftover. The real proof is tests/integration/test_write_canary.py."""

from __future__ import annotations

import struct
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import probe_nfs
from fswatch.rpc import nfs3
from fswatch.rpc.message import Call
from fswatch.rpc.xdr import Decoder, Encoder
from tests.socket.test_nfs_probe import STALL, FakeService
from tests.timing import PROBE_SLACK

NOW = 1_800_000_000  # the server's clock (seconds)
DIR_FH, FILE_FH, LEFTOVER_FH = b"D" * 16, b"F" * 16, b"L" * 16
LEFTOVER = ".fswatch-canary.nfs.w1.3.00000000000000aa"
PROCS = {nfs3.PROC_LOOKUP: "LOOKUP", nfs3.PROC_CREATE: "CREATE", nfs3.PROC_WRITE: "WRITE", nfs3.PROC_READ: "READ",
         nfs3.PROC_REMOVE: "REMOVE", nfs3.PROC_READDIR: "READDIR", nfs3.PROC_COMMIT: "COMMIT"}  # fmt: skip


def fattr3(ftype: int, mtime: int) -> bytes:
    return struct.pack(">5I2Q2I2Q6I", ftype, 0o600, 1, 0, 0, 4096, 4096, 0, 0, 7, 9, NOW, 0, mtime, 0, mtime, 0)


def _no_wcc() -> bytes:
    return struct.pack(">II", 0, 0)


class Files:
    """A directory `cw` on the fake server: what the probe wrote, and what it may read back."""

    def __init__(self, committed=nfs3.FILE_SYNC, written=None, read=None, leftovers=()):
        self.committed, self.written, self.read = committed, written, read
        self.leftovers = list(leftovers)
        self.data = b""
        self.names = []  # (procedure, name) of the calls that name a file

    def install(self, service: FakeService) -> None:
        for proc, handler in {nfs3.PROC_LOOKUP: self.lookup, nfs3.PROC_CREATE: self.create,
                              nfs3.PROC_WRITE: self.write_, nfs3.PROC_READ: self.read_,
                              nfs3.PROC_REMOVE: self.remove, nfs3.PROC_READDIR: self.readdir,
                              nfs3.PROC_COMMIT: self.commit}.items():  # fmt: skip
            service.handlers[(nfs3.PROGRAM, 3, proc)] = handler

    def _named(self, call: Call, proc: int) -> str:
        dec = Decoder(call.args)
        dec.opaque()
        name = dec.string()
        self.names.append((PROCS[proc], name))
        return name

    def lookup(self, call: Call):
        name = self._named(call, nfs3.PROC_LOOKUP)
        enc = Encoder()
        enc.uint32(0)
        enc.opaque(DIR_FH if name == "cw" else LEFTOVER_FH)
        enc.boolean(True)
        enc.raw(fattr3(2, NOW) if name == "cw" else fattr3(1, NOW - 3600))
        enc.boolean(False)
        return enc.bytes()

    def create(self, call: Call):
        self._named(call, nfs3.PROC_CREATE)
        enc = Encoder()
        enc.uint32(0)
        enc.boolean(True)
        enc.opaque(FILE_FH)
        enc.boolean(True)
        enc.raw(fattr3(1, NOW))
        enc.raw(_no_wcc())
        return enc.bytes()

    def write_(self, call: Call):
        if self.written == STALL:
            self.names.append(("WRITE", ""))
            return STALL
        dec = Decoder(call.args)
        dec.opaque()
        dec.uint64(), dec.uint32(), dec.uint32()
        self.data = dec.opaque()
        self.names.append(("WRITE", ""))
        count = len(self.data) if self.written is None else self.written
        return struct.pack(">I", 0) + _no_wcc() + struct.pack(">II", count, self.committed) + b"V" * 8

    def commit(self, call: Call):
        self.names.append(("COMMIT", ""))
        return struct.pack(">I", 0) + _no_wcc() + b"V" * 8

    def read_(self, call: Call):
        self.names.append(("READ", ""))
        data = self.data if self.read is None else self.read
        enc = Encoder()
        enc.uint32(0)
        enc.boolean(False)
        enc.uint32(len(data))
        enc.boolean(True)
        enc.opaque(data)
        return enc.bytes()

    def remove(self, call: Call):
        self._named(call, nfs3.PROC_REMOVE)
        return struct.pack(">I", 0) + _no_wcc()

    def readdir(self, call: Call):
        self.names.append(("READDIR", ""))
        enc = Encoder()
        enc.uint32(0)
        enc.boolean(False)
        enc.raw(b"C" * 8)
        for i, name in enumerate(["other.txt", *self.leftovers]):
            enc.boolean(True)
            enc.uint64(i)
            enc.string(name)
            enc.uint64(i + 1)
        enc.boolean(False)
        enc.boolean(True)
        return enc.bytes()


@pytest.fixture
def files():
    services = []

    def make(**kw):
        services.append(FakeService())
        made = Files(**kw)
        made.install(services[-1])
        return services[-1], made

    yield make
    for service in services:
        service.close()


def probe(service: FakeService, seconds: float = 5.0):
    t0 = time.monotonic()
    obs = probe_nfs(service.target(canary_write="cw", canary_owner="nfs.w1"), Deadline.after(seconds))
    return obs, time.monotonic() - t0


def _calls(made: Files) -> list:
    return [proc for proc, _ in made.names]


def test_healthy_write_canary_calls_in_order(files):
    service, made = files()
    obs, _ = probe(service)
    assert obs.ok, obs.to_dict()
    assert _calls(made) == ["LOOKUP", "CREATE", "WRITE", "READ", "REMOVE", "READDIR"]
    created = made.names[1][1]
    assert made.names[4] == ("REMOVE", created) and created.startswith(".fswatch-canary.nfs.w1.")
    assert len(made.data) == 4096 and dict(obs.notes)["write_canary_leftovers_removed"] == "0"
    assert [s.stage for s in obs.stages][-6:] == ["write_create", "write", "write_readback", "write_remove",
                                                  "write_sweep", "umount"]  # fmt: skip


def test_a_less_stable_write_is_committed(files):
    service, made = files(committed=nfs3.UNSTABLE)
    obs, _ = probe(service)
    assert obs.ok and _calls(made)[2:4] == ["WRITE", "COMMIT"], made.names


def test_data_read_back_that_differs_is_alert_140_and_the_file_is_removed_at_once(files):
    service, made = files(read=b"\0" * 4096)
    obs, _ = probe(service)
    failure = obs.to_dict()["failure"]
    assert (failure["alert"], failure["stage"]) == (140, "write_readback"), failure
    assert "bytes differ" in failure["detail"] and _calls(made)[-1] == "REMOVE", made.names
    assert made.names[-1][1] == made.names[1][1]


def test_a_short_write_is_alert_141_and_the_file_is_removed(files):
    service, made = files(written=100)
    failure = probe(service)[0].to_dict()["failure"]
    assert (failure["alert"], failure["stage"]) == (141, "write") and "wrote 100 of 4096" in failure["detail"]
    assert _calls(made)[-1] == "REMOVE"


def test_a_write_that_never_answers_is_alert_139_by_the_deadline_and_leaves_the_file(files):
    service, made = files(written=STALL)
    obs, elapsed = probe(service, 1.0)
    failure = obs.to_dict()["failure"]
    assert (failure["alert"], failure["stage"], failure["timed_out"]) == (139, "write", True), failure
    assert 1.0 - 0.05 <= elapsed < 1.0 + PROBE_SLACK
    assert "REMOVE" not in _calls(made)  # nothing can be said to a server that does not answer


def test_the_sweep_removes_a_leftover_of_its_own_watch_only(files):
    others = [".fswatch-canary.nfs.w2.3.00000000000000aa", ".fswatch-canary.samba.w1.3.00000000000000aa"]
    service, made = files(leftovers=[LEFTOVER, *others])
    obs, _ = probe(service)
    assert obs.ok and dict(obs.notes)["write_canary_leftovers_removed"] == "1", obs.to_dict()
    assert made.names[-2:] == [("LOOKUP", LEFTOVER), ("REMOVE", LEFTOVER)], made.names
    assert not any(name in others for _, name in made.names)
