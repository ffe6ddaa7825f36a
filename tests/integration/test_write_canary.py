"""The write canary (issue 22) against real smbd and real nfs-ganesha (NFSv3, v4.0, v4.1) over a
loop-mounted ext4 image (tests/fixtures/ext4_image.py), with a FUSE passthrough of the same image
mounted inside the share and export (tests/fixtures/fuse_freeze.py) for what ext4 cannot do here:

- healthy: 1,000 probes each leave no file behind;
- the image remounted read-only: the read canary stays healthy, the write canary fails at
  write_create with alert 135, and a watch declares within its bound;
- the image full: alert 136 at write; an exhausted quota (EDQUOT from the FUSE layer: this kernel
  has no quota support, CONFIG_QUOTA and XFS quota both missing, measured): NFS 137, SMB 136
  (smbd answers EDQUOT with STATUS_DISK_FULL); nothing left behind either way;
- writes frozen under FUSE while reads are served: alert 139 at stage write by the deadline, a
  watch declares within its bound, and after the thaw the leftovers go;
- a probe killed mid-write (kill -9): NFS leaves the file and a later probe removes it; SMB removes
  it itself (delete-on-close), and what an smbd child killed mid-write leaves, a later probe removes;
- `fswatch add` refuses a guest and a root-squashed uid 0 that may not write there, and
  `fswatch probe --json` reports the write canary's stages.

Each target writes in a directory of its own: a writer blocked on a frozen file and the server's
unlink of it hold that directory's lock in the kernel, which would stall the other protocols' creates.
"""

from __future__ import annotations

