"""The fuzz harnesses and the loop that runs their cases under a time and memory bound.

Three harnesses, each a `case(rng) -> outcome` on mutations of the captured corpus:

- `NfsDecoders`: one RPC reply, mutated (before or after record marking), fed in-process
  through the record assembler, the reply decoder and the procedure's result decoder,
  exactly as fswatch.rpc.client.RpcClient.call does. Must end in a value or FswatchError.
- `NfsProbe`: a whole probe_nfs (v3 with the portmapper, or v4) against an in-process
  server that answers every call with the real reply for it (XID and ports patched), one
  of them mutated. Must return an Observation, by the probe's deadline.
- `SambaProbe`: a whole probe_samba against an in-process server replaying a real smbd
  conversation (message ids patched), one reply mutated. Must return an Observation, by
  the probe's deadline.
- `GssDecoders` (tests/fuzz/gss.py): one RPCSEC_GSS reply of nfs-ganesha with Kerberos,
  mutated, through the reply, verifier, checksum or seal, and result decoders, with a
  context that answers as the real one did. Must end in a value or FswatchError.

`run()` times each case and measures its memory peak (tracemalloc); any other exception,
a case past its deadline + slack, or a peak past the memory bound is a finding.
"""

from __future__ import annotations

import gc
import random
import socket
import struct
import threading
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.core.errors import FswatchError, ProbeFailure
from fswatch.core.observation import Observation
from fswatch.rpc import mount, nfs3, nfs4, portmap
from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.message import decode_call, decode_reply, reply_xid
from fswatch.rpc.transport import RecordAssembler, encode_record
from tests.fuzz.corpus import Corpus, RpcReply, SmbConversation
from tests.fuzz.mutate import Mutator

OK, ERROR = "ok", "error"  # the outcomes that are not findings


# -- NFS decoders, in-process ------------------------------------------------------------------


def _no_results(dec) -> None:
    return None


def _decoder_for(reply: RpcReply) -> Callable:
    key = reply.key
    if key == (portmap.PROGRAM, portmap.VERSION, portmap.PROC_GETPORT):
        return portmap.decode_getport_result
    if key == (mount.PROGRAM, mount.VERSION, mount.PROC_MNT):
        return mount.decode_mnt_result
    if key == (nfs3.PROGRAM, nfs3.VERSION, nfs3.PROC_GETATTR):
        return nfs3.decode_getattr_result
    if key == (nfs3.PROGRAM, nfs3.VERSION, nfs3.PROC_FSSTAT):
        return nfs3.decode_fsstat_result
    if key == (nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND):
        components = nfs4.path_components(reply.path)
        return lambda dec: nfs4.decode_lookup_compound(dec, components)
    return _no_results  # NULL, UMNT, and the calls answered with an RPC error


class NfsDecoders:
    name = "nfs-decoders"
    in_process = True

    def __init__(self, corpus: Corpus) -> None:
        self.replies = corpus.rpc
        self.decoders = [_decoder_for(r) for r in self.replies]
        self.pool = [r.data for r in self.replies]

    def case(self, rng: random.Random) -> Tuple[str, str]:
        index = rng.randrange(len(self.replies))
        mutator = Mutator(rng, self.pool)
        record = self.replies[index].data
        framed_mutation = rng.random() < 0.2
        if framed_mutation:
            stream, ops = mutator.mutate(encode_record(record))
        else:
            mutated, ops = mutator.mutate(record)
            stream = encode_record(mutated)
        what = f"{self.replies[index].name} {'framed ' if framed_mutation else ''}{ops}"
        return _decode_stream(stream, rng, self.decoders[index]), what


def _decode_stream(stream: bytes, rng: random.Random, decoder: Callable) -> str:
    """RpcClient.call's receive path on `stream`, arriving in random pieces."""
    assembler = RecordAssembler()
    pos = 0
    while pos < len(stream):
        step = rng.choice((len(stream), 1, 3, 4, 7, 64))
        assembler.feed(stream[pos : pos + step])
        pos += step
        while True:
            try:
                record = assembler.next_record()
            except FswatchError:
                return ERROR
            if record is None:
                break
            try:
                if len(record) < 8:
                    raise RpcDecodeError("short")
                if reply_xid(record) is None:
                    continue
                decoder(decode_reply(record).check())
                return OK
            except FswatchError:
                return ERROR
    return ERROR  # the stream ended inside a record: the real client would wait for its deadline


