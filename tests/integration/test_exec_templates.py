"""The CLUSTERPRO EXEC script templates (packaging/clusterpro, the seed's chapter 10), run
the way CLUSTERPRO runs them, in a booted systemd.

Service templates start and stop stand-in units named as today's services are (smbd or
smb, nfs-server). Watch templates are checked with a stand-in clp_sambamon / clp_nfsmon
that records its arguments (clearly named tests below); the end-to-end runs with the real
commands are at the end of the file.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.fixtures.container import BootedContainer
from tests.integration.node import ROOT, install_fswatch

pytestmark = pytest.mark.integration

TEMPLATES = ROOT / "packaging" / "clusterpro"
INSTALLED = "/usr/share/fswatch/clusterpro"
EDITED = "/var/tmp/exec"  # the admin's edited copies (the container's /tmp is a tmpfs)
RESOURCES = ("samba", "samba-mon", "nfs", "nfs-mon")
STAND_IN = (
    "[Unit]\nDescription=stand-in for {name}\n"
    "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
)
SERVICE_UNIT = {"samba": "smbd.service", "nfs": "nfs-server.service"}
SERVICE_WORD = {"samba": "SAMBA", "nfs": "NFS"}

# CLP_EVENT, CLP_DISK, CLP_SERVER -> the seed's echo lines before the action; None: no action.
BRANCHES = [
    (("START", "SUCCESS", "HOME"), ["NORMAL1", "NORMAL2"]),
    (("START", "SUCCESS", "OTHER"), ["NORMAL1", "ON_OTHER1"]),
    (("FAILOVER", "SUCCESS", "HOME"), ["FAILOVER1", "FAILOVER2"]),
    (("FAILOVER", "SUCCESS", "OTHER"), ["FAILOVER1", "ON_OTHER2"]),
    (("START", "FAILURE", "HOME"), None),
    (("FAILOVER", "FAILURE", "HOME"), None),
    ((None, None, None), None),
]
BRANCH_IDS = ["-".join(map(str, branch)) for branch, _ in BRANCHES]


def expected_lines(branch, before, action_line):
    event = branch[0]
    if before is None:
        what = {"START": "ERROR_DISK from START", "FAILOVER": "ERROR_DISK from FAILOVER"}.get(event, "NO_CLP")
        return [what, "EXIT"]
    return [*before, action_line, "EXIT"]


def clp_env(branch):
    names = ("CLP_EVENT", "CLP_DISK", "CLP_SERVER")
    return {name: value for name, value in zip(names, branch) if value is not None}


@pytest.fixture(scope="module")
def node(container_base_root):
    with BootedContainer(container_base_root) as container:
        install_fswatch(container)
        container.copy_in(TEMPLATES, INSTALLED)
        for unit in SERVICE_UNIT.values():
            container.write_text(f"/etc/systemd/system/{unit}", STAND_IN.format(name=unit))
        container.systemctl("daemon-reload")
        yield container


def run_script(node, path, branch, timeout=30):
    proc = node.run(["sh", path], env=clp_env(branch), check=False, timeout=timeout)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def state(node, unit):
    return node.show(unit, "ActiveState")["ActiveState"]


# -- static checks ------------------------------------------------------------------------------


def test_eight_templates_posix_sh_and_shellcheck_clean():
    scripts = sorted(TEMPLATES.glob("*/*.sh"))
    assert [p.relative_to(TEMPLATES).as_posix() for p in scripts] == [
        f"{r}/{s}" for r in sorted(RESOURCES) for s in ("start.sh", "stop.sh")
    ]
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck not found: apt-get install shellcheck"
    proc = subprocess.run([shellcheck, "--shell=sh", *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")
    for script in scripts:
        assert script.read_text().startswith("#!/bin/sh\n")
        dash = shutil.which("dash")
        assert dash, "dash not found: apt-get install dash"
        assert subprocess.run([dash, "-n", str(script)], capture_output=True, timeout=10).returncode == 0


SEED_SHARE_NOTE = "共有ファイル名や共有プリンタ名を適切な値に修正します。"  # the seed's 10.2.1


def comment_above(lines, index):
    """The comment block right above lines[index]."""
    block = []
    while index > 0 and lines[index - 1].strip().startswith("#"):
        index -= 1
        block.insert(0, lines[index].strip())
    return "\n".join(block)


@pytest.mark.parametrize(
    "script, edited_line, japanese, count",
    [
        # The watch templates: the seed's command, in the START and the FAILOVER branch,
        # each under the seed's Japanese note and an English EDIT note.
        ("samba-mon/start.sh", "clp_sambamon sambawatch -s XXXX", SEED_SHARE_NOTE, 2),
        ("nfs-mon/start.sh", "clp_nfsmon nfswatch -d XXXX", "共有ディレクトリ名を適切な値に修正します。", 2),
        ("samba-mon/stop.sh", "clp_sambamon sambawatch -stop", "識別子は start.sh と同じ値に修正します。", 2),
        ("nfs-mon/stop.sh", "clp_nfsmon nfswatch -stop", "識別子は start.sh と同じ値に修正します。", 2),
        # The service templates: the unit to start or stop.
        ("samba/start.sh", "if systemctl cat smb.service >/dev/null 2>&1", "SMB_UNIT を適切な値に修正します。", 1),
        ("samba/stop.sh", "if systemctl cat smb.service >/dev/null 2>&1", "SMB_UNIT を適切な値に修正します。", 1),
        ("nfs/start.sh", "NFS_UNIT=nfs-server.service", "NFS_UNIT を適切な値に修正します。", 1),
        ("nfs/stop.sh", "NFS_UNIT=nfs-server.service", "NFS_UNIT を適切な値に修正します。", 1),
    ],
)
def test_templates_mark_the_places_to_edit(script, edited_line, japanese, count):
    lines = (TEMPLATES / script).read_text(encoding="utf-8").splitlines()
    found = [i for i, line in enumerate(lines) if line.strip() == edited_line]
    assert len(found) == count
    for index in found:
        block = comment_above(lines, index)
        assert "# EDIT:" in block and japanese in block, block
    assert lines[-2:] == ['echo "EXIT"', "exit 0"]


# -- service templates ------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["samba", "nfs"])
@pytest.mark.parametrize("branch, before", BRANCHES, ids=BRANCH_IDS)
def test_service_start_template(node, resource, branch, before):
    unit = SERVICE_UNIT[resource]
    node.systemctl("stop", unit)
    status, lines, stderr = run_script(node, f"{INSTALLED}/{resource}/start.sh", branch)
    assert (status, stderr) == (0, "")
    assert lines == expected_lines(branch, before, f"{SERVICE_WORD[resource]} start")
    assert state(node, unit) == ("active" if before else "inactive")


@pytest.mark.parametrize("resource", ["samba", "nfs"])
@pytest.mark.parametrize("branch, before", BRANCHES, ids=BRANCH_IDS)
def test_service_stop_template(node, resource, branch, before):
    unit = SERVICE_UNIT[resource]
    node.systemctl("start", unit)
    status, lines, stderr = run_script(node, f"{INSTALLED}/{resource}/stop.sh", branch)
    assert (status, stderr) == (0, "")
    assert lines == expected_lines(branch, before, f"{SERVICE_WORD[resource]} stop")
    assert state(node, unit) == ("inactive" if before else "active")
    node.systemctl("stop", unit)


def test_samba_templates_use_smb_service_where_it_exists(node):
    """RHEL/Fedora name Samba's unit smb.service; Debian smbd.service (the fixture's default)."""
    node.write_text("/etc/systemd/system/smb.service", STAND_IN.format(name="smb.service"))
    node.systemctl("daemon-reload")
    try:
        home = ("START", "SUCCESS", "HOME")
        status, lines, _ = run_script(node, f"{INSTALLED}/samba/start.sh", home)
        assert status == 0 and lines == ["NORMAL1", "NORMAL2", "SAMBA start", "EXIT"]
        assert (state(node, "smb.service"), state(node, "smbd.service")) == ("active", "inactive")
        status, lines, _ = run_script(node, f"{INSTALLED}/samba/stop.sh", home)
        assert status == 0 and lines == ["NORMAL1", "NORMAL2", "SAMBA stop", "EXIT"]
        assert state(node, "smb.service") == "inactive"
    finally:
        node.systemctl("stop", "smb.service")
        node.path("/etc/systemd/system/smb.service").unlink()
        node.systemctl("daemon-reload")


# -- watch templates, with a stand-in command that records its arguments ------------------------

STUB = '#!/bin/sh\n# stand-in: records its arguments\necho "$*" >> /var/tmp/{name}.calls\n'


def edit_copy(node, resource, script, old, new):
    """What the admin does: copy the template and replace the marked value."""
    text = node.path(f"{INSTALLED}/{resource}/{script}").read_text(encoding="utf-8")
    assert old in text or old == ""
    node.write_text(f"{EDITED}/{resource}/{script}", text.replace(old, new) if old else text, mode=0o755)
    return f"{EDITED}/{resource}/{script}"


@pytest.fixture
def stand_in_clp_commands(node):
    """clp_sambamon / clp_nfsmon stand-ins in /usr/local/sbin, which comes first on the PATH
    (the real commands, if installed, stay untouched in /usr/sbin)."""
    for name in ("clp_sambamon", "clp_nfsmon"):
        node.write_text(f"/usr/local/sbin/{name}", STUB.format(name=name), mode=0o755)
        node.path(f"/var/tmp/{name}.calls").unlink(missing_ok=True)
    yield lambda name: node.path(f"/var/tmp/{name}.calls").read_text().splitlines() if node.path(
        f"/var/tmp/{name}.calls").exists() else []
    for name in ("clp_sambamon", "clp_nfsmon"):
        node.path(f"/usr/local/sbin/{name}").unlink()
        node.path(f"/var/tmp/{name}.calls").unlink(missing_ok=True)


@pytest.mark.parametrize(
    "resource, command, edit, start_args, stop_args",
    [
        ("samba-mon", "clp_sambamon", "public", "sambawatch -s public", "sambawatch -stop"),
        ("nfs-mon", "clp_nfsmon", "/srv/export", "nfswatch -d /srv/export", "nfswatch -stop"),
    ],
)
def test_watch_templates_with_a_stand_in_command_pass_the_guides_arguments(
    node, stand_in_clp_commands, resource, command, edit, start_args, stop_args
):
    calls = stand_in_clp_commands
    start = edit_copy(node, resource, "start.sh", "XXXX", edit)
    stop = edit_copy(node, resource, "stop.sh", "", "")
    expected = []
    for branch, before in BRANCHES:
        status, lines, stderr = run_script(node, start, branch)
        assert (status, stderr) == (0, "")
        assert lines == expected_lines(branch, before, f"{command} start")
        expected += [start_args] if before else []
        assert calls(command) == expected
        status, lines, stderr = run_script(node, stop, branch)
        assert (status, stderr) == (0, "")
        assert lines == expected_lines(branch, before, f"{command} stop")
        expected += [stop_args] if before else []
        assert calls(command) == expected


# -- end to end with the real clp_sambamon and clp_nfsmon ---------------------------------------
#
# They need the real /usr/sbin/clp_sambamon and clp_nfsmon that install_fswatch puts in the
# container (and clp_sambamon's -n PORT extension, since the test smbd does not listen on
# 445). They run start.sh the way CLUSTERPRO runs an asynchronous EXEC resource: in the
# background (a transient unit here), watched for its end as a PID monitor would. The end
# is timed from the fault by the EXEC unit's InactiveEnterTimestampMonotonic: the
# container's systemd reads the host's CLOCK_MONOTONIC, as time.monotonic() does.

EXEC_UNIT = "clp-exec-samba-mon.service"  # the asynchronous EXEC resource's start.sh
WATCH_UNIT = "fswatch-samba@sambawatch.service"
NFS_EXEC_UNIT = "clp-exec-nfs-mon.service"
NFS_WATCH_UNIT = "fswatch-nfs@nfswatch.service"
SLACK = 0.5  # SPEC.md section 2


def bound(interval, retries, timeout):
    """SPEC.md section 2, written out here (not fswatch's Schedule.detection_bound)."""
    return interval + retries * max(interval, timeout) + timeout


def start_async(node, script, branch=("START", "SUCCESS", "HOME"), unit=EXEC_UNIT):
    env = [f"--setenv={k}={v}" for k, v in clp_env(branch).items()]
    node.run(["systemd-run", "--quiet", f"--unit={unit}", "--service-type=exec", *env, "/bin/sh", script])


def ended_at(node, unit):
    """The monotonic instant ``unit`` entered inactive or failed."""
    return int(node.show(unit, "InactiveEnterTimestampMonotonic")["InactiveEnterTimestampMonotonic"]) / 1e6


def wait_state(node, unit, states, timeout):
    end = time.monotonic() + timeout
    props = {}
    while time.monotonic() < end:
        props = node.show(unit, "ActiveState", "Result", "ExecMainStatus")
        if props["ActiveState"] in states:
            return props
        time.sleep(0.1)
    raise AssertionError(f"{unit} not {states} within {timeout} s: {props}")


def exec_output(node, unit=EXEC_UNIT):
    return [e["MESSAGE"] for e in node.journal(unit) if e.get("_PID") and e.get("SYSLOG_IDENTIFIER") == "sh"]


def cleanup_exec(node):
    for unit in (EXEC_UNIT, WATCH_UNIT, NFS_EXEC_UNIT, NFS_WATCH_UNIT):
        node.systemctl("stop", unit, check=False)
        node.systemctl("reset-failed", unit, check=False)


def test_samba_watch_template_runs_and_stops_the_watch(node, samba_server):
    start = edit_copy(node, "samba-mon", "start.sh", "-s XXXX", f"-s public -n {samba_server.port} -i 1 -c 2 -r 1")
    stop = edit_copy(node, "samba-mon", "stop.sh", "", "")
    try:
        start_async(node, start)
        assert wait_state(node, WATCH_UNIT, ("active", "failed"), 15)["ActiveState"] == "active"
        assert node.show(EXEC_UNIT, "ActiveState")["ActiveState"] == "active"  # start.sh blocks: the PID lives
        status, lines, stderr = run_script(node, stop, ("START", "SUCCESS", "HOME"), timeout=90)
        assert status == 0 and lines == ["NORMAL1", "NORMAL2", "clp_sambamon stop", "EXIT"], stderr
        assert node.show(WATCH_UNIT, "ActiveState")["ActiveState"] == "inactive"
        props = wait_state(node, EXEC_UNIT, ("inactive", "failed"), 10)
        assert (props["Result"], props["ExecMainStatus"]) == ("success", "0")  # start.sh exits 0
        assert exec_output(node) == ["NORMAL1", "NORMAL2", "clp_sambamon start", "EXIT"]
    finally:
        cleanup_exec(node)


def test_samba_watch_template_ends_when_the_server_stalls(node, fresh_samba_server):
    port = fresh_samba_server.port
    start = edit_copy(node, "samba-mon", "start.sh", "-s XXXX", f"-s public -n {port} -i 1 -c 2 -r 1")
    try:
        start_async(node, start)
        assert wait_state(node, WATCH_UNIT, ("active", "failed"), 15)["ActiveState"] == "active"
        stalled = time.monotonic()
        fresh_samba_server.stall_all()
        # The EXEC resource's process ends (the PID monitor's cue) within the bound + slack.
        wait_state(node, EXEC_UNIT, ("inactive", "failed"), 10)
        assert ended_at(node, EXEC_UNIT) - stalled <= bound(1, 2, 1) + SLACK
        props = node.show(WATCH_UNIT, "ActiveState", "Result", "ExecMainStatus")
        assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("failed", "exit-code", "1")
        ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(WATCH_UNIT) if e.get("FSWATCH_EVENT")]
        assert ids[-2:] == [74, 6]
    finally:
        fresh_samba_server.resume_all()
        cleanup_exec(node)


