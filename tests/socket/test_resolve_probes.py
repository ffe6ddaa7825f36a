"""Both probes with a name looked up by a stand-in resolver, against a refusing loopback port:
the address found is the one connected to and noted (tests/unit/test_resolve.py has the rest)."""

from __future__ import annotations

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.probes.resolve import Resolver
from fswatch.probes.samba import SambaTarget, probe_samba


@pytest.mark.parametrize("kind", ["samba", "nfs"])
def test_the_probe_connects_to_the_address_found_and_notes_it(kind):
    looked_up = []
    resolver = Resolver(lambda host: looked_up.append(host) or "127.0.0.1")
    if kind == "samba":
        obs = probe_samba(SambaTarget("public", address="fs1.example", port=1), Deadline.after(2), resolver=resolver)
    else:
        target = NfsTarget("/x", address="fs1.example", port=1, mount_port=1)
        obs = probe_nfs(target, Deadline.after(2), resolver=resolver)
    assert looked_up == ["fs1.example"]  # once per probe, for every socket of it
    assert obs.to_dict()["notes"]["address"] == "127.0.0.1"
    assert [(s.stage, s.ok) for s in obs.stages][0] == ("resolve", True)
    # Port 1 on loopback refuses: the failure is the connect's, to the address found.
    assert obs.failure is not None and obs.failure.errno == 111, obs.to_dict()
    assert obs.failure.stage != "resolve"
