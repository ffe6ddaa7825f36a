"""Install fswatch into a booted test container the way a cluster node has it: the
package on the system python3's path, /usr/bin/fswatch, /usr/sbin/clp_*mon, the units,
the catalog, the user fswatch, the OCF agents under /usr/lib/ocf/resource.d/fswatch/ and
CTDB's event script under /usr/share/ctdb/events/legacy/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict

from tests.fixtures.container import default_cache_dir

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = {
    "/usr/bin/fswatch": "from fswatch.surfaces.cli import main",
    "/usr/sbin/clp_sambamon": "from fswatch.surfaces.clp import sambamon_main as main",
    "/usr/sbin/clp_nfsmon": "from fswatch.surfaces.clp import nfsmon_main as main",
}

CTDB_EVENTS_DIR = "/usr/share/ctdb/events/legacy"
CTDB_SCRIPT = "45.fswatch.script"


def install_fswatch(container) -> None:
    site = container.path("/usr/lib/python3/dist-packages") / "fswatch"
    shutil.copytree(ROOT / "fswatch", site, ignore=shutil.ignore_patterns("__pycache__"))
    for path, line in SCRIPTS.items():
        container.write_text(path, f"#!/usr/bin/python3\nimport sys\n\n{line}\n\nsys.exit(main())\n", mode=0o755)
    for unit in sorted((ROOT / "units").glob("*.service")):
        container.copy_in(unit, f"/usr/lib/systemd/system/{unit.name}", mode=0o644)
    container.copy_in(ROOT / "packaging" / "fswatch.catalog", "/usr/lib/systemd/catalog/fswatch.catalog", mode=0o644)
    container.copy_in(ROOT / "packaging" / "fswatch.sysusers", "/usr/lib/sysusers.d/fswatch.conf", mode=0o644)
    container.copy_in(ROOT / "packaging" / "fswatch.tmpfiles", "/usr/lib/tmpfiles.d/fswatch.conf", mode=0o644)
    container.run(["systemd-sysusers", "/usr/lib/sysusers.d/fswatch.conf"])  # the units' User=fswatch
    install_ocf_agents(container)
    # CTDB's event script, where the packages put it (`ctdb event script enable legacy 45.fswatch`).
    container.copy_in(ROOT / "packaging" / "ctdb" / CTDB_SCRIPT, f"{CTDB_EVENTS_DIR}/{CTDB_SCRIPT}", mode=0o755)
    container.systemctl("daemon-reload")
    container.run(["journalctl", "--update-catalog"])


OCF_DIR = "/usr/lib/ocf/resource.d/fswatch"


def install_ocf_agents(container) -> None:
    """ocf:fswatch:samba and ocf:fswatch:nfs, as the RPM installs them (0755). Needs the
    package (install_fswatch does both)."""
    for agent in sorted((ROOT / "packaging" / "ocf").iterdir()):
        container.copy_in(agent, f"{OCF_DIR}/{agent.name}", mode=0o755)


def tool(name: str, package: str) -> str:
    """The path of a host tool a packaging test needs; a missing one fails the test."""
    path = shutil.which(name)
    assert path, f"{name} not found: apt-get install {package}"
    return path


def build_package(script: str, timeout: float) -> Path:
    """Run packaging/SCRIPT (what `make rpm` / `make deb` run); the package path it prints.
    Built once per test run: the tree does not change under a run."""
    if script not in _BUILT:
        _BUILT[script] = _build(ROOT, script, timeout)
    return _BUILT[script]


_BUILT: Dict[str, Path] = {}


def _build(tree: Path, script: str, timeout: float) -> Path:
    proc = subprocess.run(
        [str(tree / "packaging" / script)], capture_output=True, text=True, timeout=timeout, cwd=tree,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def build_release(commit: str, script: str, timeout: float) -> Path:
    """The package of an earlier release, built by that release's own packaging/SCRIPT from
    its git commit (`git archive`), with this venv's Python, as `make rpm` / `make deb` built
    it then. Cached under the container cache by the full commit id: a commit never changes.
    Concurrent builders (other test runs) each build in a temp dir; the first rename wins."""
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert full.returncode == 0, f"{commit} is not in this clone (a shallow clone?): {full.stderr}"
    cache = default_cache_dir() / "packages"
    done = cache / f"{full.stdout.strip()}-{Path(script).stem}"
    if not done.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
        try:
            tree = work / "tree"
            tree.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", full.stdout.strip()], capture_output=True,
                                     timeout=60, check=True).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, timeout=60, check=True)
            package = _build(tree, script, timeout)
            (work / "out").mkdir()
            os.rename(package, work / "out" / package.name)
            try:
                os.rename(work / "out", done)
            except OSError:
                pass  # another run's build got there first: the same package
        finally:
            shutil.rmtree(work, ignore_errors=True)
    (package,) = [p for p in done.iterdir() if p.suffix in (".rpm", ".deb")]
    return package
