"""NFSv4.1 and 4.2 sessions against real nfs-ganesha serving only some minor versions
(its Minor_Versions), a probe that leaves no client behind, and grace periods.

The honest measure of "nothing left behind": ganesha keeps one directory per confirmed client
ID in its recovery directory (RecoveryBackend = fs), made when CREATE_SESSION confirms the
client ID and removed by DESTROY_CLIENTID or when the lease expires (nfs4_add_clid /
nfs4_rm_clid). NfsServer.recovery_records() lists them; a probe that left a client ID or a
session behind (a session keeps its client ID: DESTROY_CLIENTID answers NFS4ERR_CLIENTID_BUSY)
leaves a directory there for a whole lease.
"""

from __future__ import annotations

import errno
import signal
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import NfsTarget, _Channels, probe_nfs
from fswatch.rpc import nfs41
from fswatch.rpc.message import auth_sys
from tests.fixtures.nfs_server import NfsServer
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for

pytestmark = pytest.mark.integration

TIMEOUT = 1.0
SLACK = 0.1  # SPEC: a probe ends by its deadline + 0.1 s
SESSION_STAGES = ["connect", "exchange_id", "create_session", "compound", "destroy_session", "destroy_clientid"]


@pytest.fixture(scope="module")
def v41_only():
    with NfsServer(netns=True, minor_versions=[1]) as server:
        yield server


@pytest.fixture(scope="module")
def v42_only():
    with NfsServer(netns=True, minor_versions=[2]) as server:
        yield server


@pytest.fixture(scope="module")
def v40_only():
    with NfsServer(netns=True, minor_versions=[0]) as server:
        yield server


def target(server, minor=None, **kw) -> NfsTarget:
    export = kw.pop("export", server.export_path)
    return NfsTarget(export, server.address, port=server.nfs_port, version=4, minor_version=minor, **kw)


def probe(t: NfsTarget, timeout: float = TIMEOUT):
    t0 = time.monotonic()
    obs = probe_nfs(t, Deadline.after(timeout))
    elapsed = time.monotonic() - t0
    assert elapsed <= timeout + SLACK, f"probe took {elapsed:.3f} s with a {timeout} s deadline"
    return obs


def assert_session_probe(obs, version: str) -> None:
    assert obs.ok and obs.degraded is None, obs.to_dict()
    assert [s.stage for s in obs.stages] == SESSION_STAGES
    notes = dict(obs.notes)
    assert notes["nfs_version"] == version
    assert "storage" not in notes  # the GETATTR's space and file counts came back: statfs reached
    assert "grace_period" not in notes  # OPEN of a name that does not exist: NFS4ERR_NOENT


def assert_refused(obs, stage: str) -> None:
    failure = obs.failure
    assert (failure.alert, failure.stage, failure.detail) == (85, stage, "NFS4ERR_MINOR_VERS_MISMATCH"), obs.to_dict()


def leave_client_behind(server) -> None:
    """What a client with state does before a server restart: a confirmed client ID with a session."""
    deadline = Deadline.after(5)
    channels = _Channels(server.address, "tcp", auth_sys(), deadline)
    try:
        nfs = channels.to(server.nfs_port)
        minor = max(server.minor_versions or (2,))
        client = nfs41.exchange_id(nfs, minor, b"client-with-state", b"verifier", deadline)
        nfs41.create_session(nfs, minor, client, deadline)
    finally:
        channels.close()


# -- which minor version, with and without pinning -------------------------------------------------


def test_v41_only_server(v41_only):
    assert_session_probe(probe(target(v41_only)), "4.1")  # 4.2 refused first: one more round trip
    assert_session_probe(probe(target(v41_only, 1)), "4.1")
    assert_refused(probe(target(v41_only, 2)), "exchange_id")
    assert_refused(probe(target(v41_only, 0)), "compound")
    assert v41_only.recovery_records() == []


def test_v42_only_server(v42_only):
    assert_session_probe(probe(target(v42_only)), "4.2")
    assert_session_probe(probe(target(v42_only, 2)), "4.2")
    assert_refused(probe(target(v42_only, 1)), "exchange_id")
    assert_refused(probe(target(v42_only, 0)), "compound")
    assert v42_only.recovery_records() == []


