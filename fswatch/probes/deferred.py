"""What a probe's libraries import at start and a probe never uses, deferred until something uses it.

pyspnego, which the Samba probe's smbprotocol imports, brings in with its package:

- its CredSSP proxy (spnego._credssp), and with it ssl, tempfile and cryptography.x509 (which
  brings email, calendar and locale), for a protocol SMB never speaks (CredSSP is RDP's and
  WinRM's);
- logging.config (and logging.handlers, socketserver, pickle, queue), to read a logging
  configuration file named by PYSPNEGO_LOG_CFG, which fswatch never sets: fswatch routes the
  libraries' logging itself (fswatch.host.logs).

Together about 4 MB of every Samba watch's memory (bench/RESULTS.md, "Before and after"). In
their place the import gives a stand-in: reading any name of it (or calling a name the
importer took from it, CredSSPProxy) imports the real module and hands that over, so nothing
changes for a caller but when the import happens. A library that never asks for one of them
never meets its stand-in.

install() is called when fswatch.probes is imported, before any probe imports its libraries.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

# Each deferred module, and the callables its importers take from it with `from M import N`
# at their own import (the stand-in has those; any other name loads the real module).
DEFERRED: Dict[str, Tuple[str, ...]] = {
    "spnego._credssp": ("CredSSPProxy",),
    "logging.config": (),
}
MARK = "__fswatch_stand_in__"


class _StandIns:
    """The finder and loader of the stand-ins: each module once, then the real one as usual."""

    def __init__(self) -> None:
        self.waiting = set(DEFERRED)

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None
    ) -> Optional[ModuleSpec]:
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        if not self.waiting and self in sys.meta_path:
            sys.meta_path.remove(self)
        return ModuleSpec(fullname, self)

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # a plain module

    def exec_module(self, module: Any) -> None:
        name = module.__name__
        for callable_name in DEFERRED[name]:
            setattr(module, callable_name, _forward(name, callable_name))
        module.__getattr__ = lambda attr: _real_attribute(name, attr)  # PEP 562: any other name
        setattr(module, MARK, True)


def _real(name: str) -> Any:
    """The real module, imported now in place of the stand-in."""
    if getattr(sys.modules.get(name), MARK, False):
        del sys.modules[name]
    return importlib.import_module(name)


def _forward(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_real(module), name)(*args, **kwargs)

    call.__name__ = name
    return call


def _real_attribute(module: str, name: str) -> Any:
    if name.startswith("__"):  # the import system's own questions (__path__, __spec__...): not a use
        raise AttributeError(name)
    return getattr(_real(module), name)


def install() -> None:
    if not any(isinstance(f, _StandIns) for f in sys.meta_path):
        finder = _StandIns()
        finder.waiting -= set(sys.modules)  # already imported for real: nothing to defer
        if finder.waiting:
            sys.meta_path.insert(0, finder)
