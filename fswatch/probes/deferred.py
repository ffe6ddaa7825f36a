"""What a probe's libraries import at start and a probe never uses, deferred until something uses it.

pyspnego imports its CredSSP proxy (spnego._credssp) with the package, and with it ssl,
tempfile and cryptography.x509 (which brings email, calendar and locale): about 2.8 MB of
every Samba watch's memory (bench/RESULTS.md, "Before and after"), for a protocol SMB never
speaks (CredSSP is RDP's and WinRM's). In its place the import gives a stand-in: calling its
CredSSPProxy, or reading any other name of it, imports the real module and hands that over,
so nothing changes for a caller but when the import happens. A pyspnego without that module
never asks for it, and one that asks for more of it gets the real module at once.

install() is called when fswatch.probes is imported, before any probe imports its libraries.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from typing import Any, Optional, Sequence

CREDSSP = "spnego._credssp"


class _StandIn:
    """The finder and loader of the stand-in module, for CREDSSP alone and once."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None
    ) -> Optional[ModuleSpec]:
        if fullname != CREDSSP:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # from now on the real module is found as usual
        return ModuleSpec(fullname, self)

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # a plain module

    def exec_module(self, module: Any) -> None:
        module.CredSSPProxy = _credssp_proxy
        module.__getattr__ = _real_attribute  # PEP 562: any other name loads the real module
        module.__fswatch_stand_in__ = True


def _real() -> Any:
    """The real module, imported now in place of the stand-in."""
    if getattr(sys.modules.get(CREDSSP), "__fswatch_stand_in__", False):
        del sys.modules[CREDSSP]
    return importlib.import_module(CREDSSP)


def _credssp_proxy(*args: Any, **kwargs: Any) -> Any:
    return _real().CredSSPProxy(*args, **kwargs)


def _real_attribute(name: str) -> Any:
    if name.startswith("__"):  # the import system's own questions (__path__, __spec__...): not a use
        raise AttributeError(name)
    return getattr(_real(), name)


def install() -> None:
    if CREDSSP not in sys.modules and not any(isinstance(f, _StandIn) for f in sys.meta_path):
        sys.meta_path.insert(0, _StandIn())
