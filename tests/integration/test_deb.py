"""The Debian package (packaging/debian/, built by packaging/build-deb.sh = make deb): what it
holds, that lintian is clean apart from the documented overrides, and that in a booted
Debian `apt install ./fswatch_*.deb` gives a watch that systemctl starts against a real
smbd, with its catalog registered by systemd's dpkg trigger, and that `apt purge fswatch`
stops every instance and leaves nothing behind.

The container's root has Debian's python3-systemd and python3-cryptography and no pip
packages: smbprotocol and pyspnego must come from the package itself (Debian 12 has neither).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from fswatch import __version__
from fswatch.core.alerts import ALERTS
from tests.fixtures.container import DEFAULT_INCLUDE, BootedContainer, build_base_root, reap_orphaned_containers
from tests.integration.node import ROOT, build_package, tool

pytestmark = pytest.mark.integration

DEB_NAME = f"fswatch_{__version__}-1_all.deb"
SITE = "/usr/lib/python3/dist-packages"
IN_CONTAINER = f"/var/tmp/{DEB_NAME}"
TEMPLATES = [f"/usr/share/fswatch/clusterpro/{r}/{s}" for r in ("samba", "samba-mon", "nfs", "nfs-mon")
             for s in ("start.sh", "stop.sh")]
CTDB_SCRIPT = "/usr/share/ctdb/events/legacy/45.fswatch.script"  # where `ctdb event script enable` looks
EXPECTED = [
    "/usr/bin/fswatch",
    "/usr/sbin/clp_sambamon",
    "/usr/sbin/clp_nfsmon",
    "/usr/lib/systemd/system/fswatch-samba@.service",
    "/usr/lib/systemd/system/fswatch-nfs@.service",
    "/usr/lib/systemd/catalog/fswatch.catalog",
    f"{SITE}/fswatch/__init__.py",
    f"{SITE}/fswatch/surfaces/cli/__init__.py",
    f"{SITE}/fswatch/core/alerts.py",
    f"{SITE}/fswatch/probes/samba.py",
    f"{SITE}/fswatch-vendor.pth",
    "/usr/share/fswatch/vendor/smbprotocol/connection.py",
    "/usr/share/fswatch/vendor/spnego/__init__.py",
    "/usr/share/man/man8/fswatch.8.gz",
    "/usr/share/man/man8/clp_sambamon.8.gz",
    "/usr/share/man/man8/clp_nfsmon.8.gz",
    "/usr/share/man/man8/fswatch-samba@.service.8.gz",
    "/usr/share/man/man8/fswatch-nfs@.service.8.gz",
    "/usr/share/doc/fswatch/copyright",
    "/etc/fswatch/samba",
    "/etc/fswatch/nfs",
    *TEMPLATES,
    "/usr/lib/ocf/resource.d/fswatch/samba",
    "/usr/lib/ocf/resource.d/fswatch/nfs",
    "/usr/share/man/man7/ocf_fswatch_samba.7.gz",
    "/usr/share/man/man7/ocf_fswatch_nfs.7.gz",
    CTDB_SCRIPT,
]
BUILD_TIMEOUT = 300  # seconds for pip download + dpkg-buildpackage (measured ~15 s)
APT_TIMEOUT = 120  # seconds for apt install / purge in the container (measured ~5 s)



@pytest.fixture(scope="module")
def deb_file() -> Path:
    """packaging/build-deb.sh (what `make deb` runs), once for the module."""
    tool("dpkg-buildpackage", "dpkg-dev debhelper dh-python pybuild-plugin-pyproject")
    path = build_package("build-deb.sh", BUILD_TIMEOUT)
    assert path == ROOT / "dist" / DEB_NAME
    return path


def _deb_files(deb: Path) -> set:
    out = subprocess.run([tool("dpkg-deb", "dpkg"), "-c", str(deb)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    # "drwxr-xr-x root/root 0 2026-12-01 08:00 ./usr/" or "lrwxrwxrwx ... ./a -> b" (a man page alias)
    return {line.split(None, 5)[5].split(" -> ")[0].lstrip(".").rstrip("/") for line in out.splitlines()}


def test_changelog_version_is_the_package_version():
    first = (ROOT / "packaging" / "debian" / "changelog").read_text().splitlines()[0]
    assert re.match(rf"fswatch \({re.escape(__version__)}-\d+\) ", first), first


def test_deb_holds_the_package_units_catalog_commands_templates_and_man_pages(deb_file):
    files = _deb_files(deb_file)
    assert [f for f in EXPECTED if f not in files] == []
    listing = subprocess.run([tool("dpkg-deb", "dpkg"), "-c", str(deb_file)], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    # CTDB runs only executable event scripts (its enable links to this file)
    assert [ln for ln in listing.splitlines() if ln.endswith(f".{CTDB_SCRIPT}")][0].startswith("-rwxr-xr-x")
    fields = subprocess.run([tool("dpkg-deb", "dpkg"), "-f", str(deb_file), "Package", "Version", "Architecture",
                             "Depends", "Recommends"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert f"Version: {__version__}-1" in fields and "Architecture: all" in fields
    depends = {d.strip().split()[0] for d in re.search(r"Depends: (.*)", fields).group(1).split(",")}
    assert {"python3-systemd", "python3-cryptography"} <= depends
    assert not [d for d in depends if "smbprotocol" in d or "spnego" in d]  # embedded, not in Debian 12
    assert "Recommends: python3-gssapi" in fields  # Kerberos logons: the distribution's binding


def test_lintian_is_clean_apart_from_the_documented_overrides(deb_file):
    proc = subprocess.run([tool("lintian", "lintian"), "--fail-on", "error,warning", str(deb_file)],
                          capture_output=True, text=True, timeout=180)
    tags = [line for line in proc.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert proc.returncode == 0 and tags == [], proc.stdout + proc.stderr
    # Every override says why it is there: a comment right above it.
    lines = (ROOT / "packaging" / "debian" / "fswatch.lintian-overrides").read_text().splitlines()
    tagged = [i for i, line in enumerate(lines) if line.startswith("fswatch: ")]
    assert tagged and all(lines[i - 1].startswith("#") for i in tagged)


# -- in a booted Debian -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deb_base_root() -> Path:
    """A root with the package's Debian dependencies and no pip packages (cached, ~50 s).

    python3-cffi-backend by name: debootstrap does not resolve the virtual package
    python3-cryptography depends on (python3-cffi-backend-api-min).
    """
    reap_orphaned_containers()
    include = (*DEFAULT_INCLUDE, "python3-cryptography", "python3-cffi-backend")
    return build_base_root(include=include, python_requirements=())


@pytest.fixture(scope="module")
def node(deb_base_root, deb_file):
    with BootedContainer(deb_base_root) as container:
        assert container.run(["python3", "-c", "import smbprotocol"], check=False).returncode != 0
        container.copy_in(deb_file, IN_CONTAINER)
        # The dependencies are in the root already, so apt needs no network and no lists.
        proc = container.run(["apt-get", "install", "-y", "--no-install-recommends", IN_CONTAINER],
                             timeout=APT_TIMEOUT, env={"DEBIAN_FRONTEND": "noninteractive"})
        assert "fswatch" in proc.stdout, proc.stdout + proc.stderr
        yield container


def wait_active(node, unit, timeout=20.0):
    end = time.monotonic() + timeout
    props = {}
    while time.monotonic() < end:
        props = node.show(unit, "ActiveState", "StatusText")
        if props["ActiveState"] == "active":
            return props
        time.sleep(0.1)
    raise AssertionError(f"{unit} not active within {timeout} s: {props}")


def add(node, watch_id, port):
    node.run(["fswatch", "add", "samba", watch_id, "--share", "public", "--port", str(port),
              "--interval", "1", "--retries", "2", "--timeout", "1"])


def test_installed_deb_runs_a_watch_and_registered_the_catalog(node, samba_server):
    status = node.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "fswatch"]).stdout
    assert status == f"install ok installed {__version__}-1"
    where = node.run(["python3", "-c", "import fswatch, smbprotocol; print(fswatch.__file__, smbprotocol.__file__)"])
    assert where.stdout.split() == [f"{SITE}/fswatch/__init__.py", "/usr/share/fswatch/vendor/smbprotocol/__init__.py"]
    # systemd's dpkg trigger on /usr/lib/systemd/catalog ran journalctl --update-catalog
    assert ALERTS[2].message_id in node.run(["journalctl", "--list-catalog"]).stdout
    add(node, "w1", samba_server.port)
    node.systemctl("start", "fswatch-samba@w1.service")
    props = wait_active(node, "fswatch-samba@w1.service")
    assert props["StatusText"].startswith("healthy: "), props
    explained = node.run(["journalctl", "-x", "--no-pager", "-u", "fswatch-samba@w1.service"]).stdout
    assert "The clp_sambamon is going to watch share resource [public]." in explained
    assert ALERTS[2].subject in explained
    assert node.run(["clp_sambamon", "w1", "-disp"], check=False).returncode == 0
    # The OCF agents run with the system python3 and the embedded smbprotocol.
    for kind, params in (("samba", {"OCF_RESKEY_share": "public"}), ("nfs", {"OCF_RESKEY_export": "/x"})):
        agent = f"/usr/lib/ocf/resource.d/fswatch/{kind}"
        assert node.run(["stat", "-c", "%a", agent]).stdout.strip() == "755"
        proc = node.run([agent, "validate-all"], check=False, env={"OCF_RESOURCE_INSTANCE": "r1", **params})
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr


def test_a_kerberos_watch_is_refused_at_add_on_a_node_without_the_gssapi_binding(node):
    """Installed with --no-install-recommends: no python3-gssapi, so a Kerberos watch cannot
    work here, and `add` says so (alert 11, exit 2) instead of the first probe failing."""
    assert node.run(["python3", "-c", "import gssapi"], check=False).returncode != 0
    node.write_text("/root/k.keytab", "", mode=0o600)
    proc = node.run(["fswatch", "add", "samba", "k1", "--share", "data", "--address", "fs1.example.com",
                     "--principal", "probe@EXAMPLE.COM", "--keytab", "/root/k.keytab"], check=False)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert "alert 11:" in proc.stderr and "cannot log on with Kerberos" in proc.stderr
    assert "python3-gssapi" in proc.stderr
    assert node.run(["test", "-e", "/etc/fswatch/samba/k1.conf"], check=False).returncode == 1


def test_purge_stops_every_instance_and_leaves_nothing_behind(node, samba_server):
    """Runs last: it purges the package the test above uses."""
    packaged = node.run(["dpkg-query", "-L", "fswatch"]).stdout.split()
    add(node, "w2", samba_server.port)
    add(node, "w3", samba_server.port)
    node.systemctl("enable", "--now", "fswatch-samba@w2.service")  # enabled and running
    node.systemctl("start", "fswatch-samba@w3.service")  # running, not enabled
    node.systemctl("enable", "fswatch-nfs@n1.service")  # enabled, never started
    running = ["fswatch-samba@w2.service", "fswatch-samba@w3.service"]
    for unit in running:
        wait_active(node, unit)

    node.run(["apt-get", "purge", "-y", "fswatch"], timeout=APT_TIMEOUT, env={"DEBIAN_FRONTEND": "noninteractive"})

    for unit in running:  # stopped by prerm, gracefully (alert 3, exit 0)
        props = node.show(unit, "ActiveState", "Result", "ExecMainStatus")
        assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("inactive", "success", "0")
        ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(unit) if e.get("FSWATCH_EVENT")]
        assert ids[-1] == 3, ids
    assert node.systemctl("list-units", "--no-legend", "--state=active", "fswatch-*").stdout == ""
    assert node.run(["find", "/etc/systemd/system", "-name", "fswatch-*"]).stdout == ""  # every instance disabled
    assert node.run(["dpkg-query", "-W", "fswatch"], check=False).returncode != 0  # purged: not even config-files
    left = [p for p in packaged if p != "/." and node.run(["test", "-e", p], check=False).returncode == 0
            and not node.run(["find", p, "-maxdepth", "0", "-type", "d", "-not", "-empty"], check=False).stdout]
    shared = {"/etc", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib/python3", SITE, "/usr/lib/systemd",
              "/usr/lib/systemd/system", "/usr/lib/systemd/catalog", "/usr/share", "/usr/share/doc", "/usr/share/man",
              "/usr/share/man/man8", "/usr/share/man/man7", "/usr/share/python3", "/usr/share/python3/runtime.d"}
    assert [p for p in left if p not in shared] == []  # no file, no __pycache__, no empty dir of ours
    gone = ["/etc/fswatch", "/run/fswatch", "/usr/share/fswatch", f"{SITE}/fswatch"]
    assert node.run(["ls", "-d", *gone], check=False).stdout == ""
    assert ALERTS[2].message_id not in node.run(["journalctl", "--list-catalog"]).stdout
