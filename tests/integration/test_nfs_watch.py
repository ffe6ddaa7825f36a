"""`fswatch probe nfs`, `add nfs` and `run nfs` against real rpcbind + nfs-ganesha."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.cli import FswatchCLI, alert_ids, detect_stall, phase, wait_for

pytestmark = pytest.mark.integration
SLACK = 0.5


def probe(cli, server, *extra):
    return cli.json("probe", "nfs", "--export", server.export_path, "--address", server.address, "--json", *extra)


def test_cli_probe_v3_tcp_udp_and_v4(nfs_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    for extra in ([], ["--transport", "udp"], ["--nfs-version", "4", "--port", str(nfs_server.nfs_port)]):
        rc, out, proc = probe(cli, nfs_server, "--timeout", "5", *extra)
        assert rc == 0 and out["ok"], (extra, proc.stdout, proc.stderr)
    rc, out, _ = probe(cli, nfs_server)
    assert [s["stage"] for s in out["stages"]] == ["portmap", "mount", "nfs_null", "getattr", "fsstat", "umount"]
    assert out["notes"]["source_port"] == "reserved"


def test_cli_probe_wrong_export(nfs_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    rc, out, _ = cli.json("probe", "nfs", "--export", "/no/such/export", "--address", nfs_server.address, "--json")
    assert rc == 1 and out["alert"] == 81
    assert out["message"] == "clp_nfsmon: mount error(MNT3ERR_ACCES)"
    proc = cli("probe", "nfs", "--export", "/no/such/export", "--address", nfs_server.address)
    assert "alert 81: clp_nfsmon: mount error(MNT3ERR_ACCES)" in proc.stdout


def add_watch(cli, server, watch_id="n1", *extra):
    proc = cli(
        "add", "nfs", watch_id, "--export", server.export_path, "--address", server.address,
        "--interval", "1", "--retries", "2", "--timeout", "1", *extra,
    )
    assert proc.returncode == 0, proc.stderr


def test_ganesha_stall_declared_within_bound(fresh_nfs_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, fresh_nfs_server)
    watch = cli.start("run", "nfs", "n1")
    healthy = lambda: phase(cli, "nfs", "n1") == "healthy"  # noqa: E731
    rc, detected, stderr = detect_stall(watch, healthy, fresh_nfs_server.stall_ganesha, fresh_nfs_server.resume_ganesha)
    assert rc == 1, stderr
    assert detected <= 4 + SLACK, (detected, stderr)
    assert alert_ids(stderr)[:2] == [1, 2] and alert_ids(stderr)[-3:] == [84, 66, 6], stderr
    assert "alert 1: The clp_nfsmon has started watching NFS." in stderr
    assert f"alert 2: The clp_nfsmon is going to watch shared directory '{fresh_nfs_server.export_path}'." in stderr
    assert "alert 84: clp_nfsmon: RPC: Unable to receive: errno = Connection timed out." in stderr
    assert "alert 66: The clp_nfsmon has detected an error in NFS." in stderr
    assert "alert 6: The clp_nfsmon will terminate." in stderr


def test_pause_continue_busy_and_stop(nfs_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, nfs_server)
    watch = cli.start("run", "nfs", "n1")
    try:
        wait_for(lambda: phase(cli, "nfs", "n1") == "healthy", 10)
        second = cli("run", "nfs", "n1", timeout=10)
        assert second.returncode == 3 and "alert 14:" in second.stderr
        assert cli("pause", "nfs", "n1", "--for", "60s").returncode == 0
        wait_for(lambda: phase(cli, "nfs", "n1") == "paused", 2.5)
        assert cli("continue", "nfs", "n1").returncode == 0
        wait_for(lambda: phase(cli, "nfs", "n1") == "healthy", 3)
        watch.send_signal(signal.SIGTERM)
        rc = watch.wait(timeout=5)
    finally:
        if watch.poll() is None:
            watch.kill()
    stderr = watch.stderr.read()
    assert rc == 0
    assert alert_ids(stderr) == [1, 2, 7, 8, 3], stderr
    assert "alert 7: The clp_nfsmon is going to stop monitoring." in stderr
    assert "alert 8: The clp_nfsmon is going to monitor." in stderr
    assert f"alert 3: The clp_nfsmon will stop watching NFS shared directory '{nfs_server.export_path}'." in stderr


def test_v4_watch_detects_nfs_port_blocked(netns_nfs_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, netns_nfs_server, "n4", "--nfs-version", "4", "--port", str(netns_nfs_server.nfs_port))
    watch = cli.start("run", "nfs", "n4")
    healthy = lambda: phase(cli, "nfs", "n4") == "healthy"  # noqa: E731
    server = netns_nfs_server
    rc, detected, stderr = detect_stall(watch, healthy, server.block_nfs_port, server.unblock_nfs_port)
    assert rc == 1 and detected <= 4 + SLACK, (detected, stderr)
    assert alert_ids(stderr)[-3:] == [84, 66, 6]


def test_sigterm_ends_a_probe_stuck_on_a_stalled_server(fresh_nfs_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add = cli("add", "nfs", "n1", "--export", fresh_nfs_server.export_path, "--address", fresh_nfs_server.address,
              "--interval", "1", "--timeout", "30")
    assert add.returncode == 0
    watch = cli.start("run", "nfs", "n1")
    try:
        wait_for(lambda: phase(cli, "nfs", "n1") == "healthy", 10)
        fresh_nfs_server.stall_ganesha()
        time.sleep(2)
        t0 = time.monotonic()
        watch.send_signal(signal.SIGTERM)
        rc = watch.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        fresh_nfs_server.resume_ganesha()
        if watch.poll() is None:
            watch.kill()
    assert rc == 0 and took < 1.0, took
    assert alert_ids(watch.stderr.read()) == [1, 2, 3]


def test_udp_is_on_the_wire(fresh_nfs_server, tmp_path):
    # Prove that --transport udp really talks UDP: in the server's namespace every TCP
    # segment is refused (RST), and a counting rule sees the UDP datagrams arrive.
    server = fresh_nfs_server
    server.firewall("-I", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
    server.firewall("-I", "INPUT", "-p", "udp", "-d", server.address, "-j", "ACCEPT")  # first: it counts

    def udp_datagrams() -> int:
        listing = server.firewall("-L", "INPUT", "1", "-v", "-x", "-n")  # rule 1: "pkts bytes target ..."
        return int(listing.split()[0])

    cli = FswatchCLI(tmp_path)
    rc, out, proc = probe(cli, server, "--transport", "tcp", "--timeout", "2")
    last = out["stages"][-1]
    assert rc == 1 and (last["stage"], last["ok"]) == ("portmap", False), proc.stdout  # TCP is really blocked
    before = udp_datagrams()
    rc, out, proc = probe(cli, server, "--transport", "udp", "--timeout", "2")
    assert rc == 0 and out["ok"], (proc.stdout, proc.stderr)
    assert [s["stage"] for s in out["stages"]] == ["portmap", "mount", "nfs_null", "getattr", "fsstat", "umount"]
    assert udp_datagrams() - before >= 7  # GETPORT x2, MNT, NULL, GETATTR, FSSTAT, UMNT
    # and a watch: healthy over UDP alone
    add_watch(cli, server, "u1", "--transport", "udp")
    watch = cli.start("run", "nfs", "u1")
    try:
        wait_for(lambda: phase(cli, "nfs", "u1") == "healthy", 10)
        before = udp_datagrams()
        time.sleep(1.5)  # at least one more probe (interval 1 s)
        assert udp_datagrams() - before >= 7
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=5) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    assert alert_ids(watch.stderr.read()) == [1, 2, 3]
