"""Upgrading fswatch never breaks a running watch (README: Upgrading; issue 23), proven by
upgrading a booted Debian node from each earlier release:

- 0.1.0 as first released (git 03fd184): its RPM (it had no Debian package and no OCF
  agents), whose watches hold an flock, installed with rpm and upgraded with `rpm -U` to
  this tree's RPM;
- 0.1.0 as last released (git 23f6984, main before issue 17): its Debian package, whose
  watches hold an OFD lock, upgraded with `apt install` to this tree's package.

Each package is built by the release's own packaging script from its commit. Under the old
release the test starts watches as units, through clp_sambamon / clp_nfsmon (their blocking
start form, as a CLUSTERPRO EXEC resource runs it) and through the OCF agent, installs the
current package over them and then, with the new commands: status shows each running with
its PID and the old release; pause and continue are applied (alerts 7 and 8 from the old
watch); a second start is refused (alert 14) and leaves the old watch's state alone; inject
is applied, or refused where the old release has none (alert 146); stop, -stop and the OCF
stop end the old watches (alert 3), and the same requests then say there is nothing to do
(alert 145); a stall is declared cleanly by the old watches (alert 6, the unit failed, the
start form exits 1, no traceback); a restart moves a watch to the new release. Then it
downgrades to the old package and checks that the old commands see, pause, stop and refuse
to double a watch of this release.

smbd runs on the host's loopback, each nfs-ganesha in a network namespace of its own (one
is stalled, the other is not); the container shares the host's network.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest

from fswatch import __version__
from fswatch.core.protocol import CURRENT
from tests.fixtures.container import (
    DEFAULT_INCLUDE,
    DEFAULT_PYTHON_REQUIREMENTS,
    BootedContainer,
    build_base_root,
    reap_orphaned_containers,
)
from tests.fixtures.nfs_server import NfsServer
from tests.fixtures.samba_server import SambaServer
from tests.integration.node import OCF_DIR, build_package, build_release, tool

pytestmark = pytest.mark.integration

BUILD_TIMEOUT = 300  # seconds for one package build (measured: rpm ~8 s, deb ~15-35 s)
PACKAGE_TIMEOUT = 180  # seconds for apt / rpm in the container (measured ~5 s)
COMMAND_TIMEOUT = 30  # seconds for one fswatch command: a start that is not refused would run on
VERDICT_WAIT = 60  # seconds for an alert or a unit's end (the watches' bound is 7 s)
SCHEDULE = ("1", "1", "3")  # interval, retries, timeout: declared within 7 s of a fault
ANSWERING = ("healthy", "slow")  # slow: a probe over half the timeout, on a loaded node
APT = ("apt-get", "install", "-y", "--no-install-recommends")
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
IN_CONTAINER = "/var/tmp"


@dataclass(frozen=True)
class Release:
    commit: str
    script: str  # its packaging script
    include: Tuple[str, ...]  # the container root its package installs into
    python_requirements: Tuple[str, ...]
    install: Tuple[str, ...]
    upgrade: Tuple[str, ...]
    downgrade: Tuple[str, ...]
    protocol: int  # fswatch.core.protocol
    ocf: bool  # it has the OCF agents
    inject: bool  # it has fault injection


FIRST = Release("03fd184", "build-rpm.sh", (*DEFAULT_INCLUDE, "rpm"), DEFAULT_PYTHON_REQUIREMENTS,
                ("rpm", "-i", "--nodeps"), ("rpm", "-U", "--nodeps"), ("rpm", "-U", "--oldpackage", "--nodeps"),
                protocol=1, ocf=False, inject=False)  # fmt: skip
# python3-cffi-backend by name: debootstrap does not resolve the virtual package python3-cryptography needs.
LAST = Release("23f6984", "build-deb.sh", (*DEFAULT_INCLUDE, "python3-cryptography", "python3-cffi-backend"), (),
               APT, APT, (*APT, "--allow-downgrades"), protocol=2, ocf=True, inject=True)  # fmt: skip


@pytest.fixture(scope="module")
def packages() -> Dict[str, object]:
    """Every package the test installs, built before any container boots."""
    tool("rpmbuild", "rpm")
    tool("dpkg-buildpackage", "dpkg-dev debhelper dh-python pybuild-plugin-pyproject")
    reap_orphaned_containers()
    built: Dict[str, object] = {}
    for release in (FIRST, LAST):
        built[release.commit] = build_release(release.commit, release.script, BUILD_TIMEOUT)
        built[release.script] = build_package(release.script, BUILD_TIMEOUT)
    return built


# -- looking at the node ------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], object], timeout: float = VERDICT_WAIT):
    """`check()`'s first true value, polled (bounded in time and count)."""
    end = time.monotonic() + timeout
    for _ in range(int(timeout / 0.2) + 2):
        value = check()
        if value:
            return value
        if time.monotonic() >= end:
            break
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def unit(kind: str, watch_id: str) -> str:
    return f"fswatch-{kind}@{watch_id}.service"