# -- in-process servers ------------------------------------------------------------------------


class _Listener:
    """A loopback TCP listener whose connections run `serve(conn)` in daemon threads; bounded waits."""

    TICK = 0.05

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._sock.settimeout(self.TICK)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="fuzz-listener", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), name="fuzz-conn", daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)  # a client that went away must not hold a thread for long
        try:
            self._serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


def _read_exact(conn: socket.socket, n: int) -> Optional[bytes]:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# -- NFS probe, against a replaying server -----------------------------------------------------


@dataclass
class _NfsPlan:
    """What the server does in the current case: which call gets the mutated reply, and how."""

    replies: Dict[Tuple[int, int, int], bytes]
    mutate_call: int
    mutator: Mutator
    framed: bool
    close_after: bool
    keep_xid: bool
    ops: str = ""


class NfsProbe:
    name = "nfs-probe"
    in_process = False

    def __init__(self, corpus: Corpus, timeout: float) -> None:
        from fswatch.probes import nfs as nfs_probe

        self.timeout = timeout
        self._nfs_probe = nfs_probe
        self.pool = [r.data for r in corpus.rpc]
        self.conversations = []  # (label, target kwargs, replies by call)
        # The v4 conversation is a v4.0 COMPOUND (tests/fuzz/capture.py): the probe pins 4.0.
        for label, version in (("v3-tcp", 3), ("v4", 4)):
            replies = {r.key: r.data for r in corpus.rpc if r.name.startswith(label + "/")}
            path = next((r.path for r in corpus.rpc if r.name.startswith(label + "/") and r.path), "/export")
            self.conversations.append((label, version, path, replies))
        self.plan: Optional[_NfsPlan] = None
        self._lock = threading.Lock()
        self._server = _Listener(self._serve)
        # The probe asks the portmapper at portmap.PORT: here, this server, until close()
        # puts the real one back (later tests in the same process need it).
        self._real_portmap_port = portmap.PORT
        portmap.PORT = self._server.port

    def _answer(self, call_record: bytes, calls: int) -> Tuple[Optional[bytes], bool]:
        plan = self.plan
        call = decode_call(call_record)
        reply = plan.replies.get((call.program, call.version, call.procedure))
        if reply is None:
            return None, True
        reply = bytearray(reply)
        reply[0:4] = struct.pack(">I", call.xid)
        if (call.program, call.procedure) == (portmap.PROGRAM, portmap.PROC_GETPORT) and len(reply) >= 4:
            reply[-4:] = struct.pack(">I", self._server.port)  # every service lives on this server
        if calls != plan.mutate_call:
            return encode_record(bytes(reply)), False
        if plan.framed:
            data, plan.ops = plan.mutator.mutate(encode_record(bytes(reply)))
            return data, plan.close_after
        data, plan.ops = plan.mutator.mutate(bytes(reply))
        if plan.keep_xid and len(data) >= 4:
            data = struct.pack(">I", call.xid) + data[4:]
        return encode_record(data), plan.close_after

    def _serve(self, conn: socket.socket) -> None:
        calls = 0
        while True:
            header = _read_exact(conn, 4)
            if header is None:
                return
            body = _read_exact(conn, struct.unpack(">I", header)[0] & 0x7FFFFFFF)
            if body is None:
                return
            try:
                answer, close = self._answer(body, calls)
            except FswatchError:
                return
            calls += 1
            if answer is None:
                return
            conn.sendall(answer)
            if close:
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(4096):  # let the client read, then see it go
                    pass
                return

    def case(self, rng: random.Random) -> Tuple[object, str]:
        label, version, path, replies = rng.choice(self.conversations)
        calls = 7 if version == 3 else 1
        self.plan = _NfsPlan(replies, rng.randrange(calls), Mutator(rng, self.pool), rng.random() < 0.15,
                             rng.random() < 0.5, rng.random() < 0.95)  # fmt: skip
        target = self._nfs_probe.NfsTarget(path, "127.0.0.1", version=version,
                                           port=self._server.port if version == 4 else None,
                                           minor_version=0 if version == 4 else None)  # fmt: skip
        obs = self._nfs_probe.probe_nfs(target, Deadline.after(self.timeout))
        return obs, f"{label} call {self.plan.mutate_call}{' framed' if self.plan.framed else ''} {self.plan.ops}"

    def describe(self) -> str:
        plan = self.plan
        return "" if plan is None else f"call {plan.mutate_call}{' framed' if plan.framed else ''} {plan.ops}"

    def clean(self, version: int) -> Observation:
        """The conversation of NFS `version` replayed unmutated: a healthy probe."""
        label, version, path, replies = next(c for c in self.conversations if c[1] == version)
        self.plan = _NfsPlan(replies, -1, Mutator(random.Random(0), self.pool), False, False, True)
        target = self._nfs_probe.NfsTarget(path, "127.0.0.1", version=version,
                                           port=self._server.port if version == 4 else None,
                                           minor_version=0 if version == 4 else None)  # fmt: skip
        return self._nfs_probe.probe_nfs(target, Deadline.after(2))

    def close(self) -> None:
        portmap.PORT = self._real_portmap_port
        self._server.close()


