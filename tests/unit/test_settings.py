import pytest

from fswatch.errors import UsageError
from fswatch.kinds import NFS, SAMBA
from fswatch.settings import Schedule, WatchSettings, check_id, check_range, parse_conf


@pytest.mark.parametrize("good", ["a", "web1", "A_b-c", "9x", "x" * 200])
def test_good_ids(good):
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["../x", "", "-x", "_x", "a b", "a/b", "é", "x" * 201, "a.b", "a\n"])
def test_bad_ids(bad):
    with pytest.raises(UsageError) as info:
        check_id(bad)
    assert info.value.alert in (11, 13)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("bad", ["0", "10001", "-1", "1.5", "", " 3", "x", "１"])
def test_ranges(bad):
    with pytest.raises(UsageError):
        check_range("interval", bad)


def test_range_edges():
    assert check_range("interval", "1") == 1
    assert check_range("interval", 10000) == 10000


def test_schedule_bound():
    s = Schedule(interval=1, retries=2, timeout=1)
    assert s.attempts == 3
    assert s.detection_bound == 1 + 2 * 1 + 1
    assert Schedule().detection_bound == 30 + 5 * 60 + 60


def test_target_validation():
    assert SAMBA.check_target({"share": "共有データ"})["share"] == "共有データ"
    with pytest.raises(UsageError) as info:
        SAMBA.check_target({})
    assert info.value.alert == 12
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "a/b"})
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "x", "port": "70000"})
    with pytest.raises(UsageError):
        NFS.check_target({"export": "relative"})
    with pytest.raises(UsageError):
        NFS.check_target({"export": "/x", "nfs_version": "2"})
    assert NFS.check_target({"export": "/x", "nfs_version": "4"})["nfs_version"] == 4


def test_conf_round_trip():
    target = SAMBA.check_target({"share": "共有", "port": "1445", "user": "alice"})
    text = WatchSettings("samba", "w1", Schedule(2, 3, 4), target).to_conf()
    values = parse_conf(text, "w1.conf")
    assert values["share"] == "共有" and values["interval"] == "2" and values["user"] == "alice"


def test_malformed_conf_is_a_usage_error():
    with pytest.raises(UsageError):
        parse_conf("not an ini file", "x.conf")
    with pytest.raises(UsageError):
        parse_conf("[other]\na = 1\n", "x.conf")


@pytest.mark.parametrize("bad", ["fs1.example.com", "localhost", "-x", "1.2.3", ""])
def test_addresses_are_numeric(bad):
    # name resolution takes no timeout: a host name would break the probe's deadline
    from fswatch.settings import check_address

    with pytest.raises(UsageError):
        check_address(bad)


def test_system_error_names_the_function():
    from fswatch.errors import ProbeFailure

    f = ProbeFailure(42, "portmap", "socket() failed", "24", errno=24, function="socket")
    assert f.message("nfs", "/export") == "The clp_nfsmon has detected system error (socket 24)."


def test_samba_credential_is_the_nt_hash():
    # MS-NLMP 4.2.2.1.2: NTOWFv1("Password") = a4f49c406510bdcab6824ee7c30fd852
    from fswatch.probes.samba import credential

    cred, secret = credential("User", "Password")
    assert secret is None and cred.username == "User"
    assert cred.nt_hash == "a4f49c406510bdcab6824ee7c30fd852"


@pytest.mark.parametrize("bad", ["a\x00b", "pub\nlic", "tab\there", "esc\x1b[31m", "del\x7f", "\x1f"])
def test_control_characters_refused_in_share_and_user(bad):
    """A control character would forge journal lines and config keys: alert 11, exit 2."""
    from fswatch.settings import check_share, check_text

    for check in (check_share, lambda v: check_text("user", v)):
        with pytest.raises(UsageError) as info:
            check(bad)
        assert info.value.alert == 11 and info.value.exit_code == 2
        assert "control character" in str(info.value)
    assert SAMBA.check_target({"share": "ok", "user": "bob"})["user"] == "bob"
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "ok", "user": bad})
