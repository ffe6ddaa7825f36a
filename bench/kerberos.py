"""The cost of a Kerberos probe, with a cached ticket and with a new one, beside a password (NTLM)
probe of the same share by the same domain user (as root).

    .venv/bin/python bench/kerberos.py [--count 200] [--json FILE]

The domain is the Kerberos tests' (tests/fixtures/ad_domain.py: a Samba AD DC and a member file
server joined with `net ads join`, in network namespaces); the probes run in-process in the
client's namespace (this script runs itself there), interleaved A, B, C after 5 warm-up rounds:

- Kerberos, cached ticket: the watch's steady state (the ticket in its private cache outlives
  the probe: no KDC, no child process);
- Kerberos, new ticket: the cache emptied before each probe, so the stage `kerberos` starts the
  KDC child (`python -I kdc.py`: an AS and a TGS exchange) - a watch pays this once per half
  ticket lifetime (5 h with AD's default 10 h tickets);
- NTLM: the same user with its password.

Prints Markdown rows (median, p95, mean, min, max in ms) and the `kerberos` stage alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fswatch, tests.fixtures

import phases  # noqa: E402  (bench/, this script's directory)

SERIES = (("kerberos_cached", "Kerberos, cached ticket"), ("kerberos_new", "Kerberos, new ticket"),
          ("ntlm", "NTLM (password)"))  # fmt: skip
DEADLINE = 10.0
PASSWORD_ENV = "FSWATCH_BENCH_PASSWORD"


def measure(args: argparse.Namespace) -> dict:
    """Inside the client's namespace: the probes, in-process."""
    from fswatch.core.deadline import Deadline
    from fswatch.kinds import SAMBA

    private = Path(tempfile.mkdtemp(prefix="fswatch-bench-krb-"))
    cached_cc, new_cc = private / "cached", private / "new"
    base = {"share": args.share, "address": args.address, "spn_host": args.spn_host, "principal": args.principal}
    krb_values = SAMBA.check_target(base)
    cached = SAMBA.make_target(krb_values, keytab=args.keytab, ccache=str(cached_cc))
    new = SAMBA.make_target(krb_values, keytab=args.keytab, ccache=str(new_cc))
    ntlm = SAMBA.make_target(SAMBA.check_target({"share": args.share, "address": args.address, "user": args.user}),
                             os.environ.pop(PASSWORD_ENV))  # fmt: skip
    from fswatch.probes.samba import probe_samba

    samples = {name: [] for name, _ in SERIES}
    stages = {"kerberos_cached": [], "kerberos_new": []}
    targets = {"kerberos_cached": cached, "kerberos_new": new, "ntlm": ntlm}
    for round_ in range(5 + args.count):
        for name, _ in SERIES:
            if name == "kerberos_new":
                new_cc.unlink(missing_ok=True)
            began = time.perf_counter()
            obs = probe_samba(targets[name], Deadline.after(DEADLINE))
            elapsed = (time.perf_counter() - began) * 1000.0
            if not obs.ok:
                raise SystemExit(f"{name}: a probe of the healthy member failed: {obs.to_dict()}")
            if round_ >= 5:
                samples[name].append(elapsed)
                if name in stages:
                    stages[name].extend(s.ms for s in obs.stages if s.stage == "kerberos")
    return {
        "probes": {name: phases.summary(values) for name, values in samples.items()},
        "kerberos_stage": {name: phases.summary(values) for name, values in stages.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    for name in ("share", "address", "spn-host", "principal", "keytab", "user"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        print(json.dumps(measure(args)))
        return 0
    from tests.fixtures.ad_domain import FLOATING_ADDRESS, MEMBER_NAME, SHARE, AdDomain

    with AdDomain() as domain:
        who = domain.principal()
        argv = domain.client([sys.executable, __file__, "--inside", "--count", str(args.count), "--share", SHARE,
                              "--address", FLOATING_ADDRESS, "--spn-host", MEMBER_NAME, "--principal", who.principal,
                              "--keytab", str(who.keytab), "--user", f"FSW\\{who.name}"])
        load = os.getloadavg()
        env = domain.env(**{PASSWORD_ENV: who.password})  # never on a command line
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        print(out.stdout + out.stderr, file=sys.stderr)
        return 1
    result = json.loads(out.stdout)
    result["load_average_before"] = [round(x, 1) for x in load]
    result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print("| probe | n | median | p95 | mean | min | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, label in SERIES:
        print(_row(f"fswatch Samba, {label}", result["probes"][name]))
        if name in result["kerberos_stage"]:
            print(_row("… its `kerberos` stage alone", result["kerberos_stage"][name]))
    print(f"\nload average {result['load_average_before']} before, {result['load_average_after']} after")
    return 0


def _row(label: str, st: dict) -> str:
    return f"| {label} | " + " | ".join(str(st[k]) for k in ("n", "median", "p95", "mean", "min", "max")) + " |"


if __name__ == "__main__":
    sys.exit(main())
