import pytest

from fswatch.core.errors import UsageError
from fswatch.core.settings import (
    Schedule,
    check_bool,
    check_canary,
    check_canary_write,
    check_cluster_name,
    check_id,
    check_password,
    check_range,
    parse_conf,
    valid_id,
)
from fswatch.kinds import NFS, SAMBA, WatchSettings


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
    text = WatchSettings(SAMBA, "w1", Schedule(2, 3, 4), target).to_conf()
    values = parse_conf(text, "w1.conf")
    assert values["share"] == "共有" and values["interval"] == "2" and values["user"] == "alice"


@pytest.mark.parametrize(
    "text, version, minor", [("3", 3, None), ("4", 4, None), ("4.0", 4, 0), ("4.1", 4, 1), ("4.2", 4, 2)]
)
def test_nfs_version_choices_round_trip_through_the_conf_file(text, version, minor):
    target = NFS.check_target({"export": "/x", "address": "127.0.0.1", "nfs_version": text})
    values = parse_conf(WatchSettings(NFS, "n1", Schedule(), target).to_conf(), "n1.conf")
    assert values["nfs_version"] == text
    again = NFS.check_target({key: values[key] for key in ("export", "address", "nfs_version")})
    probe_target = NFS.make_target(again)
    assert (probe_target.version, probe_target.minor_version) == (version, minor)


@pytest.mark.parametrize("bad", ["4.3", "4.", "41", "v4", "4.1.0"])
def test_other_nfs_versions_are_refused(bad):
    with pytest.raises(UsageError):
        NFS.check_target({"export": "/x", "nfs_version": bad})
    with pytest.raises(UsageError):  # NFSv4.x runs over TCP only
        NFS.check_target({"export": "/x", "nfs_version": "4.1", "transport": "udp"})


def test_malformed_conf_is_a_usage_error():
    with pytest.raises(UsageError):
        parse_conf("not an ini file", "x.conf")
    with pytest.raises(UsageError):
        parse_conf("[other]\na = 1\n", "x.conf")


@pytest.mark.parametrize(
    "bad",
    [
        "-x", "x-", "a..b", "a_b.example", "fs 1", "[::1]", "", ".", "10.0.0.256", "ä.example",
        "x" * 64 + ".example",  # a label of 64 bytes
        ".".join(["x" * 63] * 4),  # 255 bytes
        "1.2.3", "127.1", "example.123",  # all-digit last label: inet_aton() would read a number
        "fs1.example\n", "fs1\x00.example",
        "fs1.example..", "a-.",  # one trailing dot is allowed, not two; the name before it is checked
    ],
)
def test_addresses_refused(bad):
    from fswatch.core.settings import check_address

    with pytest.raises(UsageError) as info:
        check_address(bad)
    assert info.value.alert == 11 and repr(bad) in str(info.value)


@pytest.mark.parametrize(
    "good, kept",
    [
        ("fs1.example.com", "fs1.example.com"),
        ("localhost", "localhost"),
        ("FS-1.Example.", "FS-1.Example."),  # a trailing dot: an absolute name
        ("1fs.example", "1fs.example"),  # RFC 1123: a label may begin with a digit
        (".".join(["x" * 63] * 3 + ["x" * 61]), ".".join(["x" * 63] * 3 + ["x" * 61])),  # 253 bytes
        ("192.0.2.10", "192.0.2.10"),
        ("2001:DB8::1", "2001:db8::1"),  # literals are normalised
    ],
)
def test_addresses_are_ip_literals_or_host_names(good, kept):
    from fswatch.core.settings import check_address

    assert check_address(good) == kept


def test_system_error_names_the_function():
    from fswatch.core.errors import ProbeFailure

    f = ProbeFailure(42, "portmap", "socket() failed", "24", errno=24, function="socket")
    assert f.message(NFS, "/export") == "The clp_nfsmon has detected system error (socket 24)."


def test_samba_credential_is_the_nt_hash():
    # MS-NLMP 4.2.2.1.2: NTOWFv1("Password") = a4f49c406510bdcab6824ee7c30fd852
    from fswatch.probes.smb import credential

    cred, secret = credential("User", "Password")
    assert secret is None and cred.username == "User"
    assert cred.nt_hash == "a4f49c406510bdcab6824ee7c30fd852"


@pytest.mark.parametrize("bad", ["a\x00b", "pub\nlic", "tab\there", "esc\x1b[31m", "del\x7f", "\x1f"])
def test_control_characters_refused_in_share_and_user(bad):
    """A control character would forge journal lines and config keys: alert 11, exit 2."""
    from fswatch.core.settings import check_share, check_text

    for check in (check_share, lambda v: check_text("user", v)):
        with pytest.raises(UsageError) as info:
            check(bad)
        assert info.value.alert == 11 and info.value.exit_code == 2
        assert "control character" in str(info.value)
    assert SAMBA.check_target({"share": "ok", "user": "bob"})["user"] == "bob"
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "ok", "user": bad})


# -- exact refusals: the message is what an administrator reads (alert 11's detail) -------------