import errno
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes import write_canary
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.fixtures.ext4_image import Ext4Image
from tests.fixtures.fuse_freeze import FuseFreeze
from tests.fixtures.nfs_server import NfsServer
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI, alert_ids, detect_stall, phase, wait_for
from tests.integration.test_clp import Clp
from tests.timing import BOUND_SLACK, PROBE_SLACK

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
SHARE = "img"
SECRET = b"read canary bytes\n"
TARGETS = ("smb", "v3", "v4.0", "v4.1")
NFS_VERSIONS = {"v3": (3, None), "v4.0": (4, 0), "v4.1": (4, 1)}
NOBODY = 65534  # smbd's guest account's uid
WRITE_STAGES = ["write_create", "write", "write_readback", "write_remove", "write_sweep"]
INTERVAL, RETRIES, WATCH_TIMEOUT = 1, 1, 2
WATCH_SETTINGS = ("--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(WATCH_TIMEOUT))
# SPEC.md section 2, written out on purpose (never fswatch's Schedule): t0 + interval + retries x
# max(interval, timeout) + timeout.
BOUND = INTERVAL + RETRIES * max(INTERVAL, WATCH_TIMEOUT) + WATCH_TIMEOUT
# ganesha's NFSv4 lease: the open a killed v4.0/v4.1 probe leaves holds its (removed) file open for
# writing, and the image cannot be remounted read-only, until the lease ends (Ext4Image.remount waits).
LEASE = 10


@dataclass
class Storage:
    image: Ext4Image
    fuse: FuseFreeze
    smb: SambaServer
    nfs: NfsServer

    def directory(self, where: str = "") -> str:
        """A fresh canary directory tree, relative to the share's / export's root (`where`: "fz" on
        FUSE), with one writable subdirectory per target."""
        relative = f"{where}/cw-{uuid.uuid4().hex[:8]}".lstrip("/")
        for sub in ("", *TARGETS):
            path = self.path(f"{relative}/{sub}".rstrip("/"))
            path.mkdir()
            path.chmod(0o1777)  # smbd's guest account writes there too
        return relative

    def path(self, relative: str) -> Path:
        """A path in the share, as this test process reaches it."""
        return self.image.path(f"share/{relative}")

    def target(self, name: str, directory: str | None = None, canary: str | None = None, watch: str = "t"):
        """(probe, target) for `name` (smb, v3, v4.0, v4.1), writing in `directory`/`name`."""
        write = f"{directory}/{name}" if directory else None
        if name == "smb":
            owner = write_canary.owner("samba", watch)
            return probe_samba, SambaTarget(SHARE, self.smb.address, self.smb.port, canary=canary,
                                            canary_write=write, canary_owner=owner)  # fmt: skip
        version, minor = NFS_VERSIONS[name]
        return probe_nfs, NfsTarget(
            self.nfs.export_path, self.nfs.address, port=self.nfs.nfs_port if version == 4 else None,
            version=version, minor_version=minor, canary=canary, canary_write=write,
            canary_owner=write_canary.owner("nfs", watch),
        )  # fmt: skip

    def left(self, directory: str, name: str) -> list:
        return sorted(os.listdir(self.path(f"{directory}/{name}")))


@pytest.fixture(scope="module")
def storage():
    """The ext4 image, shared as `img` by smbd and exported by ganesha, with a FUSE passthrough of
    the same image at `fz` inside: one share and one export reach both kinds of storage."""
    with Ext4Image() as image:
        for directory in ("share", "share/fz", "fuse-backing"):
            image.path(directory).mkdir()
            image.path(directory).chmod(0o1777)
        image.path("share/alive.txt").write_bytes(SECRET)
        image.path("fuse-backing/alive.txt").write_bytes(SECRET)
        with FuseFreeze(backing=image.inside("fuse-backing"), mount_ns=image.pid,
                        mountpoint=image.inside("share/fz")) as fs:  # fmt: skip
            with SambaServer(extra_shares={SHARE: image.inside("share")}, enter=image.enter()) as smb, \
                    NfsServer(netns=True, export_dir=image.inside("share"), mount_ns=image.pid,
                              lease_lifetime=LEASE) as nfs:  # fmt: skip
                yield Storage(image, fs, smb, nfs)
            fs.thaw()


@pytest.fixture
def healthy_storage(storage):
    """The module's storage, writable and not full, and left so."""
    yield storage
    storage.fuse.thaw()
    storage.image.unfill()
    if storage.image.read_only:
        storage.image.remount(read_only=False)


def timed(probe, target, timeout: float = TIMEOUT):
    t0 = time.monotonic()
    obs = probe(target, Deadline.after(timeout))
    elapsed = time.monotonic() - t0
    assert elapsed < timeout + PROBE_SLACK, f"probe took {elapsed:.3f} s"
    return obs


def failure_of(obs) -> dict:
    assert not obs.ok, obs.to_dict()
    return obs.to_dict()["failure"]


def notes(obs) -> dict:
    return dict(obs.notes)


# -- healthy --------------------------------------------------------------------------------------


@pytest.mark.timeout(900, func_only=True)
@pytest.mark.parametrize("name", TARGETS)
def test_a_thousand_healthy_probes_leave_nothing(healthy_storage, name):
    storage = healthy_storage
    directory = storage.directory()
    probe, target = storage.target(name, directory)
    for i in range(1000):
        obs = probe(target, Deadline.after(10))  # a healthy server under this VM's load, not a bound
        assert obs.ok, (i, obs.to_dict())
        assert [s.stage for s in obs.stages if s.stage.startswith("write")] == WRITE_STAGES
        assert notes(obs)["write_canary_bytes"] == "4096" and notes(obs)["write_canary_leftovers_removed"] == "0"
    assert storage.left(directory, name) == []


# -- read-only ------------------------------------------------------------------------------------


def test_read_only_image_fails_the_write_canary_not_the_read_canary(healthy_storage):
    storage = healthy_storage
    directory = storage.directory()
    storage.image.remount(read_only=True)
    for name in TARGETS:
        probe, reading = storage.target(name, canary="alive.txt")
        assert timed(probe, reading).ok, name
        probe, writing = storage.target(name, directory, canary="alive.txt")
        obs = timed(probe, writing)
        failure = failure_of(obs)
        assert (failure["alert"], failure["stage"]) == (135, "write_create"), (name, failure)
        assert failure.get("ntstatus", failure.get("rpc_status")) in (
            "0xc00000a2", "NFS3ERR_ROFS", "NFS4ERR_ROFS"
        ), failure  # fmt: skip
        assert "canary" in [s.stage for s in obs.stages if s.ok]  # read before the write failed
        assert failure["canary"].startswith(f"{directory}/{name}/.fswatch-canary.")
    storage.image.remount(read_only=False)
    for name in TARGETS:
        assert timed(*storage.target(name, directory)).ok
        assert storage.left(directory, name) == []


def watch_until_declared(cli: FswatchCLI, kind: str, watch_id: str, fault, undo=lambda: None) -> tuple:
    """Run the watch until it is healthy, inject `fault` at t0: (exit status, seconds, stderr)."""
    watch = cli.start("run", kind, watch_id)
    return detect_stall(watch, lambda: phase(cli, kind, watch_id) == "healthy", fault, undo, BOUND + BOUND_SLACK + 2)


def add_watch(cli: FswatchCLI, storage: Storage, name: str, directory: str) -> tuple:
    """`fswatch add` a watch of target `name` writing in `directory`/`name`; (kind, watch id)."""
    write = ("--canary-write", f"{directory}/{name}")
    if name == "smb":
        args = ("samba", "ws", "--share", SHARE, "--port", str(storage.smb.port))
    else:
        version = {"v3": "3", "v4.0": "4.0", "v4.1": "4.1"}[name]
        port = ("--port", str(storage.nfs.nfs_port)) if version != "3" else ()
        args = ("nfs", "wn", "--export", storage.nfs.export_path, "--address", storage.nfs.address,
                "--nfs-version", version, *port)  # fmt: skip
    add = cli("add", *args, *write, *WATCH_SETTINGS)
    assert add.returncode == 0 and "write canary checked" in add.stdout, add.stdout + add.stderr
    return args[0], args[1]


def assert_declared(rc, detected: float, stderr: str, alert: int, stage: str) -> None:
    print(f"declared {detected:.2f} s after the fault (bound {BOUND} s + {BOUND_SLACK} s)")
    assert rc == 1, f"not declared within {detected:.1f} s: rc={rc}\n{stderr}"
    assert detected <= BOUND + BOUND_SLACK, (detected, stderr)
    ids = alert_ids(stderr)
    assert ids[-1] == 6 and alert in ids, stderr
    first = next(line for line in stderr.splitlines() if f"alert {alert}:" in line)
    assert f"({stage}:" in first, first


@pytest.mark.parametrize("name", ["smb", "v3", "v4.1"])
def test_read_only_image_is_declared_within_the_bound(healthy_storage, tmp_path, name):
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    kind, watch_id = add_watch(cli, storage, name, storage.directory())
    rc, detected, stderr = watch_until_declared(cli, kind, watch_id, lambda: storage.image.remount(read_only=True))
    assert_declared(rc, detected, stderr, 135, "write_create")


def test_clp_w_runs_the_write_canary_and_declares_a_read_only_image(healthy_storage, tmp_path):
    """The start form's extension `-w DIR` (in-process here: systemd is not PID 1)."""
    storage = healthy_storage
    directory = storage.directory()
    clp = Clp(tmp_path)
    watch = clp.start("clp_nfsmon", "cw1", "-d", storage.nfs.export_path, "-a", storage.nfs.address, "-w",
                      f"{directory}/v3", "-i", str(INTERVAL), "-c", str(RETRIES), "-r", str(WATCH_TIMEOUT))  # fmt: skip
    ready = lambda: phase(clp, "nfs", "cw1") == "healthy"  # noqa: E731
    rc, detected, stderr = detect_stall(watch, ready, lambda: storage.image.remount(read_only=True), lambda: None,
                                        BOUND + BOUND_SLACK + 2)  # fmt: skip
    assert_declared(rc, detected, stderr, 135, "write_create")
    assert "The clp_nfsmon has found NFS shared directory" in stderr and storage.left(directory, "v3") == []


# -- full, quota ----------------------------------------------------------------------------------


def test_full_image_is_no_space_and_leaves_nothing(healthy_storage):
    storage = healthy_storage
    directory = storage.directory()
    storage.image.fill()
    assert storage.image.free_bytes() < 4096
    for name in TARGETS:
        failure = failure_of(timed(*storage.target(name, directory)))
        assert (failure["alert"], failure["stage"]) == (136, "write"), (name, failure)
        assert failure.get("ntstatus", failure.get("rpc_status")) in (
            "0xc000007f", "NFS3ERR_NOSPC", "NFS4ERR_NOSPC"
        ), failure  # fmt: skip
    # The probe removed its file after the refusal (NFS) or smbd did when the connection ended (SMB).
    for name in TARGETS:
        wait_for(lambda name=name: storage.left(directory, name) == [], 10)
    storage.image.unfill()
    for name in TARGETS:
        assert timed(*storage.target(name, directory)).ok, name


def test_quota_exhausted(healthy_storage):
    """EDQUOT from the storage (FUSE: no quota support in this kernel): NFS says quota, smbd says disk full."""
    storage = healthy_storage
    directory = storage.directory("fz")
    storage.fuse.fail_writes(errno.EDQUOT)
    expected = {"smb": (136, "0xc000007f"), "v3": (137, "NFS3ERR_DQUOT"), "v4.0": (137, "NFS4ERR_DQUOT"),
                "v4.1": (137, "NFS4ERR_DQUOT")}  # fmt: skip
    for name in TARGETS:
        failure = failure_of(timed(*storage.target(name, directory)))
        assert (failure["alert"], failure.get("ntstatus", failure.get("rpc_status"))) == expected[name], failure
        assert failure["stage"] == "write"
    storage.fuse.thaw()
    for name in TARGETS:
        wait_for(lambda name=name: storage.left(directory, name) == [], 10)
        assert timed(*storage.target(name, directory)).ok


# -- writes frozen, reads served ------------------------------------------------------------------


def test_frozen_writes_fail_at_the_write_stage_by_the_deadline_and_later_probes_clean_up(healthy_storage):
    storage = healthy_storage
    directory = storage.directory("fz")
    storage.fuse.freeze_writes()
    try:
        leftovers = {}
        for name in TARGETS:
            probe, reading = storage.target(name, canary="fz/alive.txt")
            assert timed(probe, reading).ok, name  # reads are served from the same storage
            t0 = time.monotonic()
            obs = timed(*storage.target(name, directory, canary="fz/alive.txt"))
            failure = failure_of(obs)
            assert (failure["alert"], failure["stage"], failure["timed_out"]) == (139, "write", True), failure
            assert time.monotonic() - t0 >= TIMEOUT - 0.05
            leftovers[name] = failure["canary"].rpartition("/")[2]
        blocked = storage.fuse.blocked_operations()
        assert all(any(op.endswith(leftovers[name]) for op in blocked) for name in TARGETS), blocked
    finally:
        storage.fuse.thaw()
    # smbd deletes its file once the blocked write returns (delete-on-close); ganesha finishes the
    # write and keeps the file, which a probe removes once it is older than its life (+2 s).
    wait_for(lambda: storage.left(directory, "smb") == [], 10)
    for name in ("v3", "v4.0", "v4.1"):
        assert storage.left(directory, name) == [leftovers[name]]
        removed_by_later_probes(storage, name, directory, "t", 1)


@pytest.mark.parametrize("name", ["smb", "v3", "v4.1"])
def test_frozen_writes_are_declared_within_the_bound(healthy_storage, tmp_path, name):
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    directory = storage.directory("fz")
    kind, watch_id = add_watch(cli, storage, name, directory)
    rc, detected, stderr = watch_until_declared(cli, kind, watch_id, storage.fuse.freeze_writes, storage.fuse.thaw)
    assert_declared(rc, detected, stderr, 139, "write")
    # The probes that ended at their deadline left their files (smbd deletes its own once the write
    # returns); the watch's next probe, once they are older than their life, removes them.
    if name == "smb":
        wait_for(lambda: storage.left(directory, name) == [], 10)
        return
    leftovers = storage.left(directory, name)
    assert leftovers and all(write_canary.life_of(f, f"nfs.{watch_id}") for f in leftovers), leftovers
    removed_by_later_probes(storage, name, directory, watch_id, len(leftovers))


# -- killed mid-write -----------------------------------------------------------------------------


def cli_probe(cli: FswatchCLI, storage: Storage, name: str, directory: str, timeout: int) -> list:
    write = ("--canary-write", f"{directory}/{name}", "--timeout", str(timeout), "--json")
    if name == "smb":
        return ["probe", "samba", "--share", SHARE, "--port", str(storage.smb.port), *write]
    version = {"v3": "3", "v4.0": "4.0", "v4.1": "4.1"}[name]
    port = ("--port", str(storage.nfs.nfs_port)) if version != "3" else ()
    return ["probe", "nfs", "--export", storage.nfs.export_path, "--address", storage.nfs.address,
            "--nfs-version", version, *port, *write]  # fmt: skip


def blocked_writer(cli: FswatchCLI, storage: Storage, name: str, directory: str, timeout: int) -> tuple:
    """A `fswatch probe` started with writes frozen, once it blocks at its write: (process, file name)."""
    proc = cli.start(*cli_probe(cli, storage, name, directory, timeout))
    prefix = f"write /{directory.removeprefix('fz/')}/{name}/.fswatch-canary."
    op = wait_for(lambda: next((op for op in storage.fuse.blocked_operations() if op.startswith(prefix)), None), 10)
    return proc, op.rpartition("/")[2]


def killed_mid_write(cli: FswatchCLI, storage: Storage, name: str, directory: str) -> str:
    """A `fswatch probe` killed with SIGKILL while its write is frozen; the storage thawed after.
    The name of its file. (Nothing lists the directory meanwhile: smbd's unlink of the file waits
    for the frozen write, holding the directory's lock.)"""
    storage.fuse.freeze_writes()
    try:
        proc, leftover = blocked_writer(cli, storage, name, directory, timeout=3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        storage.fuse.thaw()
    return leftover


def removed_by_later_probes(storage: Storage, name: str, directory: str, watch, count: int) -> None:
    """Probes of the same owner (`watch`; None: `fswatch probe`'s) remove `count` leftovers, each once
    it is older than its life (+ CLOCK_SLACK) on the server's clock. Probed every half second: a
    write the thaw released lands a moment later and makes the file younger (measured)."""
    probe, target = storage.target(name, directory, watch=watch)
    removed = 0
    end = time.monotonic() + 5 + write_canary.CLOCK_SLACK + 10  # the longest life in these tests, + margin
    while storage.left(directory, name) and time.monotonic() < end:
        obs = timed(probe, target)
        assert obs.ok, obs.to_dict()
        removed += int(notes(obs)["write_canary_leftovers_removed"])
        time.sleep(0.5)
    assert storage.left(directory, name) == [] and removed == count, (removed, count)


@pytest.mark.parametrize("name", ["v3", "v4.0", "v4.1"])
def test_nfs_probe_killed_mid_write_leaves_a_file_the_next_probe_removes(healthy_storage, tmp_path, name):
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    directory = storage.directory("fz")
    leftover = killed_mid_write(cli, storage, name, directory)
    assert storage.left(directory, name) == [leftover]
    removed_by_later_probes(storage, name, directory, None, 1)  # `fswatch probe`'s owner: _probe


def test_samba_probe_killed_mid_write_leaves_nothing(healthy_storage, tmp_path):
    """smbd closes the open of a client that vanished, and its delete-on-close removes the file."""
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    directory = storage.directory("fz")
    killed_mid_write(cli, storage, "smb", directory)
    wait_for(lambda: storage.left(directory, "smb") == [], 10)


def _smbd_child_holding(storage: Storage, leftover: str) -> int:
    for pid in storage.smb.children():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(leftover):
                    return pid
            except OSError:
                continue
    return 0


def test_smbd_child_killed_mid_write_leaves_a_file_the_next_probe_removes(healthy_storage, tmp_path):
    """An smbd child that dies mid-write never closes its open: the file stays, for the sweep."""
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    directory = storage.directory("fz")
    storage.fuse.freeze_writes()
    try:
        proc, leftover = blocked_writer(cli, storage, "smb", directory, timeout=5)
        child = wait_for(lambda: _smbd_child_holding(storage, leftover), 5)
        os.kill(child, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 1 and '"alert": 139' in out, out
    finally:
        storage.fuse.thaw()
    time.sleep(0.5)  # smbd's parent reaps its child; nothing closes the file
    assert storage.left(directory, "smb") == [leftover]
    removed_by_later_probes(storage, "smb", directory, None, 1)


def test_the_sweep_removes_nothing_else(healthy_storage):
    """Only the owner's own names, regular files, past their life: not another watch's, another
    kind's, a younger one, a directory or a look-alike."""
    storage = healthy_storage
    directory = storage.directory()
    old = time.time() - 3600
    keep = {
        "v3": [".fswatch-canary.nfs.other.2.0123456789abcdef", ".fswatch-canary.samba.t.2.0123456789abcdef",
               ".fswatch-canary.nfs.t.99999.0123456789abcdef", ".fswatch-canary.nfs.t.2.0123456789abcdeX",
               "fswatch-canary.nfs.t.2.0123456789abcdef", ".fswatch-canary.nfs.t.2.0123456789abcdef.bak"],
        "smb": [".fswatch-canary.nfs.t.2.0123456789abcdef", ".fswatch-canary.samba.T.2.0123456789abcdef",
                ".fswatch-canary.samba.t.99999.0123456789abcdef", "data.txt"],
    }  # fmt: skip
    gone = {"v3": ".fswatch-canary.nfs.t.2.00000000000000aa", "smb": ".fswatch-canary.samba.t.2.00000000000000bb"}
    for name in ("v3", "smb"):
        for file in [*keep[name], gone[name]]:
            path = storage.path(f"{directory}/{name}/{file}")
            path.write_bytes(b"x")
            os.chown(path, NOBODY, NOBODY)  # as smbd's guest account made it: its to remove
            os.utime(path, (old, old))
        kind = "nfs" if name == "v3" else "samba"
        lookalike_dir = storage.path(f"{directory}/{name}/.fswatch-canary.{kind}.t.2.0123456789abcdee")
        lookalike_dir.mkdir()
        os.utime(lookalike_dir, (old, old))
        obs = timed(*storage.target(name, directory))
        assert obs.ok and notes(obs)["write_canary_leftovers_removed"] == "1", obs.to_dict()
        assert storage.left(directory, name) == sorted([*keep[name], lookalike_dir.name])


# -- add refuses, probe --json reports ------------------------------------------------------------


def test_add_refuses_a_guest_that_may_not_write_and_checks_one_that_may(healthy_storage, tmp_path):
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    locked = storage.directory()
    storage.path(locked).chmod(0o755)  # root's: the guest account (nobody) may not create files
    smb = ("add", "samba", "g1", "--share", SHARE, "--port", str(storage.smb.port))
    refused = cli(*smb, "--canary-write", locked)
    assert refused.returncode == 2 and "alert 11" in refused.stderr, refused.stderr
    assert "denies the guest account" in refused.stderr and "STATUS_ACCESS_DENIED" in refused.stderr
    assert not (cli.config / "samba" / "g1.conf").exists()
    checked = cli(*smb, "--canary-write", f"{locked}/smb")  # 1777
    assert checked.returncode == 0 and "write canary checked" in checked.stdout, checked.stdout


def test_add_refuses_a_root_squashed_uid_0_that_may_not_write(tmp_path):
    with NfsServer(netns=True, squash="Root_Squash") as server:
        locked = Path(server.export_path) / "locked"
        locked.mkdir(mode=0o755)
        open_dir = Path(server.export_path) / "open"
        open_dir.mkdir()
        open_dir.chmod(0o1777)
        cli = FswatchCLI(tmp_path)
        for version in ("3", "4.1"):
            port = ("--port", str(server.nfs_port)) if version != "3" else ()
            nfs = ("add", "nfs", f"r{version[0]}", "--export", server.export_path, "--address", server.address,
                   "--nfs-version", version, *port)  # fmt: skip
            refused = cli(*nfs, "--canary-write", "locked")
            assert refused.returncode == 2 and "alert 11" in refused.stderr, refused.stderr
            assert "denies uid 0" in refused.stderr and "root-squashing" in refused.stderr, refused.stderr
            checked = cli(*nfs, "--canary-write", "open")
            assert checked.returncode == 0 and "write canary checked" in checked.stdout, checked.stdout
        assert os.listdir(open_dir) == []


def test_add_writes_the_watch_when_the_server_cannot_be_asked(tmp_path):
    """A passive node: the server is not reachable from here now, so add cannot know; it says so."""
    cli = FswatchCLI(tmp_path)
    add = cli("add", "nfs", "p1", "--export", "/srv", "--address", "127.0.0.1", "--port", "9", "--nfs-version",
              "4", "--canary-write", "cw", "--timeout", "2")  # fmt: skip
    assert add.returncode == 0 and "write canary not checked (alert 84" in add.stdout, add.stdout + add.stderr
    assert "canary_write = cw" in (cli.config / "nfs" / "p1.conf").read_text()


def test_probe_json_reports_the_write_canary_stages(healthy_storage, tmp_path):
    storage = healthy_storage
    cli = FswatchCLI(tmp_path)
    directory = storage.directory()
    for name in TARGETS:
        rc, out, proc = cli.json(*cli_probe(cli, storage, name, directory, timeout=10))
        assert rc == 0, proc.stderr
        stages = [s["stage"] for s in out["stages"]]
        assert stages[stages.index("write_create") : stages.index("write_create") + 5] == WRITE_STAGES, stages
        assert stages[-1] in ("teardown", "umount", "write_sweep", "destroy_clientid"), stages
        assert out["notes"]["write_canary_bytes"] == "4096"
        assert out["notes"]["write_canary_file"].startswith(f"{directory}/{name}/.fswatch-canary.")
        assert ("._probe." in out["notes"]["write_canary_file"]) and storage.left(directory, name) == []
    storage.image.remount(read_only=True)
    rc, out, _ = cli.json(*cli_probe(cli, storage, "v3", directory, timeout=10))
    assert rc == 1 and out["alert"] == 135 and out["failure"]["stage"] == "write_create", out
    assert out["message"] == (
        f"The clp_nfsmon has found NFS shared directory '{storage.nfs.export_path}' read-only: the canary file "
        f"could not be written ({directory}/v3: NFS3ERR_ROFS)."
    )
