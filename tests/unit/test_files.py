"""fswatch.host.files: every file fswatch reads is bounded, never blocks and follows no link it
should not; values and passwords keep their exact text or are refused."""

from __future__ import annotations

import os
import stat

import pytest

from fswatch.core.errors import SystemFault, UsageError
from fswatch.core.settings import check_password
from fswatch.host import files
from fswatch.surfaces.cli import main
from fswatch.watch.runner import load_settings


def test_regular_file_within_the_limit(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert files.read_bounded(tmp_path / "f", 10) == b"x" * 10
    assert files.read_bounded(tmp_path / "missing", 10) is None
    with pytest.raises(files.FileRefused, match="larger than 9 bytes"):
        files.read_bounded(tmp_path / "f", 9)


@pytest.mark.parametrize("kind", ["fifo", "dir", "chardev", "socket"])
def test_other_file_types_are_refused_without_reading(tmp_path, kind):
    path = tmp_path / "f"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer came
    elif kind == "dir":
        path.mkdir()
    elif kind == "chardev":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: endless
    else:
        import socket

        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    with pytest.raises(files.FileRefused, match="not a regular file"):
        files.read_bounded(path, 100)


def test_links_are_followed_only_when_asked(tmp_path):
    (tmp_path / "target").write_text("pw\n")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(SystemFault) as info:
        files.read_bounded(tmp_path / "link", 100)
    assert info.value.errno == 40
    assert files.read_bounded(tmp_path / "link", 100, follow=True) == b"pw\n"
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(files.FileRefused):
        files.read_bounded(tmp_path / "zero", 100, follow=True)


def test_read_line_is_bounded(tmp_path):
    r, w = os.pipe()
    os.write(w, b"secret\nrest")
    os.close(w)
    assert files.read_line(r, 100, "stdin") == b"secret"
    os.close(r)
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        with pytest.raises(files.FileRefused, match="longer than 100"):
            files.read_line(fd, 100, "stdin")
    finally:
        os.close(fd)


@pytest.mark.parametrize("text", ["[" * 100_000, "{", "\xff"])
def test_bad_json_is_refused_not_a_crash(text):
    with pytest.raises(files.FileRefused):
        files.load_json(text, "state")


@pytest.mark.parametrize(
    "password, ok",
    [("p w ", True), (" -x", True), ("pässwörd", True), ("p\0w", False), ("p\rw", False), ("p\udcffw", False)],
)
def test_password_text(password, ok):
    if ok:
        assert check_password(password) == password
    else:
        with pytest.raises(UsageError):
            check_password(password)


def test_values_keep_their_exact_text_through_the_config_file(dirs, monkeypatch):
    """configparser strips values and gives ; # % = : meanings: what `add` writes must load
    back unchanged, and a password keeps its spaces (it lives in its own file)."""
    share, user, password = "a;b #c %d=e [g]", "dom;ain\\us#er%", "  pass word ;#% "
    pw = dirs / "pw"
    pw.write_text(password + "\n")
    assert main(["add", "samba", "w1", "--share", share, "--user", user, "--password-file", str(pw)]) == 0
    settings, loaded = load_settings("samba", "w1")
    assert settings.target["share"] == share and settings.target["user"] == user
    assert loaded == password
    assert main(["add", "nfs", "n1", "--export", "/srv/a;b #c %d"]) == 0
    assert load_settings("nfs", "n1")[0].target["export"] == "/srv/a;b #c %d"


@pytest.mark.parametrize(
    "argv",
    [
        ["add", "samba", "w1", "--share", " s"],
        ["add", "samba", "w1", "--share", "s\u3000"],  # ideographic space: stripped by str.strip too
        ["add", "samba", "w1", "--share", "s", "--user", "u "],
        ["add", "nfs", "n1", "--export", "/x\t"],
        ["add", "nfs", "n1", "--export", "/x "],
    ],
)
def test_values_that_would_not_come_back_are_refused(dirs, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "alert 11" in err and len(err.strip().splitlines()) == 1
    assert not (dirs / "etc").exists() or not any((dirs / "etc").rglob("*.conf"))