# -- Samba probe, against a replaying server ---------------------------------------------------


@dataclass
class _SmbPlan:
    conversation: SmbConversation
    mutate_reply: int
    mutator: Mutator
    framed: bool
    close_after: bool
    keep_mid: bool
    ops: str = ""


class SambaProbe:
    name = "samba-probe"
    in_process = False

    def __init__(self, corpus: Corpus, timeout: float) -> None:
        from fswatch.probes import samba

        self._samba = samba
        self.timeout = timeout
        # A user logon is signed with a key this replay cannot have: only guest conversations
        # get past the session; the user ones still exercise negotiate and session setup.
        self.conversations = list(corpus.smb)
        self.pool = [r for c in corpus.smb for r in c.replies]
        self.plan: Optional[_SmbPlan] = None
        self._server = _Listener(self._serve)

    def _serve(self, conn: socket.socket) -> None:
        plan = self.plan
        replies = plan.conversation.replies
        for index in range(len(replies) + 1):
            header = _read_exact(conn, 4)
            if header is None:
                return
            request = _read_exact(conn, int.from_bytes(header[1:], "big"))
            if request is None or index >= len(replies):
                return
            reply = bytearray(replies[index])
            if len(request) >= 32 and len(reply) >= 32:
                reply[24:32] = request[24:32]  # the message id of this request
            reply_bytes = bytes(reply)
            close = False
            if index == plan.mutate_reply:
                close = plan.close_after
                if plan.framed:
                    data, plan.ops = plan.mutator.mutate(_frame(reply_bytes))
                    conn.sendall(data)
                    if close:
                        return _finish(conn)
                    continue
                reply_bytes, plan.ops = plan.mutator.mutate(reply_bytes)
                if plan.keep_mid and len(reply_bytes) >= 32:
                    reply_bytes = reply_bytes[:24] + request[24:32] + reply_bytes[32:]
            conn.sendall(_frame(reply_bytes))
            if close:
                return _finish(conn)

    def case(self, rng: random.Random) -> Tuple[object, str]:
        conversation = rng.choice(self.conversations)
        self.plan = _SmbPlan(conversation, rng.randrange(len(conversation.replies)), Mutator(rng, self.pool),
                             rng.random() < 0.15, rng.random() < 0.5, rng.random() < 0.95)  # fmt: skip
        user, password = ("fuzz", "fuzz-password") if conversation.user else (None, None)
        target = self._samba.SambaTarget(conversation.share, "127.0.0.1", self._server.port, user, password)
        obs = self._samba.probe_samba(target, Deadline.after(self.timeout))
        plan = self.plan
        return obs, f"{conversation.name} reply {plan.mutate_reply}{' framed' if plan.framed else ''} {plan.ops}"

    def describe(self) -> str:
        plan = self.plan
        if plan is None:
            return ""
        return f"{plan.conversation.name} reply {plan.mutate_reply}{' framed' if plan.framed else ''} {plan.ops}"

    def clean(self, name: str) -> Observation:
        """Conversation `name` replayed unmutated."""
        conversation = next(c for c in self.conversations if c.name == name)
        self.plan = _SmbPlan(conversation, -1, Mutator(random.Random(0), self.pool), False, False, True)
        target = self._samba.SambaTarget(conversation.share, "127.0.0.1", self._server.port)
        return self._samba.probe_samba(target, Deadline.after(2))

    def close(self) -> None:
        self._server.close()


