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