def test_refusal_messages_name_the_field_and_the_rule():
    from fswatch.core.settings import check_address, check_choice, check_export, check_port, check_share, check_text

    cases = [
        (lambda: check_id(""), "the watch identifier is empty"),
        (lambda: check_id("a b"), "invalid identifier 'a b': use letters, digits, '_' and '-', "
                                  "starting with a letter or digit"),
        (lambda: check_id("x" * 201), "invalid identifier: 201 bytes, at most 200"),
        (lambda: check_range("retries", "x"), "retries must be a whole number 1..10000, not 'x'"),
        (lambda: check_range("retries", "0"), "retries must be 1..10000, not 0"),
        (lambda: check_port("port", "65536"), "port must be 1..65535, not 65536"),
        (lambda: check_port("port", "0"), "port must be 1..65535, not 0"),
        (lambda: check_text("user", ""), "user is empty"),
        (lambda: check_text("user", "a\x01"), "user contains a control character"),
        (lambda: check_text("user", "x" * 256), "user is longer than 255 bytes"),
        (lambda: check_text("user", "a\udcff"), "user is not valid UTF-8"),
        (lambda: check_share("a\x01"), "share contains a control character"),
        (lambda: check_share("a/b"), "share 'a/b' contains a character not allowed in a share name"),
        (lambda: check_export("x" * 1025), "export is longer than 1024 bytes"),
        (lambda: check_export("srv"), "export 'srv' must be an absolute path"),
        (lambda: check_address("bad_host!"), "address 'bad_host!' is neither an IP address nor a host name "
         "(dot-separated labels of letters, digits and '-', at most 63 bytes each and 253 in all)"),
        (lambda: check_address("10.1"),
         "address '10.1' is not an IP address, and a host name's last label is not all digits"),
        (lambda: check_choice("version", "2", ("3", "4")), "version must be one of 3, 4, not '2'"),
        (lambda: check_text("user", " bob"), "user ' bob' begins or ends with white space: refused"),
        (lambda: check_bool("require_signing", " Maybe "), "require_signing must be yes or no, not ' Maybe '"),
        (lambda: check_canary(""), "canary is empty"),
        (lambda: check_canary("a\x01"), "canary contains a control character"),
        (lambda: check_canary("/etc/shadow"), "canary '/etc/shadow' must be relative to the share or export root, "
         "not absolute"),
        (lambda: check_canary("dir\\file"), "canary 'dir\\\\file' contains a backslash: separate names with '/'"),
        (lambda: check_canary("a/../b"), "canary 'a/../b' has an empty, '.' or '..' component: refused"),
        (lambda: check_canary("d/" + "x" * 256), f"canary 'd/{'x' * 256}' has a name longer than 255 bytes"),
        (lambda: check_password("p\rw"), "the password contains a control character (NUL, a line break, ...): refused"),
        (lambda: check_password("x" * 257), "the password is longer than 256 bytes: refused"),
        (lambda: check_password("p\udcffw"), "the password is not valid UTF-8 text: refused"),
        (lambda: check_password("p\nw", "the password (-p)"),
         "the password (-p) contains a control character (NUL, a line break, ...): refused"),
    ]
    for refuse, message in cases:
        with pytest.raises(UsageError) as info:
            refuse()
        assert str(info.value) == message


def test_edges_that_are_accepted():
    from fswatch.core.settings import check_address, check_export, check_port, check_share, check_text

    assert check_port("port", "65535") == 65535 and check_port("port", "1") == 1
    assert check_text("user", "x" * 255) == "x" * 255
    assert check_share("XBOX") == "XBOX"
    assert check_export("/" + "x" * 1023) == "/" + "x" * 1023
    assert check_address("::1") == "::1" and check_address("127.0.0.1") == "127.0.0.1"
    assert check_password("x" * 256) == "x" * 256  # PASSWORD_MAX_BYTES, in bytes
    assert Schedule.parse() == Schedule(30, 5, 60)
    assert Schedule.parse("7", 8, "9") == Schedule(7, 8, 9)


def test_schedule_parse_names_each_field():
    for field, args in (("interval", ("0", 1, 1)), ("retries", (1, "0", 1)), ("timeout", (1, 1, "0"))):
        with pytest.raises(UsageError) as info:
            Schedule.parse(*args)
        assert str(info.value) == f"{field} must be 1..10000, not 0"


def test_conf_parse_is_strict_and_literal():
    assert parse_conf("[watch]\nshare = 100%\n", "x.conf") == {"share": "100%"}  # no interpolation
    with pytest.raises(UsageError) as info:
        parse_conf("[watch]\nshare = a\nshare = b\n", "x.conf")  # a duplicate key is refused
    assert str(info.value) == (
        "x.conf: not a valid fswatch config (While reading from 'x.conf' [line  3]: option 'share' "
        "in section 'watch' already exists)"
    )
    with pytest.raises(UsageError) as info:
        parse_conf("[other]\n", "y.conf")
    assert str(info.value) == "y.conf: no [watch] section"


def test_attribute_names():
    from fswatch.core.settings import check_attribute

    assert check_attribute("fswatch-web1") == "fswatch-web1"
    assert check_attribute("a" * 200) == "a" * 200  # at most 200 bytes, like an identifier
    for bad in ("a" * 201, "-x", "a b", "é"):
        with pytest.raises(UsageError) as info:
            check_attribute(bad)
        assert str(info.value) == (
            f"invalid attribute name {bad!r}: use letters, digits, '_', '-', '.' and ':', "
            "starting with a letter or digit (or #health-NAME for Pacemaker's node health)"
        )


def test_valid_id_says_what_check_id_would():
    assert valid_id("web1") and valid_id("a" * 200)
    assert not valid_id("") and not valid_id("a b") and not valid_id("-x") and not valid_id("a" * 201)


def test_a_cluster_name_is_at_most_200_ascii_bytes():
    assert check_cluster_name("node name", "a" * 200) == "a" * 200
    assert check_cluster_name("resource ID", "fs-grp_1.x:2") == "fs-grp_1.x:2"
    for bad in ("a" * 201, "", "-x", "nöde", "a b"):
        with pytest.raises(UsageError, match=r"^invalid node name "):
            check_cluster_name("node name", bad)


def test_a_write_canary_directory_is_refused_by_its_own_name():
    assert check_canary_write(".") == "."
    with pytest.raises(UsageError, match=r"^canary-write '/abs' must be relative"):
        check_canary_write("/abs")
