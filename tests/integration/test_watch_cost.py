"""The system calls of real watches against real servers, counted per probe (issue 21): the
connections, messages, threads and files a probe costs. Counts, not times, so they hold on a
busy machine; bench/run measures the time (its "Before and after" section).

strace follows the running `fswatch run KIND ID` (every thread, and every thread it starts)
for a few seconds at interval 1 s; the state file's probe count before and after bounds how
many probes that covered (one more or one less at the edges of the window).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest

from tests.integration.cli import FswatchCLI, wait_for

pytestmark = pytest.mark.integration
WINDOW = 8.0  # seconds of tracing: about 8 probes at interval 1 s
METRICS_EVERY = 5.0  # README ("Metrics"): at most one metrics write per 5 s without a change


def strace() -> str:
    path = shutil.which("strace")
    assert path, "strace is missing: scripts/setup.sh installs it"
    return path


def probes(state: Path) -> int:
    try:
        return int(json.loads(state.read_text()).get("probes") or 0)
    except (OSError, ValueError):
        return 0


def counted(cli: FswatchCLI, kind: str, watch_id: str, tmp_path: Path) -> Tuple[Dict[str, int], int, int]:
    """strace -c of the running watch over WINDOW seconds: calls by name, and the fewest and
    most probes the window can have covered."""
    state = cli.runtime / kind / watch_id / "state.json"
    watch = cli.start("run", kind, watch_id)
    summary = tmp_path / "strace.txt"
    try:
        wait_for(lambda: probes(state) >= 3, 30)
        before = probes(state)
        tracer = subprocess.Popen([strace(), "-f", "-c", "-qq", "-o", str(summary), "-p", str(watch.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(WINDOW)
        finally:
            tracer.send_signal(signal.SIGINT)  # detaches and writes the summary
            _, err = tracer.communicate(timeout=30)
        after = probes(state)
        assert tracer.returncode in (0, -signal.SIGINT), err  # strace ends by the signal it was sent
        assert watch.poll() is None, watch.stderr.read()
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=30)
    calls: Dict[str, int] = {}
    for line in summary.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and re.fullmatch(r"\w+", fields[-1]) and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
    return calls, max(after - before - 1, 1), after - before + 1


def per_probe(calls: Dict[str, int], name: str, fewest: int, most: int) -> Tuple[float, float]:
    """The calls of `name` per probe: the lowest and highest it can be, given the window's edges."""
    n = calls.get(name, 0)
    return n / most, n / fewest


def assert_exactly(calls: Dict[str, int], name: str, each: int, fewest: int, most: int) -> None:
    """`each` calls of `name` per probe: the count lies between fewest and most probes' worth."""
    assert each * fewest <= calls.get(name, 0) <= each * most, (name, each, fewest, most, calls)


def assert_files(calls: Dict[str, int], fewest: int, most: int) -> None:
    """One state file per probe; the metrics file at most every METRICS_EVERY s (plus one at
    an edge); no directory walked to (the watch holds its own)."""
    files = calls.get("openat", 0)
    assert fewest <= calls.get("renameat", 0) <= most + WINDOW / METRICS_EVERY + 1, calls
    assert files <= most + WINDOW / METRICS_EVERY + 1, calls
    assert calls.get("mkdir", 0) == calls.get("mkdirat", 0) == 0, calls


def env_with_metrics(cli: FswatchCLI, tmp_path: Path) -> None:
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    cli.env["FSWATCH_METRICS_DIR"] = str(textfile)  # metrics on, as a node_exporter host has them


def test_an_nfs_probe_is_three_connections_and_four_writes(nfs_server, tmp_path):
    """v3 over TCP: portmapper, MOUNT and NFS, one connection each; the two GETPORTs in one
    write, MNT, then NULL + GETATTR + FSSTAT in one write and UMNT: four writes, no thread."""
    cli = FswatchCLI(tmp_path)
    env_with_metrics(cli, tmp_path)
    assert cli("add", "nfs", "c1", "--export", nfs_server.export_path, "--address", nfs_server.address,
               "--interval", "1").returncode == 0
    calls, fewest, most = counted(cli, "nfs", "c1", tmp_path)
    assert_exactly(calls, "socket", 3, fewest, most)
    assert_exactly(calls, "connect", 3, fewest, most)
    assert_exactly(calls, "sendto", 4, fewest, most)
    assert calls.get("clone", 0) + calls.get("clone3", 0) == 0, calls
    assert_files(calls, fewest, most)
    total = sum(calls.values())
    assert total / fewest <= 90, (total, fewest, calls)  # today ~55; the walks and renders of before cost ~115


def test_a_samba_probe_is_one_connection_six_messages_and_no_thread(samba_server, tmp_path):
    """A guest probe: one connection; negotiate, two session setups, tree connect, tree
    disconnect, logoff; no thread per probe: the answers are read in the probe's thread
    (fswatch.probes.smbrecv, not smbprotocol's receiver), and the deadlines' thread lives as
    long as the process."""
    cli = FswatchCLI(tmp_path)
    env_with_metrics(cli, tmp_path)
    assert cli("add", "samba", "c2", "--share", "public", "--port", str(samba_server.port),
               "--interval", "1").returncode == 0
    calls, fewest, most = counted(cli, "samba", "c2", tmp_path)
    assert_exactly(calls, "socket", 1, fewest, most)
    assert_exactly(calls, "connect", 1, fewest, most)
    assert_exactly(calls, "sendto", 6, fewest, most)
    assert calls.get("clone", 0) + calls.get("clone3", 0) == 0, calls
    assert_files(calls, fewest, most)
    total = sum(calls.values())
    assert total / fewest <= 400, (total, fewest, calls)


@pytest.fixture(autouse=True)
def no_journal(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    os.environ.pop("NOTIFY_SOCKET", None)
