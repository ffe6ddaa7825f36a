"""Proves with real tools (smbclient, smbprotocol, raw sockets) that the smbd fixture and its
fault injection do what they say, so probe tests can rely on them."""

from __future__ import annotations

import os
import pwd
import socket
import struct
import subprocess
import threading
import time
import uuid

import pytest
from smbprotocol.connection import Connection
from smbprotocol.exceptions import LogonFailure, SMBException
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.fixtures import samba_server as samba_module
from tests.fixtures.netfaults import StallingProxy
from tests.fixtures.samba_server import (
    IPC_SHARE,
    PRIVATE_SHARE,
    PUBLIC_SHARE,
    UNICODE_SHARE,
    SambaServer,
    SambaServerError,
)

pytestmark = pytest.mark.integration


def smbclient(server: SambaServer, share: str, *auth: str, command: str = "ls") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["smbclient", f"//{server.address}/{share}", "-p", str(server.port), *auth, "-c", command],
        capture_output=True,
        text=True,
        timeout=30,  # smbclient gives up on a stalled server only after 20 s
    )


def guest_connection(port: int, timeout: int = 5) -> Connection:
    conn = Connection(uuid.uuid4(), "127.0.0.1", port=port, require_signing=False)
    conn.connect(timeout=timeout)
    return conn


def guest_session(conn: Connection) -> Session:
    return Session(conn, username="guest-fswatch", password="x", require_encryption=False)


def tree_connect(server: SambaServer, share: str, port: int | None = None) -> None:
    """Guest logon and tree connect over smbprotocol, the library the probe uses."""
    conn = guest_connection(port or server.port)
    try:
        session = guest_session(conn)
        session.connect()
        TreeConnect(session, server.unc(share)).connect(require_secure_negotiate=False)
    finally:
        conn.disconnect()


