"""Prometheus textfile metrics: the format (checked by the real promtool), the values a
watch's probes lead to, atomic publish/settle/forget, and a failed write as alert 42 (then 162)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path

import pytest

from fswatch.core.errors import ProbeFailure, SystemFault, UsageError
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host import metrics_files as mf
from fswatch.host import paths
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import NFS, SAMBA
from fswatch.surfaces import cli
from fswatch.watch import metrics as m
from fswatch.watch.engine import Watch
from fswatch.watch.reporter import Reporter
from tests.clock import SimulatedClock

SAMBA_STAGES = (("connect", 0.4), ("negotiate", 2.1), ("session_setup", 4.3), ("tree_connect", 0.9))
NFS_STAGES = (("portmap", 0.2), ("mount", 0.3), ("null", 0.1), ("getattr", 0.1), ("fsstat", 0.1))


def promtool(path):
    """`promtool check metrics` (Debian's prometheus package): parse errors and lint."""
    with open(path, "rb") as f:
        proc = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, ""), path.read_text()


def healthy(stages, wall=1764576000.0):
    return Observation(wall, tuple(StageTiming(s, ms) for s, ms in stages))


def failed(stages, stage, alert=74, wall=1764576000.0):
    timings = tuple(StageTiming(s, ms) for s, ms in stages) + (StageTiming(stage, 5000.0, False),)
    return Observation(wall, timings, ProbeFailure(alert, stage, "no answer within the deadline", "110",
                                                   errno=110, timed_out=True))


def series(text, name, **labels):
    """The value of the one sample of `name` whose labels include `labels`."""
    found = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            body, value = line.rsplit(" ", 1)
            pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', body))
            if all(pairs.get(k) == v for k, v in labels.items()):
                found.append(float(value))
    assert len(found) == 1, (name, labels, found)
    return found[0]


@pytest.mark.parametrize("kind, stages, target", [("samba", SAMBA_STAGES, "public"),
                                                   ("nfs", NFS_STAGES, "/srv/export")])
def test_realistic_watch_renders_valid_metrics(tmp_path, kind, stages, target):
    w = m.WatchMetrics(kind, "web1", target, Schedule(30, 5, 60), 1764575000.25)
    assert promtool_file(tmp_path, "start", w.render("starting")) is not None
    for i in range(3):
        obs = healthy(stages, 1764575000.0 + 30 * i)
        w.observe(obs, "healthy", 0, obs.started_wall)
    w.observe(healthy(stages), "slow", 0, 1764575100.0)
    for n in (1, 2):
        w.observe(failed(stages[:2], stages[2][0]), "failed", n, 1764575200.0)
    text = w.render("failing")
    promtool_file(tmp_path, "failing", text)
    base = {"kind": kind, "watch": "web1", "target": target}
    assert series(text, "fswatch_probes_total", result="healthy", **base) == 3
    assert series(text, "fswatch_probes_total", result="slow", **base) == 1
    assert series(text, "fswatch_probes_total", result="failed", **base) == 2
    assert series(text, "fswatch_probes_total", result="degraded", **base) == 0
    assert series(text, "fswatch_consecutive_failed_probes", **base) == 2
    assert series(text, "fswatch_last_healthy_probe_timestamp_seconds", **base) == 1764575100.0
    assert [series(text, "fswatch_watch_state", state=s, **base) for s in m.STATES] == [
        1.0 if s == "failing" else 0.0 for s in m.STATES]
    assert series(text, "fswatch_watch_info", interval="30", retries="5", timeout="60", bound="390", **base) == 1
    first = stages[0][0]
    assert series(text, "fswatch_probe_duration_seconds_count", stage=first, **base) == 6
    assert series(text, "fswatch_probe_duration_seconds_bucket", stage=first, le="0.001", **base) == 6
    failing_stage = stages[2][0]
    assert series(text, "fswatch_probe_duration_seconds_bucket", stage=failing_stage, le="1", **base) == 4
    assert series(text, "fswatch_probe_duration_seconds_bucket", stage=failing_stage, le="+Inf", **base) == 6
    assert series(text, "fswatch_probe_duration_seconds_sum", stage=failing_stage, **base) == pytest.approx(
        (4 * stages[2][1] + 2 * 5000.0) / 1000.0)


