"""The hardened units publish their watch's metrics in the default textfile directory of
Debian's prometheus-node-exporter, in a booted systemd (systemd-nspawn container)."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.container import BootedContainer
from tests.integration.node import install_fswatch
from tests.unit.test_metrics import promtool, series

pytestmark = pytest.mark.integration
TEXTFILE = "/var/lib/prometheus/node-exporter"  # as Debian's package makes it: root:root 0755


@pytest.fixture(scope="module")
def node(container_base_root):
    with BootedContainer(container_base_root) as container:
        install_fswatch(container)
        container.run(["install", "-d", "-o", "root", "-g", "root", "-m", "0755", TEXTFILE])
        yield container


def read(node, path):
    proc = node.run(["cat", path], check=False)
    return proc.stdout if proc.returncode == 0 else None


def checked(node, path, tmp_path):
    text = read(node, path)
    assert text is not None, path
    copy = tmp_path / f"{time.monotonic_ns()}.prom"
    copy.write_text(text)
    promtool(copy)
    return text


def healthy_probes(node, path, count):
    end = time.monotonic() + 15
    while time.monotonic() < end:
        text = read(node, path) or ""
        if "result=" in text and series(text, "fswatch_probes_total", result="healthy") >= count:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{path}: fewer than {count} healthy probes: {read(node, path)}")


def is_link(node, path):
    return node.run(["test", "-L", path], check=False).returncode == 0


def test_unit_publishes_metrics_settles_them_and_reset_removes_them(node, samba_server, tmp_path):
    node.run(["fswatch", "add", "samba", "mu1", "--share", "public", "--port", str(samba_server.port),
              "--interval", "1", "--retries", "2", "--timeout", "1"])
    unit = "fswatch-samba@mu1.service"
    published = f"{TEXTFILE}/fswatch_samba_mu1.prom"
    node.systemctl("start", unit)
    healthy_probes(node, published, 2)
    text = checked(node, published, tmp_path)
    assert series(text, "fswatch_watch_state", state="healthy", kind="samba", watch="mu1", target="public") == 1
    assert is_link(node, published)
    # The sandboxed watch (DynamicUser) wrote the file it links to; root made only the link.
    owner = node.run(["stat", "-L", "-c", "%U", published]).stdout.strip()
    assert owner != "root", owner
    assert node.run(["stat", "-c", "%U %a", TEXTFILE]).stdout.split() == ["root", "755"]

    node.systemctl("stop", unit)
    assert not is_link(node, published)  # ExecStopPost settled it into a plain copy
    text = checked(node, published, tmp_path)
    assert series(text, "fswatch_watch_state", state="stopped") == 1

    # A watch killed without a word (the state it wrote says healthy) is settled as failed.
    node.systemctl("start", unit)
    assert is_link(node, published)
    healthy_probes(node, published, 1)
    node.systemctl("kill", "--signal=SIGKILL", unit)
    end = time.monotonic() + 10
    while is_link(node, published) and time.monotonic() < end:
        time.sleep(0.1)
    text = checked(node, published, tmp_path)
    assert series(text, "fswatch_watch_state", state="failed") == 1
    assert node.show(unit, "Result")["Result"] == "signal"

    node.run(["fswatch", "reset", "samba", "mu1"])
    assert read(node, published) is None
    assert node.run(["ls", "-A", TEXTFILE]).stdout == ""


def test_why_a_link_the_dynamic_user_cannot_write_the_textfile_directory(node):
    """The design's premise: ReadWritePaths= alone would not let a DynamicUser unit write
    into Debian's root-owned 0755 textfile directory (EACCES), hence publish/settle as root."""
    proc = node.run(["systemd-run", "--wait", "--quiet", "-p", "DynamicUser=yes", "-p", f"ReadWritePaths={TEXTFILE}",
                     "/usr/bin/touch", f"{TEXTFILE}/probe.prom"], check=False)
    assert proc.returncode != 0
    assert node.run(["test", "-e", f"{TEXTFILE}/probe.prom"], check=False).returncode != 0