def _frame(message: bytes) -> bytes:
    return b"\0" + (len(message) & 0xFFFFFF).to_bytes(3, "big") + message


def _finish(conn: socket.socket) -> None:
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(4096):
        pass


# -- the loop ----------------------------------------------------------------------------------


class LagMeter:
    """How late this process gets to run: a thread that sleeps 10 ms at a time and keeps its worst oversleep.

    On a loaded machine a whole process waits for a CPU for hundreds of milliseconds; a case
    that ends late by no more than the process's own wait for a CPU (plus the slack) was
    starved, not stuck. A case that hangs past its deadline, or spins, shows no such lag:
    Python hands the GIL over every 5 ms, so this thread keeps running on time.
    """

    STEP = 0.01

    def __init__(self) -> None:
        self._worst = 0.0
        self._sleeping_since = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-lag", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = self._sleeping_since = time.monotonic()
            self._stop.wait(self.STEP)
            self._worst = max(self._worst, time.monotonic() - t0 - self.STEP)

    def take(self) -> float:
        """The worst lag since the last take(), counting the sleep in progress: after a stall of
        the whole process the caller may run before this thread got back to note it."""
        in_progress = time.monotonic() - self._sleeping_since - self.STEP
        worst, self._worst = max(self._worst, in_progress), 0.0
        return worst

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)


@dataclass
class Finding:
    harness: str
    case: int
    case_seed: int
    what: str
    problem: str


@dataclass
class Stats:
    harness: str
    cases: int = 0
    outcomes: Dict[str, int] = field(default_factory=dict)
    findings: List[Finding] = field(default_factory=list)
    seconds: float = 0.0
    max_case_seconds: float = 0.0
    max_over_deadline: float = 0.0  # seconds past the probe's deadline (probe harnesses)
    max_unexplained_over: float = 0.0  # the same, less the process's own wait for a CPU in that case
    max_lag: float = 0.0  # the longest this process waited for a CPU (LagMeter)
    starved_cases: int = 0  # cases late past the slack only by the process's wait for a CPU
    peak_bytes: int = 0  # the largest tracemalloc peak of one case
    deadline: Optional[float] = None

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {
            "harness": self.harness,
            "cases": self.cases,
            "outcomes": self.outcomes,
            "findings": len(self.findings),
            "finding_samples": [f.__dict__ for f in self.findings[:20]],
            "seconds": round(self.seconds, 1),
            "cases_per_second": round(self.rate, 1),
            "max_case_ms": round(self.max_case_seconds * 1000, 2),
            "deadline_s": self.deadline,
            "max_over_deadline_ms": round(self.max_over_deadline * 1000, 1),
            "max_unexplained_over_deadline_ms": round(self.max_unexplained_over * 1000, 1),
            "max_lag_ms": round(self.max_lag * 1000, 1),
            "starved_cases": self.starved_cases,
            "peak_case_kib": round(self.peak_bytes / 1024, 1),
        }


def _judge_observation(result: object) -> Optional[str]:
    if not isinstance(result, Observation):
        return f"returned {type(result).__name__}, not an Observation"
    if result.failure is not None and not isinstance(result.failure, ProbeFailure):
        return f"failure is {type(result.failure).__name__}"
    return None