def test_v40_only_server_gets_the_v40_probe(v40_only):
    obs = probe(target(v40_only))
    assert obs.ok, obs.to_dict()
    assert [s.stage for s in obs.stages] == ["connect", "exchange_id", "compound"]
    assert dict(obs.notes)["nfs_version"] == "4.0"
    assert_refused(probe(target(v40_only, 1)), "exchange_id")


def test_cli_probe_json_shows_the_minor_version(v41_only, tmp_path):
    cli = FswatchCLI(tmp_path)
    for version, used in (("4", "4.1"), ("4.1", "4.1")):
        rc, out, proc = cli.json(
            "probe", "nfs", "--export", v41_only.export_path, "--address", v41_only.address,
            "--port", str(v41_only.nfs_port), "--nfs-version", version, "--timeout", "5", "--json",
        )  # fmt: skip
        assert rc == 0 and out["ok"], proc.stderr
        assert out["notes"]["nfs_version"] == used and [s["stage"] for s in out["stages"]] == SESSION_STAGES
    proc = cli("probe", "nfs", "--export", v41_only.export_path, "--address", v41_only.address,
               "--port", str(v41_only.nfs_port), "--nfs-version", "4.2")  # fmt: skip
    assert proc.returncode == 1
    assert "alert 85: clp_nfsmon: NFS4ERR_MINOR_VERS_MISMATCH" in proc.stdout


# -- failures, and what they leave behind -----------------------------------------------------------


def test_wrong_export_is_81_and_the_session_is_torn_down(v41_only):
    obs = probe(target(v41_only, export=v41_only.export_path + "-missing"))
    failure = obs.failure
    assert (failure.alert, failure.stage) == (81, "compound") and failure.detail in ("NFS4ERR_NOENT", "NFS4ERR_ACCESS")
    assert "teardown" not in dict(obs.notes)
    assert v41_only.recovery_records() == []


def test_ganesha_stalled_ends_at_the_deadline(fresh_nfs_server):
    fresh_nfs_server.stall_ganesha()
    try:
        obs = probe(target(fresh_nfs_server, 1))
    finally:
        fresh_nfs_server.resume_ganesha()
    failure = obs.failure
    assert (failure.alert, failure.stage, failure.timed_out) == (84, "exchange_id", True)
    assert failure.errno == errno.ETIMEDOUT


def test_a_thousand_probes_leave_no_client_behind(v42_only):
    """Every probe, healthy or failing after its session was made, destroys its session and client ID."""
    healthy, missing = target(v42_only), target(v42_only, export=v42_only.export_path + "-missing")
    for i in range(1000):
        failing = i % 10 == 9
        obs = probe_nfs(missing if failing else healthy, Deadline.after(5))
        assert obs.ok != failing, (i, obs.to_dict())
        # DESTROY_CLIENTID succeeded (ganesha refuses it while the client ID has a session), also
        # after a failed step: no session is left either.
        assert "teardown" not in dict(obs.notes), (i, obs.to_dict())
        records = v42_only.recovery_records()
        assert records == [], (i, records)
    # The measure sees a client ID that is left behind (and one that is destroyed again).
    leave_client_behind(v42_only)
    assert len(v42_only.recovery_records()) == 1


# -- grace period: degraded, not failed ----------------------------------------------------------


def restart_into_grace(server) -> float:
    """Restart ganesha while a client holds state: it comes back in its grace period (it lifts
    it early only once every client it remembers has reclaimed). Returns when it restarted."""
    leave_client_behind(server)
    assert len(server.recovery_records()) == 1
    server.stop_ganesha()
    server.start_ganesha()
    return time.monotonic()


