"""The FUSE freeze fixture itself: passthrough, freeze blocks, thaw releases, clean teardown."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.fuse_freeze import FuseFreeze, _is_fuse_mount

pytestmark = pytest.mark.integration


def stat_in_thread(path):
    done = {}

    def run():
        began = time.monotonic()
        os.statvfs(path)
        done["seconds"] = time.monotonic() - began

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_passthrough_then_freeze_and_thaw(fuse_freeze):
    (fuse_freeze.path / "f.txt").write_text("data")
    assert (fuse_freeze.backing / "f.txt").read_text() == "data"
    assert sorted(os.listdir(fuse_freeze.path)) == ["f.txt"]
    assert oct(os.stat(fuse_freeze.path).st_mode & 0o7777) == "0o1777"  # a guest may enter
    fuse_freeze.freeze()
    thread, done = stat_in_thread(fuse_freeze.path)
    thread.join(0.5)
    assert thread.is_alive() and not done, "statvfs went through a frozen mount"
    assert fuse_freeze.blocked_operations() == ["statfs /"]
    fuse_freeze.thaw()
    thread.join(2)
    assert not thread.is_alive() and 0.4 < done["seconds"] < 2.5


def test_two_mounts_freeze_independently_and_close_while_frozen():
    with FuseFreeze() as one, FuseFreeze() as two:
        assert one.path != two.path and one.pid != two.pid
        one.freeze()
        os.statvfs(two.path)  # not frozen
        thread, _ = stat_in_thread(one.path)
        root, mount = one.root, one.path
        began = time.monotonic()
        one.close()  # thaws first: the blocked operation ends, then the unmount works
        assert time.monotonic() - began < 3
        thread.join(2)
        assert not thread.is_alive()
        assert not _is_fuse_mount(mount) and not root.exists() and one.pid == 0
        assert _is_fuse_mount(two.path)


def test_a_crashed_test_process_leaves_no_mount_behind(tmp_path):
    # The test process dies without close() while frozen: the FUSE process thaws, unmounts, ends.
    script = (
        "import os, sys; sys.path.insert(0, sys.argv[1])\n"
        "from tests.fixtures.fuse_freeze import FuseFreeze\n"
        "fs = FuseFreeze(); fs.start(); fs.freeze(); print(fs.path, fs.pid, flush=True); os._exit(0)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script, str(repo)], capture_output=True, text=True, timeout=30)
    path, pid = out.stdout.split()
    try:
        gone = lambda: not _is_fuse_mount(Path(path)) and not Path(f"/proc/{pid}").exists()  # noqa: E731
        deadline = time.monotonic() + 5
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(), f"{path} still mounted or FUSE pid {pid} alive"
    finally:
        shutil.rmtree(Path(path).parent, ignore_errors=True)