def run(
    harness,
    cases: int,
    seed: int,
    *,
    slack: float = 0.5,
    memory_limit: int = 16 << 20,
    decode_limit: float = 1.0,
    seconds: Optional[float] = None,
    trace_memory: bool = True,
    progress: Optional[Callable[[Stats], None]] = None,
    case_seeds: Optional[Sequence[int]] = None,
) -> Stats:
    """Run `cases` cases (or until `seconds` pass) from `seed`; every case seed is derived from it.

    `case_seeds` replays exactly those cases instead (the seeds a finding lists)."""
    stats = Stats(harness.name, deadline=getattr(harness, "timeout", None))
    master = random.Random(seed)
    if trace_memory:
        tracemalloc.start()
    lag = LagMeter()
    began = time.monotonic()
    try:
        for index in range(cases if case_seeds is None else len(case_seeds)):
            if seconds is not None and time.monotonic() - began > seconds:
                break
            case_seed = master.getrandbits(64) if case_seeds is None else case_seeds[index]
            rng = random.Random(case_seed)
            if trace_memory:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
            lag.take()
            t0 = time.monotonic()
            problem = None
            what = ""
            try:
                result, what = harness.case(rng)
                outcome = result if isinstance(result, str) else ("ok" if result.ok else "failed")
                if not isinstance(result, str):
                    problem = _judge_observation(result)
            except FswatchError:
                outcome = ERROR  # only the in-process decoder harness may end this way
                if not harness.in_process:
                    problem = traceback.format_exc(limit=3)
            except Exception as exc:  # a finding: no other exception may leave fswatch
                outcome = "exception"
                what = getattr(harness, "describe", lambda: "")()
                problem = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
            elapsed = time.monotonic() - t0
            starved = lag.take()
            stats.max_lag = max(stats.max_lag, starved)
            peak = tracemalloc.get_traced_memory()[1] - base if trace_memory else 0
            limit = decode_limit if stats.deadline is None else stats.deadline + slack
            if stats.deadline is not None:
                stats.max_over_deadline = max(stats.max_over_deadline, elapsed - stats.deadline)
                stats.max_unexplained_over = max(stats.max_unexplained_over, elapsed - starved - stats.deadline)
            if problem is None and elapsed > limit:
                if elapsed - starved > limit:
                    problem = f"took {elapsed:.3f} s (limit {limit:.3f} s; waited {starved:.3f} s for a CPU)"
                else:
                    stats.starved_cases += 1
            if problem is None and peak > memory_limit:
                problem = f"memory peak {peak} bytes (limit {memory_limit})"
            if problem is not None:
                outcome = "finding"
                stats.findings.append(Finding(harness.name, index, case_seed, what, problem))
            stats.cases += 1
            stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
            stats.max_case_seconds = max(stats.max_case_seconds, elapsed)
            stats.peak_bytes = max(stats.peak_bytes, peak)
            if progress is not None and stats.cases % 10000 == 0:
                stats.seconds = time.monotonic() - began
                progress(stats)
            if not harness.in_process and stats.cases % 500 == 0:
                gc.collect()  # smbprotocol's objects hold threads' results in cycles
    finally:
        lag.close()
        stats.seconds = time.monotonic() - began
        if trace_memory:
            tracemalloc.stop()
    return stats


def harnesses(corpus: Corpus, names: Sequence[str], timeout: float) -> List[object]:
    made = []
    for name in names:
        if name == NfsDecoders.name:
            made.append(NfsDecoders(corpus))
        elif name == NfsProbe.name:
            made.append(NfsProbe(corpus, timeout))
        elif name == SambaProbe.name:
            made.append(SambaProbe(corpus, timeout))
        elif name == GSS_DECODERS:
            from tests.fuzz.gss import GssDecoders  # its own corpus: tests/data/fuzz/gss.json

            made.append(GssDecoders())
        else:
            raise ValueError(f"unknown harness {name!r}")
    return made


GSS_DECODERS = "gss-decoders"  # tests/fuzz/gss.py: RPCSEC_GSS replies of nfs-ganesha with Kerberos
NAMES = (NfsDecoders.name, NfsProbe.name, SambaProbe.name, GSS_DECODERS)
