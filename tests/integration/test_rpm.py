"""The RPM (packaging/fswatch.spec, built by packaging/build-rpm.sh): what it holds, that
rpmlint passes with the documented filters, and that it installs into a booted systemd,
runs a watch from the installed files, registers the catalog, and that erasing it stops
and disables every instance.

Debian's rpm keeps its database under /root/.rpmdb and warns that rpm should not install
packages on Debian; --nodeps because the root's python3-smbprotocol comes from pip.
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

RPM_NAME = f"fswatch-{__version__}-1.noarch.rpm"  # Release 1, no %{dist} on Debian
SITE = "/usr/lib/python3/dist-packages"  # the spec's %python3_sitelib where rpmbuild has no python macros
IN_CONTAINER = "/var/tmp/fswatch.rpm"
TEMPLATES = [f"/usr/share/fswatch/clusterpro/{r}/{s}" for r in ("samba", "samba-mon", "nfs", "nfs-mon")
             for s in ("start.sh", "stop.sh")]
MAN_PAGES = ["fswatch.8", "clp_sambamon.8", "clp_nfsmon.8", "fswatch-samba@.service.8", "fswatch-nfs@.service.8",
             "ocf_fswatch_samba.7", "ocf_fswatch_nfs.7"]
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
    f"{SITE}/fswatch-{__version__}.dist-info/METADATA",
    "/etc/fswatch",
    "/etc/fswatch/samba",
    "/etc/fswatch/nfs",
    *TEMPLATES,
    "/usr/lib/ocf/resource.d/fswatch/samba",
    "/usr/lib/ocf/resource.d/fswatch/nfs",
    CTDB_SCRIPT,
]
BUILD_TIMEOUT = 180  # seconds for the wheel and rpmbuild (measured ~2 s)



@pytest.fixture(scope="module")
def rpm_file() -> Path:
    """packaging/build-rpm.sh (what `make rpm` runs), once for the module."""
    tool("rpmbuild", "rpm")
    path = build_package("build-rpm.sh", BUILD_TIMEOUT)
    assert path == ROOT / "dist" / RPM_NAME
    return path


def rpm_query(rpm_file: Path, *args: str) -> str:
    return subprocess.run(
        [tool("rpm", "rpm"), "-qp", *args, str(rpm_file)], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def test_spec_version_is_the_package_version():
    spec = (ROOT / "packaging" / "fswatch.spec").read_text()
    assert re.search(r"^Version: +(\S+)$", spec, re.M).group(1) == __version__


def test_rpm_holds_the_package_units_catalog_commands_templates_and_man_pages(rpm_file):
    assert rpm_query(rpm_file, "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}") == f"fswatch {__version__} 1 noarch"
    files = set(rpm_query(rpm_file, "-l").split())
    assert [f for f in EXPECTED if f not in files] == []
    # CTDB runs only executable event scripts (its enable links to this file)
    assert [ln for ln in rpm_query(rpm_file, "-lv").splitlines() if ln.endswith(CTDB_SCRIPT)][0].startswith(
        "-rwxr-xr-x"
    )
    # byte-compiled at build time, so erasing the package leaves no __pycache__ behind
    compiled = rf"{SITE}/fswatch/surfaces/cli/__pycache__/__init__\.cpython-3\d+\.pyc"
    assert [f for f in files if re.fullmatch(compiled, f)]
    for page in MAN_PAGES:  # compressed where rpmbuild's brp-compress works (EL), not on Debian
        section = page.rsplit(".", 1)[1]
        assert {f"/usr/share/man/man{section}/{page}", f"/usr/share/man/man{section}/{page}.gz"} & files, page
    # pip's own records and scripts are not part of the package
    assert [f for f in files if re.search(r"/(RECORD|direct_url\.json)$|dist-packages/bin/", f)] == []
    assert {r.split()[0] for r in rpm_query(rpm_file, "-R").splitlines()} >= {
        "python3", "python3-smbprotocol", "python3-systemd"
    }
    scripts = rpm_query(rpm_file, "--scripts")
    assert "journalctl --update-catalog" in scripts
    assert "systemctl stop 'fswatch-samba@*.service' 'fswatch-nfs@*.service'" in scripts


def test_installed_commands_run_the_system_python3(rpm_file, tmp_path):
    cpio = subprocess.run([tool("rpm2cpio", "rpm2cpio"), str(rpm_file)], capture_output=True, timeout=30, check=True)
    subprocess.run(["cpio", "-idm", "--quiet"], input=cpio.stdout, cwd=tmp_path, timeout=30, check=True)
    entries = (("bin/fswatch", "fswatch.surfaces.cli"), ("sbin/clp_sambamon", "fswatch.surfaces.clp"),
               ("sbin/clp_nfsmon", "fswatch.surfaces.clp"),
               ("lib/ocf/resource.d/fswatch/samba", "fswatch.surfaces.ocf"),
               ("lib/ocf/resource.d/fswatch/nfs", "fswatch.surfaces.ocf"))  # fmt: skip
    for command, entry in entries:
        text = (tmp_path / "usr" / command).read_text()
        assert text.startswith("#!/usr/bin/python3\n") and f"from {entry} import " in text, text
    for template in TEMPLATES:
        assert (tmp_path / template.lstrip("/")).read_bytes() == (
            ROOT / "packaging" / "clusterpro" / Path(template).parent.name / Path(template).name
        ).read_bytes()


def test_rpmlint_is_clean_with_the_documented_filters(rpm_file):
    config = ROOT / "packaging" / "rpmlint.toml"
    proc = subprocess.run(
        [tool("rpmlint", "rpmlint"), "-c", str(config), str(rpm_file), str(ROOT / "packaging" / "fswatch.spec")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b0 errors, 0 warnings\b", proc.stdout), proc.stdout
    # Every filter says why it is there: a comment right above it.
    lines = config.read_text().splitlines()
    filters = [i for i, line in enumerate(lines) if re.match(r"\s+'", line)]
    assert filters and [lines[i] for i in filters if not lines[i - 1].strip().startswith("#")
                        and not re.match(r"\s+'", lines[i - 1])] == []


# -- in a booted systemd -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rpm_base_root() -> Path:
    """The container root with Debian's rpm in it (cached; built once, ~50 s)."""
    reap_orphaned_containers()
    return build_base_root(include=(*DEFAULT_INCLUDE, "rpm"))


