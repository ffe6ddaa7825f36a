"""Every command meets the system's refusals cleanly: alert 42 and exit 5 for an errno
(EACCES, EROFS, ENOSPC, ENOTDIR, EISDIR, ELOOP), alert 11 and exit 2 for a file of the
wrong type or content — one line, never a traceback, never a hang (SPEC.md section 9).

The errors are real: EACCES by running the command as `nobody` (setpriv) or with a
non-executable systemctl, EROFS with a read-only bind mount and ENOSPC with a full 64 KiB
tmpfs (both inside `unshare --mount`, so nothing outside the test sees them), ENOTDIR and
EISDIR with a file or a directory where the other is expected.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import pytest

from fswatch.host.control import Control, InstanceLock

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
READ_ONLY = 'mount --bind -o ro "$0" "$0"'
FULL = 'mount -t tmpfs -o size=64k,mode=0755 tmpfs "$0"; dd if=/dev/zero of="$0/fill" bs=4096 2>/dev/null || true'
CONF = {
    "samba": "[watch]\nshare = s\naddress = 127.0.0.1\nport = 1\ninterval = 30\n",
    "nfs": "[watch]\nexport = /x\naddress = 127.0.0.1\nport = 1\ninterval = 30\n",
}


@dataclass
class Case:
    argv: Sequence[Union[str, bytes]]
    setup: Callable[[World], None] = lambda w: None
    exit: int = 5
    alert: int = 42
    nobody: bool = False
    mount: Optional[str] = None  # a shell line run in a private mount namespace; $0 = mount_on
    mount_on: str = "config"  # "config" or "runtime"
    stdin: bytes = b""
    env: dict = field(default_factory=dict)


class World:
    """Private config and runtime dirs that `nobody` can traverse but not write."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.config = base / "etc"
        self.runtime = base / "run"
        self.locks: List[InstanceLock] = []
        for d in (self.config / "samba", self.config / "nfs", self.runtime / "samba", self.runtime / "nfs"):
            d.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        self.env.update(FSWATCH_CONFIG_DIR=str(self.config), FSWATCH_RUNTIME_DIR=str(self.runtime))
        self.env["FSWATCH_SUPERVISION"] = "inprocess"

    def conf(self, kind: str, watch_id: str) -> Path:
        path = self.config / kind / f"{watch_id}.conf"
        path.write_text(CONF[kind])
        return path

    def running(self, kind: str, watch_id: str) -> None:
        """A live watch as others see it: its instance lock held (by this test process)."""
        lock = InstanceLock(Control(self.runtime / kind / watch_id))
        lock.acquire()
        self.locks.append(lock)

    def paused(self, kind: str, watch_id: str) -> None:
        Control(self.runtime / kind / watch_id).request_pause()

    def secret(self, name: str, data: bytes = b"pw\n", mode: int = 0o600) -> Path:
        path = self.base / name
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def dead_state(self, kind: str, watch_id: str, text: str = '{"phase": "failed"}\n') -> Path:
        path = self.runtime / kind / watch_id / "state.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path

    def argv(self, argv: Sequence[Union[str, bytes]]) -> List[Union[str, bytes]]:
        first = str(argv[0])
        if first.startswith("clp_"):
            cmd: List[Union[str, bytes]] = [str(BIN / first)]
        else:
            cmd = [sys.executable, "-m", "fswatch"]
        return cmd + [a.replace("{base}", str(self.base)) if isinstance(a, str) else a for a in argv[1:]]

    def run(self, case: Case) -> subprocess.CompletedProcess:
        argv = self.argv(case.argv)
        if case.nobody:
            argv = NOBODY + argv
        if case.mount:
            target = self.config if case.mount_on == "config" else self.runtime
            shell = "set -e; " + case.mount + '; exec "$@"'
            argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", shell, str(target), *argv]
        env = dict(self.env, **{k: v.replace("{base}", str(self.base)) for k, v in case.env.items()})
        return subprocess.run(argv, input=case.stdin, capture_output=True, timeout=20, env=env, cwd=self.base)


