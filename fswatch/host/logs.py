"""What libraries may print: nothing, unless FSWATCH_DEBUG asks for it.

fswatch speaks through its own alerts (fswatch.host.sinks) only. Its libraries talk on their
own: smbprotocol logs a full traceback from its receive thread when a server answers
something that is not SMB2 (an SMB1-only server, garbage) and a warning on a reset. With
no logging configured, Python's last-resort handler prints those to stderr - and under
systemd to the journal, where they look like a crash of the watch. An exception that
escapes a library's thread is printed by threading.excepthook the same way.

configure() is the one place that decides this; every entry point (fswatch.surfaces.cli,
fswatch.surfaces.clp, the OCF agent) calls it first. With FSWATCH_DEBUG set to anything but
"" or "0", library logging goes to stderr at DEBUG level and thread exceptions print as
usual, for diagnosing a server by hand.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Any, Callable, Mapping, Optional

DEBUG_ENV = "FSWATCH_DEBUG"

# Libraries fswatch loads that log: the SMB stack (smbprotocol, its smbclient layer, pyspnego)
# and cryptography's helpers. Any other logger is covered by the root logger's NullHandler.
LIBRARY_LOGGERS = ("smbprotocol", "smbclient", "spnego", "cryptography")


def debug_enabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    value = (os.environ if environ is None else environ).get(DEBUG_ENV, "")
    return value.strip() not in ("", "0")


def _quiet_thread_exception(args: threading.ExceptHookArgs) -> None:
    """A library thread that dies has already ended its work; the probe reports the outcome."""


def _quiet_warning(*args: object, **kwargs: object) -> None:
    """warnings.showwarning while logging is not loaded: what captureWarnings() would drop."""


def configure(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Route library output: quiet by default, to stderr with FSWATCH_DEBUG. Returns debug on/off.

    Safe to call more than once (a later call with a different environment re-decides).
    The logging module is configured when something has imported it; until then (an NFS
    watch never does: it saves the watch a megabyte) the first import of it configures it,
    before any library can log a record.
    """
    debug = debug_enabled(environ)
    threading.excepthook = threading.__excepthook__ if debug else _quiet_thread_exception
    for finder in [f for f in sys.meta_path if isinstance(f, _OnImport)]:
        sys.meta_path.remove(finder)
    if debug or "logging" in sys.modules:
        _configure_logging(debug)
    else:
        warnings.showwarning = _quiet_warning  # type: ignore[assignment]
        sys.meta_path.insert(0, _OnImport(debug))
    return debug


def _configure_logging(debug: bool) -> None:
    import logging

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_fswatch", False)]:
        root.removeHandler(handler)
    if debug:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("fswatch debug: %(name)s: %(levelname)s: %(message)s"))
        root.setLevel(logging.DEBUG)
        level = logging.NOTSET
    else:
        # A handler on the root logger means logging never falls back to its lastResort
        # handler (which prints WARNING and above to stderr) for any logger at all.
        handler = logging.NullHandler()
        level = logging.CRITICAL + 1  # above every level a library uses: records are not even built
    handler._fswatch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(not debug)  # library warnings.warn() becomes a (quiet) log record


class _OnImport:
    """A finder for `logging` alone that lets the other finders find it, then configures it as
    soon as it has been executed: the first import, whoever makes it, gets it configured."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "logging":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader.exec_module = _then_configure(spec.loader.exec_module, self.debug)  # this spec's own
                return spec
        return None


def _then_configure(exec_module: Callable[[Any], None], debug: bool) -> Callable[[Any], None]:
    def run(module: Any) -> None:
        exec_module(module)
        _configure_logging(debug)

    return run
