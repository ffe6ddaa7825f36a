"""Host names for `--address`: resolved inside the probe's Deadline, on a bounded set of threads.

getaddrinfo(3) takes no timeout (glibc retries per resolv.conf's `timeout`/`attempts`, NSS
modules may block for ever), so a probe cannot call it and still promise its deadline. A lookup
runs on a worker thread instead; the probe waits for it until the deadline and then abandons it.
An abandoned thread cannot be killed, so the number of them is bounded:

- at most one lookup per name in flight: a probe that finds the previous probe's lookup of the
  same name still running waits for that one (and takes its answer, should it come) instead of
  starting another;
- at most MAX_LOOKUPS lookups in flight in the process: a further name fails at once.

A resolver that never answers therefore costs at most MAX_LOOKUPS threads however many probes
time out; each ends when the libc call returns. Literal addresses never get here: no thread,
no lookup, today's path.

Nothing is cached beyond what the host's own resolver caches (nscd, systemd-resolved): every
probe asks again, so a name moved to another server (a DNS failover) is probed at the next
probe, and one lookup per interval costs nothing worth saving. A cached answer would also hide
a resolver that has died, which the probe is there to see.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import ipaddress
import socket
import threading
from typing import Callable, Dict, Optional

from fswatch.core import alerts, threads
from fswatch.core.deadline import Deadline
from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import StageRecorder

STAGE = "resolve"
MAX_LOOKUPS = 4  # per process; a watch process has one target, clp and tests a few

Lookup = Callable[[str], str]


@functools.lru_cache(maxsize=64)
def literal(host: str) -> Optional[str]:
    """`host` as a normalised IP address, or None when it is a name (once per host and process:
    a watch asks at every probe)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def getaddrinfo_first(host: str) -> str:
    """The first address getaddrinfo() gives for `host`, in the host's order (RFC 6724, gai.conf).

    No AI_ADDRCONFIG: glibc ignores loopback when it checks which families are configured, so
    a name for 127.0.0.1 would not resolve on a node with only loopback up.
    """
    infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    if not infos:  # glibc never answers success with no address; be safe anyway
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return str(infos[0][4][0])


class _InFlight:
    """One lookup on its own daemon thread; done is set once `address` or `error` is."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.done = threading.Event()
        self.address: Optional[str] = None
        self.error: Optional[BaseException] = None


class Resolver:
    """Looks names up on worker threads, at most one per name and MAX_LOOKUPS in all."""

    def __init__(self, lookup: Lookup = getaddrinfo_first, max_lookups: int = MAX_LOOKUPS) -> None:
        self._lookup = lookup
        self._max = max_lookups
        self._lock = threading.Lock()
        self._in_flight: Dict[str, _InFlight] = {}

    @property
    def in_flight(self) -> int:
        """Lookups started and not yet answered (each holds one thread)."""
        with self._lock:
            return len(self._in_flight)

    def address(self, host: str, deadline: Deadline) -> str:
        """The address to connect to for the name `host`, by `deadline`; else ProbeFailure(61)."""
        lookup = self._join_or_start(host)
        if not lookup.done.wait(deadline.remaining()):
            raise ProbeFailure(
                alerts.RESOLVE,
                STAGE,
                f"name resolution gave no answer for {host!r} within the deadline",
                str(errno_mod.ETIMEDOUT),
                errno=errno_mod.ETIMEDOUT,
                timed_out=True,
            )
        if lookup.address is not None:
            return lookup.address
        raise _failure(host, lookup.error)

    def _join_or_start(self, host: str) -> _InFlight:
        key = host.rstrip(".").lower()  # DNS names are case-insensitive
        with self._lock:
            lookup = self._in_flight.get(key)
            if lookup is not None:
                return lookup  # the previous probe's lookup is still running: wait for that one
            if len(self._in_flight) >= self._max:
                raise ProbeFailure(
                    alerts.RESOLVE,
                    STAGE,
                    f"{len(self._in_flight)} earlier name lookups in this process have not answered: "
                    f"name resolution is stuck, {host!r} was not looked up",
                    str(errno_mod.EAGAIN),
                    errno=errno_mod.EAGAIN,
                )
            lookup = self._in_flight[key] = _InFlight(host)
        thread = threading.Thread(target=self._run, args=(key, lookup), name="fswatch-resolve", daemon=True)
        try:
            threads.start(thread)
        except RuntimeError as exc:  # "can't start new thread": the process is out of threads
            with self._lock:
                self._in_flight.pop(key, None)
            raise ProbeFailure(
                alerts.RESOLVE, STAGE, f"cannot start a thread to look up {host!r}: {exc}", str(errno_mod.EAGAIN),
                errno=errno_mod.EAGAIN,
            ) from exc
        return lookup

    def _run(self, key: str, lookup: _InFlight) -> None:
        try:
            lookup.address = self._lookup(lookup.host)
        except BaseException as exc:  # whatever the libc or an NSS module raises is the probe's answer
            lookup.error = exc
        finally:
            with self._lock:
                if self._in_flight.get(key) is lookup:
                    del self._in_flight[key]
            lookup.done.set()


def _failure(host: str, error: Optional[BaseException]) -> ProbeFailure:
    """A lookup's error -> alert 61, whose `error[nn]` is the getaddrinfo code (EAI_*)."""
    if isinstance(error, socket.gaierror) and error.errno is not None:
        failure = ProbeFailure(
            alerts.RESOLVE, STAGE, f"cannot resolve {host!r}: {error.strerror} ({_eai_name(error.errno)})",
            str(error.errno),
        )
    elif isinstance(error, OSError) and error.errno:
        failure = ProbeFailure(
            alerts.RESOLVE, STAGE, f"cannot resolve {host!r}: {error}", str(error.errno), errno=error.errno
        )
    else:  # e.g. UnicodeError from the IDNA codec for a label it refuses
        failure = ProbeFailure(alerts.RESOLVE, STAGE, f"cannot resolve {host!r}: {type(error).__name__}: {error}", "-1")
    failure.__cause__ = error
    return failure


def _eai_name(code: int) -> str:
    for name in dir(socket):
        if name.startswith("EAI_") and getattr(socket, name) == code:
            return name
    return f"EAI {code}"


RESOLVER = Resolver()


def address_for(host: str, rec: StageRecorder, deadline: Deadline, resolver: Optional[Resolver] = None) -> str:
    """The address a probe connects to, noted in its Observation as `address`.

    A literal is used as given; a name is looked up once per probe, in stage `resolve`, so every
    socket of the probe goes to the same address and a DNS change is seen at the next probe.
    """
    address = literal(host)
    if address is None:
        with rec.stage(STAGE):
            address = (resolver or RESOLVER).address(host, deadline)
    rec.note("address", address)
    return address
