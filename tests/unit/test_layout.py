"""The layout keeps its promises (README, "Architecture"): imports only go down the layers
surfaces → watch → host → kinds → probes → rpc → core, module-level imports make no cycle,
and every kind has what a kind takes: its unit, its OCF agent and its packaging lines."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Set

from fswatch.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "fswatch"
LAYERS = ("core", "rpc", "probes", "kinds", "host", "watch", "surfaces")  # bottom up


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1


def imports(path: Path, top_level_only: bool) -> Set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: Set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("fswatch")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fswatch"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from fswatch.host import files`
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules}


def test_every_module_sits_in_a_layer():
    loose = [module_name(p) for p in PACKAGE.rglob("*.py") if layer(module_name(p)) < 0]
    assert sorted(loose) == ["fswatch", "fswatch.__main__"]


def test_imports_only_go_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        me = module_name(path)
        if layer(me) < 0:
            continue
        for other in imports(path, top_level_only=False):
            if layer(other) > layer(me):
                upward.append(f"{me} -> {other}")
    assert upward == []


def test_no_import_cycle():
    graph: Dict[str, Set[str]] = {module_name(p): imports(p, top_level_only=True) for p in PACKAGE.rglob("*.py")}
    cycles = []

    def visit(node: str, path: list) -> None:
        if node in path:
            cycles.append(" -> ".join(path[path.index(node):] + [node]))
            return
        for nxt in graph.get(node, ()):
            if nxt != node and not nxt.startswith(node + "."):  # a package importing its own modules
                visit(nxt, path + [node])

    for start in graph:
        visit(start, [])
    assert cycles == []


def test_no_kind_is_named_outside_its_own_module():
    """Code asks the kind; only a kind's module (and the registry) says its name."""
    own = {PACKAGE / "kinds" / f"{name}.py" for name in KINDS} | {PACKAGE / "kinds" / "__init__.py"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path in own:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                if any(n in KINDS for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_every_kind_has_its_unit_agent_and_packaging_lines():
    spec = (ROOT / "packaging" / "fswatch.spec").read_text()
    install = (ROOT / "packaging" / "debian" / "fswatch.install").read_text()
    for name in KINDS:
        assert (ROOT / "units" / f"fswatch-{name}@.service").is_file(), name
        agent = (ROOT / "packaging" / "ocf" / name).read_text()
        assert f'main("{name}"' in agent, name
        assert f"packaging/ocf/{name} " in install and f"fswatch-{name}@.service" in spec, name
