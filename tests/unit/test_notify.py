"""sd_notify through systemd.daemon to a real AF_UNIX datagram socket standing in for systemd."""

import os
import socket

from fswatch.host.notify import Notifier


def test_notify_over_a_real_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}
        old = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = path  # systemd.daemon.notify reads the real environment
        try:
            n = Notifier.from_env(env)
            n.ready("healthy: 7 ms")
            n.watchdog()
            n.set_watchdog(6)
        finally:
            if old is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = old
        got = [server.recv(4096).decode() for _ in range(3)]
    finally:
        server.close()
    assert got == ["READY=1\nSTATUS=healthy: 7 ms", "WATCHDOG=1", "WATCHDOG_USEC=6000000"]


def test_no_socket_no_effect():
    n = Notifier.from_env({})
    assert not n.active
    n.ready("x")
    n.watchdog()


def test_watchdog_for_another_pid_is_not_ours():
    n = Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "1"}, sender=print)
    assert not n.watchdog_enabled
