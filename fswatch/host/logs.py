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

import logging
import os
import sys
import threading
from typing import Mapping, Optional

DEBUG_ENV = "FSWATCH_DEBUG"

# Libraries fswatch loads that log: the SMB stack (smbprotocol, its smbclient layer, pyspnego)
# and cryptography's helpers. Any other logger is covered by the root logger's NullHandler.
LIBRARY_LOGGERS = ("smbprotocol", "smbclient", "spnego", "cryptography")

_QUIET = logging.CRITICAL + 1  # above every level a library uses: records are not even built


class _Marker(logging.NullHandler):
    """The root handler configure() installs; finding it makes configure() idempotent."""


def debug_enabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    value = (os.environ if environ is None else environ).get(DEBUG_ENV, "")
    return value.strip() not in ("", "0")


def _quiet_thread_exception(args: threading.ExceptHookArgs) -> None:
    """A library thread that dies has already ended its work; the probe reports the outcome."""


def configure(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Route library output: quiet by default, to stderr with FSWATCH_DEBUG. Returns debug on/off.

    Safe to call more than once (a later call with a different environment re-decides).
    """
    debug = debug_enabled(environ)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Marker) or getattr(h, "_fswatch", False)]:
        root.removeHandler(handler)
    if debug:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("fswatch debug: %(name)s: %(levelname)s: %(message)s"))
        handler._fswatch = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        level = logging.NOTSET
        threading.excepthook = threading.__excepthook__
    else:
        # A handler on the root logger means logging never falls back to its lastResort
        # handler (which prints WARNING and above to stderr) for any logger at all.
        root.addHandler(_Marker())
        level = _QUIET
        threading.excepthook = _quiet_thread_exception
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(not debug)  # library warnings.warn() becomes a (quiet) log record
    return debug