def promtool_file(tmp_path, name, text):
    path = tmp_path / f"{name}.prom"
    path.write_text(text)
    promtool(path)
    return path


def test_every_state_is_one_hot_and_valid(tmp_path):
    w = m.WatchMetrics("nfs", "a", "/e", Schedule(1, 1, 1), 0.0)
    for phase in ("starting", "healthy", "degraded", "failing", "paused", "resuming", "failed", "stopped"):
        text = w.render(phase)
        promtool_file(tmp_path, phase, text)
        ones = [line for line in text.splitlines() if line.startswith("fswatch_watch_state{") and line.endswith(" 1")]
        state = m.PHASE_STATE.get(phase, phase)
        assert len(ones) == 1 and f'state="{state}"' in ones[0], text


def test_buckets_reach_the_watchs_timeout_and_labels_are_escaped(tmp_path):
    w = m.WatchMetrics("samba", "x", 'a "quoted"\\share\nname', Schedule(5, 1, 120), 0.0)
    assert w.buckets[0] == 0.001 and w.buckets[-1] == 120.0 and 60.0 in w.buckets
    w.observe(healthy(SAMBA_STAGES), "healthy", 0, 1.0)
    text = w.render("healthy")
    promtool_file(tmp_path, "escaped", text)
    assert 'target="a \\"quoted\\"\\\\share\\nname"' in text
    assert m.WatchMetrics("samba", "x", "s", Schedule(1, 1, 1), 0.0).buckets[-1] == 1.0


def test_size_is_bounded(tmp_path):
    w = m.WatchMetrics("nfs", "x", "/" + "e" * 5000, Schedule(1, 1, 10000), 0.0)
    for i in range(100):
        w.observe(healthy([(f"stage{j}", 1.0) for j in range(i, i + 5)]), "healthy", 0, 1.0)
    text = w.render("healthy")
    promtool_file(tmp_path, "big", text)
    assert len(w.stages) == m.MAX_STAGES
    assert len(text) < 150_000


def test_settled_metrics_never_say_healthy(tmp_path):
    w = m.WatchMetrics("samba", "x", "s", Schedule(1, 1, 1), 0.0)
    for phase, killed, expected in (("healthy", False, "stopped"), ("healthy", True, "failed"),
                                    ("failed", False, "failed"), ("stopped", True, "stopped")):
        text = mf.ended(w.render(phase), "failed" if killed else "stopped")
        promtool_file(tmp_path, "ended", text)
        assert series(text, "fswatch_watch_state", state=expected) == 1
        assert sum(series(text, "fswatch_watch_state", state=s) for s in m.STATES) == 1


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    monkeypatch.setenv("FSWATCH_METRICS_DIR", str(textfile))
    return textfile


