"""The one exception root, and the errors grouped by how a caller reacts to them.

Every error fswatch raises on purpose derives from FswatchError and names the seed alert
that reports it and the process exit code that goes with it.
"""

from __future__ import annotations

from typing import Optional

from fswatch.core import alerts
from fswatch.core.alerts import Voice

# Process exit codes: distinct per kind of outcome so scripts can tell them apart.
EXIT_OK = 0
EXIT_FAILED = 1  # a probe failed, or a watch declared its server failed
EXIT_USAGE = 2  # refused input: bad option, identifier, range or config file
EXIT_BUSY = 3  # the identifier is in use by a live watch (alert 14)
EXIT_NOT_ENDED = 4  # -stop / stop --wait: the watch did not end in time (alert 15)
EXIT_SYSTEM = 5  # the system refused something we needed (alert 42)
EXIT_NOT_RUNNING = 6  # pause, continue, inject, stop: no watch is running (alert 145)
EXIT_NOT_TAKEN = 7  # the running watch cannot take the request: paused, or an earlier release (alert 146)


class FswatchError(Exception):
    """Root of every error fswatch raises on purpose."""

    alert: Optional[int] = None
    exit_code = EXIT_FAILED


class UsageError(FswatchError):
    """Refused input (alert 11): nothing was written, the process exits 2."""

    alert = alerts.INVALID
    exit_code = EXIT_USAGE

    def __init__(self, message: str, alert: Optional[int] = None) -> None:
        super().__init__(message)
        if alert is not None:
            self.alert = alert


class WatchBusy(FswatchError):
    """A second watch of the same kind and identifier (alert 14)."""

    alert = alerts.BUSY
    exit_code = EXIT_BUSY


class NotEnded(FswatchError):
    """A stop request that did not see the watch end in time (alert 15)."""

    alert = alerts.NOT_ENDED
    exit_code = EXIT_NOT_ENDED


class SystemFault(FswatchError):
    """The system refused something fswatch needs (alert 42: function name and errno)."""

    alert = alerts.SYSTEM
    exit_code = EXIT_SYSTEM

    def __init__(self, function: str, errno: int, message: str = "") -> None:
        super().__init__(message or f"{function} failed: errno {errno}")
        self.function = function
        self.errno = errno


class DeadlineExceeded(FswatchError):
    """A probe's deadline passed; the probe turns this into a ProbeFailure of its stage."""


class ProtocolError(FswatchError):
    """A peer sent bytes that do not decode as the protocol says (garbage, truncation)."""


class ProbeFailure(FswatchError):
    """One probe failed: which stage, which alert reports it, and why.

    `detail` fills the seed text's placeholder (`nn` / `xxxx`): an errno number, an NT
    status, an RPC status name. `reason` is a one-line explanation for humans.
    """

    injected = False  # made by `fswatch inject` (fswatch.watch.inject.InjectedFailure), not by a server

    def __init__(
        self,
        alert: int,
        stage: str,
        reason: str,
        detail: str = "",
        *,
        errno: Optional[int] = None,
        ntstatus: Optional[int] = None,
        rpc_status: Optional[str] = None,
        timed_out: bool = False,
        function: Optional[str] = None,
        canary: Optional[str] = None,
        krb5_error: Optional[str] = None,
    ) -> None:
        super().__init__(reason)
        self.alert = alert
        self.stage = stage
        self.reason = reason
        self.detail = detail
        self.errno = errno
        self.ntstatus = ntstatus
        self.rpc_status = rpc_status
        self.timed_out = timed_out
        self.function = function  # the failed system call, for alert 42's text
        self.canary = canary  # the canary file's path, when reading it failed (stage "canary")
        self.krb5_error = krb5_error  # the Kerberos error's name (KRB5KDC_ERR_PREAUTH_FAILED), for a Kerberos fault

    def fields(self) -> dict:
        """The machine-readable facts, for JSON output and journal fields."""
        out = {"alert": self.alert, "stage": self.stage, "reason": self.reason}
        if self.detail:
            out["detail"] = self.detail
        if self.errno is not None:
            out["errno"] = self.errno
        if self.ntstatus is not None:
            out["ntstatus"] = f"0x{self.ntstatus:08x}"
        if self.rpc_status is not None:
            out["rpc_status"] = self.rpc_status
        if self.timed_out:
            out["timed_out"] = True
        if self.function is not None:
            out["function"] = self.function
        if self.injected:
            out["injected"] = True
        if self.canary is not None:
            out["canary"] = self.canary
        if self.krb5_error is not None:
            out["krb5_error"] = self.krb5_error
        return out

    def message(self, kind: Voice, target: str) -> str:
        """The seed's text for this failure, as `kind` says it (alert 42 names the system
        call, not the target)."""
        return alerts.alert(self.alert).render(kind, target=self.function or target, detail=self.detail)


class NotRunning(FswatchError):
    """A request for a running watch (pause, continue, inject, stop) found none (alert 145):
    nothing was applied, and the command says so."""

    alert = alerts.NOT_RUNNING
    exit_code = EXIT_NOT_RUNNING


class NotTaken(FswatchError):
    """The running watch cannot take the request (alert 146): it is paused, or its release does
    not read that request (fswatch.core.protocol). Nothing was written."""

    alert = alerts.NOT_TAKEN
    exit_code = EXIT_NOT_TAKEN
