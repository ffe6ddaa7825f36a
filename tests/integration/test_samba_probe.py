"""The Samba probe against a real smbd and against servers that misbehave on purpose.

Every failing case asserts the alert, the stage and that the probe ended by its deadline
(+ PROBE_SLACK, derived from the bound's 0.5 s in tests/timing.py).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.fixtures.netfaults import ClosingServer, GarbageServer, SilentListener, StallingProxy
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI
from tests.timing import PROBE_SLACK

pytestmark = pytest.mark.integration
SLACK = PROBE_SLACK  # past its deadline: derived from the bound's 0.5 s (tests/timing.py)


def timed_probe(target: SambaTarget, timeout: float):
    t0 = time.monotonic()
    obs = probe_samba(target, Deadline.after(timeout))
    return obs, time.monotonic() - t0


def guest(server, share="public", port=None):
    return SambaTarget(share, server.address if server else "127.0.0.1", port or server.port)


def test_healthy_guest(samba_server):
    obs, elapsed = timed_probe(guest(samba_server), 5)
    assert obs.ok, obs.failure and obs.failure.fields()
    assert [s.stage for s in obs.stages] == [
        "connect", "negotiate", "session", "tree_connect", "share_type", "teardown"
    ]
    assert elapsed < 5


def test_healthy_user(samba_server):
    target = SambaTarget("private", samba_server.address, samba_server.port, samba_server.user, samba_server.password)
    obs, _ = timed_probe(target, 5)
    assert obs.ok, obs.failure and obs.failure.fields()


def test_unicode_share_name(samba_server):
    obs, _ = timed_probe(guest(samba_server, "共有データ"), 5)
    assert obs.ok, obs.failure and obs.failure.fields()


def test_wrong_share(samba_server):
    obs, _ = timed_probe(guest(samba_server, "nosuchshare"), 5)
    assert obs.failure.alert == 62 and obs.failure.stage == "tree_connect"
    assert obs.failure.ntstatus == 0xC00000CC


def test_wrong_password(samba_server):
    target = SambaTarget("private", samba_server.address, samba_server.port, samba_server.user, "wrong-password")
    obs, _ = timed_probe(target, 5)
    assert obs.failure.alert == 64 and obs.failure.stage == "session"
    assert obs.failure.ntstatus == 0xC000006D  # STATUS_LOGON_FAILURE


def test_ipc_share_is_a_share_type_error(samba_server):
    obs, _ = timed_probe(guest(samba_server, "IPC$"), 5)
    assert obs.failure.alert == 63 and obs.failure.stage == "share_type"


def test_refused_port():
    with ClosingServer() as spare:
        port = spare.port
    obs, elapsed = timed_probe(SambaTarget("public", "127.0.0.1", port), 2)  # closed listener: refused
    assert obs.failure.alert == 72 and obs.failure.errno == 111 and obs.failure.stage == "connect"
    assert elapsed < 0.5


def test_every_smbd_process_stalled(fresh_samba_server):
    fresh_samba_server.stall_all()
    try:
        obs, elapsed = timed_probe(guest(fresh_samba_server), 1.5)
    finally:
        fresh_samba_server.resume_all()
    assert obs.failure.alert == 74 and obs.failure.timed_out
    assert 1.5 <= elapsed <= 1.5 + SLACK


def test_stall_during_session_setup_proxy(samba_server):
    # The negotiate reply reaches the client, the session setup reply never does: the
    # smbprotocol hang that only the reaper ends.
    with StallingProxy(samba_server.address, samba_server.port, forward_replies=1) as proxy:
        obs, elapsed = timed_probe(SambaTarget("public", proxy.address, proxy.port), 1.5)
    assert obs.failure.stage == "session" and obs.failure.alert == 74
    assert 1.5 <= elapsed <= 1.5 + SLACK


def test_stall_of_the_connection_child(fresh_samba_server):
    # SIGSTOP only the smbd child that serves this probe, right after negotiate.
    import fswatch.probes.samba as samba

    original = samba.Session.connect
    stopped = []

    def stall_then_connect(session):
        port = session.connection.transport._sock.getsockname()[1]
        stopped.append(fresh_samba_server.stall_connection_child(port))
        return original(session)

    samba.Session.connect = stall_then_connect
    try:
        obs, elapsed = timed_probe(guest(fresh_samba_server), 1.5)
    finally:
        samba.Session.connect = original
        fresh_samba_server.resume_all()
    assert stopped and obs.failure.stage == "session" and obs.failure.timed_out
    assert elapsed <= 1.5 + SLACK


def test_listener_that_never_answers():
    with SilentListener() as silent:
        obs, elapsed = timed_probe(SambaTarget("public", silent.address, silent.port), 1)
    assert obs.failure.alert == 74 and obs.failure.stage == "negotiate"
    assert 1 <= elapsed <= 1 + SLACK


@pytest.mark.parametrize("payload", [b"HTTP/1.0 400 Bad Request\r\n\r\n", b"\x00\x00\x00\x08garbage!", os.urandom(300)])
def test_garbage_answer(payload):
    with GarbageServer(payload) as garbage:
        obs, elapsed = timed_probe(SambaTarget("public", garbage.address, garbage.port), 2)
    assert not obs.ok and obs.failure.stage == "negotiate"
    assert obs.failure.alert in (74, 75)
    assert elapsed <= 2 + SLACK


def test_close_without_answer_fails_at_once():
    with ClosingServer() as closing:
        obs, elapsed = timed_probe(SambaTarget("public", closing.address, closing.port), 3)
    assert obs.failure.alert == 75 and obs.failure.stage == "negotiate"
    assert elapsed < 1


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_leaked_threads_or_fds_after_200_failing_probes(samba_server):
    # warm up imports and lazily opened files before counting
    timed_probe(guest(samba_server, "nosuchshare"), 2)
    threads, fds = threading.active_count(), _fds()
    with ClosingServer() as closing, GarbageServer() as garbage, SilentListener() as silent:
        targets = [
            guest(samba_server, "nosuchshare"),
            SambaTarget("public", closing.address, closing.port),
            SambaTarget("public", garbage.address, garbage.port),
        ]
        for i in range(190):
            obs, _ = timed_probe(targets[i % 3], 2)
            assert not obs.ok
        for _ in range(10):  # the deadline path: the reaper fires
            obs, _ = timed_probe(SambaTarget("public", silent.address, silent.port), 0.2)
            assert obs.failure.timed_out
    time.sleep(0.1)
    assert threading.active_count() == threads
    assert _fds() <= fds  # none left open (earlier tests' objects may close theirs meanwhile)


def test_300_healthy_probes_in_a_row(samba_server):
    target = guest(samba_server)
    failures = [probe_samba(target, Deadline.after(5)).failure for _ in range(300)]
    assert [f for f in failures if f is not None] == []


# -- the command ---------------------------------------------------------------------------------


def test_cli_probe_json_and_exit_codes(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    port = str(samba_server.port)
    rc, out, _ = cli.json("probe", "samba", "--share", "public", "--port", port, "--timeout", "5", "--json")
    assert rc == 0 and out["ok"] and len(out["stages"]) == 6
    rc, out, _ = cli.json("probe", "samba", "--share", "nosuchshare", "--port", port, "--json")
    assert rc == 1 and out["alert"] == 62
    assert out["message"].startswith("The clp_sambamon has detected an error in Samba [nosuchshare]")


def test_cli_probe_user_with_password_file(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    secret = tmp_path / "pw"
    secret.write_text(samba_server.password + "\n")
    args = ["probe", "samba", "--share", "private", "--port", str(samba_server.port), "--user", samba_server.user]
    assert cli(*args, "--password-file", str(secret)).returncode == 0
    proc = cli(*args, "--password-file", "-", input="bad\n")
    assert proc.returncode == 1 and "alert 64" in proc.stdout


def test_cli_probe_text_output(samba_server, tmp_path):
    proc = FswatchCLI(tmp_path)("probe", "samba", "--share", "IPC$", "--port", str(samba_server.port))
    assert proc.returncode == 1
    assert "alert 63: The clp_sambamon has detected an error in Samba [IPC$] (share type error)." in proc.stdout


@pytest.mark.parametrize(
    "replies, stage",
    # negotiate, two NTLM session-setup legs, tree connect, tree disconnect
    [(0, "negotiate"), (1, "session"), (2, "session"), (3, "tree_connect"), (4, "teardown")],
)
def test_a_stall_at_every_stage_ends_by_the_deadline(samba_server, replies, stage):
    with StallingProxy(samba_server.address, samba_server.port, forward_replies=replies) as proxy:
        obs, elapsed = timed_probe(SambaTarget("public", proxy.address, proxy.port), 1)
    assert obs.failure is not None and obs.failure.stage == stage and obs.failure.timed_out
    assert obs.failure.alert == 74
    assert 1 <= elapsed <= 1 + SLACK


def test_connect_stall_black_hole():
    # A listener that never accepts, with its accept queue full: the kernel drops further
    # SYNs, so connect() itself hangs - a black hole on loopback.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the backlog (bounded)
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(listener.getsockname())
            fillers.append(s)
        time.sleep(0.1)
        obs, elapsed = timed_probe(SambaTarget("public", *listener.getsockname()), 1)
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert obs.failure.stage == "connect" and obs.failure.alert == 72 and obs.failure.timed_out
    assert obs.failure.errno == 110
    assert elapsed <= 1 + SLACK


@pytest.fixture(scope="module")
def hooked_samba_server():
    with SambaServer(hooks=True) as server:
        yield server


@pytest.mark.parametrize("stage", ["session", "tree_connect", "teardown"])
def test_smbd_itself_stalled_at_a_stage(hooked_samba_server, stage):
    # No proxy: smbd's own synchronous hook for that stage blocks (username map script,
    # root preexec, root postexec; see tests/fixtures/samba_server.py), as a hung
    # authentication or share backend would block it.
    server = hooked_samba_server
    healthy, _ = timed_probe(guest(server), 5)
    server.stall_stage(stage)
    try:
        obs, elapsed = timed_probe(guest(server), 1)
    finally:
        server.resume_stage(stage)
    after, _ = timed_probe(guest(server), 5)
    assert healthy.ok and after.ok, (healthy.failure, after.failure)
    assert obs.failure is not None and obs.failure.stage == stage and obs.failure.timed_out
    assert obs.failure.alert == 74
    assert 1 <= elapsed <= 1 + SLACK
