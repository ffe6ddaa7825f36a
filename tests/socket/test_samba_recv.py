"""The Samba probe receives in its own thread (fswatch.probes.smbrecv): no thread per connection,
an interim STATUS_PENDING answer waited past, and the deadline still ends a wait after one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.socket import smbfakes

STATUS_PENDING = 0x00000103
FLAGS_ASYNC_COMMAND = 0x00000002
DEADLINE = 2.0
ROOT = Path(__file__).resolve().parents[2]
MARGIN = 1.5  # the reaper shuts the socket at the deadline; a loaded machine delays the wake-up


def pending_negotiate() -> bytes:
    """An interim answer to the NEGOTIATE (MS-SMB2 3.3.4.2): STATUS_PENDING, async."""
    header = bytearray(smbfakes.smb2_header(smbfakes.SMB2_NEGOTIATE, STATUS_PENDING, 0))
    header[16:20] = (smbfakes.FLAGS_SERVER_TO_REDIR | FLAGS_ASYNC_COMMAND).to_bytes(4, "little")
    return smbfakes.direct_tcp(bytes(header) + bytes.fromhex("0900000000000000" "00"))


def _target(server) -> SambaTarget:
    return SambaTarget("public", server.address, server.port)


def test_the_final_answer_after_a_pending_one_is_the_one_judged():
    final = smbfakes.direct_tcp(smbfakes.smb2_header(smbfakes.SMB2_NEGOTIATE, smbfakes.STATUS_ACCESS_DENIED, 0))
    with smbfakes.AnswerServer(pending_negotiate() + final, raw=True) as server:
        obs = probe_samba(_target(server), Deadline.after(DEADLINE))
    failure = obs.failure
    assert (failure.stage, failure.alert, failure.ntstatus) == ("negotiate", 65, smbfakes.STATUS_ACCESS_DENIED), (
        failure.fields()
    )


def test_a_pending_answer_and_then_silence_ends_at_the_deadline():
    with smbfakes.AnswerServer(pending_negotiate(), raw=True) as server:
        t0 = time.monotonic()
        obs = probe_samba(_target(server), Deadline.after(DEADLINE))
        elapsed = time.monotonic() - t0
    failure = obs.failure
    assert (failure.stage, failure.alert, failure.timed_out) == ("negotiate", alerts.WAIT, True), failure.fields()
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + MARGIN


def test_a_probe_starts_no_thread_per_connection(monkeypatch):
    started = []
    real_start = threading.Thread.start

    def start(thread):
        started.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    final = smbfakes.direct_tcp(smbfakes.smb2_header(smbfakes.SMB2_NEGOTIATE, smbfakes.STATUS_ACCESS_DENIED, 0))
    with smbfakes.AnswerServer(final, raw=True) as server:
        for _ in range(3):
            assert probe_samba(_target(server), Deadline.after(DEADLINE)).failure.alert == 65
    ours = [name for name in started if not name.startswith(type(server).__name__)]  # not the server's own
    # At most the process's one timer thread (fswatch.core.timers), never smbprotocol's msg_worker.
    assert set(ours) <= {"fswatch-timers"}, ours


def test_a_probe_never_loads_the_idna_codec():
    """The probe hands getaddrinfo() its ASCII address as bytes: a str would load encodings.idna,
    stringprep and unicodedata (~0.5 MB of a Samba watch's memory) to encode it. A refused
    connection still says where it was refused."""
    code = textwrap.dedent("""
        import socket, sys
        from fswatch.core.deadline import Deadline
        from fswatch.probes.samba import SambaTarget, probe_samba
        from tests.socket import smbfakes
        final = smbfakes.direct_tcp(smbfakes.smb2_header(smbfakes.SMB2_NEGOTIATE, smbfakes.STATUS_ACCESS_DENIED, 0))
        with smbfakes.AnswerServer(final, raw=True) as server:
            answered = probe_samba(SambaTarget("public", server.address, server.port), Deadline.after(5))
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        refused = probe_samba(SambaTarget("public", "127.0.0.1", port), Deadline.after(5))
        print(answered.failure.stage, refused.failure.stage, refused.failure.errno)
        where = f"127.0.0.1:{port}" in refused.failure.reason
        print(where, "encodings.idna" in sys.modules, "stringprep" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["negotiate connect 111", "True False False"]
