"""Probe a file service again and again from the cluster tier's client namespace.

Run under ``ip netns exec CLIENT`` (tests/fixtures/cluster.py: ``Poller``). Each probe is
fswatch's own probe (the one a watch runs) with one Deadline; one JSON line per probe on
stdout, with CLOCK_MONOTONIC stamps (one clock for every namespace on the host, so the test
can compare them with the instant it injected a stall). Bounded by --count and --max-seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from fswatch.core.deadline import Deadline
from fswatch.kinds import kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("samba", "nfs"))
    parser.add_argument("--address", required=True)
    parser.add_argument("--share")
    parser.add_argument("--export")
    parser.add_argument("--timeout", type=float, default=1.0, help="deadline of one probe (s)")
    parser.add_argument("--spacing", type=float, default=0.1, help="pause between probes (s)")
    parser.add_argument("--count", type=int, default=100_000, help="at most this many probes")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long")
    args = parser.parse_args(argv)
    k = kind(args.kind)
    fields = {"address": args.address, "share": args.share, "export": args.export}
    values = k.check_target({f.name: fields[f.name] for f in k.fields if fields.get(f.name)})
    target = k.make_target(values)
    probe = k.probe_function()
    end = time.monotonic() + args.max_seconds
    for _ in range(args.count):
        if time.monotonic() >= end:
            break
        started = time.monotonic()
        obs = probe(target, Deadline.after(args.timeout))
        line = {"start": started, "end": time.monotonic(), "ok": obs.ok}
        if obs.failure is not None:
            line["stage"] = obs.failure.stage
            line["reason"] = obs.failure.reason
        print(json.dumps(line), flush=True)
        time.sleep(args.spacing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
