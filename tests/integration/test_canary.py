"""The data-path check (issue 11 point 3): a watch's canary file read by every probe, at stage
`canary`, against real smbd and real nfs-ganesha (NFSv3, v4.0, v4.1): present (healthy, the stage
timed), removed (alert 105), unreadable by permissions (alert 105 with the server's status), and
the storage beneath it frozen (FUSE: the probe ends by its deadline, and says at which stage).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.fixtures.fuse_freeze import FuseFreeze
from tests.fixtures.nfs_server import NfsServer
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for
from tests.integration.test_nfs41_probe import restart_into_grace

pytestmark = pytest.mark.integration

TIMEOUT = 1.0
SLACK = 0.1  # SPEC: a probe ends by its deadline + 0.1 s
CANARY = "canary/alive.txt"
SECRET = b"canary bytes that must never be logged\n"
NFS_VERSIONS = [(3, None), (4, 0), (4, 1)]
NFS_IDS = ["v3", "v4.0", "v4.1"]


def _timed(probe, target):
    t0 = time.monotonic()
    obs = probe(target, Deadline.after(TIMEOUT))
    elapsed = time.monotonic() - t0
    assert elapsed < TIMEOUT + SLACK, f"probe took {elapsed:.3f} s"
    return obs


def _write(root, relative: str, data: bytes = SECRET, mode: int = 0o644) -> str:
    path = os.path.join(str(root), relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.chmod(os.path.dirname(path), 0o755)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def _stages(obs) -> list:
    return [s.stage for s in obs.stages]


def _assert_healthy(obs, nbytes: int) -> None:
    assert obs.ok, obs.to_dict()
    assert "canary" in _stages(obs)
    assert dict(obs.notes)["canary_bytes"] == str(nbytes)
    assert SECRET.decode().strip() not in str(obs.to_dict())


def _assert_canary_failure(obs, alert: int, status: str, canary: str) -> dict:
    failure = obs.to_dict()["failure"]
    assert failure["stage"] == "canary" and failure["alert"] == alert, failure
    assert failure["canary"] == canary
    assert status in failure["detail"], failure
    assert [s.stage for s in obs.stages if not s.ok] == ["canary"]
    return failure


# -- NFS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def squashing_nfs():
    """ganesha mapping the probe's uid 0 to its anonymous user, so file modes apply to the probe."""
    with NfsServer(netns=True, squash="Root_Squash") as server:
        yield server


def nfs_target(server, version, minor, canary=CANARY, export=None) -> NfsTarget:
    port = server.nfs_port if version == 4 else None
    return NfsTarget(
        export or server.export_path, server.address, port=port, version=version, minor_version=minor, canary=canary
    )


def _fresh(name: str) -> str:
    # A name ganesha never saw: it keeps a file it read open (its fd cache) and serves a removed
    # canary through that descriptor for a while, so "removed" here means "not there".
    return f"canary/{name}-{uuid.uuid4().hex[:8]}.txt"


@pytest.mark.parametrize("version,minor", NFS_VERSIONS, ids=NFS_IDS)
def test_nfs_canary_present_and_missing(squashing_nfs, version, minor):
    canary = _fresh("alive")
    path = _write(squashing_nfs.export_path, canary)
    try:
        obs = _timed(probe_nfs, nfs_target(squashing_nfs, version, minor, canary=canary))
        _assert_healthy(obs, len(SECRET))
        if version == 4 and minor == 1:
            assert _stages(obs)[-3:] == ["canary", "destroy_session", "destroy_clientid"]
    finally:
        os.unlink(path)
    missing = _fresh("missing")
    obs = _timed(probe_nfs, nfs_target(squashing_nfs, version, minor, canary=missing))
    failure = _assert_canary_failure(obs, 105, "NOENT", missing)
    assert failure["rpc_status"] in ("NFS3ERR_NOENT", "NFS4ERR_NOENT"), failure


