"""A real smbd that speaks SMB1 only (issue 9, point 2): the probe fails at negotiate with
one of fswatch's alerts, and nothing from the SMB library reaches stderr."""

from __future__ import annotations

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI, alert_ids, only_alert_lines

pytestmark = pytest.mark.integration


@pytest.fixture
def smb1_only_server():
    # smbd 4.17 still speaks NT1 when told to; offered only SMB2 dialects it drops the connection.
    with SambaServer(extra_global="    server min protocol = NT1\n    server max protocol = NT1") as server:
        yield server


def test_smb1_only_smbd(smb1_only_server, tmp_path):
    target = SambaTarget("public", smb1_only_server.address, smb1_only_server.port)
    obs = probe_samba(target, Deadline.after(2))
    assert not obs.ok and obs.failure.stage == "negotiate" and obs.failure.alert == 75, obs.to_dict()

    cli = FswatchCLI(tmp_path)
    proc = cli("probe", "samba", "--share", "public", "--port", str(smb1_only_server.port), "--timeout", "2")
    assert proc.returncode == 1 and "FAILED at negotiate" in proc.stdout, (proc.stdout, proc.stderr)
    assert proc.stderr == "", proc.stderr  # old: smbprotocol's "socket aborted by peer" warning

    added = cli(
        "add", "samba", "w1", "--share", "public", "--port", str(smb1_only_server.port),
        "--interval", "1", "--retries", "1", "--timeout", "1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    proc = cli("run", "samba", "w1", timeout=30)
    assert proc.returncode == 1, proc.stderr
    only_alert_lines(proc.stderr)
    assert alert_ids(proc.stderr) == [1, 75, 75, 6], proc.stderr
