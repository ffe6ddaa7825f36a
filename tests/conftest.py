"""Shared pytest setup: the real-server fixtures live in tests/fixtures/ (a missing server
makes its tests fail, never skip)."""

import pytest

pytest_plugins = ["tests.fixtures.samba_server", "tests.fixtures.nfs_server", "tests.fixtures.container",
                  "tests.fixtures.fuse_freeze", "tests.fixtures.ad_domain", "tests.fixtures.ocf_agents",
                  "tests.fixtures.faketime"]

# Watches started by tests publish their metrics (fswatch.watch.metrics) into a private textfile
# directory, never into the host's node_exporter directory; tests that check metrics set
# FSWATCH_METRICS_DIR themselves.
import atexit  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "FSWATCH_METRICS_DIR" not in os.environ:
    os.environ["FSWATCH_METRICS_DIR"] = tempfile.mkdtemp(prefix="fswatch-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["FSWATCH_METRICS_DIR"], True)

# Per-test limit of the integration tier (pyproject's `timeout` is the unit/socket one), on
# the test's body only: fixtures that build a container root (debootstrap ~40 s, more on a
# cold mirror) or an RPM bound themselves (tests/fixtures/container.py BUILD_TIMEOUT), and
# the first test to use one must not be failed for that. The longest bodies take ~1 min. A
# test that needs more says so with its own @pytest.mark.timeout(N).
INTEGRATION_TIMEOUT = 300


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(INTEGRATION_TIMEOUT, func_only=True))


@pytest.fixture(autouse=True)
def _no_ports_seen_before():
    """Each test's NFS probes start with no ports and no handles seen (fswatch.probes.nfs._Guess):
    a port a server of an earlier test had may belong to another now. The guess has tests of its own."""
    import fswatch.probes.nfs as probes_nfs

    probes_nfs._ports_seen.clear()
    probes_nfs._handles_seen.clear()
    yield