def test_nfs_watch_template_runs_and_stops_the_watch(node, nfs_server):
    where = f"-d {nfs_server.export_path} -a {nfs_server.address} -i 1 -c 2 -r 1"
    start = edit_copy(node, "nfs-mon", "start.sh", "-d XXXX", where)
    stop = edit_copy(node, "nfs-mon", "stop.sh", "", "")
    try:
        start_async(node, start, unit=NFS_EXEC_UNIT)
        assert wait_state(node, NFS_WATCH_UNIT, ("active", "failed"), 15)["ActiveState"] == "active"
        assert node.show(NFS_EXEC_UNIT, "ActiveState")["ActiveState"] == "active"  # start.sh blocks
        status, lines, stderr = run_script(node, stop, ("START", "SUCCESS", "HOME"), timeout=90)
        assert status == 0 and lines == ["NORMAL1", "NORMAL2", "clp_nfsmon stop", "EXIT"], stderr
        assert node.show(NFS_WATCH_UNIT, "ActiveState")["ActiveState"] == "inactive"
        props = wait_state(node, NFS_EXEC_UNIT, ("inactive", "failed"), 10)
        assert (props["Result"], props["ExecMainStatus"]) == ("success", "0")  # start.sh exits 0
        assert exec_output(node, NFS_EXEC_UNIT) == ["NORMAL1", "NORMAL2", "clp_nfsmon start", "EXIT"]
        ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(NFS_WATCH_UNIT) if e.get("FSWATCH_EVENT")]
        assert ids == [1, 2, 3]
    finally:
        cleanup_exec(node)


