"""The failure timeline: the last few probes of a watch, so a declared failure carries how
it went — "degrading for a minute" and "dead at once" read differently at 3 a.m.

The reporter keeps a History (a bounded ring, retries + 3 probes, at most HISTORY_MAX)
and writes it into the state file after every probe (`fswatch status --history`,
`status --json`) and into alert 6's and alert 98's journal entries (FSWATCH_HISTORY: the
table below; FSWATCH_HISTORY_JSON: one JSON object per probe with every stage's latency).
It only records what the probe saw and what the judge said; it judges nothing itself.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Deque, List, Mapping, Optional, Sequence

from fswatch.core.observation import Observation

HISTORY_MAX = 32  # probes; retries may be up to 10000, a journal entry and a state file may not


def history_size(retries: int) -> int:
    return max(1, min(retries + 3, HISTORY_MAX))


class History:
    def __init__(self, size: int) -> None:
        self._ring: Deque[dict] = deque(maxlen=size)
        # Each entry's JSON, made once: the state file carries the whole ring after every probe.
        self._texts: Deque[str] = deque(maxlen=size)

    def add(self, obs: Observation, result: str, failures: int, seen: Optional[Mapping[str, object]] = None) -> None:
        """One probe: what it saw (`seen`: its obs.to_dict(), when the caller has it already), its
        result as the reporter names it (healthy, slow, degraded, failed:
        fswatch.watch.metrics.result_of), and the consecutive failed probes counted with it."""
        entry = dict(obs.to_dict() if seen is None else seen)
        entry.pop("notes", None)
        entry.pop("ok", None)
        entry["result"] = result
        if not obs.ok:
            entry["failures"] = failures
        self._ring.append(entry)
        self._texts.append(json.dumps(entry))

    def entries(self) -> List[dict]:
        return list(self._ring)

    def json(self) -> str:
        """The entries as a JSON array, as json.dumps(self.entries()) writes it."""
        return "[" + ", ".join(self._texts) + "]"

    def __len__(self) -> int:
        return len(self._ring)


def json_lines(entries: Sequence[Mapping[str, object]]) -> str:
    return "\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in entries)


def slowest(entry: Mapping[str, object]) -> Optional[Mapping[str, object]]:
    stages = [s for s in entry.get("stages") or () if isinstance(s, dict)]  # type: ignore[union-attr]
    return max(stages, key=lambda s: s.get("ms", 0.0)) if stages else None


def _when(seconds: object) -> str:
    try:
        whole = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(seconds)))  # type: ignore[arg-type]
        return f"{whole}.{int(float(seconds) * 1000) % 1000:03d}"  # type: ignore[arg-type]
    except (OverflowError, OSError, ValueError, TypeError):
        return "?"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def failure_text(failure: object) -> str:
    """`stage: reason (injected)`, on one line."""
    if not isinstance(failure, dict):
        return ""
    injected = " (injected)" if failure.get("injected") else ""
    return _one_line(f"{failure.get('stage')}: {failure.get('reason')}{injected}")


def degraded_text(degraded: object) -> str:
    """What degraded a probe that did not fail (an NFSv4 grace period), on one line."""
    if not isinstance(degraded, dict):
        return ""
    return _one_line(f"degraded ({degraded.get('cause')}): {degraded.get('reason')}")


def table(entries: Sequence[Mapping[str, object]], attempts: Optional[int] = None) -> str:
    """One line per probe, oldest first: time, result, total ms, the slowest stage and its
    ms, and the failure's alert, stage and reason (or what degraded it)."""
    zone = time.strftime("%Z") or "local"
    lines = [f"{'TIME (' + zone + ')':<23}  {'RESULT':<11} {'TOTAL ms':>9}  {'SLOWEST':<14} {'ms':>9}  ALERT  FAILURE"]
    for e in entries:
        result = str(e.get("result", "?"))
        if result == "failed" and e.get("failures") is not None:
            result += f" {e.get('failures')}" + (f"/{attempts}" if attempts else "")
        worst = slowest(e)
        name = str(worst.get("stage", "-")) if worst else "-"
        worst_ms = _ms(worst.get("ms")) if worst else "-"
        failure = e.get("failure")
        alert = str(failure.get("alert", "?")) if isinstance(failure, dict) else ""
        why = failure_text(failure) or degraded_text(e.get("degraded"))
        evidence = e.get("evidence")
        if isinstance(evidence, dict) and evidence.get("text"):
            why += f" [{_one_line(evidence['text'])}]"  # what the server's process did (fswatch.core.evidence)
        lines.append(
            f"{_when(e.get('started')):<23}  {result:<11} {_ms(e.get('total_ms')):>9}  {name:<14} {worst_ms:>9}  "
            f"{alert:>5}  {why}".rstrip()
        )
    return "\n".join(lines)


def _ms(value: object) -> str:
    try:
        return f"{float(value):.1f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