@pytest.fixture
def world():
    base = Path(tempfile.mkdtemp(prefix="fswatch-faults-"))
    base.chmod(0o755)  # pytest's tmp_path is 0700: nobody could not even reach the files
    w = World(base)
    try:
        yield w
    finally:
        for lock in w.locks:
            lock.release()
        shutil.rmtree(base)


def no_exec_systemctl(w: World) -> None:
    bindir = w.base / "bin"
    bindir.mkdir()
    (bindir / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "systemctl").chmod(0o644)  # EACCES at exec, even for root


def runtime_kind_is_a_file(w: World) -> None:
    w.conf("nfs", "n1")
    shutil.rmtree(w.runtime / "samba")
    (w.runtime / "samba").write_text("not a directory\n")


def private_runtime(w: World) -> None:
    w.conf("nfs", "n1")
    w.running("samba", "w1")
    (w.runtime / "samba").chmod(0o700)


def conf_is_a_dir(w: World) -> None:
    (w.config / "samba" / "w1.conf").mkdir()


def link_runtime_kind(w: World) -> None:
    elsewhere = w.base / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(w.runtime / "nfs")
    (w.runtime / "nfs").symlink_to(elsewhere)
    w.conf("nfs", "n1")


# The supervision mode where systemd is PID 1, forced: the unit commands go to systemctl.
SYSTEMD_MODE = {"PATH": "{base}/bin", "FSWATCH_SUPERVISION": "systemd"}

