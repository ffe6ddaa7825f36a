"""probe_nfs against real rpcbind + nfs-ganesha (tests/fixtures/nfs_server.py), healthy and faulted.

Each fault asserts the alert, the stage, and that the probe ended by its deadline + PROBE_SLACK.
Healthy and read-only cases share the module's loopback server; destructive faults get a
fresh server in its own network namespace (standard ports 2049 / 20048 there).
"""

from __future__ import annotations

import errno
import statistics
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.core.observation import Observation
from fswatch.probes.nfs import NfsTarget, probe_nfs
from tests.timing import PROBE_SLACK

pytestmark = pytest.mark.integration

TIMEOUT = 1.0  # seconds: the probe's deadline in fault tests
SLACK = PROBE_SLACK  # past its deadline: derived from the bound's 0.5 s (tests/timing.py)
V3_STAGES = ["portmap", "mount", "nfs_null", "getattr", "fsstat", "umount"]


def probe(target: NfsTarget, timeout: float = TIMEOUT) -> tuple[Observation, float]:
    t0 = time.monotonic()
    obs = probe_nfs(target, Deadline.after(timeout))
    elapsed = time.monotonic() - t0
    assert elapsed <= timeout + SLACK, f"probe took {elapsed:.3f} s with a {timeout} s deadline"
    return obs, elapsed


def assert_failed(obs: Observation, alert: int, stage: str, **facts: object) -> None:
    failure = obs.failure
    assert failure is not None, obs.to_dict()
    assert (failure.alert, failure.stage) == (alert, stage), obs.to_dict()
    for name, value in facts.items():
        assert getattr(failure, name) == value, obs.to_dict()
    assert obs.stages[-1].stage == stage and not obs.stages[-1].ok


def v3(server, **kw) -> NfsTarget:
    return NfsTarget(kw.pop("export", server.export_path), server.address, **kw)


def v4(server, **kw) -> NfsTarget:
    """NFSv4.0 (tests/integration/test_nfs41_probe.py has 4.1 and 4.2)."""
    kw.setdefault("minor_version", 0)
    return NfsTarget(kw.pop("export", server.export_path), server.address, port=server.nfs_port, version=4, **kw)


# -- healthy (shared loopback server) -----------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_healthy_v3(nfs_server, transport):
    obs, _ = probe(v3(nfs_server, transport=transport))
    assert obs.ok, obs.to_dict()
    assert [s.stage for s in obs.stages] == V3_STAGES
    assert dict(obs.notes)["source_port"] == "reserved"  # the tests run as root


def test_healthy_v3_with_ports_given_skips_the_portmapper(nfs_server):
    obs, _ = probe(v3(nfs_server, port=nfs_server.nfs_port, mount_port=nfs_server.mount_port))
    assert obs.ok, obs.to_dict()
    assert [s.stage for s in obs.stages] == V3_STAGES[1:]


def test_healthy_v4(nfs_server):
    obs, _ = probe(v4(nfs_server))
    assert obs.ok, obs.to_dict()
    assert [s.stage for s in obs.stages] == ["connect", "compound"]


def test_healthy_probes_are_fast(nfs_server):
    """A gross regression guard (measured ~1 ms / 0.3 ms on loopback), not a benchmark."""
    for target in (v3(nfs_server), v4(nfs_server)):
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert probe_nfs(target, Deadline.after(5)).ok
            times.append(time.perf_counter() - t0)
        assert statistics.median(times) < 0.025


def test_wrong_export_v3(nfs_server):
    obs, _ = probe(v3(nfs_server, export=nfs_server.export_path + "-missing"))
    assert_failed(obs, 81, "mount", detail="MNT3ERR_ACCES", rpc_status="MNT3ERR_ACCES")


def test_wrong_export_v4(nfs_server):
    obs, _ = probe(v4(nfs_server, export=nfs_server.export_path + "-missing"))
    assert_failed(obs, 81, "compound")
    assert obs.failure.detail in ("NFS4ERR_NOENT", "NFS4ERR_ACCESS")


# -- faults (a fresh server each) ---------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rpcbind_stopped(fresh_nfs_server, transport):
    fresh_nfs_server.stop_rpcbind()
    obs, elapsed = probe(v3(fresh_nfs_server, transport=transport))
    assert_failed(obs, 82, "portmap", errno=errno.ECONNREFUSED)
    assert obs.failure.detail == "RPC: Unable to receive; errno = Connection refused"
    assert elapsed < TIMEOUT / 2  # refused is known at once


def test_rpcbind_stalled(fresh_nfs_server):
    fresh_nfs_server.stall_rpcbind()
    obs, elapsed = probe(v3(fresh_nfs_server))
    assert_failed(obs, 82, "portmap", timed_out=True, errno=errno.ETIMEDOUT, detail="RPC: Timed out")
    assert elapsed >= TIMEOUT
    fresh_nfs_server.resume_rpcbind()
    assert probe(v3(fresh_nfs_server))[0].ok


def test_ganesha_stopped_cleanly(fresh_nfs_server):
    fresh_nfs_server.stop_ganesha()  # unregisters MOUNT and NFS
    obs, _ = probe(v3(fresh_nfs_server))
    assert_failed(obs, 83, "portmap", rpc_status="RPC_PROGNOTREGISTERED")


def test_ganesha_killed_leaves_a_stale_registration(fresh_nfs_server):
    fresh_nfs_server.kill_ganesha()
    obs, elapsed = probe(v3(fresh_nfs_server))
    assert_failed(obs, 84, "mount", errno=errno.ECONNREFUSED, detail="Connection refused")
    assert elapsed < TIMEOUT / 2
    obs, _ = probe(v4(fresh_nfs_server))
    assert_failed(obs, 84, "connect", errno=errno.ECONNREFUSED, detail="Connection refused")


@pytest.mark.parametrize("version", [3, 4])
def test_ganesha_stalled(fresh_nfs_server, version):
    fresh_nfs_server.stall_ganesha()
    target = v3(fresh_nfs_server) if version == 3 else v4(fresh_nfs_server)
    obs, elapsed = probe(target)
    stage = "mount" if version == 3 else "compound"
    assert_failed(obs, 84, stage, timed_out=True, errno=errno.ETIMEDOUT, detail="Connection timed out")
    assert elapsed >= TIMEOUT
    fresh_nfs_server.resume_ganesha()


def test_ganesha_stalled_over_udp(fresh_nfs_server):
    fresh_nfs_server.stall_ganesha()
    obs, _ = probe(v3(fresh_nfs_server, transport="udp"), 1.5)  # long enough for two retransmissions
    assert_failed(obs, 84, "mount", timed_out=True)
    fresh_nfs_server.resume_ganesha()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_nfs_port_dropped_while_mount_answers(netns_nfs_server, transport):
    netns_nfs_server.block_nfs_port()
    obs, elapsed = probe(v3(netns_nfs_server, transport=transport))
    assert [s.stage for s in obs.stages[:2]] == ["portmap", "mount"] and obs.stages[1].ok
    assert_failed(obs, 84, obs.stages[-1].stage, timed_out=True, errno=errno.ETIMEDOUT)
    assert obs.failure.stage in ("nfs_null", "getattr", "fsstat")
    assert elapsed >= TIMEOUT


def test_nfs_port_dropped_v4(netns_nfs_server):
    netns_nfs_server.block_nfs_port()
    obs, _ = probe(v4(netns_nfs_server))
    # The SYN is dropped: the TCP connect itself runs into the deadline.
    assert_failed(obs, 84, "connect", timed_out=True, errno=errno.ETIMEDOUT)