def alerts(node: BootedContainer, kind: str, watch_id: str) -> List[Tuple[int, int, Optional[str]]]:
    """The watch's alerts in its unit's journal: (alert id, the PID that logged it, FSWATCH_VERSION)."""
    return [(int(e["FSWATCH_EVENT"]), int(e["_PID"]), e.get("FSWATCH_VERSION"))
            for e in node.journal(unit(kind, watch_id)) if e.get("FSWATCH_EVENT") and e.get("_PID")]  # fmt: skip


def stop_or_say_why(node: BootedContainer, argv: Sequence[str], kind: str, watch_id: str) -> None:
    """Run a stop; one that outlasts its command timeout fails with the unit's journal and state
    (seen once in a full run, never alone: what the old watch was doing is the clue)."""
    try:
        node.run(list(argv))
    except subprocess.TimeoutExpired:
        name = unit(kind, watch_id)
        journal = node.run(["journalctl", "--no-pager", "-n", "60", "-u", name], check=False).stdout
        state = node.run(["systemctl", "--no-pager", "status", name], check=False).stdout
        raise AssertionError(f"{' '.join(argv)} did not end within 30 s\n{state}\n{journal}") from None


def logged(node: BootedContainer, kind: str, watch_id: str, pid: int, *ids: int) -> None:
    """Wait until the watch's process `pid` has logged each of `ids`, in that order."""

    def seen() -> bool:
        mine = [a for a, p, _ in alerts(node, kind, watch_id) if p == pid]
        rest = iter(mine)
        return all(any(a == wanted for a in rest) for wanted in ids)

    wait_for(f"alerts {ids} from {kind} {watch_id} (pid {pid})", seen)


def main_pid(node: BootedContainer, kind: str, watch_id: str) -> int:
    return int(node.show(unit(kind, watch_id), "MainPID")["MainPID"])


def status(node: BootedContainer) -> Dict[str, dict]:
    records = json.loads(node.run(["fswatch", "status", "--json"]).stdout)
    return {f"{r['kind']} {r['id']}": r for r in records}


def refused(node: BootedContainer, argv: Sequence[str], code: int, alert: int) -> str:
    """Run a command that must be refused with `code` and one line naming `alert`."""
    proc = node.run(list(argv), check=False, timeout=COMMAND_TIMEOUT)
    assert (proc.returncode, f"alert {alert}: " in proc.stderr) == (code, True), (argv, proc.stdout, proc.stderr)
    return proc.stderr


def ocf(node: BootedContainer, action: str, instance: str = "o1", **params: str) -> subprocess.CompletedProcess:
    """ocf:fswatch:samba's `action` for the resource `instance` (its watch: samba `instance`)."""
    env = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": instance, "OCF_RESKEY_CRM_meta_timeout": "20000",
           **{f"OCF_RESKEY_{k}": v for k, v in params.items()}}  # fmt: skip
    return node.run([f"{OCF_DIR}/samba", action], check=False, env=env, timeout=40)


