"""The mutants issue 13 named, each applied to fswatch/, tried against the unit tier, reverted.

Run: `.venv/bin/python tests/mutation/hand_mutants.py` (part of `make mutation`). Each of
these passed every unit test before the clock-that-cannot-cheat engine tests; each must now
be killed. Exit 1 if any survives. The file is restored even when a run is interrupted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ["tests/unit/test_engine.py", "tests/unit/test_verdict.py", "tests/unit/test_settings.py"]

# (what the mutant breaks, file, original text, mutated text)
MUTANTS = [
    ("every probe gets an already-expired deadline", "fswatch/watch/engine.py",
     "Deadline(started + schedule.timeout, self.clock)", "Deadline(started, self.clock)"),
    ("no WATCHDOG=1 while sleeping between probes", "fswatch/watch/engine.py",
     "return True\n            self.reporter.watchdog()",
     "return True\n            pass"),
    ("failures from before a pause carried past continue (engine)", "fswatch/watch/engine.py",
     "state = after_pause(state)", "state = state"),
    ("failures from before a pause carried past continue (verdict)", "fswatch/core/verdict.py",
     "return replace(state, failures=0, slow=False, degraded=0, declared=False)",
     "return replace(state, slow=False, degraded=0, declared=False)"),
    ("a failure count that starts at 1", "fswatch/core/verdict.py",
     "failures: int = 0  #", "failures: int = 1  #"),
    ("a failure count that restarts at 1 after a healthy probe", "fswatch/core/verdict.py",
     "WatchState(0, True, slow is not None, probes)", "WatchState(1, True, slow is not None, probes)"),
    ("declared after `retries` failed probes instead of `retries + 1`", "fswatch/core/verdict.py",
     "failures >= schedule.attempts", "failures >= schedule.retries"),
    ("the slow alert (92) suppressed after a failure", "fswatch/core/verdict.py",
     "probes=probes, slow=False, degraded=degraded, declared=declared)",
     "probes=probes, degraded=degraded, declared=declared)"),
    ("no control-character check on share and user names", "fswatch/core/settings.py",
     '    if _CONTROL.search(text):\n        raise UsageError(f"{name} contains a control character")\n', ""),
]


def main() -> int:
    survivors = 0
    for what, path, old, new in MUTANTS:
        source = ROOT / path
        text = source.read_text()
        if text.count(old) != 1:
            print(f"STALE    {what}: the original text is no longer in {path}; update this mutant")
            survivors += 1
            continue
        source.write_text(text.replace(old, new))
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS],
                cwd=ROOT, capture_output=True, text=True, timeout=600,
            )
        finally:
            source.write_text(text)
        killer = [line for line in run.stdout.splitlines() if line.startswith("FAILED")][:1]
        if run.returncode == 0:
            survivors += 1
            print(f"SURVIVED {what}")
        else:
            print(f"killed   {what}: {killer[0] if killer else run.stdout.splitlines()[-1:]}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
