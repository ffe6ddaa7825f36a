"""The evidence sampler (fswatch.watch.evidence over fswatch.host.procfs and .sockets) with
real processes on loopback: small TCP servers in child processes that answer, stop, block or
spin, and a probe function that talks to them the way the real probes do (a request, then a
wait for the answer until the deadline). The real servers are in tests/integration/test_evidence.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager

import pytest

from fswatch.core import evidence as ev
from fswatch.core.deadline import Deadline
from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host import sockets
from fswatch.host.procfs import ProcFS
from fswatch.watch.evidence import EvidenceSampler

# A server child: accepts connections and, per request, answers, blocks on a pipe nobody
# writes, or spins; a second port answers at once (an idle helper, like the portmapper).
SERVER = textwrap.dedent("""
    import os, socket, sys, threading
    mode = sys.argv[1]
    def listener():
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8); return s
    main, helper = listener(), listener()
    print(main.getsockname()[1], helper.getsockname()[1], flush=True)
    never = os.pipe()
    def serve(conn, how):
        while conn.recv(64):
            if how == "answer":
                conn.sendall(b"ok")
            elif how == "block":
                os.read(never[0], 1)
            elif how == "spin":
                while True:
                    pass
    def accept(sock, how):
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=serve, args=(conn, how), daemon=True).start()
    threading.Thread(target=accept, args=(helper, "answer"), daemon=True).start()
    accept(main, mode)
""")


@contextmanager
def server(mode: str):
    proc = subprocess.Popen([sys.executable, "-c", SERVER, mode], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        main, helper = (int(p) for p in proc.stdout.readline().split())
        yield proc, main, helper
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=10)


def probe_of(port: int, helper: int = 0):
    """A probe: ask the helper first and keep that connection (as the NFS probe keeps its
    portmapper's), then send a request to `port` and wait for the answer until the deadline."""
    def probe(deadline: Deadline) -> Observation:
        conns = []
        try:
            if helper:
                h = socket.create_connection(("127.0.0.1", helper), timeout=deadline.remaining())
                conns.append(h)
                h.sendall(b"getport")
                h.recv(2)
            c = socket.create_connection(("127.0.0.1", port), timeout=deadline.remaining())
            conns.append(c)
            c.sendall(b"request")
            c.settimeout(deadline.remaining())
            if c.recv(2):
                return Observation(time.time(), (StageTiming("ask", 1.0),))
        except OSError:
            pass
        finally:
            for c in conns:
                c.close()
        failure = ProbeFailure(74, "ask", "no answer within the deadline", "110", errno=110, timed_out=True)
        return Observation(time.time(), (StageTiming("ask", 1.0, False),), failure)

    return probe


def sampled(port: int, helper: int = 0, evidence: str = "blocked", timeout: int = 2):
    told = []
    sampler = EvidenceSampler(Schedule(1, 3, timeout, evidence), unavailable=told.append)
    obs = sampler.wrap(probe_of(port, helper))(Deadline.after(timeout))
    return obs, told


def test_a_healthy_probe_carries_no_evidence():
    with server("answer") as (_, port, _):
        obs, told = sampled(port)
    assert obs.ok and obs.evidence is None and told == []


def test_a_stopped_server_is_stopped_at_the_deadline():
    with server("answer") as (proc, port, helper):
        os.kill(proc.pid, signal.SIGSTOP)
        obs, _ = sampled(port, helper)
    e = obs.evidence
    assert e is not None and e.kind == ev.STOPPED and e.process.endswith(f"[{proc.pid}]"), e
    assert e.at_deadline and e.declares(ev.STOPPED) and e.seconds >= 0.5


def test_a_server_blocked_on_a_pipe_beside_an_idle_helper_is_blocked():
    with server("block") as (proc, port, helper):
        obs, _ = sampled(port, helper)
    e = obs.evidence
    assert e is not None and e.kind == ev.BLOCKED and e.process.endswith(f"[{proc.pid}]"), e
    assert any("pipe_read" in w for w, _ in e.waits), e.waits  # the serving thread's wait, named


def test_a_spinning_server_progresses():
    with server("spin") as (proc, port, _):
        obs, _ = sampled(port)
    assert obs.evidence is not None and obs.evidence.kind == ev.PROGRESSING, obs.evidence
    assert not obs.evidence.declares(ev.BLOCKED)


def test_off_samples_nothing():
    with server("answer") as (proc, port, _):
        os.kill(proc.pid, signal.SIGSTOP)
        obs, _ = sampled(port, evidence="off")
    assert not obs.ok and obs.evidence is None


def test_a_remote_server_gives_no_evidence():
    # an address outside this node: a listener that never accepts is not there to ask
    probe = probe_of(9)  # port 9 (discard) is not served here: refused at once, before the checkpoint
    sampler = EvidenceSampler(Schedule(1, 3, 1))
    obs = sampler.wrap(probe)(Deadline.after(1))
    assert not obs.ok and obs.evidence is None


def test_the_proc_fallback_finds_the_same_server(monkeypatch):
    with server("answer") as (proc, port, helper):
        os.kill(proc.pid, signal.SIGSTOP)
        monkeypatch.setattr(sockets, "_diag", lambda *a, **k: None)  # as under RestrictAddressFamilies
        obs, _ = sampled(port, helper)
    assert obs.evidence is not None and obs.evidence.kind == ev.STOPPED, obs.evidence


def test_without_permission_the_reason_is_told(monkeypatch):
    def denied(self, inode, pids, first=False):
        return [], True

    monkeypatch.setattr(ProcFS, "_holders", denied)
    with server("answer") as (proc, port, _):
        os.kill(proc.pid, signal.SIGSTOP)
        obs, told = sampled(port)
    assert obs.evidence is not None and obs.evidence.kind == ev.NONE
    assert told and "CAP_SYS_PTRACE" in told[0]


@pytest.mark.parametrize("answered", [True, False])
def test_only_the_connection_the_probe_waits_on_counts(answered):
    # The unanswered request goes to a server that never answers: an answering one may have
    # answered (segments in = out) before the connections are read, however soon.
    with server("answer" if answered else "block") as (_, port, _helper):
        c = socket.create_connection(("127.0.0.1", port))
        try:
            c.sendall(b"x")
            if answered:
                assert c.recv(2) == b"ok"
            conns = {conn.socket.remote[1]: conn for conn in sockets.own_connections(
                ProcFS().proc / str(os.getpid()) / "fd")}  # fmt: skip
            assert conns[port].awaited is not answered
        finally:
            c.close()
