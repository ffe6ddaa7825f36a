"""A Kerberos watch's settings on every surface: `principal`, `spn_host` and the keytab, checked
once (fswatch.kinds), kept as a 0600 copy (fswatch.host.keytabs), refused with one line and
exit 2 where they cannot work - on a node without the GSSAPI binding above all."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fswatch.core.errors import UsageError
from fswatch.core.settings import Schedule, parse_conf
from fswatch.host import keytabs
from fswatch.host.store import SettingsStore
from fswatch.kinds import SAMBA, WatchSettings
from fswatch.surfaces import clp
from fswatch.surfaces.cli import main
from fswatch.surfaces.ocf import watches as ocf
from fswatch.surfaces.ocf.agent import OCF_ERR_CONFIGURED, OCF_SUCCESS
from tests.unit import krb5data

P = "fswprobe@FSW.TEST"


@pytest.fixture
def keytab(tmp_path):
    path = tmp_path / "given.keytab"
    path.write_bytes(krb5data.keytab([(P, 2)]))
    return path


def written(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "given" not in p.name)


def test_a_kerberos_target_and_its_service_principal():
    values = SAMBA.check_target({"share": "data", "address": "10.0.0.3", "principal": P, "spn_host": "fs1.fsw.test"})
    target = SAMBA.make_target(values, keytab="/k", ccache="/run/cc")
    logon = target.kerberos
    assert logon.principal == P and logon.service == "cifs/fs1.fsw.test@FSW.TEST"
    assert (logon.keytab, logon.ccache) == ("/k", "/run/cc") and target.user is None
    by_name = SAMBA.make_target(SAMBA.check_target({"share": "d", "address": "fs2.fsw.test", "principal": P}))
    assert by_name.kerberos.service == "cifs/fs2.fsw.test@FSW.TEST"
    assert SAMBA.make_target(SAMBA.check_target({"share": "d"})).kerberos is None


@pytest.mark.parametrize(
    "values, words",
    [
        ({"principal": P, "address": "10.0.0.3"}, "needs --spn-host NAME"),
        ({"principal": P, "user": "u"}, "exclude each other"),
        ({"spn_host": "fs1.fsw.test"}, "needs --principal"),
        ({"principal": P, "spn_host": "10.0.0.3"}, "is an IP address"),
        ({"principal": "fswprobe"}, "NAME@REALM"),
    ],
)
def test_kerberos_settings_that_cannot_work_are_refused(values, words):
    with pytest.raises(UsageError) as err:
        SAMBA.check_target({"share": "s", **values})
    assert err.value.alert == 11 and words in str(err.value)


def test_a_kerberos_watch_may_require_signing_it_has_a_session_key():
    target = SAMBA.check_target({"share": "s", "address": "fs1.x", "principal": P, "require_signing": True})
    assert target["require_signing"] is True


def test_principal_and_spn_host_round_trip_through_the_conf_file():
    target = SAMBA.check_target({"share": "s", "address": "10.0.0.3", "principal": P, "spn_host": "fs1.fsw.test"})
    conf = WatchSettings(SAMBA, "w", Schedule(), target).to_conf()
    assert f"principal = {P}\n" in conf and "spn_host = fs1.fsw.test\n" in conf
    values = parse_conf(conf, "w.conf")
    for key in ("kind", "id", "interval", "retries", "timeout"):
        values.pop(key)
    assert SAMBA.check_target(values) == target


def test_a_node_without_the_gssapi_binding_refuses_a_kerberos_watch(monkeypatch):
    monkeypatch.setitem(sys.modules, "gssapi", None)  # import gssapi raises ImportError
    with pytest.raises(UsageError) as err:
        SAMBA.check_target({"share": "s", "address": "fs1.x", "principal": P})
    assert "cannot log on with Kerberos" in str(err.value) and "python3-gssapi" in str(err.value)
    assert SAMBA.check_target({"share": "s"})  # the others are not concerned


def test_add_keeps_a_0600_copy_of_the_checked_keytab(dirs, keytab, capsys):
    argv = ["add", "samba", "w1", "--share", "data", "--address", "fs1.fsw.test", "--principal", P,
            "--keytab", str(keytab)]  # fmt: skip
    assert main(argv) == 0
    assert written(dirs) == ["etc/samba/w1.conf", "etc/samba/w1.keytab", "etc/samba/w1.password"]
    copy = dirs / "etc/samba/w1.keytab"
    assert copy.read_bytes() == keytab.read_bytes() and copy.stat().st_mode & 0o777 == 0o600
    assert f"principal = {P}" in (dirs / "etc/samba/w1.conf").read_text()
    # added again without Kerberos: the old keytab goes
    assert main(["add", "samba", "w1", "--share", "data"]) == 0
    assert written(dirs) == ["etc/samba/w1.conf", "etc/samba/w1.password"]
    assert main(argv) == 0 and main(["remove", "samba", "w1"]) == 0
    assert written(dirs) == []


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--principal", P], "needs its keytab: --keytab FILE"),
        (["--keytab", "KT"], "--keytab needs --principal"),
        (["--principal", P, "--keytab", "KT", "--password-file", "PW"], "keytab only"),
        (["--principal", "other@FSW.TEST", "--keytab", "KT"], "holds no key for other@FSW.TEST (it holds: fswprobe"),
        (["--principal", P, "--keytab", "NONE"], "does not exist"),
        (["--principal", P, "--keytab", "PW"], "is not a keytab"),
    ],
)
def test_add_and_probe_refuse_a_logon_that_cannot_work(dirs, keytab, capsys, extra, words):
    pw = dirs / "pw"
    pw.write_text("secret\n")
    subst = {"KT": str(keytab), "PW": str(pw), "NONE": str(dirs / "none.keytab")}
    extra = [subst.get(a, a) for a in extra]
    for argv in (["add", "samba", "w1"], ["probe", "samba"]):
        assert main([*argv, "--share", "s", "--address", "fs1.fsw.test", *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "alert 11:" in err and words in err, err
    assert written(dirs) == ["pw"]


def test_a_running_watch_takes_the_units_credential_first(tmp_path):
    stored = tmp_path / "w1.keytab"
    creds = tmp_path / "creds"
    creds.mkdir()
    assert keytabs.of_watch(stored, {}) is None
    stored.write_bytes(b"\x05\x02kt")
    assert keytabs.of_watch(stored, {}) == str(stored)
    for placeholder in (b"", b'""'):  # the unit's SetCredential=keytab:"" for a missing file
        (creds / "keytab").write_bytes(placeholder)
        assert keytabs.of_watch(stored, {"CREDENTIALS_DIRECTORY": str(creds)}) == str(stored)
    (creds / "keytab").write_bytes(b"\x05\x02kt")
    assert keytabs.of_watch(stored, {"CREDENTIALS_DIRECTORY": str(creds)}) == str(creds / "keytab")


def test_run_refuses_a_kerberos_watch_whose_keytab_is_gone(dirs, keytab, capsys):
    argv = ["add", "samba", "w1", "--share", "data", "--address", "fs1.fsw.test", "--principal", P,
            "--keytab", str(keytab)]  # fmt: skip
    assert main(argv) == 0
    (dirs / "etc/samba/w1.keytab").unlink()
    assert main(["run", "samba", "w1"]) == 2
    assert "needs its keytab" in capsys.readouterr().err


def test_clp_sambamon_takes_a_keytab_and_a_principal(keytab):
    req = clp.parse(SAMBA, ["w1", "-s", "data", "-a", "10.0.0.3", "-k", str(keytab), "-K", P, "-H", "fs1.fsw.test"])
    settings = clp.settings_of(req)
    assert settings.target["principal"] == P and settings.target["spn_host"] == "fs1.fsw.test"
    assert req.values["keytab"] == str(keytab) and "keytab" not in settings.target


def test_the_runtime_store_and_drop_in_carry_the_keytab(dirs, keytab, monkeypatch):
    from fswatch.host import supervisor
    from fswatch.host.supervisor import Supervisor

    monkeypatch.setattr(supervisor, "DROPIN_DIR", dirs / "systemd")  # never this machine's /run/systemd/system
    (dirs / "systemd").mkdir()  # systemd's, which a drop-in never creates (it means systemd is PID 1)

    target = SAMBA.check_target({"share": "d", "address": "fs1.x", "principal": P})
    settings = WatchSettings(SAMBA, "w1", Schedule(), target)
    SettingsStore.runtime().write(settings, None, keytab.read_bytes())
    assert (dirs / "run/samba/w1.keytab").stat().st_mode & 0o777 == 0o600
    sup = Supervisor(SAMBA, "w1", environ={})
    dropin = sup._write_dropin("test", (), keytab=True).read_text()
    assert f"LoadCredential=keytab:{dirs}/run/samba/w1.keytab" in dropin


def test_ocf_takes_a_keytab_parameter(dirs, keytab, capsys):
    env = {"OCF_RESOURCE_INSTANCE": "r1", "OCF_RESKEY_share": "d", "OCF_RESKEY_address": "10.0.0.3",
           "OCF_RESKEY_principal": P, "OCF_RESKEY_spn_host": "fs1.fsw.test", "OCF_RESKEY_keytab": str(keytab),
           "FSWATCH_RUNTIME_DIR": str(dirs / "run")}  # fmt: skip
    assert ocf.main("samba", ["validate-all"], env=env) == OCF_SUCCESS
    env["OCF_RESKEY_keytab"] = ""
    assert ocf.main("samba", ["validate-all"], env=env) == OCF_ERR_CONFIGURED
    assert "ocf-exit-reason:alert 11: --principal fswprobe@FSW.TEST needs its keytab" in capsys.readouterr().err


def test_one_probe_at_add_checks_the_write_canary_and_an_export_that_requires_kerberos(dirs, keytab, monkeypatch):
    """add asks the server once where it can refuse the watch: an NFS export that requires
    Kerberos of a watch without it, a write canary the server denies the watch's identity. A
    Kerberos watch's check gets a cache of its own, gone after it."""
    from fswatch.core import alerts
    from fswatch.core.errors import ProbeFailure
    from fswatch.core.observation import Observation
    from fswatch.kinds import NFS
    from fswatch.kinds.kind import Kind
    from fswatch.surfaces.cli import commands

    seen, answer = [], {}

    def probe(target, deadline):
        seen.append(target)
        failure = answer.get("failure")
        notes = (("write_canary_identity", f"principal {P} (Kerberos)"),) if failure else ()
        return Observation(0.0, (), failure=failure, notes=notes)

    monkeypatch.setattr(Kind, "probe_function", lambda self: probe)

    def settings(kind, **values):
        base = {"share": "d"} if kind is SAMBA else {"export": "/e"}
        return WatchSettings(kind, "w1", Schedule(), kind.check_target({"address": "10.0.0.3", **base, **values}))

    assert commands._check_at_add(settings(SAMBA), None, None) is None and seen == []  # nothing to ask
    assert commands._check_at_add(settings(NFS, principal=P, spn_host="fs1"), None, str(keytab)) is None
    assert seen == []  # Kerberos settings: no refusal to ask about
    answer["failure"] = ProbeFailure(alerts.KRB5_REQUIRED, "mount", "export requires sec=krb5; no Kerberos", "krb5")
    with pytest.raises(UsageError, match="export requires sec=krb5"):
        commands._check_at_add(settings(NFS), None, None)
    answer["failure"] = ProbeFailure(alerts.WRITE_DENIED, "write_create", "denied", "w: STATUS_ACCESS_DENIED")
    kerberos = settings(SAMBA, principal=P, spn_host="fs1", canary_write="w")
    with pytest.raises(UsageError, match=f"the server denies principal {P} \\(Kerberos\\) the write canary"):
        commands._check_at_add(kerberos, None, str(keytab))
    logon = seen[-1].kerberos
    assert logon.keytab == str(keytab) and logon.ccache.endswith("/krb5cc") and "fswatch-probe-" in logon.ccache
    assert not Path(logon.ccache).parent.exists()  # the check's cache went with it
    answer.clear()
    assert commands._check_at_add(kerberos, None, str(keytab)).startswith("write canary checked")
