"""Running client tools as `nobody` from a small helper process, timed there.

Why: as root, rpcinfo and showmount each leave two reserved source ports in TIME_WAIT for
60 s, so a few hundred runs would exhaust the host's reserved range, which fswatch's NFS
probes (and any test running beside the bench) bind from. Unprivileged they take ordinary
ports. But subprocess cannot vfork() when it has to change the uid, and a fork() of the big
bench process costs ~1.5 ms more than the tools' own run; so the uid is changed once, for
this helper, which then starts each tool with vfork() like the root series does.
"""

from __future__ import annotations

import json
import subprocess
from typing import Dict, List

NOBODY = 65534
# nobody cannot enter root's home, where the venv's interpreter lives; the helper needs only the stdlib.
SYSTEM_PYTHON = "/usr/bin/python3"

# The helper: one JSON request per line in, one JSON answer per line out.
_HELPER = r"""
import json, subprocess, sys, time
for line in sys.stdin:
    req = json.loads(line)
    began = time.perf_counter()
    try:
        p = subprocess.run(req["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=req["timeout"])
        out = {"rc": p.returncode, "killed": False, "stderr": p.stderr.decode(errors="replace").strip()[-300:]}
    except subprocess.TimeoutExpired:
        out = {"rc": None, "killed": True, "stderr": ""}
    out["seconds"] = time.perf_counter() - began
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""


class Unprivileged:
    """A helper process running as nobody; `run(argv, timeout)` like phases.run_tool."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-I", "-c", _HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            cwd="/",
        )

    def run(self, argv: List[str], timeout: float) -> Dict[str, object]:
        self._proc.stdin.write(json.dumps({"argv": argv, "timeout": timeout}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the unprivileged tool runner ended (exit {self._proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)

    def __enter__(self) -> Unprivileged:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
