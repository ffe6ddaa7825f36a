"""The cost of an NFSv4 probe per minor version, and of `--nfs-version 4`'s fallback (as root).

    .venv/bin/python bench/nfs4_versions.py [--count 400]

Servers: ganesha on loopback serving 4.0-4.2 (as bench/run's), and ganesha in network
namespaces serving only 4.1 and only 4.0, where `--nfs-version 4` pays one round trip per
refused minor version. Probes in-process, interleaved A, B, C, ... after 5 warm-up rounds;
median and p95 in ms, the same summary as bench/run's probe cost. Prints Markdown rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fswatch, tests.fixtures

import phases  # noqa: E402  (bench/, this script's directory, as bench.py imports it)

from fswatch.probes.nfs import NfsTarget, probe_nfs  # noqa: E402
from tests.fixtures.nfs_server import NfsServer  # noqa: E402


def target(server, minor=None) -> NfsTarget:
    return NfsTarget(server.export_path, server.address, port=server.nfs_port, version=4, minor_version=minor)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args()
    with (
        NfsServer() as full,
        NfsServer(netns=True, minor_versions=[1]) as v41,
        NfsServer(netns=True, minor_versions=[0]) as v40,
    ):
        series = {
            "v3 (GETPORT×2, MNT, NULL, GETATTR, FSSTAT, UMNT), loopback": NfsTarget(full.export_path, full.address),
            "v4.0 pinned, loopback": target(full, 0),
            "v4.1 pinned, loopback": target(full, 1),
            "v4.2 pinned, loopback": target(full, 2),
            "`4` on a 4.0-4.2 server (4.2 at once), loopback": target(full),
            "v4.1 pinned, netns veth": target(v41, 1),
            "`4` on a 4.1-only server (4.2 refused first), netns veth": target(v41),
            "v4.0 pinned, netns veth": target(v40, 0),
            "`4` on a 4.0-only server (4.2, 4.1 refused first), netns veth": target(v40),
        }
        for _ in range(5):
            for t in series.values():
                phases._probe_ms(probe_nfs, t)
        samples = {name: [] for name in series}
        for _ in range(args.count):
            for name, t in series.items():
                samples[name].append(phases._probe_ms(probe_nfs, t))
    print("| probe | n | median | p95 | mean | min | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, values in samples.items():
        st = phases.summary(values)
        cells = [st[key] for key in ("n", "median", "p95", "mean", "min", "max")]
        print(f"| fswatch NFS {name} | " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