@pytest.mark.parametrize("version,minor", NFS_VERSIONS, ids=NFS_IDS)
def test_nfs_canary_unreadable(squashing_nfs, version, minor):
    denied = _fresh("denied")
    path = _write(squashing_nfs.export_path, denied, mode=0o600)  # root's, and root is squashed
    try:
        obs = _timed(probe_nfs, nfs_target(squashing_nfs, version, minor, canary=denied))
        failure = _assert_canary_failure(obs, 105, "ACCES", denied)
        assert failure["rpc_status"] in ("NFS3ERR_ACCES", "NFS4ERR_ACCESS"), failure
    finally:
        os.unlink(path)


@pytest.mark.parametrize("version,minor", NFS_VERSIONS, ids=NFS_IDS)
def test_nfs_empty_canary_is_healthy(squashing_nfs, version, minor):
    canary = _fresh("empty")
    path = _write(squashing_nfs.export_path, canary, b"")
    try:
        _assert_healthy(_timed(probe_nfs, nfs_target(squashing_nfs, version, minor, canary=canary)), 0)
    finally:
        os.unlink(path)


def test_nfs_v41_canary_leaves_no_client_behind(squashing_nfs):
    """The READ uses the anonymous stateid: no OPEN, no state; the session is destroyed after it."""
    canary = _fresh("many")
    path = _write(squashing_nfs.export_path, canary)
    try:
        for _ in range(20):
            assert _timed(probe_nfs, nfs_target(squashing_nfs, 4, 1, canary=canary)).ok
        for _ in range(5):  # a failed canary tears the session down too
            assert not _timed(probe_nfs, nfs_target(squashing_nfs, 4, 1, canary=_fresh("gone"))).ok
        assert squashing_nfs.recovery_records() == []
    finally:
        os.unlink(path)


# -- Samba ----------------------------------------------------------------------------------------


def samba_target(server, canary, share="public", user=None) -> SambaTarget:
    password = server.password if user else None
    return SambaTarget(share, server.address, server.port, user=user, password=password, canary=canary)


@pytest.mark.parametrize("user", [False, True], ids=["guest", "user"])
def test_samba_canary_present_then_removed(samba_server, user):
    share = "private" if user else "public"
    canary = _fresh("alive")
    path = _write(samba_server.share_path(share), canary)
    try:
        obs = _timed(probe_samba, samba_target(samba_server, canary, share, samba_server.user if user else None))
        _assert_healthy(obs, len(SECRET))
        assert _stages(obs)[-2:] == ["canary", "teardown"]
    finally:
        os.unlink(path)
    obs = _timed(probe_samba, samba_target(samba_server, canary, share, samba_server.user if user else None))
    failure = _assert_canary_failure(obs, 105, "0xc0000034", canary)  # STATUS_OBJECT_NAME_NOT_FOUND
    assert failure["ntstatus"] == "0xc0000034"


def test_samba_canary_in_missing_directory(samba_server):
    canary = f"nowhere-{uuid.uuid4().hex[:8]}/alive.txt"
    obs = _timed(probe_samba, samba_target(samba_server, canary))
    failure = _assert_canary_failure(obs, 105, "0xc000003a", canary)  # STATUS_OBJECT_PATH_NOT_FOUND
    assert failure["ntstatus"] == "0xc000003a"


def test_samba_canary_unreadable(samba_server):
    canary = _fresh("denied")
    path = _write(samba_server.share_path("public"), canary, mode=0o000)  # the guest account may not read it
    try:
        obs = _timed(probe_samba, samba_target(samba_server, canary))
        failure = _assert_canary_failure(obs, 105, "0xc0000022", canary)  # STATUS_ACCESS_DENIED
        assert failure["ntstatus"] == "0xc0000022"
    finally:
        os.unlink(path)


def test_samba_canary_directory_is_not_a_file(samba_server):
    canary = _fresh("dir")
    os.makedirs(os.path.join(samba_server.share_path("public"), canary))
    try:
        obs = _timed(probe_samba, samba_target(samba_server, canary))
        failure = _assert_canary_failure(obs, 105, "0xc00000ba", canary)  # STATUS_FILE_IS_A_DIRECTORY
        assert failure["ntstatus"] == "0xc00000ba"
    finally:
        os.rmdir(os.path.join(samba_server.share_path("public"), canary))