def start_form(node: BootedContainer, command: str, *args: str) -> subprocess.Popen:
    """clp_*mon's blocking start form, in the background, as an asynchronous EXEC resource runs it."""
    interval, retries, timeout = SCHEDULE
    return subprocess.Popen(["nsenter", "-t", str(node.leader_pid), "-a", command, *args, "-i", interval,
                             "-c", retries, "-r", timeout], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def install(node: BootedContainer, how: Sequence[str], package: str) -> None:
    proc = node.run([*how, package], check=False, timeout=PACKAGE_TIMEOUT, env=APT_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Phases:
    """How long each phase took, printed at the end (pytest -s): where the test's minute goes."""

    def __init__(self) -> None:
        self.took: List[Tuple[str, float]] = []
        self._last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.took.append((name, now - self._last))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.took)


# -- the test ------------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
@pytest.mark.parametrize("release", [FIRST, LAST], ids=lambda r: r.commit)
def test_an_upgrade_keeps_every_watch_of_the_previous_release(release, packages):
    root = build_base_root(include=release.include, python_requirements=release.python_requirements)
    with contextlib.ExitStack() as stack:
        smb = stack.enter_context(SambaServer())
        nfs = stack.enter_context(NfsServer(netns=True))  # n1 and cn1: never stalled
        stalled_nfs = stack.enter_context(NfsServer(netns=True))  # n2: stalled
        node = stack.enter_context(BootedContainer(root))
        phase = Phases()
        forms: Dict[str, subprocess.Popen] = {}
        stack.callback(lambda: [p.kill() for p in forms.values() if p.poll() is None])
        old_package = f"{IN_CONTAINER}/{packages[release.commit].name}"
        new_package = f"{IN_CONTAINER}/{packages[release.script].name}"
        node.copy_in(packages[release.commit], old_package)
        node.copy_in(packages[release.script], new_package)
        install(node, release.install, old_package)
        phase("boot and install the old release")
        interval, retries, timeout = SCHEDULE
        schedule = ["--interval", interval, "--retries", retries, "--timeout", timeout]

        # -- watches of the old release ------------------------------------------------------------
        node.run(["fswatch", "add", "samba", "u1", "--share", "public", "--port", str(smb.port), *schedule])
        for watch_id, server in (("n1", nfs), ("n2", stalled_nfs)):
            node.run(["fswatch", "add", "nfs", watch_id, "--export", server.export_path, "--address",
                      server.address, *schedule])  # fmt: skip
        for kind, watch_id in (("samba", "u1"), ("nfs", "n1"), ("nfs", "n2")):
            node.systemctl("start", unit(kind, watch_id))  # returns once a probe was healthy
        forms["c1"] = start_form(node, "clp_sambamon", "c1", "-s", "public", "-n", str(smb.port))
        forms["cn1"] = start_form(node, "clp_nfsmon", "cn1", "-d", nfs.export_path, "-a", nfs.address)
        watches = [("samba", "u1"), ("samba", "c1"), ("nfs", "n1"), ("nfs", "n2"), ("nfs", "cn1")]
        ocf_params = dict(share="public", port=str(smb.port), interval=interval, retries=retries, timeout=timeout)
        if release.ocf:  # o1 is stopped by the OCF stop, o2 sees the stall
            for instance in ("o1", "o2"):
                start = ocf(node, "start", instance, **ocf_params)
                assert start.returncode == 0, start.stderr
                watches.append(("samba", instance))
        for kind, watch_id in watches:
            wait_for(f"{kind} {watch_id} healthy", lambda k=kind, w=watch_id: node.show(
                unit(k, w), "StatusText")["StatusText"].startswith("healthy"))  # fmt: skip
        old = {watch_id: main_pid(node, kind, watch_id) for kind, watch_id in watches}
        phase("start its watches")

        # -- the upgrade ---------------------------------------------------------------------------
        install(node, release.upgrade, new_package)
        phase("upgrade")
        version = node.run(["fswatch", "--version"]).stdout.strip()
        assert version == f"fswatch {__version__} (control protocol {CURRENT.number})"
        for kind, watch_id in watches:  # the upgrade restarted nothing
            assert main_pid(node, kind, watch_id) == old[watch_id], watch_id

        # status: each running, with its PID and the old release
        seen = status(node)
        for kind, watch_id in watches:
            r = seen[f"{kind} {watch_id}"]
            assert (r["pid"], r["health"] in ANSWERING, r["version"], r["protocol"], r["outdated"]) == (
                old[watch_id], True, "0.1.0", release.protocol, True), r  # fmt: skip
        table = node.run(["fswatch", "status"]).stdout
        assert table.count(f"release: fswatch 0.1.0 (control protocol {release.protocol}), older than the "
                           f"installed {__version__}") == len(watches), table  # fmt: skip
        assert node.run(["clp_sambamon", "c1", "-disp"]).stdout.strip() == str(old["c1"])
        if release.ocf:
            for instance in ("o1", "o2"):  # 190: slow (OCF degraded)
                assert ocf(node, "monitor", instance, **ocf_params).returncode in (0, 190)

        phase("status")
        # pause and continue reach the old watches (alerts 7 and 8 from them)
        node.run(["fswatch", "pause", "samba", "u1"])
        logged(node, "samba", "u1", old["u1"], 7)
        assert status(node)["samba u1"]["health"] == "paused"
        node.run(["fswatch", "continue", "samba", "u1"])
        logged(node, "samba", "u1", old["u1"], 7, 8)
        for command, kind, watch_id in (("clp_sambamon", "samba", "c1"), ("clp_nfsmon", "nfs", "cn1")):
            node.run([command, watch_id, "-pause"])
            logged(node, kind, watch_id, old[watch_id], 7)
            node.run([command, watch_id, "-continue"])
            logged(node, kind, watch_id, old[watch_id], 7, 8)

        phase("pause and continue")
        # a second start is refused and leaves the old watch alone
        refused(node, ["fswatch", "run", "samba", "u1"], 3, 14)
        refused(node, ["fswatch", "run", "nfs", "n1"], 3, 14)
        refused(node, ["clp_sambamon", "c1", "-s", "public", "-n", str(smb.port)], 3, 14)
        # What c1's unit runs on a restart: this release reading the old release's runtime settings
        # (a refusal of them would be alert 11, exit 2), then refused beside the old watch.
        refused(node, ["env", "FSWATCH_CONFIG_DIR=/run/fswatch", "fswatch", "run", "samba", "c1"], 3, 14)
        seen = status(node)
        for watch_id in ("u1", "c1"):
            assert seen[f"samba {watch_id}"]["pid"] == old[watch_id]
            assert seen[f"samba {watch_id}"]["health"] in ANSWERING
            state = json.loads(node.run(["cat", f"/run/fswatch/samba/{watch_id}/state.json"]).stdout)
            assert state["pid"] == old[watch_id]  # not overwritten by the refused start

        phase("second starts")
        # inject: applied where the old release reads it, refused (alert 146) where it does not
        if release.inject:
            node.run(["fswatch", "inject", "samba", "u1", "--count", "1"])
            logged(node, "samba", "u1", old["u1"], 113, 72, 91)  # armed, one injected failure, recovered
        else:
            refused(node, ["fswatch", "inject", "samba", "u1"], 7, 146)
            assert node.run(["test", "-e", "/run/fswatch/samba/u1/inject"], check=False).returncode == 1

        phase("inject")
        # stop, -stop and the OCF stop end the old watches (alert 3 from them)
        node.run(["fswatch", "stop", "samba", "u1"])
        logged(node, "samba", "u1", old["u1"], 3)
        assert node.show(unit("samba", "u1"), "ActiveState", "Result")["Result"] == "success"
        stop_or_say_why(node, ["clp_nfsmon", "cn1", "-stop"], "nfs", "cn1")
        logged(node, "nfs", "cn1", old["cn1"], 3)
        assert forms["cn1"].wait(timeout=VERDICT_WAIT) == 0  # the old start form ends as it should
        if release.ocf:
            assert ocf(node, "stop", **ocf_params).returncode == 0
            logged(node, "samba", "o1", old["o1"], 3)
            assert ocf(node, "monitor", **ocf_params).returncode == 7
            assert ocf(node, "stop", **ocf_params).returncode == 0  # stopping a stopped resource: 0 (OCF)

        # ... and requests for them now say that nothing runs (alert 145)
        for argv in (["fswatch", "stop", "samba", "u1"], ["fswatch", "pause", "samba", "u1"],
                     ["fswatch", "continue", "samba", "u1"], ["fswatch", "inject", "samba", "u1"],
                     ["clp_nfsmon", "cn1", "-continue"]):  # fmt: skip
            refused(node, argv, 6, 145)
        refused(node, ["clp_nfsmon", "cn1", "-stop"], 0, 145)  # stop.sh's -stop after the watch's own end

        phase("stops")
        # a stall is declared cleanly by the old watches
        smb.stall_all()
        stalled_nfs.stall_ganesha()
        try:
            assert forms["c1"].wait(timeout=VERDICT_WAIT) == 1  # the old start form: declared failed
            declaring = [("samba", "c1", (74, 6)), ("nfs", "n2", (66, 6))]
            declaring += [("samba", "o2", (74, 6))] if release.ocf else []
            for kind, watch_id, declared in declaring:
                wait_for(f"{watch_id} failed", lambda k=kind, w=watch_id: node.show(
                    unit(k, w), "ActiveState")["ActiveState"] == "failed")  # fmt: skip
                props = node.show(unit(kind, watch_id), "Result", "ExecMainStatus")
                assert (props["Result"], props["ExecMainStatus"]) == ("exit-code", "1"), props
                logged(node, kind, watch_id, old[watch_id], *declared)
                journal = node.run(["journalctl", "--no-pager", "-u", unit(kind, watch_id)]).stdout
                assert "Traceback" not in journal and "Error" not in journal, journal[-4000:]
        finally:
            smb.resume_all()
            stalled_nfs.resume_ganesha()
        if release.ocf:  # the new agent's monitor reports the old watch's verdict, and its stop cleans up
            monitor = ocf(node, "monitor", "o2", **ocf_params)
            assert monitor.returncode == 1 and "stage negotiate, alert 74" in monitor.stderr, monitor.stderr
            assert ocf(node, "stop", "o2", **ocf_params).returncode == 0
            assert ocf(node, "monitor", "o2", **ocf_params).returncode == 7
        node.run(["clp_sambamon", "c1", "-del"])  # the old release's runtime drop-in goes too
        assert node.run(["ls", "/run/systemd/system"], check=False).stdout.count("fswatch-samba@c1") == 0

        phase("stall")
        # a restart moves a watch to the new release
        node.systemctl("restart", unit("nfs", "n1"))
        new = main_pid(node, "nfs", "n1")
        assert new != old["n1"]
        logged(node, "nfs", "n1", new, 1, 2)
        versions = {v for _, p, v in alerts(node, "nfs", "n1") if p == old["n1"]}
        assert versions == {None}  # 0.1.0 logged no FSWATCH_VERSION ...
        assert {v for _, p, v in alerts(node, "nfs", "n1") if p == new} == {__version__}  # ... this release does
        r = status(node)["nfs n1"]
        assert (r["pid"], r["version"], r["protocol"], r["outdated"]) == (new, __version__, CURRENT.number, False)

        # -- the downgrade: the old release's commands see, pause, stop and never double it ---------------
        phase("restart")
        install(node, release.downgrade, old_package)
        phase("downgrade")
        assert node.run(["fswatch", "--version"]).stdout.strip() == "fswatch 0.1.0"
        line = [row for row in node.run(["fswatch", "status"]).stdout.splitlines() if " n1 " in f" {row} "]
        assert line and str(new) in line[0].split() and set(ANSWERING) & set(line[0].split()), line
        refused(node, ["fswatch", "run", "nfs", "n1"], 3, 14)
        node.run(["fswatch", "pause", "nfs", "n1"])
        logged(node, "nfs", "n1", new, 7)
        node.run(["fswatch", "continue", "nfs", "n1"])
        logged(node, "nfs", "n1", new, 7, 8)
        node.run(["fswatch", "stop", "nfs", "n1"])
        logged(node, "nfs", "n1", new, 3)
        assert main_pid(node, "nfs", "n1") == 0
        phase("the old release's commands")
        print(f"upgrade from {release.commit}: {phase}")