def test_probe_in_a_grace_period_is_degraded_then_healthy():
    with NfsServer(netns=True, grace_period=4, lease_lifetime=3) as server:
        assert probe(target(server)).degraded is None
        began = restart_into_grace(server)
        obs = probe(target(server))
        assert obs.ok and obs.failure is None, obs.to_dict()
        assert [s.stage for s in obs.stages] == SESSION_STAGES
        degraded = obs.to_dict()["degraded"]
        assert degraded["cause"] == "grace period" and degraded["status"] == "NFS4ERR_GRACE"
        assert degraded["lease_seconds"] == 3 and degraded["stage"] == "compound"
        wait_for(lambda: probe(target(server)).degraded is None, 12, step=0.2)
        # Grace_Period = 4 s from ganesha's start (before start_ganesha() returned), checked by its
        # reaper every second; the rest is room for this shared machine's load.
        assert 2.0 <= time.monotonic() - began <= 4 + 1 + 3
        assert server.recovery_records() == []  # the grace period dropped the client that never reclaimed


def test_watch_through_a_grace_period_is_degraded_then_healthy(tmp_path):
    cli = FswatchCLI(tmp_path)
    # Grace 8 s: time for `fswatch status` to look while it lasts; lease 4 s: limit 12 s.
    with NfsServer(netns=True, grace_period=8, lease_lifetime=4) as server:
        add = cli("add", "nfs", "g1", "--export", server.export_path, "--address", server.address,
                  "--port", str(server.nfs_port), "--nfs-version", "4",
                  "--interval", "1", "--retries", "1", "--timeout", "1")  # fmt: skip
        assert add.returncode == 0, add.stderr
        watch = cli.start("run", "nfs", "g1")
        try:
            wait_for(lambda: phase(cli, "nfs", "g1") == "healthy", 10)
            restart_into_grace(server)
            wait_for(lambda: phase(cli, "nfs", "g1") == "degraded", 5)
            rc, records, _ = cli.json("status", "nfs", "g1", "--json")
            record = records[0]
            assert record["phase"] == "degraded" and record["failures"] == 0
            assert record["degraded"]["status"] == "NFS4ERR_GRACE" and record["degraded"]["limit_seconds"] == 12
            assert record["status"].startswith("degraded (grace period)")
            text = cli("status", "nfs", "g1").stdout
            assert "degraded" in text and "grace period" in text
            wait_for(lambda: phase(cli, "nfs", "g1") == "healthy", 15)
            watch.send_signal(signal.SIGTERM)
            rc = watch.wait(timeout=5)
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
        stderr = watch.stderr.read()
    assert rc == 0, stderr
    ids = alert_ids(stderr)
    # A probe may meet the restart itself (refused: 84, then 91 when the server answers again).
    assert [i for i in ids if i not in (84, 91)] == [1, 2, 100, 102, 3], stderr
    assert "alert 100: The clp_nfsmon has seen NFS shared directory" in stderr
    assert "in a grace period (degraded, not failed, for up to 12 s)." in stderr


def test_grace_period_that_does_not_end_is_declared_failed(tmp_path):
    cli = FswatchCLI(tmp_path)
    # Lease 1 s: the limit is 3 s, far below this grace period of 60 s.
    with NfsServer(netns=True, grace_period=60, lease_lifetime=1) as server:
        add = cli("add", "nfs", "g2", "--export", server.export_path, "--address", server.address,
                  "--port", str(server.nfs_port), "--nfs-version", "4.1",
                  "--interval", "1", "--retries", "1", "--timeout", "1")  # fmt: skip
        assert add.returncode == 0, add.stderr
        began = restart_into_grace(server)
        watch = cli.start("run", "nfs", "g2")
        try:
            rc = watch.wait(timeout=20)
            took = time.monotonic() - began
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
        stderr = watch.stderr.read()
    assert rc == 1, stderr
    # Degraded probes at 0, 1, 2, 3 s (3 s: the limit), failed at 4 and 5 s (retries + 1): 5 s
    # after the first probe, plus the watch's start-up (allowed 3 s on this shared machine).
    assert 5 <= took <= 5 + 3, (took, stderr)
    assert alert_ids(stderr) == [1, 2, 100, 101, 101, 66, 6], stderr
    assert "alert 101: The clp_nfsmon has seen the grace period of NFS shared directory" in stderr
    assert "last longer than 3 s." in stderr
