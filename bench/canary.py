"""The cost of the data-path checks: each probe without, with `--canary` and with `--canary-write`
(as root).

    .venv/bin/python bench/canary.py [--count 400]

Servers: bench/run's loopback smbd (guest share `public`) and ganesha (v3, v4.0-4.2); a 4 KiB
canary of random bytes is written once into the share and the export (in the servers' page cache:
this is the cost of the path, not of a disk); the write canary writes in a directory of each
(its FLUSH / FILE_SYNC reaches this VM's disk). Probes in-process, each kind's three interleaved
A, B, C, A, B, C after 5 warm-up rounds (phases.canary_cost, which bench/run's probe cost phase
also runs); median and p95 in ms, the same summary as bench/run's. Prints Markdown rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fswatch, tests.fixtures

import phases  # noqa: E402  (bench/, this script's directory, as bench.py imports it)
import report  # noqa: E402

from tests.fixtures.nfs_server import NfsServer  # noqa: E402
from tests.fixtures.samba_server import SambaServer  # noqa: E402

ROWS = (
    ("", "without"),
    (" with `--canary`", "with_canary"),
    (" … its `canary` stage alone", "canary_stage"),
    (" with `--canary-write`", "with_canary_write"),
    (" … its five `write_*` stages alone", "canary_write_stages"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args()
    with SambaServer() as smb, NfsServer() as nfs:
        cost = phases.canary_cost(smb, nfs, args.count)
    print("| probe | n | median | p95 | mean | min | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, pair in cost.items():
        for label, key in ROWS:
            st = pair[key]
            cells = [st[k] for k in ("n", "median", "p95", "mean", "min", "max")]
            print(f"| fswatch {report.CANARY_PROBES[name]}{label} | " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
