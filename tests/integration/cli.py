"""Running the real `fswatch` command in tests, with private config and runtime dirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Sequence


class FswatchCLI:
    def __init__(self, root: Path) -> None:
        self.config = root / "etc"
        self.runtime = root / "run"
        self.env = dict(os.environ)
        self.env.update(FSWATCH_CONFIG_DIR=str(self.config), FSWATCH_RUNTIME_DIR=str(self.runtime))
        for var in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY"):
            self.env.pop(var, None)

    def argv(self, *args: str) -> List[str]:
        return [sys.executable, "-m", "fswatch", *args]

    def __call__(self, *args: str, timeout: float = 60, input: Optional[str] = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, input=input
        )

    def json(self, *args: str, timeout: float = 60) -> tuple:
        proc = self(*args, timeout=timeout)
        return proc.returncode, json.loads(proc.stdout), proc

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@contextmanager
def logged(argv: Sequence[str], env: dict, log: Path) -> Iterator[subprocess.Popen]:
    """A watch whose alerts go to the file `log`, to be read while it runs (a pipe could only
    be read at its end); killed at the end if it still runs."""
    with open(log, "w") as err:
        proc = subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def alert_lines(text: str, alert_id: int) -> List[str]:
    """The lines of alert `alert_id` in a watch's stderr."""
    return [line for line in text.splitlines() if f" alert {alert_id}: " in line]


def only_alert_lines(stderr: str) -> None:
    """Every stderr line is one of fswatch's alerts, or the failure timeline that StderrSink
    indents under alert 6: no traceback, no library log line."""
    assert "Traceback" not in stderr, stderr
    alert = False
    for line in stderr.splitlines():
        if line.startswith("    ") and alert:
            continue
        alert = line.startswith("fswatch: ") and " alert " in line
        assert alert, f"not an fswatch alert line: {line!r}\n{stderr}"


def alert_ids(stderr: str) -> List[int]:
    """The alert ids of `fswatch: KIND ID: alert N: ...` lines, in order."""
    ids = []
    for line in stderr.splitlines():
        words = line.split()
        if "alert" in words:
            i = words.index("alert")
            if i + 1 < len(words):
                ids.append(int(words[i + 1].rstrip(":")))
    return ids


def wait_for(predicate, timeout: float, step: float = 0.05):
    """Poll until predicate() is truthy (bounded); returns its value or raises."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def detect_stall(watch, ready, stall, resume, timeout: float = 15):
    """Wait until ready(), stall the server, and time how long the watch takes to exit.

    Returns (exit status, seconds from the stall to the exit, the watch's stderr); the
    server is resumed and the watch killed (if still running) whatever happens.
    """
    try:
        wait_for(ready, 10)
        fault = time.monotonic()
        stall()
        rc = watch.wait(timeout=timeout)
        detected = time.monotonic() - fault
    finally:
        resume()
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    return rc, detected, watch.stderr.read() if watch.stderr else ""


def phase(cli: FswatchCLI, kind: str, watch_id: str) -> str:
    """The watch's phase from its state file ('' before it has one)."""
    try:
        return json.loads((cli.runtime / kind / watch_id / "state.json").read_text()).get("phase", "")
    except (OSError, ValueError):
        return ""