@pytest.fixture(scope="module")
def node(rpm_base_root, rpm_file):
    with BootedContainer(rpm_base_root) as container:
        container.copy_in(rpm_file, IN_CONTAINER)
        proc = container.run(["rpm", "-i", "--nodeps", IN_CONTAINER])
        assert "error" not in proc.stderr.lower(), proc.stderr
        yield container


def wait_state(node, unit, states, timeout):
    end = time.monotonic() + timeout
    props = {}
    while time.monotonic() < end:
        props = node.show(unit, "ActiveState", "Result", "ExecMainStatus", "UnitFileState")
        if props["ActiveState"] in states:
            return props
        time.sleep(0.1)
    raise AssertionError(f"{unit} not {states} within {timeout} s: {props}")


def add(node, watch_id, port):
    node.run(["fswatch", "add", "samba", watch_id, "--share", "public", "--port", str(port),
              "--interval", "1", "--retries", "2", "--timeout", "1"])


def test_installed_rpm_runs_a_watch_and_registered_the_catalog(node, samba_server):
    assert node.run(["rpm", "-q", "fswatch"]).stdout.strip() == f"fswatch-{__version__}-1.noarch"
    assert node.run(["rpm", "-qf", "/usr/bin/fswatch"]).stdout.strip() == f"fswatch-{__version__}-1.noarch"
    where = node.run(["python3", "-c", "import fswatch; print(fswatch.__file__)"]).stdout.strip()
    assert where == f"{SITE}/fswatch/__init__.py"  # the RPM's files, nothing else
    # %post registered the catalog (nothing else put it there in this container)
    assert ALERTS[2].message_id in node.run(["journalctl", "--list-catalog"]).stdout
    add(node, "w1", samba_server.port)
    node.systemctl("start", "fswatch-samba@w1.service")
    props = node.show("fswatch-samba@w1.service", "ActiveState", "StatusText")
    assert props["ActiveState"] == "active" and props["StatusText"].startswith("healthy: "), props
    explained = node.run(["journalctl", "-x", "--no-pager", "-u", "fswatch-samba@w1.service"]).stdout
    assert "The clp_sambamon is going to watch share resource [public]." in explained
    assert ALERTS[2].subject in explained  # the catalog's text beside the alert
    assert "fswatch alert 2 (watch w1, kind samba)" in explained
    # The OCF agents run from the RPM's files with the system python3.
    for kind in ("samba", "nfs"):
        meta = node.run([f"/usr/lib/ocf/resource.d/fswatch/{kind}", "meta-data"]).stdout
        assert f'<resource-agent name="{kind}"' in meta


def test_erase_stops_and_disables_every_instance(node, samba_server):
    """Runs last: it erases the package the tests above use."""
    add(node, "w2", samba_server.port)
    add(node, "w3", samba_server.port)
    node.systemctl("enable", "--now", "fswatch-samba@w2.service")  # enabled and running
    node.systemctl("start", "fswatch-samba@w3.service")  # running, not enabled
    node.systemctl("enable", "fswatch-nfs@n1.service")  # enabled, never started
    running = ["fswatch-samba@w2.service", "fswatch-samba@w3.service"]
    assert [node.show(u, "ActiveState")["ActiveState"] for u in running] == ["active", "active"]
    links = node.run(["find", "/etc/systemd/system", "-name", "fswatch-*@*.service"]).stdout.split()
    assert len(links) == 2, links

    node.run(["rpm", "-e", "fswatch"])

    for unit in running:  # stopped by %preun, gracefully (alert 3, exit 0)
        props = node.show(unit, "ActiveState", "Result", "ExecMainStatus")
        assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("inactive", "success", "0")
        ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(unit) if e.get("FSWATCH_EVENT")]
        assert ids[-1] == 3, ids
    active = node.systemctl("list-units", "--no-legend", "--state=active", "fswatch-*").stdout
    assert active == ""  # w1 of the test above too, if it ran
    assert node.run(["find", "/etc/systemd/system", "-name", "fswatch-*"]).stdout == ""  # every instance disabled
    assert node.run(["rpm", "-q", "fswatch"], check=False).returncode != 0
    gone = ["/usr/bin/fswatch", "/usr/sbin/clp_sambamon", f"{SITE}/fswatch", "/usr/share/fswatch",
            "/usr/lib/systemd/system/fswatch-samba@.service"]
    assert node.run(["ls", "-d", *gone], check=False).stdout == ""  # no leftover __pycache__ either
    assert ALERTS[2].message_id not in node.run(["journalctl", "--list-catalog"]).stdout
    # the administrator's settings stay
    kept = node.run(["ls", "/etc/fswatch/samba"]).stdout.split()
    assert {"w2.conf", "w2.password", "w3.conf", "w3.password"} <= set(kept)
