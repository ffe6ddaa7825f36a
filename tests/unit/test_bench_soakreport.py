"""bench/soakreport.py: the soak's section of RESULTS.md survives bench/run and replaces itself;
its figures count false declarations and detections the way RESULTS.md says they do."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import soakreport  # noqa: E402

SECTION = "## Soak\n\nfalse declarations 0\n"
BENCH_TEXT = "# fswatch benchmark results\n\n## Targets\n\n| a | b |\n"


def test_soak_section_is_appended_then_replaced_in_place(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(BENCH_TEXT)
    soakreport.write_section(path, SECTION)
    once = path.read_text()
    assert once.startswith(BENCH_TEXT) and once.endswith(f"<!-- soak:begin -->\n{SECTION}<!-- soak:end -->\n")
    path.write_text(once + "\n## After\n")
    soakreport.write_section(path, SECTION.replace("false declarations 0", "false declarations 3"))
    twice = path.read_text()
    assert twice.count("<!-- soak:begin -->") == 1
    assert "false declarations 3" in twice and "false declarations 0" not in twice
    assert twice.startswith(BENCH_TEXT) and twice.endswith("\n## After\n")


def test_bench_run_keeps_the_soak_section(tmp_path):
    import bench  # bench/bench.py: its RESULTS.md writer

    path = tmp_path / "RESULTS.md"
    path.write_text(BENCH_TEXT)
    soakreport.write_section(path, SECTION)
    bench.write_results_md(path, "# fswatch benchmark results\n\nnew run\n")
    text = path.read_text()
    assert text.startswith("# fswatch benchmark results\n\nnew run\n")
    assert text.endswith(f"<!-- soak:begin -->\n{SECTION}<!-- soak:end -->\n")
    path.unlink()
    bench.write_results_md(path, "fresh\n")
    assert path.read_text() == "fresh\n"


def _results(stalls, false_declarations=()):
    probes = {"fields": ["pid", "n", "started", "ms", "ok", "phase", "disturbed", "stage"], "rows": []}
    for i in range(10):
        probes["rows"].append([1, i + 1, 100.0 + i * 1.05, 10.0 + i, True, "idle", False, None])
        probes["rows"].append([2, i + 1, 200.0 + i, 50.0 + i, i != 3, "load", False, "negotiate" if i == 3 else None])
    return {
        "run": {"schedule": {"interval": 1, "retries": 2, "timeout": 2, "bound_s": 7, "slack_s": 0.5}},
        "stalls": stalls,
        "false_declarations": list(false_declarations),
        "watches": [{"id": "w", "kind": "samba", "probes": probes, "unseen_probes": 0}],
        "samples": [],
        "phases": {p: {"seconds": 1.0, "psi_percent": {}, "cpu_percent": {}} for p in ("idle", "load")},
        "clients": {},
    }


def test_figures_judge_each_detection_against_bound_plus_slack():
    stalls = [
        {"n": 1, "target": "smbd", "affected": ["a", "b"], "detected_s": {"a": 6.2, "b": 7.6}, "missed": []},
        {"n": 2, "target": "ganesha", "affected": ["c"], "detected_s": {}, "missed": ["c"]},
    ]
    f = soakreport.figures(_results(stalls, [{"watch": "x"}]))
    assert f["false_declarations"] == 1
    assert (f["detected_within_bound"], f["detections_expected"], f["missed"]) == (1, 3, 1)
    assert f["slack_max"] == 0.6
    idle, load = f["latency"]["w"]["idle"], f["latency"]["w"]["load"]
    assert (idle["probes"], idle["failed"], idle["p50_ms"], idle["max_ms"]) == (10, 0, 14.0, 19.0)
    assert (load["failed"], load["failed_stages"]) == (1, ["negotiate"])
    assert idle["lag_max_ms"] == 50.0  # starts 1.05 s apart at interval 1 s


def test_side_by_side_settings_are_figured_apart():
    """Issue 18: one run, one set of watches per evidence setting; each setting's figures
    count only its own watches' detections, early declarations and false declarations."""
    stalls = [{"n": 1, "target": "smbd", "affected": ["w", "w-b"], "detected_s": {"w": 6.2, "w-b": 2.5},
               "declared_by": {"w": "retries", "w-b": "stopped"}, "missed": []}]  # fmt: skip
    results = _results(stalls, [{"watch": "w-b", "declared_by": "blocked"}])
    results["run"]["evidence"] = ["stopped", "blocked"]
    results["watches"][0]["evidence"] = "stopped"
    results["watches"].append(dict(results["watches"][0], id="w-b", evidence="blocked"))
    stopped, blocked = soakreport.figures(results, "stopped"), soakreport.figures(results, "blocked")
    assert (stopped["false_declarations"], stopped["early"], stopped["stalls_early"]) == (0, 0, 0)
    assert (blocked["false_declarations"], blocked["false_by"]["blocked"]) == (1, 1)
    assert (blocked["early"], blocked["stalls_early"], blocked["detections_expected"]) == (1, 1, 1)
    assert soakreport.figures(results)["detections_expected"] == 2  # the whole run: both sets
    assert soakreport.name_of(["stopped", "blocked"]) == "soak" and soakreport.name_of("blocked") == "soak-blocked"
