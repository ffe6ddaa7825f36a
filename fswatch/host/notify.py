"""sd_notify (READY, STATUS, WATCHDOG, EXTEND_TIMEOUT_USEC) through systemd.daemon.

Outside systemd there is no NOTIFY_SOCKET and every call is a no-op; the sender is
injectable so tests stand in for systemd with their own AF_UNIX datagram socket.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Optional

Sender = Callable[[str], object]


def _systemd_sender(state: str) -> object:
    from systemd import daemon  # imported only under systemd

    return daemon.notify(state)


class Notifier:
    def __init__(self, sender: Optional[Sender] = None, watchdog: bool = False) -> None:
        self._send = sender
        self.watchdog_enabled = watchdog and sender is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, sender: Optional[Sender] = None) -> Notifier:
        if not env.get("NOTIFY_SOCKET"):
            return cls(None)
        pid = env.get("WATCHDOG_PID")
        watchdog = bool(env.get("WATCHDOG_USEC")) and (not pid or pid == str(os.getpid()))
        return cls(sender or _systemd_sender, watchdog)

    @property
    def active(self) -> bool:
        return self._send is not None

    def send(self, *assignments: str) -> None:
        if self._send is not None:
            self._send("\n".join(assignments))

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        if self.watchdog_enabled:
            self.send("WATCHDOG=1")

    def set_watchdog(self, seconds: float) -> None:
        """Refine the unit's WatchdogSec= from the watch's own interval and timeout."""
        if self.watchdog_enabled:
            self.send(f"WATCHDOG_USEC={int(seconds * 1_000_000)}")

    def extend_timeout(self, seconds: float) -> None:
        """Ask systemd for more start-up time while the first healthy probe is pending."""
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")
