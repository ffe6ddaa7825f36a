"""fswatch.core.observation: what `fswatch probe --json` and the state file show of one probe."""

import pytest

from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Degradation, Observation, StageRecorder, StageTiming
from fswatch.probes.posture import Posture


def test_to_dict_of_a_failed_probe_is_complete_and_rounded():
    failure = ProbeFailure(74, "negotiate", "no answer", "110", errno=110, timed_out=True)
    obs = Observation(
        1700000000.5,
        (StageTiming("connect", 1.23456), StageTiming("negotiate", 1000.00049, False)),
        failure,
        (("source_port", "reserved"),),
    )
    assert obs.to_dict() == {
        "ok": False,
        "started": 1700000000.5,
        "total_ms": 1001.235,
        "stages": [
            {"stage": "connect", "ms": 1.235, "ok": True},
            {"stage": "negotiate", "ms": 1000.0, "ok": False},
        ],
        "notes": {"source_port": "reserved"},
        "failure": {"alert": 74, "stage": "negotiate", "reason": "no answer", "detail": "110", "errno": 110,
                    "timed_out": True},
    }


def test_to_dict_of_a_healthy_probe_has_no_notes_or_failure():
    assert Observation(5.0, (StageTiming("connect", 0.0004),)).to_dict() == {
        "ok": True,
        "started": 5.0,
        "total_ms": 0.0,
        "stages": [{"stage": "connect", "ms": 0.0, "ok": True}],
    }


def test_recorder_times_stages_and_keeps_what_it_was_told():
    t = [10.0]
    rec = StageRecorder(clock=lambda: t[0], started_wall=42.0)
    with rec.stage("connect"):
        t[0] += 0.002
    with pytest.raises(OSError):
        with rec.stage("negotiate"):
            t[0] += 0.5
            raise OSError("reset")
    rec.add("session", 7.5, ok=False)
    rec.note("dialect", "3.1.1")
    obs = rec.observation(ProbeFailure(73, "session", "x"))
    assert obs.started_wall == 42.0
    assert [(s.stage, round(s.ms, 6), s.ok) for s in obs.stages] == [
        ("connect", 2.0, True), ("negotiate", 500.0, False), ("session", 7.5, False)]
    assert obs.notes == (("dialect", "3.1.1"),) and not obs.ok


def test_to_dict_of_a_degraded_probe_says_how():
    degradation = Degradation("grace period", "compound", "OPEN answered NFS4ERR_GRACE", "NFS4ERR_GRACE", 60)
    out = Observation(5.0, (StageTiming("compound", 1.0),), degraded=degradation).to_dict()
    assert out["ok"] is True
    assert out["degraded"] == {"cause": "grace period", "stage": "compound", "reason": "OPEN answered NFS4ERR_GRACE",
                               "status": "NFS4ERR_GRACE", "lease_seconds": 60}


def test_recorder_passes_on_the_posture_and_a_degradation_only_without_a_failure():
    rec = StageRecorder(clock=lambda: 0.0, started_wall=1.0)
    rec.details = Posture(dialect="3.1.1", signing="required", encryption="off")
    degradation = Degradation("grace period", "compound", "NFS4ERR_GRACE")
    healthy = rec.observation(degraded=degradation)
    assert healthy.details == Posture("3.1.1", "required", "off") and healthy.degraded == degradation
    # A failed probe is failed, not degraded: the verdict must not count it as a grace period.
    failed = rec.observation(ProbeFailure(74, "compound", "no answer"), degraded=degradation)
    assert failed.degraded is None and failed.details == Posture("3.1.1", "required", "off")


def test_a_stage_added_by_other_means_is_ok_unless_said():
    rec = StageRecorder(clock=lambda: 0.0)
    rec.add("connect", 1.5)
    rec.add("negotiate", 2.0, ok=False)
    assert [(s.stage, s.ok) for s in rec.stages] == [("connect", True), ("negotiate", False)]


def test_a_kerberos_degradation_names_its_krb5_error():
    d = Degradation("Kerberos ticket not renewed", "kerberos", "no answer", krb5_error="KRB5_KDC_UNREACH")
    assert d.fields()["krb5_error"] == "KRB5_KDC_UNREACH"
    assert "krb5_error" not in Degradation("grace period", "getattr", "grace").fields()
