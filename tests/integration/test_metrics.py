"""Metrics of real watches (`fswatch run` against real smbd and nfs-ganesha), checked by
Debian's promtool and scraped by a real prometheus-node-exporter's textfile collector."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from fswatch.watch.metrics import WRITE_EVERY
from tests.integration.cli import FswatchCLI, wait_for
from tests.unit.test_metrics import promtool, series

pytestmark = pytest.mark.integration
NODE_EXPORTER = "prometheus-node-exporter"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    """One scrape of a node_exporter on the loopback port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


class NodeExporter:
    """node_exporter with only the textfile collector, on a loopback port; stopped by PID."""

    def __init__(self, directory: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.port}", "--collector.disable-defaults",
             "--collector.textfile", f"--collector.textfile.directory={directory}"],
            stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
        )
        try:
            wait_for(self._up, 10)
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            self.scrape()
        except OSError:
            return False
        return True

    def scrape(self) -> str:
        return scrape(self.port)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def metrics_cli(tmp_path: Path) -> tuple:
    cli = FswatchCLI(tmp_path)
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    cli.env["FSWATCH_METRICS_DIR"] = str(textfile)
    return cli, textfile


def scraped(exporter: NodeExporter) -> str:
    text = exporter.scrape()
    assert series(text, "node_textfile_scrape_error") == 0, text  # the file parsed, no dangling link
    return text


def test_samba_watch_scraped_by_node_exporter_until_reset(samba_server, tmp_path):
    cli, textfile = metrics_cli(tmp_path)
    assert cli("add", "samba", "m1", "--share", "public", "--port", str(samba_server.port),
               "--interval", "1", "--retries", "2", "--timeout", "2").returncode == 0
    published = textfile / "fswatch_samba_m1.prom"
    exporter = NodeExporter(textfile, tmp_path / "node_exporter.log")
    try:
        scrape_samba_watch(cli, textfile, published, exporter)
    finally:
        exporter.stop()  # whatever failed: by its PID


def scrape_samba_watch(cli, textfile, published, exporter):
    watch = cli.start("run", "samba", "m1")
    try:
        def probes() -> float:
            text = published.read_text() if published.exists() else ""
            return "result=" in text and series(text, "fswatch_probes_total", result="healthy") >= 3

        wait_for(probes, 15)
        assert published.is_symlink()  # to the runtime file, replaced atomically at each write
        promtool(published)
        text = scraped(exporter)
        base = {"kind": "samba", "watch": "m1", "target": "public"}
        assert series(text, "fswatch_watch_state", state="healthy", **base) == 1
        assert series(text, "fswatch_watch_state", state="failed", **base) == 0
        assert series(text, "fswatch_probes_total", result="healthy", **base) >= 3
        assert series(text, "fswatch_probes_total", result="failed", **base) == 0
        assert series(text, "fswatch_consecutive_failed_probes", **base) == 0
        assert series(text, "fswatch_watch_info", interval="1", retries="2", timeout="2", bound="7", **base) == 1
        # Written at most WRITE_EVERY s after a probe that changed nothing an alert rule reads (interval 1 s).
        age = time.time() - series(text, "fswatch_last_healthy_probe_timestamp_seconds", **base)
        assert age < WRITE_EVERY + 1 + 5
        stages = set(re.findall(r'fswatch_probe_duration_seconds_count\{[^}]*stage="(\w+)"', text))
        assert {"connect", "negotiate"} <= stages, stages
        for stage in stages:
            count = series(text, "fswatch_probe_duration_seconds_count", stage=stage, **base)
            assert series(text, "fswatch_probe_duration_seconds_bucket", stage=stage, le="+Inf", **base) == count
            assert series(text, "fswatch_probe_duration_seconds_bucket", stage=stage, le="2", **base) == count
    finally:
        watch.send_signal(signal.SIGTERM)
        rc = watch.wait(timeout=15)
    assert rc == 0, watch.stderr.read()
    assert published.exists() and not published.is_symlink()  # settled: a copy that survives a reboot
    promtool(published)
    text = scraped(exporter)
    assert series(text, "fswatch_watch_state", state="stopped", watch="m1") == 1
    assert series(text, "fswatch_watch_state", state="healthy", watch="m1") == 0
    assert cli("reset", "samba", "m1").returncode == 0
    assert not published.exists() and list(textfile.iterdir()) == []
    text = scraped(exporter)
    assert "fswatch_" not in text


def test_nfs_watch_declared_failed_leaves_failed_metrics(fresh_nfs_server, tmp_path):
    cli, textfile = metrics_cli(tmp_path)
    server = fresh_nfs_server
    assert cli("add", "nfs", "m2", "--export", server.export_path, "--address", server.address,
               "--interval", "1", "--retries", "2", "--timeout", "1").returncode == 0
    published = textfile / "fswatch_nfs_m2.prom"
    watch = cli.start("run", "nfs", "m2")
    try:
        wait_for(lambda: published.exists() and 'state="healthy"} 1' in published.read_text(), 15)
        promtool(published)
        server.stall_ganesha()
        rc = watch.wait(timeout=20)
    finally:
        server.resume_ganesha()
        if watch.poll() is None:
            watch.kill()
            watch.wait(timeout=5)
    assert rc == 1, watch.stderr.read()
    promtool(published)
    text = published.read_text()
    assert not published.is_symlink()
    assert series(text, "fswatch_watch_state", state="failed", kind="nfs", target=server.export_path) == 1
    assert series(text, "fswatch_probes_total", result="failed") == 3  # retries + 1
    assert series(text, "fswatch_consecutive_failed_probes") == 3
    assert series(text, "fswatch_probes_total", result="healthy") >= 1
    assert cli("remove", "nfs", "m2").returncode == 0  # remove takes the metrics too
    assert list(textfile.iterdir()) == []
