#!/usr/bin/env python3
"""`make mutation`: run mutmut over the pure core, then score it against the equivalents list.

mutmut ([tool.mutmut] in pyproject.toml) mutates the functions of verdict, engine, deadline,
settings, observation, rpc/xdr, rpc/message and alerts and runs, for each mutant, only the
unit/socket tests that call the mutated function. A mutant it does not kill is either
killed by a test we still have to write, or *equivalent* (no behaviour can tell it from the
original) and then listed in tests/mutation/equivalent.txt with the reason.

Equivalents are matched by content, not by mutmut's numbering (which shifts whenever a
function changes): one line per mutant, three fields separated by TABs:
`module:function`, `original line => mutated line` (stripped; a multi-line change joined
with ' / '), and the reason it is equivalent. Lines starting with # are comments. The score is
killed / (mutants - listed equivalents); `make mutation` fails below 95 % and prints every
unexplained survivor with its diff.

Options: MUTATION_REUSE=1 re-scores the last run in mutants/ without running mutmut again;
MUTATION_CHILDREN=N (default: the CPU count) parallel test runs.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"
EQUIVALENT = Path(__file__).with_name("equivalent.txt")
MUTMUT = [sys.executable, "-m", "mutmut"]
THRESHOLD = 95.0
KILLED = {"killed", "timeout"}  # a mutant that makes the tests hang is caught too


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's: fswatch.core.verdict.x_judge__mutmut_19
    status: str
    module: str  # fswatch.core.verdict
    function: str  # judge, or Deadline.timeout
    change: str  # 'orig line => mutated line' (stripped, ' / '-joined)

    @property
    def key(self) -> str:
        return f"{self.module}:{self.function}\t{self.change}"


def run_mutmut() -> None:
    shutil.rmtree(MUTANTS, ignore_errors=True)  # a fresh run: no cached verdict survives a test change
    children = os.environ.get("MUTATION_CHILDREN", str(os.cpu_count() or 2))
    subprocess.run([*MUTMUT, "run", "--max-children", children], cwd=ROOT, check=True)


def statuses() -> dict[str, str]:
    out = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    result = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            result[name] = status.strip()
    return result


def _split(name: str) -> tuple[str, str, str]:
    """fswatch.watch.engine.xǁWatchǁrun__mutmut_3 → ('fswatch.watch.engine', 'Watch.run', 'xǁWatchǁrun')."""
    module, _, mangled = name.rpartition(".")
    base = mangled.rsplit("__mutmut_", 1)[0]
    if base.startswith("xǁ"):
        _, cls, method = base.split("ǁ", 2)
        return module, f"{cls}.{method}", base
    return module, base[2:], base


_SOURCES: dict[str, tuple[list[str], dict[str, ast.AST]]] = {}


def _functions(module: str) -> tuple[list[str], dict[str, ast.AST]]:
    if module not in _SOURCES:
        text = (MUTANTS / (module.replace(".", "/") + ".py")).read_text()
        found = {n.name: n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        _SOURCES[module] = (text.splitlines(), found)
    return _SOURCES[module]


def _body(lines: list[str], node: ast.AST) -> list[str]:
    start = node.lineno - 1 if not node.decorator_list else node.decorator_list[0].lineno - 1
    body = [line.strip() for line in lines[start:node.end_lineno]]
    for i, line in enumerate(body):
        if line.startswith("def "):
            body[i] = re.sub(r"def \S+?\(", "def (", line, count=1)  # the name differs by design
            break
    return body


def change_of(name: str) -> str:
    module, _, base = _split(name)
    lines, found = _functions(module)
    orig, mutant = found.get(f"{base}__mutmut_orig"), found.get(name.rpartition(".")[2])
    if orig is None or mutant is None:
        return "?"
    a, b = _body(lines, orig), _body(lines, mutant)
    removed, added = [], []
    for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        tag, i1, i2, j1, j2 = op
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return f"{' / '.join(removed)} => {' / '.join(added)}"


def load_equivalents() -> dict[str, str]:
    table = {}
    for raw in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        where, change, reason = raw.split("\t")
        if not reason.strip():
            raise SystemExit(f"{EQUIVALENT.name}: an equivalent needs its reason: {raw!r}")
        table[f"{where}\t{change}"] = reason
    return table


def main() -> int:
    if os.environ.get("MUTATION_REUSE") != "1":
        run_mutmut()
    status = statuses()
    equivalents = load_equivalents()
    mutants = []
    for name, st in sorted(status.items()):
        module, function, _ = _split(name)
        mutants.append(Mutant(name, st, module, function, change_of(name) if st not in KILLED else ""))
    killed = [m for m in mutants if m.status in KILLED]
    alive = [m for m in mutants if m.status not in KILLED]
    listed = [m for m in alive if m.key in equivalents]
    unexplained = [m for m in alive if m.key not in equivalents]
    stale = set(equivalents) - {m.key for m in alive}
    total = len(mutants)
    score = 100.0 * len(killed) / max(1, total - len(listed))
    raw = 100.0 * len(killed) / max(1, total)
    for m in unexplained:
        print(f"UNEXPLAINED {m.status}: {m.name}\n    {m.key}")
    for key in sorted(stale):
        print(f"note: equivalent.txt entry no longer a survivor (killed or gone): {key}")
    print(f"mutation: {total} mutants, {len(killed)} killed, {len(listed)} listed equivalent, "
          f"{len(unexplained)} unexplained; score {score:.1f} % (raw {raw:.1f} %)")
    return 0 if score >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