def test_samba_empty_canary_is_healthy(samba_server):
    canary = _fresh("empty")
    path = _write(samba_server.share_path("public"), canary, b"")
    try:
        _assert_healthy(_timed(probe_samba, samba_target(samba_server, canary)), 0)
    finally:
        os.unlink(path)


# -- the storage beneath the canary frozen ----------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_beneath():
    """A share and an export on a plain directory, the canary on a FUSE mount inside it: freezing
    the FUSE mount freezes only the canary's storage, which no earlier stage touches (the tree
    connect and FSSTAT / GETATTR space see the plain directory's file system)."""
    with FuseFreeze() as fs:
        parent = fs.path.parent
        os.chmod(parent, 0o755)  # smbd's guest account enters the share
        (fs.path / "alive.txt").write_bytes(SECRET)
        with SambaServer(extra_shares={"above": parent}) as smb, NfsServer(netns=True, export_dir=parent) as nfs:
            yield fs, smb, nfs, f"{fs.path.name}/alive.txt"
        fs.thaw()


def _frozen_targets(smb, nfs, canary):
    yield "samba", probe_samba, SambaTarget("above", smb.address, smb.port, canary=canary)
    for (version, minor), name in zip(NFS_VERSIONS, NFS_IDS):
        yield f"nfs {name}", probe_nfs, nfs_target(nfs, version, minor, canary=canary, export=nfs.export_path)


def test_frozen_canary_storage_fails_at_canary_by_the_deadline(frozen_beneath):
    fs, smb, nfs, canary = frozen_beneath
    for _name, probe, target in _frozen_targets(smb, nfs, canary):
        _assert_healthy(_timed(probe, target), len(SECRET))
    fs.freeze()
    try:
        for name, probe, target in _frozen_targets(smb, nfs, canary):
            t0 = time.monotonic()
            obs = _timed(probe, target)  # ends by the deadline + 0.1 s
            elapsed = time.monotonic() - t0
            failure = _assert_canary_failure(obs, 106, canary, canary)
            assert failure["timed_out"] is True and elapsed >= TIMEOUT - 0.05, (name, elapsed, failure)
        assert any(op.endswith("/alive.txt") for op in fs.blocked_operations()), fs.blocked_operations()
    finally:
        fs.thaw()
    time.sleep(0.2)  # blocked server threads finish their operations
    for _name, probe, target in _frozen_targets(smb, nfs, canary):
        _assert_healthy(_timed(probe, target), len(SECRET))


# -- the surfaces: probe --json and text, a watch's state file and status --json, its alerts --------


def test_cli_probe_reports_the_canary_stage(samba_server, squashing_nfs, tmp_path):
    cli = FswatchCLI(tmp_path)
    canary = _fresh("cli")
    path = _write(samba_server.share_path("public"), canary)
    smb = ("probe", "samba", "--share", "public", "--port", str(samba_server.port), "--timeout", "5")
    try:
        rc, out, _ = cli.json(*smb, "--canary", canary, "--json")
        assert rc == 0 and out["stages"][-2]["stage"] == "canary" and out["notes"]["canary_bytes"] == str(len(SECRET))
    finally:
        os.unlink(path)
    rc, out, _ = cli.json(*smb, "--canary", canary, "--json")
    failure = out["failure"]
    assert rc == 1 and out["alert"] == 105 and failure["stage"] == "canary" and failure["canary"] == canary, out
    assert failure["ntstatus"] == "0xc0000034"
    assert out["message"] == (
        f"The clp_sambamon could not read the canary file of Samba [public]: {canary}: "
        "STATUS_OBJECT_NAME_NOT_FOUND (0xc0000034)."
    )
    proc = cli(*smb, "--canary", canary)
    assert proc.returncode == 1 and "alert 105" in proc.stdout and canary in proc.stdout
    proc = cli(*smb, "--canary", "../../etc/passwd")  # refused before anything is sent
    assert proc.returncode == 2 and "alert 11" in proc.stderr + proc.stdout

    missing = _fresh("cli-nfs")
    nfs = ("probe", "nfs", "--export", squashing_nfs.export_path, "--address", squashing_nfs.address)
    rc, out, _ = cli.json(*nfs, "--nfs-version", "4.1", "--port", str(squashing_nfs.nfs_port), "--canary", missing,
                          "--json")  # fmt: skip
    failure = out["failure"]
    assert rc == 1 and out["alert"] == 105 and failure["rpc_status"] == "NFS4ERR_NOENT" and failure["canary"] == missing


