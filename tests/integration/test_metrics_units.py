"""The hardened units publish their watch's metrics in the default textfile directory of
Debian's prometheus-node-exporter, in a booted systemd (systemd-nspawn container)."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.fixtures.container import BootedContainer
from tests.integration.cli import wait_for
from tests.integration.node import install_fswatch
from tests.integration.test_metrics import NODE_EXPORTER, free_port, scrape
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


def as_nobody(node, *argv):
    """A command run as nobody: what an unprivileged node_exporter may read, it reads."""
    return node.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv], check=False)


def scrape_as_nobody(node, port):
    """A real prometheus-node-exporter (the host's binary, same Debian), run in the node as
    the unprivileged user nobody, as Debian runs it as prometheus; one scrape of it."""
    node.copy_in(shutil.which(NODE_EXPORTER), "/usr/local/bin/node_exporter", mode=0o755)
    node.run(["systemd-run", "--unit=fswatch-test-node-exporter", "-p", "User=nobody", "-p", "Group=nogroup",
              "/usr/local/bin/node_exporter", f"--web.listen-address=127.0.0.1:{port}",
              "--collector.disable-defaults", "--collector.textfile", f"--collector.textfile.directory={TEXTFILE}"])

    def up():
        try:
            return scrape(port)
        except OSError:
            return None

    try:
        return wait_for(up, 15, step=0.2)
    finally:
        node.systemctl("stop", "fswatch-test-node-exporter.service", check=False)


def killed_and_settled(node, unit, published):
    """Start the unit, let it probe, kill it without a word (its state says healthy) and wait
    until its OnFailure= unit has turned the link into a plain copy."""
    node.systemctl("start", unit)
    healthy_probes(node, published, 1)
    node.systemctl("kill", "--signal=SIGKILL", unit)
    wait_for(lambda: not is_link(node, published), 15, step=0.1)


def test_unit_metrics_read_live_by_an_unprivileged_node_exporter_settled_and_reset(node, samba_server, tmp_path):
    node.run(["fswatch", "add", "samba", "mu1", "--share", "public", "--port", str(samba_server.port),
              "--interval", "1", "--retries", "2", "--timeout", "1"])
    unit = "fswatch-samba@mu1.service"
    published = f"{TEXTFILE}/fswatch_samba_mu1.prom"
    node.systemctl("start", unit)
    healthy_probes(node, published, 2)
    text = checked(node, published, tmp_path)
    assert series(text, "fswatch_watch_state", state="healthy", kind="samba", watch="mu1", target="public") == 1
    assert is_link(node, published)
    # The sandboxed watch (user fswatch) wrote the file it links to; root made only the link.
    assert node.run(["stat", "-L", "-c", "%U %a", published]).stdout.split() == ["fswatch", "644"]
    assert node.run(["stat", "-c", "%U %a", TEXTFILE]).stdout.split() == ["root", "755"]
    # ... and an unprivileged node_exporter reads it through the link while the watch runs.
    scraped = scrape_as_nobody(node, free_port())
    assert series(scraped, "node_textfile_scrape_error") == 0, scraped
    assert series(scraped, "fswatch_watch_state", state="healthy", kind="samba", watch="mu1") == 1
    assert series(scraped, "fswatch_probes_total", result="healthy", watch="mu1") >= 2

    # A stop: the watch wrote its last state itself, readable by anyone; nothing ran after it.
    # (Its own try at settling into the read-only textfile directory must not fail the unit.)
    node.systemctl("stop", unit)
    assert node.show(unit, "ActiveState", "Result") == {"ActiveState": "inactive", "Result": "success"}
    assert is_link(node, published)
    text = as_nobody(node, "cat", published).stdout
    assert series(text, "fswatch_watch_state", state="stopped") == 1
    assert node.show("fswatch-settle@fswatch-samba@mu1.service.service", "ActiveState")["ActiveState"] == "inactive"

    # A watch killed without a word (the state it wrote says healthy): the unit's OnFailure=
    # unit settles it as failed, into a plain copy.
    killed_and_settled(node, unit, published)
    text = checked(node, published, tmp_path)
    assert series(text, "fswatch_watch_state", state="failed") == 1
    assert series(text, "fswatch_watch_state", state="healthy") == 0
    assert node.show(unit, "Result")["Result"] == "signal"
    settle = node.show("fswatch-settle@fswatch-samba@mu1.service.service", "Result", "ExecMainStatus")
    assert settle == {"Result": "success", "ExecMainStatus": "0"}, settle
    assert as_nobody(node, "cat", published).returncode == 0

    node.run(["fswatch", "reset", "samba", "mu1"])
    assert read(node, published) is None
    assert node.run(["ls", "-A", TEXTFILE]).stdout == ""


def test_settle_follows_the_units_own_textfile_directory_and_leaves_a_running_watch_alone(node, samba_server,
                                                                                          tmp_path):
    """A drop-in may move the textfile directory: fswatch-settle@ reads it from the failed
    unit's environment. And a unit started again before the settle ran keeps its live link."""
    other = "/var/lib/node_exporter/textfile_collector"
    node.run(["install", "-d", "-m", "0755", other])
    node.run(["fswatch", "add", "samba", "mu2", "--share", "public", "--port", str(samba_server.port),
              "--interval", "1", "--retries", "2", "--timeout", "1"])
    unit = "fswatch-samba@mu2.service"
    dropin = f"[Service]\nEnvironment=FSWATCH_METRICS_DIR={other}\n"
    node.write_text(f"/etc/systemd/system/{unit}.d/metrics.conf", dropin)
    node.systemctl("daemon-reload")
    published = f"{other}/fswatch_samba_mu2.prom"
    try:
        killed_and_settled(node, unit, published)
        assert series(checked(node, published, tmp_path), "fswatch_watch_state", state="failed") == 1
        assert read(node, f"{TEXTFILE}/fswatch_samba_mu2.prom") is None

        node.systemctl("start", unit)
        assert is_link(node, published)
        node.run(["fswatch", "metrics", "settle", unit])  # as if a late settle ran now
        assert is_link(node, published)
    finally:
        node.systemctl("stop", unit, check=False)
        node.run(["rm", "-rf", f"/etc/systemd/system/{unit}.d"])
        node.systemctl("daemon-reload")
        node.run(["fswatch", "reset", "samba", "mu2"], check=False)
        node.run(["fswatch", "remove", "samba", "mu2"], check=False)
    assert read(node, published) is None


def test_boot_removes_published_metrics(node):
    """What systemd-tmpfiles-setup.service runs at boot, with fswatch's tmpfiles.d: a link
    left into /run (it would dangle: a scrape error) and a settled copy both go; nothing else."""
    node.run(["ln", "-sfn", "/run/fswatch/samba/gone/metrics.prom", f"{TEXTFILE}/fswatch_samba_gone.prom"])
    node.write_text(f"{TEXTFILE}/fswatch_nfs_old.prom", "fswatch_watch_info 1\n")
    node.write_text(f"{TEXTFILE}/other.prom", "other_metric 1\n")
    try:
        node.run(["systemd-tmpfiles", "--boot", "--remove", "/usr/lib/tmpfiles.d/fswatch.conf"])
        assert node.run(["ls", "-A", TEXTFILE]).stdout.split() == ["other.prom"]
    finally:
        node.run(["rm", "-f", f"{TEXTFILE}/other.prom", f"{TEXTFILE}/fswatch_nfs_old.prom",
                  f"{TEXTFILE}/fswatch_samba_gone.prom"])


def test_why_a_link_the_watch_user_cannot_write_the_textfile_directory(node):
    """The design's premise: ReadWritePaths= alone would not let the units' user fswatch
    write into Debian's root-owned 0755 textfile directory (EACCES), hence publish as root."""
    proc = node.run(["systemd-run", "--wait", "--quiet", "-p", "User=fswatch", "-p", f"ReadWritePaths={TEXTFILE}",
                     "/usr/bin/touch", f"{TEXTFILE}/probe.prom"], check=False)
    assert proc.returncode != 0
    assert node.run(["test", "-e", f"{TEXTFILE}/probe.prom"], check=False).returncode != 0
