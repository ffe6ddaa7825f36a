"""Shared pytest setup: the real-server fixtures live in tests/fixtures/ (a missing server
makes its tests fail, never skip)."""

pytest_plugins = ["tests.fixtures.samba_server", "tests.fixtures.nfs_server", "tests.fixtures.container",
                  "tests.fixtures.fuse_freeze"]

# Watches started by tests publish their metrics (fswatch.metrics) into a private textfile
# directory, never into the host's node_exporter directory; tests that check metrics set
# FSWATCH_METRICS_DIR themselves.
import atexit  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "FSWATCH_METRICS_DIR" not in os.environ:
    os.environ["FSWATCH_METRICS_DIR"] = tempfile.mkdtemp(prefix="fswatch-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["FSWATCH_METRICS_DIR"], True)