def test_publish_links_settle_copies_forget_removes(dirs):
    source = mf.runtime_file("samba", "w1")
    link = dirs / "fswatch_samba_w1.prom"
    # as the unit's ExecStartPre: a placeholder, so no link dangles
    assert cli.main(["metrics", "publish", "samba", "w1"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(source) and link.read_text() == ""
    w = m.WatchMetrics("samba", "w1", "public", Schedule(1, 1, 1), 0.0)
    source.write_text(w.render("healthy"))
    assert mf.publish("samba", "w1", dirs) is None and link.is_symlink()
    os.environ["SERVICE_RESULT"] = "watchdog"  # killed by its watchdog: the file said healthy
    try:
        assert cli.main(["metrics", "settle", "samba", "w1"]) == 0
    finally:
        del os.environ["SERVICE_RESULT"]
    assert not link.is_symlink() and series(link.read_text(), "fswatch_watch_state", state="failed") == 1
    promtool(link)
    assert [p.name for p in dirs.iterdir()] == ["fswatch_samba_w1.prom"]  # no temp files left
    mf.forget("samba", "w1")
    assert not link.exists() and not source.exists()
    mf.forget("samba", "w1")  # nothing left: not an error


def test_missing_or_off_directory_publishes_nothing(dirs, monkeypatch):
    assert mf.publish("nfs", "a", dirs / "absent") is None
    monkeypatch.setenv("FSWATCH_METRICS_DIR", "off")
    assert mf.metrics_dir() is None
    monkeypatch.delenv("FSWATCH_METRICS_DIR")
    assert mf.metrics_dir() == Path(mf.DEFAULT_DIR)


def watch(tmp_path, kind, plan, end, stages, directory, control=None, hooks=None):
    """Run the real engine and reporter with a scripted probe: [(until_t, ok), ...]; an `ok`
    that names one of `hooks` runs it once before a healthy probe."""
    clock = SimulatedClock(end)
    sink = ListSink()
    schedule = Schedule(1, 2, 1)
    hooks = dict(hooks or {})

    def probe(deadline):
        ok = next((o for until, o in plan if clock.t < until), True)
        if isinstance(ok, str):
            hooks.pop(ok, lambda: None)()
            ok = True
        clock.t += 0.01
        alert = 74 if kind is SAMBA else 83  # a stage's timeout alert of that kind
        return healthy(stages, clock.t) if ok else failed(stages[:1], stages[1][0], alert, wall=clock.t)

    writer = m.MetricsWriter(m.WatchMetrics(kind.name, "w1", "t", schedule, 0.0), kind.name, "w1", directory)
    control = Control(control or paths.watch_runtime_dir(kind.name, "w1"))
    reporter = Reporter(kind, "w1", "t", schedule, sink, Notifier(lambda s: None), control,
                        wall=clock, metrics=writer)
    rc = Watch(schedule, probe, reporter, reporter.control, stop=clock, clock=clock).run()
    return rc, sink


def test_a_watch_writes_after_every_probe_and_ends_failed(dirs, tmp_path):
    rc, sink = watch(tmp_path, NFS, [(3, True), (100, False)], 50, NFS_STAGES, dirs)
    assert rc == 1 and 110 not in sink.ids
    text = (dirs / "fswatch_nfs_w1.prom").read_text()
    promtool(dirs / "fswatch_nfs_w1.prom")
    assert not (dirs / "fswatch_nfs_w1.prom").is_symlink()  # settled by the watch itself
    assert series(text, "fswatch_watch_state", state="failed") == 1
    assert series(text, "fswatch_probes_total", result="healthy") == 3
    assert series(text, "fswatch_probes_total", result="failed") == 3
    assert series(text, "fswatch_consecutive_failed_probes") == 3


def test_a_clean_stop_says_stopped(dirs, tmp_path):
    rc, sink = watch(tmp_path, SAMBA, [], 4, SAMBA_STAGES, dirs)
    assert rc == 0
    text = (dirs / "fswatch_samba_w1.prom").read_text()
    assert series(text, "fswatch_watch_state", state="stopped") == 1
    assert series(text, "fswatch_probes_total", result="healthy") == 4


def test_inside_a_unit_a_read_only_textfile_directory_leaves_a_clean_stop_clean(dirs, tmp_path, monkeypatch):
    """Under a unit (ProtectSystem=strict) the watch's own try to settle into the textfile
    directory meets EROFS, which write_atomic raises as SystemFault: the stop stays exit 0,
    with no alert, and the link to the watch's last state ("stopped") stays."""
    assert mf.publish("samba", "w1", dirs) is None  # ExecStartPre=+ made the link

    def read_only(path, *args, **kwargs):
        if path.parent == dirs:
            raise SystemFault("open", errno.EROFS, "open failed: read-only file system")
        return real(path, *args, **kwargs)

    real = mf.write_atomic
    monkeypatch.setattr(mf, "write_atomic", read_only)
    rc, sink = watch(tmp_path, SAMBA, [], 3, SAMBA_STAGES, dirs)
    assert (rc, sink.ids) == (0, [1, 2, 3]), sink.alerts
    link = dirs / "fswatch_samba_w1.prom"
    assert link.is_symlink() and series(link.read_text(), "fswatch_watch_state", state="stopped") == 1
    assert mf.settle("samba", "w1", dirs).startswith(f"cannot settle {link}: Read-only file system")


def test_settle_takes_a_watch_unit_and_nothing_else(dirs):
    from fswatch.host.systemctl import watch_of_unit

    assert watch_of_unit("fswatch-samba@w-1.service") == ("samba", "w-1")
    assert watch_of_unit("fswatch-nfs@A_2.service") == ("nfs", "A_2")
    for bad in ("fswatch-samba@.service", "fswatch-ftp@x.service", "fswatch-samba@x.socket", "samba@x.service",
                "fswatch-samba@../x.service", "fswatch-samba@x@y.service", "fswatch-samba"):
        with pytest.raises(UsageError):
            mf.settle_failed_unit(bad)
        assert cli.main(["metrics", "settle", bad]) == 2  # alert 11, exit 2
    for bad in (["publish", "ftp", "x"], ["settle"], ["publish", "fswatch-samba@x.service"], ["settle", "a", "b", "c"]):
        assert cli.main(["metrics", *bad]) == 2


def test_a_runtime_file_that_cannot_be_written_is_alert_42_once_then_162_once(dirs, tmp_path):
    """A metrics file the watch cannot write in its runtime directory (a full or read-only
    /run) is a system error: alert 42 once, however many probes follow, and alert 162 once
    it can write again; the watch goes on to its verdict meanwhile."""
    runtime = tmp_path / "run"
    runtime.mkdir()
    (runtime / "samba").write_text("not a directory")  # every write of the runtime file fails

    def repair():
        (runtime / "samba").unlink()
        (runtime / "samba" / "w1").mkdir(parents=True)

    plan = [(3, True), (6, "repair"), (8, True), (100, False)]
    rc, sink = watch(tmp_path, SAMBA, plan, 50, SAMBA_STAGES, dirs, tmp_path / "ctl", hooks={"repair": repair})
    assert rc == 1 and sink.ids[-2:] == [74, 6]  # the watch ran to its verdict
    assert sink.ids.count(42) == 1 and sink.ids.count(162) == 1 and 110 not in sink.ids, sink.ids
    assert sink.ids.index(42) < sink.ids.index(162)
    failed = next(a for a in sink.alerts if a[0] == 42)
    assert failed[1] == "The clp_sambamon has detected system error (open 20)."
    assert failed[2]["FSWATCH_ERRNO"] == "20" and str(runtime / "samba" / "w1") in failed[2]["FSWATCH_REASON"]
    assert (runtime / "samba" / "w1" / "metrics.prom").exists()


def test_a_link_that_cannot_be_made_is_alert_110_once(dirs, tmp_path, monkeypatch):
    """Publishing into node_exporter's directory (not the watch's own) that fails stays alert
    110, once per streak: the runtime file itself is written, so no alert 42."""

    def refused(source, link):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(mf.os, "symlink", refused)
    rc, sink = watch(tmp_path, SAMBA, [(3, True), (100, False)], 50, SAMBA_STAGES, dirs)
    assert rc == 1 and sink.ids.count(110) == 1 and 42 not in sink.ids, sink.ids
    assert "cannot publish" in next(a for a in sink.alerts if a[0] == 110)[1]


def test_readme_alert_rules_are_valid_for_prometheus(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rules = re.search(r"```yaml\n(groups:.*?)```", readme, re.S).group(1)
    assert "fswatch_watch_state" in rules
    (tmp_path / "rules.yml").write_text(rules)
    proc = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yml")], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and "SUCCESS: 2 rules found" in proc.stdout, proc.stdout + proc.stderr


def test_settle_as_root_copies_nothing_but_the_watchs_own_metrics(dirs, tmp_path):
    """The runtime directory belongs to the sandboxed watch: settle (root) must not follow a
    link it planted there, nor copy a file that is not fswatch's metrics."""
    source = mf.runtime_file("nfs", "w9")
    source.parent.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("root:$6$hash:19000:0:99999:7:::\n")
    os.symlink(secret, source)
    assert "cannot read" in mf.settle("nfs", "w9", dirs)
    source.unlink()
    source.write_text("root:$6$hash:19000:0:99999:7:::\n")
    assert "not fswatch metrics" in mf.settle("nfs", "w9", dirs)
    source.unlink()
    os.mkfifo(source)
    assert "not a regular file" in mf.settle("nfs", "w9", dirs)  # and does not block
    assert list(dirs.iterdir()) == []


class Ticks:
    """A monotonic clock for the writer, moved by hand."""

    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_written_at_once_on_a_change_a_scrape_could_notice_else_at_most_every_few_seconds(dirs):
    """The file is what node_exporter serves: a new state, a failure count or a probe's result
    is written at once; counters of healthy probes follow within WRITE_EVERY seconds; the end
    is always written."""
    ticks = Ticks()
    writes = []
    writer = m.MetricsWriter(m.WatchMetrics("nfs", "w1", "/e", Schedule(1, 2, 1), 0.0), "nfs", "w1", dirs,
                             write=writes.append, clock=ticks)

    def probe(obs, result, failures, phase, after=1.0):
        ticks.t += after
        writer.observe(obs, result, failures, ticks.t)
        assert writer.write(phase) is None
        return len(writes)

    assert writer.write("starting") is None and len(writes) == 1  # the file exists from the start
    assert probe(healthy(NFS_STAGES), "healthy", 0, "healthy") == 2  # starting -> healthy
    assert [probe(healthy(NFS_STAGES), "healthy", 0, "healthy") for _ in range(9)] == [2, 2, 2, 2, 3, 3, 3, 3, 3]
    assert series(writes[-1], "fswatch_probes_total", result="healthy") == 6  # at most WRITE_EVERY s behind
    assert probe(healthy(NFS_STAGES), "slow", 0, "healthy", after=0.1) == 4  # the result changed
    assert probe(failed(NFS_STAGES[:1], "mount", 83), "failed", 1, "failing", after=0.1) == 5
    assert probe(failed(NFS_STAGES[:1], "mount", 83), "failed", 2, "failing", after=0.1) == 6  # one more failure
    assert series(writes[-1], "fswatch_consecutive_failed_probes") == 2
    assert probe(healthy(NFS_STAGES), "healthy", 0, "healthy", after=0.1) == 7  # recovered
    assert probe(healthy(NFS_STAGES), "healthy", 0, "healthy", after=0.1) == 7
    assert writer.write("paused") is None and len(writes) == 8  # a new state: at once
    ticks.t += 0.1
    assert writer.write("stopped", final=True) is None and len(writes) == 9  # the end, always
    assert series(writes[-1], "fswatch_watch_state", state="stopped") == 1
    assert series(writes[-1], "fswatch_probes_total", result="healthy") == 12
    assert writer.writes == 9


def test_a_write_that_failed_is_tried_again_at_the_next_probe(dirs):
    ticks = Ticks()
    attempts = []

    def broken(text):
        attempts.append(text)
        if len(attempts) < 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    writer = m.MetricsWriter(m.WatchMetrics("nfs", "w1", "/e", Schedule(1, 2, 1), 0.0), "nfs", "w1", dirs,
                             write=broken, clock=ticks)
    with pytest.raises(SystemFault, match="No space left on device"):  # the reporter's alert 42
        writer.write("starting")
    ticks.t += 1
    with pytest.raises(SystemFault, match="No space left on device"):  # nothing changed, but not written yet
        writer.write("starting")
    ticks.t += 1
    assert writer.write("starting") is None and len(attempts) == 3
    ticks.t += 1
    assert writer.write("starting") is None and len(attempts) == 3  # written: now it waits
