"""What a watch costs, guarded by counts rather than times (issue 21): the files it opens,
replaces and creates per probe, how often it writes its metrics, and the modules a running
watch loads. Timings live in bench/ (bench/run's "Before and after" section); these counts
do not depend on how busy the machine is, so a regression fails here first.

The real engine, reporter, control directory and metrics writer run on a clock that moves
only when time is spent; the probe is a stand-in (tests/integration/test_watch_cost.py
counts the system calls of real watches against real servers).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host.control import Control
from fswatch.host.metrics_files import RUNTIME_NAME
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import NFS
from fswatch.watch import metrics as m
from fswatch.watch.engine import Watch
from fswatch.watch.reporter import Reporter
from tests.clock import SimulatedClock
from tests.loaded import cryptographys_own

ROOT = Path(__file__).resolve().parents[2]
PROBES = 100
EVERY = 5.0  # seconds: README ("Metrics") promises at most one metrics write per 5 s without a change
STAGES = ("portmap", "mount", "nfs_null", "getattr", "fsstat", "umount")

# File system events seen by the audit hook (PEP 578) while `_counting` names a directory.
_events: collections.Counter = collections.Counter()
_counting: list = []


def _audit(event: str, args: tuple) -> None:
    if not _counting or event not in ("open", "os.rename", "os.mkdir", "os.remove", "os.chmod", "os.symlink"):
        return
    _events[event] += 1


sys.addaudithook(_audit)  # a hook cannot be removed: it counts only while a test asks it to


def run_watch(tmp_path: Path, metrics: bool) -> tuple:
    """PROBES healthy probes at interval 1 s through the real loop; the events of the probes
    after the first (the start has its own files to make), and the metrics writer."""
    clock = SimulatedClock(PROBES + 0.5)
    schedule = Schedule(1, 5, 5)
    control = Control(tmp_path / "run" / "nfs" / "w1")
    writer = None
    if metrics:
        textfile = tmp_path / "textfile"
        textfile.mkdir()
        writer = m.MetricsWriter(m.WatchMetrics("nfs", "w1", "/e", schedule, 0.0), "nfs", "w1", textfile,
                                 write=lambda text: control.write_file(RUNTIME_NAME, text), clock=clock)
    reporter = Reporter(NFS, "w1", "/e", schedule, ListSink(), Notifier(None), control, wall=clock, metrics=writer)

    def probe(deadline) -> Observation:
        if reporter.state.probes == 1:
            _events.clear()
            _counting.append(True)
        clock.t += 0.001
        return Observation(clock.t, tuple(StageTiming(s, 0.2) for s in STAGES), notes=(("source_port", "reserved"),))

    stopping = reporter.stopping

    def stop_counting() -> None:  # the last state and the settled metrics are the end's, not a probe's
        _counting.clear()
        stopping()

    reporter.stopping = stop_counting  # type: ignore[method-assign]
    control.hold()
    try:
        assert Watch(schedule, probe, reporter, control, stop=clock, clock=clock).run() == 0
    finally:
        _counting.clear()
        control.let_go()
    return collections.Counter(_events), writer, reporter


@pytest.mark.parametrize("metrics", [False, True], ids=["metrics-off", "metrics-on"])
def test_file_operations_per_probe(tmp_path, metrics):
    """After the first probe: the state file replaced once per probe (one create of its temp
    file, one fchmod, one rename), the metrics file at most every WRITE_EVERY seconds, nothing
    walked to or made again (the held directory: no open of a directory, no mkdir)."""
    events, writer, reporter = run_watch(tmp_path, metrics)
    probes = reporter.state.probes - 1  # counted from the second probe to the last
    metric_writes = writer.writes - 3 if writer else 0  # less the start's, the first probe's and the end's
    assert probes >= PROBES
    assert metric_writes <= probes / EVERY + 1
    files_written = probes + metric_writes
    assert events["open"] == files_written, events
    assert events["os.rename"] == files_written and events["os.chmod"] == files_written, events
    assert events["os.mkdir"] == events["os.remove"] == events["os.symlink"] == 0, events


def test_the_metrics_file_follows_a_failure_at_once(tmp_path):
    """Deferred writes never hide a change an alert rule reads: each failed probe, the
    recovery and the end are written when they happen."""
    clock = SimulatedClock(40.5)
    schedule = Schedule(1, 5, 5)
    control = Control(tmp_path / "run" / "nfs" / "w1")
    written = []
    writer = m.MetricsWriter(m.WatchMetrics("nfs", "w1", "/e", schedule, 0.0), "nfs", "w1", None,
                             write=written.append, clock=clock)
    reporter = Reporter(NFS, "w1", "/e", schedule, ListSink(), Notifier(None), control, wall=clock, metrics=writer)

    def probe(deadline) -> Observation:
        clock.t += 0.001
        if 20 <= clock.t < 23:  # three failed probes, then healthy again
            failure = ProbeFailure(84, "mount", "no answer within the deadline", "110", errno=110, timed_out=True)
            return Observation(clock.t, (StageTiming("mount", 5.0, ok=False),), failure)
        return Observation(clock.t, tuple(StageTiming(s, 0.2) for s in STAGES))

    assert Watch(schedule, probe, reporter, control, stop=clock, clock=clock).run() == 0
    failures = [_failed_count(text) for text in written]
    assert [1, 2, 3] == [n for n in dict.fromkeys(failures) if n], failures  # each failure, at once
    assert failures[-1] == 0 and "stopped\"} 1" in written[-1]
    assert len(written) <= 40 / EVERY + 3 + 3 + 2  # the periodic ones, 3 failures, recovery, start, end


def _failed_count(text: str) -> int:
    line = next(x for x in text.splitlines() if x.startswith("fswatch_consecutive_failed_probes{"))
    return int(line.rsplit(" ", 1)[1])


# -- what a running watch loads ---------------------------------------------------------------

LOADED = """
    import json, sys
    from fswatch.watch import engine

    def report(self):  # instead of the loop: what was loaded to get here, probe module included
        real = [name for name, module in sys.modules.items() if not getattr(module, "__fswatch_stand_in__", False)]
        print(json.dumps(sorted(real)))  # a deferred module's stand-in (fswatch.core.deferred) is not loaded
        return 0

    engine.Watch.run = report
    from fswatch.surfaces.cli import main
    sys.exit(main(["run", sys.argv[1], "w1"]))
