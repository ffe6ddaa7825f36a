"""SMB security posture (--min-dialect, --require-signing, --require-encryption) against a
real smbd configured with `server min/max protocol`, `server signing`, `smb encrypt`, for
guest and user watches: each requirement met is healthy, each one not met is its own alert
at its stage; the negotiated posture is always reported (probe --json and text, status --json)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for

pytestmark = pytest.mark.integration
TIMEOUT = 5


def probe(server, user: bool, **require):
    share, who = ("private", (server.user, server.password)) if user else ("public", (None, None))
    target = SambaTarget(share, server.address, server.port, who[0], who[1], **require)
    obs = probe_samba(target, Deadline.after(TIMEOUT))
    return obs


def healthy(obs, dialect=None, signing=None, encryption=None):
    assert obs.ok, obs.failure.fields()
    seen = obs.details.fields()
    expected = {"dialect": dialect, "signing": signing, "encryption": encryption, "authentication": None}
    assert {k: v for k, v in seen.items() if expected[k] is not None} == {
        k: v for k, v in expected.items() if v is not None
    }, seen


def failed(obs, alert, stage):
    assert not obs.ok, f"expected alert {alert}, got a healthy probe: {obs.details}"
    assert (obs.failure.alert, obs.failure.stage) == (alert, stage), obs.failure.fields()
    assert [s.ok for s in obs.stages][-1] is False and obs.stages[-1].stage == stage


def test_default_smbd_3_1_1_signing_enabled_unencrypted():
    with SambaServer() as srv:
        for user in (False, True):
            healthy(probe(srv, user), "3.1.1", "enabled", "off")
            healthy(probe(srv, user, min_dialect="3.1.1"), "3.1.1")
        failed(probe(srv, True, require_signing=True), 108, "session")
        failed(probe(srv, True, require_encryption=True), 109, "tree_connect")


def test_max_protocol_smb2_10_is_below_a_3_0_minimum():
    with SambaServer(extra_global="server max protocol = SMB2_10") as srv:
        for user in (False, True):
            healthy(probe(srv, user, min_dialect="2.1"), "2.1")
            obs = probe(srv, user, min_dialect="3.0")
            failed(obs, 107, "negotiate")
            assert obs.failure.detail == "SMB 2.1 < 3.0" and obs.details.dialect == "2.1"
        obs = probe(srv, True, require_encryption=True)  # the table: 2.1 cannot encrypt
        failed(obs, 109, "tree_connect")
        assert "cannot encrypt" in obs.failure.reason


def test_min_protocol_smb3_11_meets_a_3_1_1_minimum():
    with SambaServer(extra_global="server min protocol = SMB3_11") as srv:
        for user in (False, True):
            healthy(probe(srv, user, min_dialect="3.1.1"), "3.1.1")


def test_signing_mandatory_meets_require_signing_and_disabled_does_not():
    with SambaServer(extra_global="server signing = mandatory") as srv:
        healthy(probe(srv, True, require_signing=True), "3.1.1", "required")
    with SambaServer(extra_global="server signing = disabled") as srv:
        obs = probe(srv, True, require_signing=True)
        failed(obs, 108, "session")
        assert obs.details.signing != "required"


def test_encryption_required_globally_or_per_share_meets_require_encryption():
    with SambaServer(extra_global="server signing = mandatory\nsmb encrypt = required") as srv:
        obs = probe(srv, True, require_encryption=True, require_signing=True, min_dialect="3.0")
        healthy(obs, "3.1.1", "required", "required")
    with SambaServer(private_extra="    smb encrypt = required") as srv:
        healthy(probe(srv, True, require_encryption=True), encryption="required")  # the share's flag
        healthy(probe(srv, False), encryption="off")  # the guest share is not encrypted
    with SambaServer(extra_global="smb encrypt = off") as srv:
        failed(probe(srv, True, require_encryption=True), 109, "tree_connect")


def test_cli_always_reports_the_posture_and_refuses_guest_signing(tmp_path):
    cli = FswatchCLI(tmp_path)
    with SambaServer(extra_global="server max protocol = SMB3_00") as srv:
        base = ("probe", "samba", "--share", "public", "--port", str(srv.port), "--timeout", str(TIMEOUT))
        rc, out, _ = cli.json(*base, "--json")
        assert rc == 0 and out["posture"] == {"dialect": "3.0", "signing": "enabled", "encryption": "off",
                                              "authentication": "guest"}  # fmt: skip
        rc, out, _ = cli.json(*base, "--min-dialect", "3.1.1", "--json")
        assert rc == 1 and out["alert"] == 107 and out["failure"]["stage"] == "negotiate"
        assert out["posture"] == {"dialect": "3.0", "signing": "enabled", "encryption": None, "authentication": None}
        assert "negotiate a weaker SMB dialect than required (SMB 3.0 < 3.1.1)" in out["message"]
        text = cli(*base)
        assert text.returncode == 0
        assert "security: dialect 3.0, signing enabled, encryption off, authentication guest" in text.stdout
        refused = cli(*base, "--require-signing")
        assert refused.returncode == 2 and "alert 11:" in refused.stderr and "guest" in refused.stderr
    rc, out, _ = cli.json(*base, "--json")  # nothing listens now: the posture is there, unknown
    assert rc == 1 and out["posture"] == {"dialect": None, "signing": None, "encryption": None, "authentication": None}


def test_a_user_watch_requiring_signing_fails_at_session_with_alert_108(tmp_path):
    cli = FswatchCLI(tmp_path)
    with SambaServer() as srv:
        proc = cli(
            "add", "samba", "p1", "--share", "private", "--port", str(srv.port), "--user", srv.user,
            "--password-file", "-", "--require-signing", "--interval", "1", "--retries", "1", "--timeout", "2",
            input=srv.password + "\n",
        )
        assert proc.returncode == 0, proc.stderr
        assert "require_signing = yes" in (cli.config / "samba" / "p1.conf").read_text()
        watch = cli.start("run", "samba", "p1")
        try:
            rc = watch.wait(timeout=15)
        finally:
            if watch.poll() is None:
                watch.send_signal(signal.SIGKILL)
        stderr = watch.stderr.read()
        assert rc == 1 and alert_ids(stderr)[-2:] == [108, 6], stderr
        assert "not require signing (signing enabled)" in stderr
        _, records, _ = cli.json("status", "samba", "p1", "--json")
        last = records[0]["last_probe"]
        assert last["failure"]["stage"] == "session" and last["posture"]["dialect"] == "3.1.1"


def hold_stage(srv, stage: str, seconds: float) -> None:
    """Hold `stage` for `seconds` from when smbd's hook for it starts waiting (a probe got there)."""
    srv.stall_stage(stage)
    try:
        script = str(srv.root / "hooks" / "stall.sh")

        def waiting() -> bool:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        args = f.read().decode(errors="replace").split("\0")
                except OSError:
                    continue
                if script in args and stage in args:
                    return True
            return False

        wait_for(waiting, 10, step=0.02)
        time.sleep(seconds)
    finally:
        srv.resume_stage(stage)


