"""A frozen storage beneath a live server is declared within the bound, for every probe kind.

The share or export sits on a FUSE passthrough mount (tests/fixtures/fuse_freeze.py); at t0
its operations start to block while smbd and ganesha stay up and keep answering whatever
they can from their caches (ganesha answers an NFSv4 LOOKUP + GETATTR of the type from its
attribute cache for ~60 s: TESTING.md). A real `fswatch run` must declare the failure by
t0 + the bound of SPEC.md section 2 + 0.5 s, and not before t0.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.fixtures.nfs_server import NfsServer
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for

pytestmark = pytest.mark.integration

INTERVAL, RETRIES, TIMEOUT = 1, 1, 2
SLACK = 0.5  # SPEC.md section 2: scheduling slack on top of the bound
SETTINGS = ("--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT))
SHARE = "frozen"


def spec_bound(interval: float, retries: int, timeout: float) -> float:
    """SPEC.md section 2, written out here on purpose (never fswatch's own Schedule): a fault at
    t0 is declared by t0 + interval + retries * max(interval, timeout) + timeout."""
    return interval + retries * max(interval, timeout) + timeout


BOUND = spec_bound(INTERVAL, RETRIES, TIMEOUT)


@pytest.fixture
def nfs_on_fuse(fuse_freeze):
    # ganesha's mount namespace is made at start: the FUSE mount must exist before it.
    with NfsServer(netns=True, export_dir=fuse_freeze.path) as server:
        yield server


@pytest.fixture
def samba_on_fuse(fuse_freeze):
    with SambaServer(extra_shares={SHARE: fuse_freeze.path}) as server:
        yield server


def freeze_under_watch(cli: FswatchCLI, kind: str, watch_id: str, fs) -> tuple:
    """Start the watch, let it be healthy, freeze the storage at t0 and time the declaration.

    Returns (exit status or None if still running past the bound, seconds from t0, stderr).
    """
    watch = cli.start("run", kind, watch_id)
    try:
        wait_for(lambda: phase(cli, kind, watch_id) == "healthy", 10)
        time.sleep(INTERVAL + 0.2)  # at least one more healthy probe on the live storage
        assert watch.poll() is None and phase(cli, kind, watch_id) == "healthy", "failed before the freeze"
        assert fs.blocked_operations() == []
        t0 = time.monotonic()
        fs.freeze()
        try:
            rc = watch.wait(timeout=BOUND + SLACK + 1)
        except subprocess.TimeoutExpired:
            rc = None
        detected = time.monotonic() - t0
    finally:
        fs.thaw()
        if watch.poll() is None:
            watch.kill()
            watch.wait(timeout=10)
    return rc, detected, watch.stderr.read()


def assert_declared_in_bound(rc, detected: float, stderr: str, stage_alert: int) -> None:
    print(f"declared {detected:.2f} s after the freeze (bound {BOUND} s + {SLACK} s)")  # shown by pytest -rP
    assert rc == 1, f"not declared within {detected:.1f} s (bound {BOUND} s + {SLACK} s): rc={rc}\n{stderr}"
    assert detected <= BOUND + SLACK, (detected, stderr)
    # Not before t0: retries + 1 probes each ran into their whole timeout, the first of them
    # at most a (slow, healthy) probe's length before t0; one interval is ample for that.
    assert detected >= (RETRIES + 1) * TIMEOUT - INTERVAL, (detected, stderr)
    ids = alert_ids(stderr)
    assert ids[:2] == [1, 2] and ids[-2:] == [stage_alert, 6], stderr


def test_samba_storage_freeze_declared_within_bound(samba_on_fuse, fuse_freeze, tmp_path):
    cli = FswatchCLI(tmp_path)
    add = cli("add", "samba", "sf", "--share", SHARE, "--port", str(samba_on_fuse.port), *SETTINGS)
    assert add.returncode == 0, add.stderr
    rc, detected, stderr = freeze_under_watch(cli, "samba", "sf", fuse_freeze)
    assert_declared_in_bound(rc, detected, stderr, 74)
    assert "The clp_sambamon will terminate." in stderr
    # smbd's tree connect stats the share: the probe reached the storage.
    assert any(op.startswith("getattr") for op in fuse_freeze.blocked_operations()), fuse_freeze.blocked_operations()


@pytest.mark.parametrize("version", [3, 4])
def test_nfs_storage_freeze_declared_within_bound(version, nfs_on_fuse, fuse_freeze, tmp_path):
    cli = FswatchCLI(tmp_path)
    server = nfs_on_fuse
    extra = ("--nfs-version", "4", "--port", str(server.nfs_port)) if version == 4 else ()
    add = cli("add", "nfs", "nf", "--export", server.export_path, "--address", server.address, *SETTINGS, *extra)
    assert add.returncode == 0, add.stderr
    rc, detected, stderr = freeze_under_watch(cli, "nfs", "nf", fuse_freeze)
    assert_declared_in_bound(rc, detected, stderr, 66)
    assert alert_ids(stderr)[-3:] == [84, 66, 6], stderr
    assert "alert 84: clp_nfsmon: RPC: Unable to receive: errno = Connection timed out." in stderr
    # v3's FSSTAT and v4's GETATTR of the space counts both end in the export's statfs.
    assert "statfs /" in fuse_freeze.blocked_operations(), fuse_freeze.blocked_operations()
