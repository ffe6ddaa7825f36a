"""detection.png: each injected stall as a point, detection time against the stated bound.

matplotlib (bench/requirements.txt, installed into .venv by bench/run only): a plot a person
reads needs axes, ticks and a legend, which a hand-written PNG encoder would have to draw
glyph by glyph; the product itself never imports it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

SLACK_ALLOWED = 0.5  # SPEC.md section 2: "+ at most 0.5 s of scheduling slack"
STYLE = {("samba", 1): ("tab:blue", "o"), ("samba", 2): ("tab:cyan", "s"), ("nfs", 1): ("tab:red", "o")}
STYLE[("nfs", 2)] = ("tab:orange", "s")


def detection_plot(points: List[Dict[str, object]], path: Path, title: str) -> None:
    jitter = random.Random(0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
    bounds = sorted({float(p["bound_s"]) for p in points})
    lo, hi = min(bounds) - 1.0, max(bounds) + 1.0
    left.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="y = stated bound")
    left.plot([lo, hi], [lo + SLACK_ALLOWED, hi + SLACK_ALLOWED], color="black", linestyle="--", linewidth=0.8,
              label="bound + 0.5 s (SPEC slack)")
    for (kind, interval), (color, marker) in STYLE.items():
        mine = [p for p in points if p["kind"] == kind and p["interval"] == interval]
        if not mine:
            continue
        first = mine[0]
        label = f"{kind}: interval {interval}, retries {first['retries']}, timeout {first['timeout']}"
        xs = [float(p["bound_s"]) + jitter.uniform(-0.12, 0.12) for p in mine]
        left.scatter(xs, [p["detected_s"] for p in mine], c=color, marker=marker, s=28, alpha=0.8, label=label)
        right.scatter(
            [p["phase"] for p in mine if p["phase"] is not None],
            [p["slack_s"] for p in mine if p["phase"] is not None],
            c=color,
            marker=marker,
            s=28,
            alpha=0.8,
        )
    left.set_xlim(lo, hi)
    left.set_ylim(0, hi + SLACK_ALLOWED + 0.5)
    left.set_xlabel("stated bound: interval + retries × max(interval, timeout) + timeout (s)")
    left.set_ylabel("detection time: SIGSTOP → watch exit (s)")
    left.set_title("Detection time against the stated bound")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=7.5, loc="upper left")
    right.axhline(0, color="black", linewidth=1)
    right.axhline(SLACK_ALLOWED, color="black", linestyle="--", linewidth=0.8)
    right.set_xlim(0, 1)
    right.set_xlabel("phase of the stall in the probe cadence (fraction of the interval)")
    right.set_ylabel("slack: detection − bound (s)")
    right.set_title("Slack against the fault's phase")
    right.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
