"""What proposed product changes would save: CPU per probe of running watches, side by side.

Each variant is a real `fswatch run KIND ID` process whose interpreter first applies a
monkeypatch (the proposal), or a setting that exists already (NFS ports given); all run at
once against the same servers, each in its own CPU-accounting cgroup, and are measured
like bench.py's resident watches. Not part of bench/run: the product code is not ours to
change here, this only puts numbers on the proposals in the bench report.

    .venv/bin/python bench/variants.py [--probes N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import phases  # noqa: E402
from fleet import FSWATCH, Fleet, Watch  # noqa: E402

from tests.fixtures.nfs_server import NfsServer  # noqa: E402
from tests.fixtures.samba_server import SambaServer  # noqa: E402

# The NT hash once per watch instead of the password per probe: pyspnego then skips LMOWFv1,
# a pure-Python DES (~0.8 ms) that NTLMv2 never uses.
NTLM_HASH = r"""
import functools, spnego
from spnego._ntlm_raw.crypto import ntowfv1
import fswatch.probes.samba as ps
_Session = ps.Session
@functools.lru_cache(maxsize=8)
def _credential(user, password):
    return spnego.NTLMHash(user, nt_hash=ntowfv1(password).hex())
class _HashSession(_Session):
    def __init__(self, conn, username=None, password=None, **kw):
        super().__init__(conn, _credential(username, password), None, **kw)
ps.Session = _HashSession
"""

# No NFS NULL call: GETATTR on the export's root handle already proves the NFS program answers.
NO_NULL = r"""
import fswatch.rpc.nfs3 as nfs3
nfs3.null = lambda client, deadline: None
"""

WRAPPER = (
    "import sys\n{patch}\nfrom fswatch.surfaces.cli import main\nsys.exit(main(['run', sys.argv[1], sys.argv[2]]))\n"
)



def _ports_known(nfs) -> List[str]:
    """The NFS and MOUNT ports in the settings (an existing option): the probe skips the portmapper."""
    return ["--port", str(nfs.nfs_port), "--mount-port", str(nfs.mount_port)]


# name, kind, patch, extra `fswatch add` options (a callable of the NFS server)
VARIANTS: List[Tuple[str, str, str, object]] = [
    ("samba as is", "samba", "", None),
    ("samba + NT hash once", "samba", NTLM_HASH, None),
    ("nfs as is", "nfs", "", None),
    ("nfs + no NULL", "nfs", NO_NULL, None),
    ("nfs + ports known (no GETPORT)", "nfs", "", _ports_known),
    ("nfs + both", "nfs", NO_NULL, _ports_known),
]


def nfs_probe_wall(nfs, rounds: int) -> Dict[str, float]:
    """Median wall ms of the in-process NFS probe, as is and without NULL / GETPORT, interleaved."""
    import statistics

    import fswatch.rpc.nfs3 as nfs3
    from fswatch.core.deadline import Deadline
    from fswatch.probes.nfs import NfsTarget, probe_nfs

    plain = NfsTarget(nfs.export_path, nfs.address)
    ports = NfsTarget(nfs.export_path, nfs.address, port=nfs.nfs_port, mount_port=nfs.mount_port)
    real_null = nfs3.null
    cases = [("as is", plain, False), ("no NULL", plain, True), ("ports known", ports, False), ("both", ports, True)]
    times: Dict[str, List[float]] = {name: [] for name, _, _ in cases}
    try:
        for i in range(rounds + 20):
            for name, target, skip_null in cases:
                nfs3.null = (lambda client, deadline: None) if skip_null else real_null
                began = time.perf_counter()
                if not probe_nfs(target, Deadline.after(10)).ok:
                    raise RuntimeError(f"NFS probe ({name}) failed against a healthy server")
                if i >= 20:  # the first rounds warm up
                    times[name].append((time.perf_counter() - began) * 1000.0)
    finally:
        nfs3.null = real_null
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=45, help="probes in each watch's window (45)")
    args = parser.parse_args()
    with SambaServer() as smb, NfsServer() as nfs, Fleet() as fleet:
        for name, ms in nfs_probe_wall(nfs, 400).items():
            print(f"in-process NFS probe, {name:12s} {ms:6.3f} ms wall (median of 400, interleaved)")
        phases.warm_bytecode(fleet, smb, nfs)
        watches: List[Tuple[str, Watch]] = []
        for i, (name, kind, patch, extra) in enumerate(VARIANTS):
            watch_id = f"variant{i}"
            if kind == "samba":
                options = ["--share", phases.SHARE, "--address", smb.address, "--port", str(smb.port)]
            else:
                options = ["--export", nfs.export_path, "--address", nfs.address] + (extra(nfs) if extra else [])
            bound = fleet.add(kind, watch_id, options, 1, 5, 5)
            group = fleet.group(watch_id)
            with open(fleet.log_path(kind, watch_id), "wb") as err:
                proc = subprocess.Popen(
                    [str(FSWATCH.parent / "python"), "-c", WRAPPER.format(patch=patch), kind, watch_id],
                    env=fleet.env,
                    stdout=err,
                    stderr=err,
                )
            if group is not None:
                group.add(proc.pid)
            watch = Watch(fleet, kind, watch_id, bound, proc, group)
            fleet.watches.append(watch)
            watches.append((name, watch))
            time.sleep(1.0 / len(VARIANTS))  # spread their cadences
        results: Dict[str, str] = {}

        def measure(name: str, watch: Watch) -> None:
            a = phases._sample_after_probe(watch, 5, 120)
            b = phases._sample_after_probe(watch, a.probes + args.probes, args.probes + 120)
            exact = (b.exact - a.exact) if a.exact is not None else (b.cpu - a.cpu)
            probes = b.probes - a.probes
            results[name] = f"{exact * 1000.0 / probes:6.3f} ms CPU per probe ({probes} probes)"

        threads = [threading.Thread(target=measure, args=w, daemon=True) for w in watches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.probes + 240)
        for name, _ in watches:
            print(f"{name:34s} {results.get(name, 'no result (see the watch log)')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