"""
# Never needed by a watch's process (its CLI, other commands, tools only commands use)...
NEVER = {"argparse", "gettext", "locale", "subprocess", "shlex", "email", "ssl", "tempfile", "inspect", "ast", "dis",
         "random",  # two random numbers per NFS process come from os.urandom (fswatch.rpc.transport)
         "_hashlib",  # OpenSSL's digests: CPython's own serve a watch (fswatch.core.deferred)
         "cryptography.x509", "logging.handlers", "socketserver", "pickle", "spnego.tls",
         "fswatch.surfaces.cli.commands", "fswatch.surfaces.cli.show", "fswatch.surfaces.cli.parser",
         "fswatch.host.supervisor", "fswatch.host.systemctl"}
# ... and what only a watch that logs on with Kerberos needs (fswatch.probes.krb5logon: these run without a principal)
KERBEROS = {"fswatch.probes.kerberos", "fswatch.probes.krb5files", "fswatch.rpc.rpcsec_gss", "gssapi"}
# ... and what only one kind's probe needs.
NOT_FOR = {"nfs": {"logging", "traceback", "textwrap", "uuid", "smbprotocol", "spnego", "cryptography",
                   "fswatch.probes.samba", "fswatch.rpc.nfs4", "fswatch.rpc.nfs41"},  # a v3 watch
           "samba": {"fswatch.probes.nfs", "fswatch.rpc.transport", "fswatch.rpc.nfs4"}}


@pytest.mark.parametrize("kind, options", [("nfs", ["--export", "/srv"]), ("samba", ["--share", "public"])])
def test_a_running_watch_loads_only_what_it_uses(tmp_path, kind, options):
    env = dict(os.environ, FSWATCH_CONFIG_DIR=str(tmp_path / "etc"), FSWATCH_RUNTIME_DIR=str(tmp_path / "run"),
               PYTHONPATH=str(ROOT))
    for var in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "FSWATCH_DEBUG"):
        env.pop(var, None)
    add = subprocess.run([sys.executable, "-m", "fswatch", "add", kind, "w1", *options], env=env, capture_output=True,
                         text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(LOADED), kind], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert f"fswatch.probes.{kind}" in loaded and "fswatch.watch.runner" in loaded  # it got as far as a watch
    # cryptography's own imports are the release installed (tests/loaded.py), not the watch's
    own = cryptographys_own() if kind == "samba" else frozenset()
    assert loaded & (NEVER | KERBEROS | NOT_FOR[kind]) - own == set()