def test_a_stalled_stage_is_named_slow_by_probe_and_by_the_watch(tmp_path):
    """A hooked smbd holds tree connect ~1.2 s, under the 2 s timeout: its slow budget is 1 s."""
    cli = FswatchCLI(tmp_path)
    with SambaServer(hooks=True) as srv:
        base = ("--share", "public", "--port", str(srv.port), "--timeout", "2")
        probe_proc = cli.start("probe", "samba", *base, "--json")
        hold_stage(srv, "tree_connect", 1.2)
        out, _ = probe_proc.communicate(timeout=10)
        result = json.loads(out)
        assert probe_proc.returncode == 0 and result["ok"], result
        slow = result["slow"]
        assert slow["stage"] == "tree_connect" and slow["budget_ms"] == 1000 and 1000 <= slow["ms"] < 2000
        # The watch: alert 92 and STATUS name the stage, status --json keeps it.
        assert cli("add", "samba", "s1", *base, "--interval", "1", "--retries", "2").returncode == 0
        watch = cli.start("run", "samba", "s1")
        try:
            wait_for(lambda: phase(cli, "samba", "s1") == "healthy", 10)
            hold_stage(srv, "tree_connect", 1.2)  # the next probe, within 1 s

            def slow_state():  # the state file itself: the next, fast probe clears it within 1 s
                try:
                    state = json.loads((cli.runtime / "samba" / "s1" / "state.json").read_text())
                except (OSError, ValueError):
                    return None
                return state if state.get("slow_stage") else None

            record = wait_for(slow_state, 5, step=0.01)
            assert record["slow_stage"]["stage"] == "tree_connect", record
            assert "slow: tree_connect" in record["status"] and "of 1000 ms budget" in record["status"]
            watch.send_signal(signal.SIGTERM)
            assert watch.wait(timeout=5) == 0
        finally:
            srv.resume_stage("tree_connect")
            if watch.poll() is None:
                watch.kill()
        stderr = watch.stderr.read()
        assert 92 in alert_ids(stderr) and "slow: tree_connect" in stderr, stderr