def test_watch_state_and_alerts_name_the_canary(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    canary = _fresh("watch")
    path = _write(samba_server.share_path("public"), canary)
    add = cli("add", "samba", "cw", "--share", "public", "--port", str(samba_server.port), "--canary", canary,
              "--interval", "1", "--retries", "1", "--timeout", "2")  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert f"canary = {canary}" in (cli.config / "samba" / "cw.conf").read_text()
    watch = cli.start("run", "samba", "cw")
    try:
        wait_for(lambda: phase(cli, "samba", "cw") == "healthy", 10)
        rc, records, _ = cli.json("status", "samba", "cw", "--json")
        last = records[0]["last_probe"]
        assert "canary" in [s["stage"] for s in last["stages"]] and last["notes"]["canary_bytes"] == str(len(SECRET))
        os.unlink(path)
        rc = watch.wait(timeout=15)
    finally:
        if os.path.exists(path):
            os.unlink(path)
        if watch.poll() is None:
            watch.kill()
    stderr = watch.stderr.read()
    assert rc == 1 and alert_ids(stderr)[-2:] == [105, 6], stderr
    assert f"{canary}: STATUS_OBJECT_NAME_NOT_FOUND (0xc0000034)" in stderr and SECRET.decode().strip() not in stderr
    rc, records, _ = cli.json("status", "samba", "cw", "--json")
    failure = records[0]["last_probe"]["failure"]
    assert failure["stage"] == "canary" and failure["alert"] == 105 and failure["canary"] == canary


def test_grace_period_reads_the_canary_and_stays_degraded_not_failed():
    """Measured choice: ganesha serves READ with the anonymous stateid in a grace period (an OPEN
    would meet NFS4ERR_GRACE), so the canary is read; a v4.1 probe is degraded by its own OPEN of a
    name that does not exist, exactly as without a canary; v4.0 is healthy."""
    with NfsServer(netns=True, grace_period=8, lease_lifetime=4) as server:
        canary = _fresh("grace")
        _write(server.export_path, canary)
        restart_into_grace(server)
        v41 = _timed(probe_nfs, nfs_target(server, 4, 1, canary=canary))
        assert v41.ok and v41.degraded is not None and v41.degraded.status == "NFS4ERR_GRACE", v41.to_dict()
        assert v41.degraded.stage == "compound" and dict(v41.notes)["canary_bytes"] == str(len(SECRET))
        v40 = _timed(probe_nfs, nfs_target(server, 4, 0, canary=canary))
        assert v40.ok and v40.degraded is None and dict(v40.notes)["canary_bytes"] == str(len(SECRET))


def test_whole_share_and_export_frozen_fails_before_the_canary_by_the_deadline():
    """The share / export itself on the frozen FUSE mount: the probe's earlier stages reach the
    storage first (smbd stats the share at tree connect; FSSTAT and the v4 GETATTR of the counts
    ask statfs), so the failure is theirs, honestly, and still by the deadline."""
    expected = {"samba": ("tree_connect", 74), "nfs v3": ("fsstat", 84), "nfs v4.0": ("compound", 84),
                "nfs v4.1": ("compound", 84)}  # fmt: skip
    with FuseFreeze() as fs:
        (fs.path / "alive.txt").write_bytes(SECRET)
        with SambaServer(extra_shares={"above": fs.path}) as smb, NfsServer(netns=True, export_dir=fs.path) as nfs:
            targets = list(_frozen_targets(smb, nfs, "alive.txt"))
            for _name, probe, target in targets:
                _assert_healthy(_timed(probe, target), len(SECRET))
            fs.freeze()
            try:
                seen = {}
                for name, probe, target in targets:
                    failure = _timed(probe, target).to_dict()["failure"]
                    assert failure["timed_out"] is True, (name, failure)
                    seen[name] = (failure["stage"], failure["alert"])
            finally:
                fs.thaw()
    assert seen == expected
