"""bench/report.py: README's performance figures come from the same results as RESULTS.md,
name the run's commit, and replace themselves in place between the `bench` markers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import report  # noqa: E402
import sections  # noqa: E402

RESULTS = {
    "run": {"git": {"commit": "abc1234", "dirty": False}, "date": "2026-12-07T06:00:00+00:00",
            "load_start": [3.5, 4.0, 4.1], "load_end": [6.25, 5.0, 4.5]},
    "detection_slack_s": {"max": 0.011, "stalls": 64},
    "stall_detect_s": {"fswatch_samba": 2.007, "smbclient": 20.06, "rpcinfo": 10.05},
    "cpu_per_probe_ms": {"samba": 5.5, "nfs": 1.25},
    "uss_mb": {"samba": 14.2, "nfs": 8.1},
    "samba_probe_ms": {"fswatch": 7.7, "smbclient": 30.7},
    "nfs_probe_ms": {"fswatch": 1.0, "rpcinfo_showmount": 5.2},
    "samba_probe_ratio": 3.99, "nfs_probe_ratio": 5.2,
    "scale_50": {"watches": 50, "cpu_percent": 16.4},
    "before_after": {
        "baseline": "23f6984",
        "samba": {"current_ms": 6.1, "baseline_ms": 9.8, "ratio": 0.62, "uss_mb": {"current": 14.2, "23f6984": 21.1}},
        "nfs": {"current_ms": 1.5, "baseline_ms": 2.7, "ratio": 0.56, "uss_mb": {"current": 8.1, "23f6984": 11.6}},
    },
    "metrics_ms_per_probe": 0.04,
    "samba_fleet_pss_mb": {"current": 640.2, "23f6984": 1101.0},
    "targets": [{"name": "50 Samba watches, total PSS (MB)", "met": False}, {"name": "other", "met": True}],
}


def test_the_paragraph_names_the_commit_the_load_and_what_was_missed():
    text = report.readme_paragraph(RESULTS)
    flat = " ".join(text.split())
    assert "commit `abc1234`, 2026-12-07; load average 3.5 at its start, 6.25 at its end" in flat
    assert "5.5 ms (Samba) / 1.25 ms (NFS)" in flat and "6.1 ms against 9.8 ms (0.62×)" in flat
    assert "50 Samba watches take 640 MB PSS (1101 MB for `23f6984`'s)" in flat
    assert flat.endswith("Targets not met in that run: 50 Samba watches, total PSS (MB).")
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert not any(line.startswith(("ms", "s ", "s;", "MB", "%")) for line in lines)  # a number keeps its unit


def test_a_full_run_replaces_the_readme_section_in_place(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("## Performance\n\n<!-- bench:begin -->\nold figures\n<!-- bench:end -->\n\nMore.\n")
    sections.replace(readme, "bench", report.readme_paragraph(RESULTS))
    text = readme.read_text()
    assert "old figures" not in text and text.count("<!-- bench:begin -->") == 1 and text.endswith("\nMore.\n")