CASES = {
    # -- EACCES: as nobody, in directories root owns ----------------------------------------
    "add/EACCES": Case(["fswatch", "add", "nfs", "n1", "--export", "/x"], nobody=True),
    "remove/EACCES": Case(["fswatch", "remove", "nfs", "n1"], lambda w: w.conf("nfs", "n1"), nobody=True),
    "run/EACCES-password": Case(
        ["fswatch", "run", "samba", "w1"],
        lambda w: (w.conf("samba", "w1"), shutil.copy(w.secret("x"), w.config / "samba" / "w1.password")),
        nobody=True,
    ),
    "pause/EACCES": Case(["fswatch", "pause", "samba", "w1"], lambda w: w.running("samba", "w1"), nobody=True),
    "continue/EACCES": Case(  # a running watch: continue of one that is not running is alert 145 first
        ["fswatch", "continue", "samba", "w1"], lambda w: (w.running("samba", "w1"), w.paused("samba", "w1")),
        nobody=True,
    ),
    "reset/EACCES": Case(["fswatch", "reset", "samba", "w1"], lambda w: w.dead_state("samba", "w1"), nobody=True),
    "probe/EACCES-password": Case(
        ["fswatch", "probe", "samba", "--share", "s", "--port", "1", "--password-file", "{base}/x"],
        lambda w: w.secret("x"),
        nobody=True,
    ),
    "start/EACCES-systemctl": Case(["fswatch", "start", "samba", "w1"], no_exec_systemctl, env=SYSTEMD_MODE),
    "stop/EACCES-systemctl": Case(["fswatch", "stop", "samba", "w1"], no_exec_systemctl, env=SYSTEMD_MODE),
    "status/EACCES": Case(["fswatch", "status"], private_runtime, nobody=True),
    "clp-start/EACCES": Case(["clp_sambamon", "w1", "-s", "s", "-n", "1", "-p", "pw"], nobody=True),
    "clp-pause/EACCES": Case(["clp_sambamon", "w1", "-pause"], lambda w: w.running("samba", "w1"), nobody=True),
    "clp-continue/EACCES": Case(
        ["clp_sambamon", "w1", "-continue"], lambda w: (w.running("samba", "w1"), w.paused("samba", "w1")), nobody=True
    ),  # noqa: E501
    "clp-del/EACCES": Case(["clp_sambamon", "w1", "-del"], lambda w: w.dead_state("samba", "w1"), nobody=True),
    "clp-stop/EACCES": Case(["clp_sambamon", "w1", "-stop", "1"], private_runtime, nobody=True),
    "clp-disp/EACCES": Case(["clp_nfsmon", "n1", "-disp"], lambda w: (w.runtime / "nfs").chmod(0o700), nobody=True),
    # -- EROFS: a read-only bind mount in a private mount namespace ---------------------------
    "add/EROFS": Case(["fswatch", "add", "nfs", "n1", "--export", "/x"], mount=READ_ONLY),
    "remove/EROFS": Case(["fswatch", "remove", "nfs", "n1"], lambda w: w.conf("nfs", "n1"), mount=READ_ONLY),
    "run/EROFS": Case(
        ["fswatch", "run", "nfs", "n1"],
        lambda w: (w.conf("nfs", "n1"), Control(w.runtime / "nfs" / "n1").ensure()),
        mount=READ_ONLY,
        mount_on="runtime",
    ),
    "pause/EROFS": Case(
        ["fswatch", "pause", "nfs", "n1"], lambda w: w.running("nfs", "n1"), mount=READ_ONLY, mount_on="runtime"
    ),  # noqa: E501
    "reset/EROFS": Case(
        ["fswatch", "reset", "nfs", "n1"], lambda w: w.dead_state("nfs", "n1"), mount=READ_ONLY, mount_on="runtime"
    ),  # noqa: E501
    "clp-start/EROFS": Case(
        ["clp_sambamon", "w1", "-s", "s", "-n", "1", "-p", "pw"], mount=READ_ONLY, mount_on="runtime"
    ),  # noqa: E501
    "clp-del/EROFS": Case(
        ["clp_nfsmon", "n1", "-del"], lambda w: w.dead_state("nfs", "n1"), mount=READ_ONLY, mount_on="runtime"
    ),  # noqa: E501
    # -- ENOSPC: a full tmpfs ------------------------------------------------------------------
    "add/ENOSPC": Case(["fswatch", "add", "nfs", "n1", "--export", "/x"], mount=FULL),
    "clp-start/ENOSPC": Case(["clp_sambamon", "w1", "-s", "s", "-n", "1", "-p", "pw"], mount=FULL, mount_on="runtime"),
    # -- ENOTDIR, EISDIR, ELOOP ----------------------------------------------------------------
    "add/ENOTDIR": Case(
        ["fswatch", "add", "nfs", "n1", "--export", "/x"],
        lambda w: (shutil.rmtree(w.config / "nfs"), (w.config / "nfs").write_text("")),
    ),  # noqa: E501
    "pause/ENOTDIR": Case(["fswatch", "pause", "samba", "w1"], runtime_kind_is_a_file),
    "status/ENOTDIR": Case(["fswatch", "status"], runtime_kind_is_a_file),
    "probe/ENOTDIR": Case(["fswatch", "probe", "samba", "--share", "s", "--password-file", "/etc/passwd/x"]),
    "add/EISDIR": Case(["fswatch", "add", "samba", "w1", "--share", "s"], conf_is_a_dir),
    "run/ELOOP": Case(["fswatch", "run", "nfs", "n1"], link_runtime_kind),
    # -- files of the wrong type or content: refused (alert 11, exit 2), never read ----------
    "run/FIFO-conf": Case(
        ["fswatch", "run", "nfs", "n1"], lambda w: os.mkfifo(w.config / "nfs" / "n1.conf"), exit=2, alert=11
    ),  # noqa: E501
    "run/dev-zero-conf": Case(
        ["fswatch", "run", "nfs", "n1"],
        lambda w: os.mknod(w.config / "nfs" / "n1.conf", 0o644 | stat.S_IFCHR, os.makedev(1, 5)),
        exit=2,
        alert=11,
    ),
    "run/FIFO-password": Case(
        ["fswatch", "run", "samba", "w1"],
        lambda w: (w.conf("samba", "w1"), os.mkfifo(w.config / "samba" / "w1.password")),
        exit=2,
        alert=11,
    ),
    "run/FIFO-credential": Case(
        ["fswatch", "run", "samba", "w1"],
        lambda w: (w.conf("samba", "w1"), (w.base / "cred").mkdir(), os.mkfifo(w.base / "cred" / "password")),
        exit=2,
        alert=11,
        env={"CREDENTIALS_DIRECTORY": "{base}/cred"},
    ),
    "add/long-stdin-password": Case(
        ["fswatch", "add", "samba", "w1", "--share", "s", "--password-file", "-"], exit=2, alert=11, stdin=b"a" * 99_999
    ),
    "add/not-UTF-8-password": Case(
        ["fswatch", "add", "samba", "w1", "--share", "s", "--password-file", "-"], exit=2, alert=11, stdin=b"p\xffw\n"
    ),
    "add/NUL-password": Case(
        ["fswatch", "add", "samba", "w1", "--share", "s", "--password-file", "{base}/x"],
        lambda w: w.secret("x", b"p\0w\n"),
        exit=2,
        alert=11,
    ),
    "clp-start/not-UTF-8-password": Case(["clp_sambamon", "w1", "-s", "s", "-p", b"p\xffw"], exit=2, alert=11),
    "add/leading-space-share": Case(["fswatch", "add", "samba", "w1", "--share", " s"], exit=2, alert=11),
    "add/trailing-space-export": Case(["fswatch", "add", "nfs", "n1", "--export", "/x "], exit=2, alert=11),
    "clp-start/space-user": Case(["clp_sambamon", "w1", "-s", "s", "-u", "u "], exit=2, alert=11),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_clean_refusal(world, name):
    case = CASES[name]
    case.setup(world)
    proc = world.run(case)
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert proc.returncode == case.exit, (proc.returncode, err, proc.stdout)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"alert {case.alert}:" in lines[0], err
    if name.startswith("status/"):
        assert " n1 " in proc.stdout.decode()  # the watch that can be read is still shown


def test_start_where_systemd_is_not_pid_1_says_so_in_one_line(world):
    """No unit can be started: one line that says why and what runs the watch instead (not
    systemctl's two lines pointing to a journal that has nothing)."""
    proc = world.run(Case(["fswatch", "start", "samba", "w1"], lambda w: w.conf("samba", "w1")))
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 5 and len(lines) == 1, lines
    assert "alert 42:" in lines[0] and "systemd is not running on this machine" in lines[0]
    assert "fswatch run samba w1" in lines[0] and "journalctl" not in lines[0]


def test_status_shows_every_watch_whatever_one_entry_holds(world):
    """A stray file, a bad name, a link, a FIFO, an unreadable state file and JSON of the
    wrong shape hide no other watch, in the text and in the JSON output."""
    w = world
    w.conf("nfs", "good")
    w.dead_state("nfs", "good", '{"phase": "failed", "failures": 3, "attempts": 3}\n')
    w.dead_state("samba", "list", "[1, 2]\n")
    w.dead_state("samba", "types", '{"phase": 7, "failures": "x", "last_probe": {"started": "x", "total_ms": []}}\n')
    w.dead_state("samba", "deep", "[" * 100_000 + "\n")
    w.dead_state("samba", "huge", '{"status": "' + "x" * 1_000_000 + '"}\n')
    w.dead_state("samba", "inf", '{"last_probe": {"started": 1e300, "total_ms": 1, "stages": []}}\n')
    (w.runtime / "samba" / "fifo").mkdir()
    os.mkfifo(w.runtime / "samba" / "fifo" / "state.json")
    (w.runtime / "samba" / "link").symlink_to(w.base)
    (w.runtime / "samba" / "bad name").mkdir()
    (w.runtime / "samba" / "stray.conf").write_text("x")  # clp's runtime settings live beside the dirs
    (w.config / "samba" / "notes.txt").write_text("x")
    text = w.run(Case(["fswatch", "status"]))
    js = w.run(Case(["fswatch", "status", "--json"]))
    for proc in (text, js):
        assert b"Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 5, proc.stderr  # the link: alert 42, after everything was shown
    records = {r["id"]: r for r in json.loads(js.stdout)}
    assert set(records) == {"good", "list", "types", "deep", "huge", "inf", "fifo", "link"}
    assert records["good"]["phase"] == "failed" and records["good"]["failures"] == 3 and "error" not in records["good"]
    for bad in ("list", "types", "deep", "huge", "fifo", "link"):
        assert records[bad]["error"], bad
    assert records["types"]["phase"] == "inactive"  # phase 7 was left out, not shown
    out = text.stdout.decode()
    for watch_id in records:
        assert f" {watch_id} " in out


@pytest.mark.parametrize("linked", ["watch", "kind"])
@pytest.mark.parametrize("argv", [["fswatch", "reset", "samba", "w1"], ["clp_sambamon", "w1", "-del"]])
def test_reset_and_del_delete_nothing_outside_the_runtime_tree(world, argv, linked):
    """A link planted in the runtime tree (the watch's directory, or the kind's) pointing
    elsewhere: reset and -del refuse it (alert 42, ELOOP) and delete nothing there. The
    old main followed it and deleted the state, pause and lock files it found."""
    elsewhere = world.base / "elsewhere"
    victims = elsewhere / "w1" if linked == "kind" else elsewhere
    victims.mkdir(parents=True)
    for name in ("state.json", "pause", "lock", "w1.conf", "w1.password"):
        (victims / name).write_text("precious\n")
    if linked == "kind":
        shutil.rmtree(world.runtime / "samba")
        (world.runtime / "samba").symlink_to(elsewhere)
        for name in ("w1.conf", "w1.password"):
            (elsewhere / name).write_text("precious\n")
    else:
        (world.runtime / "samba" / "w1").symlink_to(elsewhere)
    before = sorted(str(p) for p in elsewhere.rglob("*"))
    proc = world.run(Case(argv))
    err = proc.stderr.decode()
    assert proc.returncode == 5 and "alert 42" in err and "symbolic link" in err, err
    assert sorted(str(p) for p in elsewhere.rglob("*")) == before


def test_a_full_runtime_directory_is_alert_42_once_status_marks_the_state_stale_then_162(samba_server, tmp_path):
    """The watch's runtime directory on a 256 KiB tmpfs (in a private mount namespace), filled
    while the watch runs against a real smbd: it goes on probing, says alert 42 once (not
    once per probe), `status` shows its last state marked stale; space freed, alert 162 once
    and the state is fresh again. On the old main the watch said nothing at all."""
    from tests.integration.cli import FswatchCLI, alert_ids, alert_lines, logged, only_alert_lines, wait_for

    cli = FswatchCLI(tmp_path)
    added = cli("add", "samba", "w1", "--share", "public", "--port", str(samba_server.port), "--interval", "1",
                "--retries", "2", "--timeout", "1")
    assert added.returncode == 0, added.stderr
    cli.runtime.mkdir()
    mount = 'mount -t tmpfs -o size=256k,mode=0755 tmpfs "$0" && exec "$@"'
    log = tmp_path / "alerts"
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount, str(cli.runtime),
            *cli.argv("run", "samba", "w1")]  # fmt: skip
    with logged(argv, cli.env, log) as watch:
        # The watch's own view of its runtime directory (its mount namespace), and its status there.
        runtime = Path(f"/proc/{watch.pid}/root") / str(cli.runtime).lstrip("/")

        def status():
            proc = subprocess.run(["nsenter", "-t", str(watch.pid), "-m", "--", *cli.argv("status", "--json")],
                                  env=cli.env, capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)[0]

        wait_for(lambda: (runtime / "samba" / "w1" / "state.json").exists() and status()["health"] == "healthy", 15)
        with open(runtime / "fill", "wb", buffering=0) as fill:  # until the file system is full
            for _ in range(1024):  # bounded: 4 MiB, far more than 256 KiB
                try:
                    fill.write(b"\0" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
            else:
                raise AssertionError("the tmpfs never filled")
        wait_for(lambda: 42 in alert_ids(log.read_text()), 10)
        stale = wait_for(lambda: (lambda r: r if r["stale_for"] is not None else None)(status()), 15)
        # interval + timeout + slack: shown once over it, rounded to 0.1 s (7.04 s shows as 7.0)
        assert stale["health"] == "healthy" and stale["stale_for"] >= 1 + 1 + 5
        assert watch.poll() is None and alert_ids(log.read_text()) == [1, 2, 42]  # once, after many probes
        (runtime / "fill").unlink()
        wait_for(lambda: 162 in alert_ids(log.read_text()), 10)
        fresh = status()
        assert fresh["health"] == "healthy" and fresh["stale_for"] is None
        watch.send_signal(signal.SIGTERM)
        rc = watch.wait(timeout=10)
    text = log.read_text()
    only_alert_lines(text)
    assert rc == 0 and alert_ids(text) == [1, 2, 42, 162, 3], text
    failed = alert_lines(text, 42)[0]
    assert "The clp_sambamon has detected system error (write 28)." in failed and "No space left on device" in failed
