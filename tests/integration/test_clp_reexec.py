"""The clp_* start form moves -p out of its argv by re-executing itself: the new process
must run fswatch's own code (never a `fswatch` package in the caller's working directory)
and lose exactly the password, by position (SPEC.md section 9)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli import FswatchCLI, alert_ids, wait_for

pytestmark = pytest.mark.integration
BIN = os.path.dirname(sys.executable)
SECRET = "s3cret-Pw"


class Clp(FswatchCLI):
    def argv(self, command: str, *args: str):  # type: ignore[override]
        return [os.path.join(BIN, command), *args]


@pytest.fixture
def clp(tmp_path):
    cli = Clp(tmp_path)
    cli.env["FSWATCH_SUPERVISION"] = "inprocess"
    return cli


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_reexec_never_imports_from_the_working_directory(clp, tmp_path):
    """A caller whose working directory holds a `fswatch` package: the re-executed watch
    runs the installed fswatch. The old main re-ran `python -m fswatch.surfaces.clp`, which put the
    working directory first on sys.path and ran that package."""
    evil = tmp_path / "cwd"
    marker = tmp_path / "marker"
    (evil / "fswatch").mkdir(parents=True)
    payload = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for name in ("__init__.py", "clp.py", "__main__.py", "cli.py"):
        (evil / "fswatch" / name).write_text(payload)
    port = closed_port()
    proc = subprocess.run(
        clp.argv("clp_sambamon", "w1", "-s", "public", "-n", str(port), "-p", SECRET, "-i", "1", "-c", "1", "-r", "1"),
        env=clp.env,
        cwd=evil,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert not marker.exists(), f"imported from the working directory: {marker.read_text()}"
    assert proc.returncode == 1, proc.stderr
    assert alert_ids(proc.stderr)[:1] == [1] and alert_ids(proc.stderr)[-1] == 6, proc.stderr


def cmdline(pid: int) -> list:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def disp(clp, watch_id: str):
    proc = clp("clp_sambamon", watch_id, "-disp")
    return int(proc.stdout) if proc.returncode == 0 else None


def test_exactly_the_password_leaves_argv_by_position(clp):
    """Share '-p', user '-p' and a password '-u' that equals another argument: only the
    -p option and its value go. The old main removed the first '-p' it found (the share),
    and the watch ran with the password as its user, in its argv."""
    port = closed_port()
    options = ["-s", "-p", "-n", str(port), "-u", "-p", "-p", "-u", "-i", "1", "-c", "100", "-r", "1"]
    proc = clp.start("clp_sambamon", "w1", *options)
    try:
        pid = wait_for(lambda: disp(clp, "w1"), 15)
        argv = cmdline(pid)
        assert argv[argv.index("w1") :] == ["w1", *options[:6], *options[8:]], argv
        assert argv[1] == "-I"  # isolated: neither PYTHONPATH nor the working directory on sys.path
        records = json.loads(clp("fswatch", "status", "samba", "w1", "--json").stdout)
        assert records[0]["pid"] == pid
    finally:
        clp("clp_sambamon", "w1", "-stop", "5")
        try:
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (clp.runtime / "samba" / "w1.password").read_text() == "-u\n"  # the password it was given
