#!/usr/bin/env python3
"""`make test-under-load`: the whole suite five times in a row with a CPU hog on every core.

Run it before landing a change that touches timing (a deadline, a bound, a test's window).
Each hog is a busy loop in its own process that ends by itself after MAX_HOG_SECONDS (so a
killed runner leaves nothing spinning for long) and is stopped by its PID when the runs
end. Stops at the first failing run and exits with its status.

Options: RUNS=5 and PYTEST_ARGS="..." (extra pytest arguments, e.g. a subset while
trying the target out).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("RUNS", "5"))
MAX_HOG_SECONDS = 6 * 3600  # bound on each hog; five full runs take well under this
HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def start_hogs(count: int) -> list[subprocess.Popen]:
    code = HOG.format(seconds=MAX_HOG_SECONDS)
    return [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for hog in hogs:
        if hog.poll() is None:
            os.kill(hog.pid, signal.SIGKILL)  # by PID: only the processes this script started
        hog.wait(timeout=10)


def main() -> int:
    cores = os.cpu_count() or 2
    extra = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *extra]
    hogs = start_hogs(cores)
    print(f"under-load: {cores} CPU hogs (PIDs {' '.join(str(h.pid) for h in hogs)}); {RUNS} runs of: "
          f"{shlex.join(cmd)}", flush=True)
    try:
        for run in range(1, RUNS + 1):
            began = time.monotonic()
            rc = subprocess.run(cmd, cwd=ROOT).returncode
            took = time.monotonic() - began
            print(f"under-load: run {run}/{RUNS} exit {rc} in {took:.0f} s", flush=True)
            if rc != 0:
                print(f"under-load: FAILED at run {run}", flush=True)
                return rc
    finally:
        stop_hogs(hogs)
    print(f"under-load: all {RUNS} runs passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
