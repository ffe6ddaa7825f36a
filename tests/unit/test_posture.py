"""The SMB security posture table and its comparisons (fswatch.probes.posture), and the settings
that carry the requirements (Kind fields, config file, OCF meta-data)."""

from __future__ import annotations

import itertools

import pytest

from fswatch.core import alerts
from fswatch.core.errors import UsageError
from fswatch.core.settings import Schedule, check_bool, parse_conf
from fswatch.kinds import SAMBA, WatchSettings
from fswatch.probes import posture
from fswatch.probes.posture import DIALECTS, REQUIRED, Posture, Requirements, shortfall
from fswatch.surfaces.ocf import watches as ocf
from fswatch.surfaces.ocf.agent import OCF_ERR_CONFIGURED, OCF_SUCCESS, meta_data


def test_dialect_table_is_ordered_and_only_3x_encrypts():
    codes = [d.code for d in DIALECTS]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    assert [d.name for d in DIALECTS] == ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]
    assert [d.name for d in DIALECTS if d.encryption] == ["3.0", "3.0.2", "3.1.1"]
    assert posture.dialect_name(0x0311) == "3.1.1" and posture.dialect_name(0x02FF) == "0x02ff"
    assert posture.dialect_name(None) is None


@pytest.mark.parametrize("wanted, got", list(itertools.product(DIALECTS, DIALECTS)))
def test_min_dialect_fails_exactly_below_the_minimum(wanted, got):
    req = Requirements(min_dialect=wanted.name)
    found = shortfall(req, Posture(dialect=got.name), "negotiate")
    if got.code >= wanted.code:
        assert found is None
    else:
        alert, detail, reason = found
        assert alert == alerts.DIALECT == 107
        assert detail == f"SMB {got.name} < {wanted.name}" and got.name in reason


def test_an_unknown_or_missing_dialect_does_not_meet_a_minimum():
    req = Requirements(min_dialect="2.0.2")
    assert shortfall(req, Posture(dialect="0x02ff"), "negotiate")[0] == 107
    assert shortfall(req, Posture(), "negotiate")[0] == 107


@pytest.mark.parametrize("signing, meets", [(REQUIRED, True), (posture.ENABLED, False), (posture.OFF, False)])
def test_require_signing_needs_a_server_that_requires_it(signing, meets):
    found = shortfall(Requirements(signing=True), Posture("3.1.1", signing), "session")
    assert (found is None) is meets
    if not meets:
        assert found[0] == 108 and found[1] == f"signing {signing}"


def test_require_encryption_uses_the_table_for_dialects_that_cannot_encrypt():
    req = Requirements(encryption=True)
    assert shortfall(req, Posture("3.0", REQUIRED, REQUIRED), "tree_connect") is None
    alert, detail, reason = shortfall(req, Posture("3.1.1", REQUIRED, posture.OFF), "tree_connect")
    assert (alert, detail) == (109, "encryption off")
    alert, detail, reason = shortfall(req, Posture("2.1", REQUIRED, posture.OFF), "tree_connect")
    assert (alert, detail) == (109, "SMB 2.1") and "cannot encrypt" in reason


def test_each_requirement_is_judged_only_at_its_stage():
    req = Requirements("3.1.1", True, True)
    weak = Posture("2.0.2", posture.ENABLED, posture.OFF)
    assert [shortfall(req, weak, s)[0] for s in ("negotiate", "session", "tree_connect")] == [107, 108, 109]
    assert shortfall(req, weak, "connect") is None and shortfall(req, weak, "teardown") is None
    assert all(shortfall(Requirements(), weak, s) is None for s in ("negotiate", "session", "tree_connect"))


def test_posture_fields_and_journal_fields():
    p = Posture("3.1.1", REQUIRED, None)
    assert p.fields() == {"dialect": "3.1.1", "signing": "required", "encryption": None, "authentication": None}
    assert p.journal_fields() == {"FSWATCH_DIALECT": "3.1.1", "FSWATCH_SIGNING": "required"}
    p = p.with_(authentication="kerberos")
    assert p.journal_fields()["FSWATCH_AUTHENTICATION"] == "kerberos"
    assert p.text() == "dialect 3.1.1, signing required, encryption -, authentication kerberos"


