"""Fixtures the unit tier shares."""

import pytest


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Private config and runtime dirs, and no systemd around: the CLI writes only below tmp_path."""
    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def no_server_asked_at_add(monkeypatch):
    """`fswatch add nfs` asks the server which security the export takes (a probe of a few
    seconds); the unit tier does no I/O, so it asks nothing (tests/integration/test_nfs_kerberos.py
    asks a real one)."""
    from fswatch.surfaces.cli import commands

    monkeypatch.setattr(commands, "REFUSAL_CHECK_SECONDS", 0)
