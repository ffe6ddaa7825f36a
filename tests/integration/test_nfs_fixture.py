"""Proves with real client tools (rpcinfo, showmount) that the NFS fixture and its fault
injection do what they say, so probe tests can rely on them.

Order matters in this file: only one loopback NfsServer can run per host (port 111), and the
module-scoped ``nfs_server`` lives from its first user to the end of the module, so the tests
that start their own loopback instance come before the tests that use ``nfs_server``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures import nfs_server as nfs_module
from tests.fixtures.nfs_server import MOUNT_PROGRAM, NFS_PROGRAM, RPCBIND_PORT, NfsServer, NfsServerError, rpc_null

pytestmark = pytest.mark.integration

STALL_LIMIT = 3.0  # seconds a client waits for a stalled server before we call it a timeout


def rpcinfo(*args: str, limit: float = STALL_LIMIT) -> subprocess.CompletedProcess:
    """rpcinfo killed with SIGKILL after ``limit`` s (returncode None then).

    Not ``timeout 3 rpcinfo``: libtirpc blocks all signals during a call, so a SIGTERMed rpcinfo
    still waits out its own ~60 s, and ``timeout -s KILL`` kills its own process group too.
    """
    try:
        return subprocess.run(["rpcinfo", *args], capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as expired:  # subprocess.run has SIGKILLed and reaped rpcinfo
        return subprocess.CompletedProcess(expired.cmd, None, expired.stdout, expired.stderr)


def registered(server: NfsServer) -> dict[int, set[int]]:
    """program -> ports, as ``rpcinfo -p`` lists them."""
    result = rpcinfo("-p", server.address)
    assert result.returncode == 0, result.stderr
    programs: dict[int, set[int]] = {}
    for line in result.stdout.splitlines()[1:]:
        program, _vers, _proto, port = line.split()[:4]
        programs.setdefault(int(program), set()).add(int(port))
    return programs


def assert_healthy(server: NfsServer) -> None:
    programs = registered(server)
    assert programs[NFS_PROGRAM] == {server.nfs_port}
    assert programs[MOUNT_PROGRAM] == {server.mount_port}
    for transport, program, version in (("tcp", 100003, 3), ("udp", 100003, 3), ("tcp", 100003, 4), ("udp", 100005, 3)):
        result = rpcinfo("-T", transport, server.address, str(program), str(version))
        assert result.returncode == 0, (transport, program, version, result.stderr)
        assert "ready and waiting" in result.stdout
    shown = subprocess.run(["showmount", "-e", server.address], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert server.export_path in shown.stdout.split()


def assert_times_out(*args: str) -> None:
    began = time.monotonic()
    result = rpcinfo(*args)
    assert result.returncode is None, (result.returncode, result.stdout, result.stderr)  # killed at the limit
    assert time.monotonic() - began >= STALL_LIMIT - 0.1


def nfs_direct(server: NfsServer) -> bool:
    """NULL straight to the NFS port, without asking rpcbind (rpcinfo always asks it first)."""
    return rpc_null(server.address, server.nfs_port, NFS_PROGRAM, 3)


def listening_ports() -> str:
    return subprocess.run(["ss", "-Hltnup"], capture_output=True, text=True, timeout=10).stdout


def test_loopback_server_is_healthy_and_leaves_nothing_behind():
    with NfsServer() as server:
        assert (server.address, server.rpcbind_port) == ("127.0.0.1", RPCBIND_PORT)
        assert server.netns is None
        assert (Path(server.export_path) / "hello.txt").is_file()
        assert_healthy(server)
        pids, root, ports = (server.rpcbind_pid, server.ganesha_pid), server.root, (server.nfs_port, server.mount_port)
        # The host's /run is untouched: our rpcbind's socket lives in the private mount namespace.
        assert os.readlink(f"/proc/{server.rpcbind_pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        print(f"loopback startup {server.startup_seconds:.3f} s")
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert not root.exists()
    listeners = listening_ports()
    for port in (RPCBIND_PORT, *ports):
        assert f":{port} " not in listeners, listeners


def test_netns_server_is_healthy_and_leaves_nothing_behind():
    with NfsServer(netns=True) as server:
        assert server.address.startswith("10.251.") and server.client_address.startswith("10.251.")
        assert (server.nfs_port, server.mount_port) == (2049, 20048)
        assert_healthy(server)
        pids, root, netns = (server.rpcbind_pid, server.ganesha_pid), server.root, server.netns
        host_veth = Path(f"/sys/class/net/{server._host_veth}")
        assert host_veth.exists()
        print(f"netns startup {server.startup_seconds:.3f} s")
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert not root.exists()
    assert not host_veth.exists()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    assert netns not in namespaces.split()


def test_missing_binary_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.setattr(nfs_module, "_SBIN_PATH", str(tmp_path))  # an empty PATH
    with pytest.raises(NfsServerError, match="rpcbind not found"):
        NfsServer().start()


CRASHING_OWNER = """
import os
from tests.fixtures.nfs_server import NfsServer
server = NfsServer(netns=True)
server.start()
print(server._slot.name, server.netns, server.root, server.rpcbind_pid, server.ganesha_pid, server._holder.pid)
os._exit(0)  # a crash: no teardown, so the daemons live on as orphans
"""


def test_the_next_owner_of_a_slot_cleans_up_after_a_crash():
    repo = Path(__file__).resolve().parents[2]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_OWNER], cwd=repo, capture_output=True, text=True, timeout=60, check=True
    )
    slot_name, netns, root, *pids = crashed.stdout.split()
    assert all(nfs_module._starttime(int(pid)) for pid in pids)
    slot = nfs_module._Slot(slot_name)
    try:
        assert slot.try_lock()  # the crashed owner's flock went with it; this kills its leftovers
        assert not any(nfs_module._starttime(int(pid)) for pid in pids)
        assert not Path(root).exists()
    finally:
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True, timeout=10)
        slot.release()


def test_block_nfs_port_needs_netns():
    with pytest.raises(NfsServerError, match="netns"):
        NfsServer().block_nfs_port()


def test_stop_rpcbind_refuses(fresh_nfs_server):
    server = fresh_nfs_server
    pid = server.rpcbind_pid
    server.stop_rpcbind()
    assert server.rpcbind_pid == 0 and not Path(f"/proc/{pid}").exists()
    for args in (("-p", server.address), ("-T", "tcp", server.address, "100003", "3")):
        result = rpcinfo(*args)
        assert result.returncode == 1 and "Connection refused" in result.stderr, result
    assert nfs_direct(server)  # ganesha itself still serves
    server.start_rpcbind()  # warm start (-w) restores ganesha's registrations
    assert_healthy(server)


def test_stall_rpcbind_times_out(fresh_nfs_server):
    server = fresh_nfs_server
    server.stall_rpcbind()
    assert_times_out("-T", "tcp", server.address, "100003", "3")
    assert nfs_direct(server)
    server.resume_rpcbind()
    assert_healthy(server)


def test_stop_ganesha_unregisters(fresh_nfs_server):
    server = fresh_nfs_server
    pid = server.ganesha_pid
    seconds = server.stop_ganesha()
    print(f"ganesha SIGTERM shutdown {seconds:.3f} s")
    assert server.ganesha_pid == 0 and not Path(f"/proc/{pid}").exists()
    assert not {NFS_PROGRAM, MOUNT_PROGRAM} & registered(server).keys()
    result = rpcinfo("-T", "tcp", server.address, "100003", "3")
    assert result.returncode == 1 and "Program not registered" in result.stderr, result
    server.start_ganesha()
    assert_healthy(server)


def test_kill_ganesha_leaves_stale_registration(fresh_nfs_server):
    server = fresh_nfs_server
    server.kill_ganesha()
    assert registered(server)[NFS_PROGRAM] == {server.nfs_port}  # still listed...
    result = rpcinfo("-T", "tcp", server.address, "100003", "3")
    assert result.returncode == 1 and "Connection refused" in result.stderr, result  # ...but nobody is there
    assert not nfs_direct(server)
    shown = subprocess.run(["showmount", "-e", server.address], capture_output=True, text=True, timeout=30)
    assert shown.returncode != 0 and "Connection refused" in shown.stderr
    server.start_ganesha()  # ganesha replaces its stale registrations on start
    assert_healthy(server)


def test_stall_ganesha_times_out(fresh_nfs_server):
    server = fresh_nfs_server
    server.stall_ganesha()
    assert NFS_PROGRAM in registered(server)  # rpcbind still answers for it
    assert_times_out("-T", "tcp", server.address, "100003", "3")
    server.resume_ganesha()
    assert_healthy(server)


def test_block_nfs_port_drops_nfs_but_mount_answers(netns_nfs_server):
    server = netns_nfs_server
    server.block_nfs_port()
    assert_times_out("-T", "tcp", server.address, "100003", "3")
    assert_times_out("-T", "udp", server.address, "100003", "3")
    for transport in ("udp", "tcp"):
        result = rpcinfo("-T", transport, server.address, "100005", "3")
        assert result.returncode == 0, result.stderr
    server.unblock_nfs_port()
    assert_healthy(server)


# -- the module-scoped loopback server: keep these last (see the module docstring) -----------


def test_nfs_server_fixture_is_healthy(nfs_server):
    assert nfs_server.address == "127.0.0.1"
    assert_healthy(nfs_server)


def test_second_loopback_server_in_one_process_fails_at_once(nfs_server):
    began = time.monotonic()
    with pytest.raises(NfsServerError, match="already runs in this process"):
        NfsServer().start()
    assert time.monotonic() - began < 1.0
    assert_healthy(nfs_server)  # and the running one is untouched


def test_nfs_server_fixture_is_shared(nfs_server, fresh_nfs_server):
    # One module-scoped loopback server and a function-scoped one in a namespace coexist.
    assert nfs_server.rpcbind_pid and fresh_nfs_server.rpcbind_pid
    assert fresh_nfs_server.address != nfs_server.address
    assert_healthy(fresh_nfs_server)
