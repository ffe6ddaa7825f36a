"""Shared pytest setup: the real-server fixtures live in tests/fixtures/ (a missing server
makes its tests fail, never skip)."""

import pytest

pytest_plugins = ["tests.fixtures.samba_server", "tests.fixtures.nfs_server", "tests.fixtures.container"]

# Per-test limit of the integration tier (pyproject's `timeout` is the unit/socket one). The
# first test to use a session fixture pays for it: debootstrap of a container root (~40 s,
# more on a cold mirror), the Pacemaker root (~70 s), an RPM build. A test that needs more
# says so with its own @pytest.mark.timeout(N).
INTEGRATION_TIMEOUT = 600


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(INTEGRATION_TIMEOUT))