# -- the settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["require_signing", "require_encryption"])
def test_a_guest_watch_cannot_require_signing_or_encryption(flag):
    with pytest.raises(UsageError) as err:
        SAMBA.check_target({"share": "s", flag: "yes"})
    assert err.value.alert == 11 and "guest" in str(err.value)
    assert SAMBA.check_target({"share": "s", "user": "u", flag: "yes"})[flag] is True


def test_settings_validate_dialect_and_booleans():
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "s", "min_dialect": "3.2"})
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "s", "user": "u", "require_signing": "maybe"})
    for word, value in [("yes", True), ("true", True), ("on", True), ("1", True), ("no", False), ("false", False)]:
        assert check_bool("x", word) is value
    target = SAMBA.check_target({"share": "s"})
    assert target["min_dialect"] is None and target["require_signing"] is False


def test_conf_writes_yes_and_leaves_out_no_and_reads_back():
    target = SAMBA.check_target({"share": "s", "user": "u", "min_dialect": "3.0", "require_signing": True})
    conf = WatchSettings(SAMBA, "w", Schedule(), target).to_conf()
    assert "require_signing = yes\n" in conf and "min_dialect = 3.0\n" in conf
    assert "require_encryption" not in conf
    values = parse_conf(conf, "w.conf")
    for key in ("kind", "id", "interval", "retries", "timeout"):
        values.pop(key)
    assert SAMBA.check_target(values) == target


def test_ocf_meta_data_declares_booleans_as_boolean():
    xml = meta_data(ocf.agent_for(SAMBA))
    for name in ("require_signing", "require_encryption"):
        block = xml.split(f'<parameter name="{name}">')[1].split("</parameter>")[0]
        assert '<content type="boolean" default="false" />' in block
    block = xml.split('<parameter name="min_dialect">')[1].split("</parameter>")[0]
    assert 'type="string"' in block and "3.1.1" in block


def test_alerts_carry_the_posture_as_journal_fields():
    from fswatch.core.errors import ProbeFailure
    from fswatch.core.observation import Observation, StageTiming
    from fswatch.core.verdict import WatchState, judge
    from fswatch.host.notify import Notifier
    from fswatch.host.sinks import ListSink
    from fswatch.watch.reporter import Reporter

    sink = ListSink()
    schedule = Schedule(1, 1, 1)
    reporter = Reporter(SAMBA, "w1", "private", schedule, sink, Notifier())
    failure = ProbeFailure(108, "session", "the server does not require signing", "signing enabled")
    obs = Observation(0.0, (StageTiming("session", 3.0, False),), failure, details=Posture("3.1.1", "enabled"))
    reporter.probed(obs, judge(WatchState(), obs, schedule))
    alert_id, message, fields = sink.alerts[-1]
    assert alert_id == 108
    assert message == "The clp_sambamon has seen Samba [private] not require signing (signing enabled)."
    assert fields["FSWATCH_DIALECT"] == "3.1.1" and fields["FSWATCH_SIGNING"] == "enabled"
    assert "FSWATCH_ENCRYPTION" not in fields and fields["FSWATCH_STAGE"] == "session"
    posture = reporter.snapshot().last_probe["posture"]
    assert posture == {"dialect": "3.1.1", "signing": "enabled", "encryption": None, "authentication": None}


def test_ocf_takes_pacemaker_booleans_and_refuses_a_guest_that_requires_signing(capsys, tmp_path):
    env = {"OCF_RESOURCE_INSTANCE": "r1", "OCF_RESKEY_share": "x", "OCF_RESKEY_require_signing": "true",
           "FSWATCH_RUNTIME_DIR": str(tmp_path)}
    assert ocf.main("samba", ["validate-all"], env=env) == OCF_ERR_CONFIGURED
    err = capsys.readouterr().err
    assert err.startswith("ocf-exit-reason:alert 11: --require-signing needs --user") and err.count("\n") == 1
    env.update(OCF_RESKEY_require_signing="false", OCF_RESKEY_require_encryption="false",
               OCF_RESKEY_min_dialect="3.0")
    assert ocf.main("samba", ["validate-all"], env=env) == OCF_SUCCESS