def test_nfs_watch_template_ends_when_ganesha_stalls(node, fresh_nfs_server):
    server = fresh_nfs_server
    start = edit_copy(node, "nfs-mon", "start.sh", "-d XXXX",
                      f"-d {server.export_path} -a {server.address} -i 1 -c 2 -r 1")
    try:
        start_async(node, start, branch=("FAILOVER", "SUCCESS", "OTHER"), unit=NFS_EXEC_UNIT)
        assert wait_state(node, NFS_WATCH_UNIT, ("active", "failed"), 15)["ActiveState"] == "active"
        stalled = time.monotonic()
        server.stall_ganesha()
        wait_state(node, NFS_EXEC_UNIT, ("inactive", "failed"), 10)
        assert ended_at(node, NFS_EXEC_UNIT) - stalled <= bound(1, 2, 1) + SLACK
        props = node.show(NFS_WATCH_UNIT, "ActiveState", "Result", "ExecMainStatus")
        assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("failed", "exit-code", "1")
        ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(NFS_WATCH_UNIT) if e.get("FSWATCH_EVENT")]
        assert ids[:2] == [1, 2] and ids[-3:] == [84, 66, 6]
        # (the journal of the transient unit also holds an earlier test's run: look at this one)
        assert exec_output(node, NFS_EXEC_UNIT)[-4:] == ["FAILOVER1", "ON_OTHER2", "clp_nfsmon start", "EXIT"]
    finally:
        server.resume_ganesha()
        cleanup_exec(node)
