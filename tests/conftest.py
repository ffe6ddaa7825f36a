"""Shared pytest setup: the real-server fixtures live in tests/fixtures/."""

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.fixtures.samba_server", "tests.fixtures.nfs_server", "tests.fixtures.container")
    if importlib.util.find_spec(name) is not None
]