def smb2_negotiate_request() -> bytes:
    """A minimal SMB2 NEGOTIATE (MS-SMB2 2.2.3) for dialects 2.0.2 and 2.1, framed for TCP."""
    header = struct.pack("<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, b"")
    body = struct.pack("<HHHHI16sQHH", 36, 2, 1, 0, 0, uuid.uuid4().bytes, 0, 0x0202, 0x0210)
    message = header + body
    return struct.pack(">I", len(message)) + message


def in_thread(call) -> tuple[threading.Thread, list]:
    """Run ``call`` in a daemon thread; the list gets its result or the exception it raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# -- the shared server: shares and logons -----------------------------------------------------


def test_guest_lists_public(samba_server):
    result = smbclient(samba_server, PUBLIC_SHARE, "-N")
    assert result.returncode == 0, result.stdout + result.stderr


def test_user_logs_on_to_private_and_wrong_password_fails(samba_server):
    good = smbclient(samba_server, PRIVATE_SHARE, "-U", f"{samba_server.user}%{samba_server.password}")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = smbclient(samba_server, PRIVATE_SHARE, "-U", f"{samba_server.user}%wrong")
    assert bad.returncode != 0
    assert "NT_STATUS_LOGON_FAILURE" in bad.stdout + bad.stderr
    guest = smbclient(samba_server, PRIVATE_SHARE, "-N")
    assert "NT_STATUS_ACCESS_DENIED" in guest.stdout + guest.stderr


def test_non_ascii_share_and_ipc_accept_guests(samba_server):
    # No `smbclient -L`: share enumeration is RPC, which the fixture turns off (see smb.conf).
    for share, command in ((UNICODE_SHARE, "ls"), (IPC_SHARE, "exit")):
        result = smbclient(samba_server, share, "-N", command=command)
        assert result.returncode == 0, result.stdout + result.stderr


def test_smbprotocol_guest_user_ipc_and_errors(samba_server):
    for share in (PUBLIC_SHARE, UNICODE_SHARE, IPC_SHARE):
        tree_connect(samba_server, share)

    for password in (samba_server.password, "wrong"):
        conn = Connection(uuid.uuid4(), samba_server.address, port=samba_server.port)  # signing on
        conn.connect()
        try:
            session = Session(conn, samba_server.user, password)
            if password == "wrong":
                with pytest.raises(LogonFailure):
                    session.connect()
            else:
                session.connect()
                TreeConnect(session, samba_server.unc(PRIVATE_SHARE)).connect()
        finally:
            conn.disconnect()


def test_pid_file_names_the_parent(samba_server):
    assert samba_server.pid > 0
    assert open(f"/proc/{samba_server.pid}/comm").read().strip() == "smbd"
    # Even idle, smbd has helper children (smbd-notifyd, cleanupd) for stall_all() to stop.
    assert samba_server.children() and samba_server.pid not in samba_server.children()
    assert pwd.getpwnam(samba_server.user).pw_shell == "/usr/sbin/nologin"


# -- fault injection --------------------------------------------------------------------------


def test_stall_all_stops_negotiate_until_resume(fresh_samba_server):
    server = fresh_samba_server
    with socket.create_connection((server.address, server.port), timeout=1) as sock:
        server.stall_all()
        sock.sendall(smb2_negotiate_request())  # the kernel still accepts and queues this
        with pytest.raises(socket.timeout):
            sock.recv(4)
        stalled = Connection(uuid.uuid4(), server.address, port=server.port, require_signing=False)
        with pytest.raises(SMBException):  # smbprotocol's negotiate timeout
            stalled.connect(timeout=1)
        stalled.disconnect()

        server.resume_all()
        sock.settimeout(5)
        reply = sock.recv(68)
        assert reply[4:8] == b"\xfeSMB", reply  # the queued negotiate is answered now
    tree_connect(server, PUBLIC_SHARE)


def test_stall_connection_child_stalls_only_that_session(fresh_samba_server):
    server = fresh_samba_server
    conn = guest_connection(server.port)
    try:
        client_port = conn.transport._sock.getsockname()[1]
        stalled = server.stall_connection_child(client_port)
        assert stalled in server.children()
        assert open(f"/proc/{stalled}/stat").read().rpartition(")")[2].split()[0] == "T"

        waiter, outcome = in_thread(guest_session(conn).connect)
        waiter.join(1.0)
        assert waiter.is_alive(), "session setup should hang on the stopped child"

        tree_connect(server, PUBLIC_SHARE)  # other connections are served meanwhile

        server.resume_all()
        waiter.join(5.0)
        assert not waiter.is_alive() and outcome == [None]
    finally:
        conn.disconnect()


def test_stalling_proxy_hangs_session_setup(samba_server):
    with StallingProxy(samba_server.address, samba_server.port, forward_replies=1) as proxy:
        conn = guest_connection(proxy.port)  # the negotiate reply is the one record let through
        try:
            waiter, outcome = in_thread(guest_session(conn).connect)
            waiter.join(2.0)
            assert waiter.is_alive(), "Session.connect() should hang: its reply is never forwarded"
            assert proxy.replies_forwarded == 1 and proxy.replies_dropped >= 1
        finally:
            proxy.close()  # EOF ends smbprotocol's receiver thread, which releases the waiter
            waiter.join(5.0)
            conn.disconnect()
        assert not waiter.is_alive() and isinstance(outcome[0], Exception)


def test_transparent_proxy_passes_a_whole_logon(samba_server):
    with StallingProxy(samba_server.address, samba_server.port, forward_replies=None) as proxy:
        tree_connect(samba_server, PUBLIC_SHARE, port=proxy.port)
        assert proxy.connections == 1


def test_kill_makes_the_port_refuse(fresh_samba_server):
    server = fresh_samba_server
    family = [server.pid, *server.children()]
    server.kill()
    assert not any(_alive(pid) for pid in family)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.address, server.port), timeout=1)


# -- lifecycle --------------------------------------------------------------------------------


def test_stop_removes_processes_user_and_files():
    with SambaServer() as server:
        tree_connect(server, IPC_SHARE)
        # Share enumeration would start samba-dcerpcd if the config allowed it.
        subprocess.run(
            ["smbclient", "-L", server.address, "-p", str(server.port), "-N"], capture_output=True, timeout=30
        )
        family = [server.pid, *server.children()]
        root, user, port = server.root, server.user, server.port
        started = time.monotonic()
    stop_seconds = time.monotonic() - started
    assert stop_seconds < samba_module.STOP_TIMEOUT
    assert not any(_alive(pid) for pid in family)
    assert not processes_mentioning(str(root)), "a helper escaped smbd's process tree"
    assert not root.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_missing_smbd_fails_loudly(monkeypatch):
    monkeypatch.setattr(samba_module, "_SBIN_PATH", "/nonexistent")
    with pytest.raises(SambaServerError, match="smbd not found"):
        SambaServer().start()


def _alive(pid: int) -> bool:
    return samba_module._proc_stat(pid) is not None


def processes_mentioning(text: str) -> list[int]:
    """Live PIDs whose command line contains ``text`` (e.g. samba-dcerpcd --configfile=...)."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and text.encode() in open(f"{entry.path}/cmdline", "rb").read():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if _alive(pid)]
