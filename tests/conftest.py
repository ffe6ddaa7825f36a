"""Shared pytest setup: the real-server fixtures live in tests/fixtures/ (a missing server
makes its tests fail, never skip)."""

pytest_plugins = ["tests.fixtures.samba_server", "tests.fixtures.nfs_server", "tests.fixtures.container",
                  "tests.fixtures.fuse_freeze"]
