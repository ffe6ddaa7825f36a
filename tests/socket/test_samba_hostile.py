"""Nothing an SMB server sends can crash the Samba probe or make a library print (issue 9, point 2).

In-process servers answer the NEGOTIATE with (a) an error status whose body is not an SMB2
ERROR body, (b) an SMB1-only negotiate response, (c) something that is not SMB at all, and
(d) a reset. The probe must return a failed Observation at the negotiate stage; `fswatch
probe` and a `fswatch run` watch must print nothing on stderr but fswatch's own alert lines
(no traceback, no smbprotocol log line), and the watch must go through its retries to
alert 6 and exit 1.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.host import logs
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.fixtures.netfaults import ClosingServer, FaultServer, GarbageServer
from tests.integration.cli import FswatchCLI, alert_ids, only_alert_lines
from tests.socket import smbfakes

SLACK = 0.1

# Bodies behind an error status that smbprotocol's SMB2ErrorResponse cannot unpack (each made
# today's main raise struct.error out of the probe): empty, cut short, an error context
# count with no context behind it.
NOT_ERROR_BODIES = {
    "empty": b"",
    "short": bytes.fromhex("410001"),
    "context-without-data": bytes.fromhex("0900010008000000ffffffff"),
    # found by bench/fuzz: an error context whose ErrorId smbprotocol's enum does not know (ValueError)
    "unknown-context-id": bytes.fromhex("09000100" "0c000000" "04000000" "a0a00901" "00000000"),
}

HOSTILE = {
    **{
        f"status-body-{name}": (lambda body=body: smbfakes.status_with_body(smbfakes.STATUS_ACCESS_DENIED, body))
        for name, body in NOT_ERROR_BODIES.items()
    },
    "smb1-only": smbfakes.smb1_only,
    "not-smb": lambda: GarbageServer(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n", close_after=False),
    "reset": lambda: ClosingServer(read_first=True, reset=True),
}


def _target(server: FaultServer) -> SambaTarget:
    return SambaTarget("public", server.address, server.port)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_probe_returns_a_failed_observation(case):
    with HOSTILE[case]() as server:
        t0 = time.monotonic()
        obs = probe_samba(_target(server), Deadline.after(2))
        elapsed = time.monotonic() - t0
    assert not obs.ok
    failure = obs.failure
    assert failure.stage == "negotiate", failure.fields()
    assert failure.reason and "\n" not in failure.reason
    assert elapsed < 2 + SLACK
    if case.startswith("status-body"):
        assert failure.alert == 65 and failure.ntstatus == smbfakes.STATUS_ACCESS_DENIED, failure.fields()
        assert "STATUS_ACCESS_DENIED" in failure.reason
    else:
        assert failure.alert == 75, failure.fields()


def test_translation_of_an_exception_that_cannot_describe_itself():
    """str() and .message of smbprotocol's exception raise: the probe still gets a ProbeFailure."""
    from fswatch.probes import samba

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no text")

    failure = samba._translate(Unprintable(), "session", _target_stub(), False)
    assert failure.alert == 75 and failure.stage == "session" and "Unprintable" in failure.reason


def _target_stub() -> SambaTarget:
    return SambaTarget("public", "127.0.0.1", 445)


def test_configure_quiets_library_loggers_and_threads(capsys):
    saved = (logging.getLogger().handlers[:], threading.excepthook)
    try:
        assert logs.configure({}) is False
        logging.getLogger("smbprotocol.connection").error("worker died")
        logging.getLogger("some.other.library").warning("noise")
        thread = threading.Thread(target=lambda: 1 / 0)
        thread.start()
        thread.join()
        assert capsys.readouterr().err == ""
        assert logs.configure({"FSWATCH_DEBUG": "1"}) is True
        logging.getLogger("smbprotocol.connection").warning("shown")
        assert "fswatch debug: smbprotocol.connection: WARNING: shown" in capsys.readouterr().err
    finally:
        logs.configure({})
        logging.getLogger().handlers[:] = saved[0]
        threading.excepthook = saved[1]
        logging.captureWarnings(False)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_probe_command_prints_only_its_own_lines(case, tmp_path):
    cli = FswatchCLI(tmp_path)
    with HOSTILE[case]() as server:
        proc = cli("probe", "samba", "--share", "public", "--port", str(server.port), "--timeout", "2", timeout=20)
    assert proc.returncode == 1, proc.stderr
    only_alert_lines(proc.stderr)
    assert "FAILED at negotiate" in proc.stdout, proc.stdout


@pytest.mark.parametrize("case", ["status-body-empty", "smb1-only", "not-smb", "reset"])
def test_watch_retries_then_declares_failed(case, tmp_path):
    cli = FswatchCLI(tmp_path)
    with HOSTILE[case]() as server:
        added = cli(
            "add", "samba", "w1", "--share", "public", "--port", str(server.port),
            "--interval", "1", "--retries", "1", "--timeout", "1",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        proc = cli("run", "samba", "w1", timeout=30)
    assert proc.returncode == 1, proc.stderr
    only_alert_lines(proc.stderr)
    ids = alert_ids(proc.stderr)
    assert ids[0] == 1 and ids[-1] == 6 and 2 not in ids, proc.stderr  # never healthy
    failed = [i for i in ids if i in (65, 75)]
    assert len(failed) == 2, proc.stderr  # retries 1: two failed probes, then the verdict


def test_debug_switch_shows_library_lines(tmp_path):
    cli = FswatchCLI(tmp_path)
    cli.env["FSWATCH_DEBUG"] = "1"
    with HOSTILE["not-smb"]() as server:
        proc = cli("probe", "samba", "--share", "public", "--port", str(server.port), "--timeout", "2", timeout=20)
    assert proc.returncode == 1
    assert "fswatch debug: smbprotocol" in proc.stderr, proc.stderr


def test_a_huge_claimed_length_is_refused_without_allocating_it():
    """Found by the fuzzer (bench/fuzz): a Direct TCP header claiming 16 MiB made smbprotocol
    allocate 16 MiB (and copy it) and wait for the bytes until the deadline."""
    import tracemalloc

    with smbfakes.AnswerServer(b"\0\xff\xff\xff" + b"\xfeSMB", raw=True) as server:
        tracemalloc.start()
        try:
            t0 = time.monotonic()
            obs = probe_samba(_target(server), Deadline.after(2))
            elapsed = time.monotonic() - t0
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert obs.failure.alert == 75 and obs.failure.stage == "negotiate", obs.to_dict()
    assert "message length 16777215" in obs.failure.reason
    assert elapsed < 1.0 and peak < 4 << 20, (elapsed, peak)


def test_no_thread_for_the_deadline_is_a_failed_probe(monkeypatch):
    """A host out of threads (RuntimeError from Thread.start) fails the probe with alert 71."""
    from fswatch.probes import smb

    def no_thread(*args, **kwargs):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(smb, "Reaper", no_thread)
    obs = probe_samba(_target_stub(), Deadline.after(1))
    assert obs.failure.alert == 71 and obs.failure.stage == "connect", obs.to_dict()
    assert "can't start new thread" in obs.failure.reason
