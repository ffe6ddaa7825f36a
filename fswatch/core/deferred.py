"""What a watch's process imports and never uses, deferred until something uses it.

Modules pulled in by others' imports, for work a watch never does:

- inspect (and ast, dis, tokenize): dataclasses imports it to write a docstring for a
  dataclass that has none, and every fswatch dataclass has one (the Samba probe's smbprotocol
  does use it, so a Samba watch loads it at its first probe);
- traceback: logging imports it to format an exception for a handler, and fswatch's handler
  drops every library record before it is formatted (fswatch.host.logs);
- pyspnego (the Samba probe's): its CredSSP proxy (spnego._credssp, and with it ssl,
  tempfile and cryptography.x509, which brings email, calendar and locale), for a protocol SMB
  never speaks (CredSSP is RDP's and WinRM's); its Kerberos message parser (spnego._kerberos),
  for tokens an NTLM logon never carries; logging.config (and logging.handlers, socketserver,
  pickle, queue), to read a logging configuration named by PYSPNEGO_LOG_CFG, which fswatch
  never sets (fswatch.host.logs routes the libraries' logging);
- smbprotocol: its file API (smbprotocol.open, with create_contexts and file_info), which its
  connection imports to follow a symbolic link while opening a file, and the probe opens a file
  only for a canary; its IOCTLs (smbprotocol.ioctl), which a tree connect uses only for the
  secure-negotiate check the probe does not run (fswatch.probes.smb.tree_connect); textwrap,
  to print a structure (its debug log), and timeit, for its transport's receive, which the
  probe's transport replaces (fswatch.probes.smb.ProbeTcp);
- cryptography (Debian 12's 38): x509 (its certificates, names, extensions: ~1.3 MB of a Samba
  watch's private memory), which the OpenSSL backend and its PKCS#7 and PKCS#12 serializers
  import to name certificates in annotations and to check one given to them, and a watch has
  no certificate (NTLM and the SMB keys need hashes, HMAC, CMAC, AES and the KDF only); and its
  SSH key format (serialization.ssh, ~0.1 MB), for keys a watch never reads or writes. Once
  anything uses one of them, the backend's reference to it holds the real module's names.
  And the OpenSSL backend itself (~3 MB, some 60 modules), which the KDF's module and AES-GCM/CCM's
  import at their own import: a logon that signs nothing needs neither (its RC4 and its KDF are
  fswatch.probes.smbkeys'), and a session that signs or encrypts loads them at its first signature.

And one module not loaded at all where it can be of no use: pyspnego uses python-gssapi only
with pykrb5 beside it (spnego._gss: both or neither), yet imports gssapi first, and with it the
Kerberos libraries and some 50 modules of C code (3.4 MB of a Samba watch's private memory on
Debian 12, whose python3-gssapi the venv sees). Where krb5 cannot be imported, gssapi is not
found either (ModuleNotFoundError), exactly as on a node without python3-gssapi: pyspnego then
negotiates NTLM as it would anyway. Where krb5 is there, gssapi is imported as usual.

And one module never loaded, since CPython has its own of everything a watch takes from it:
_hashlib, OpenSSL's digests, which hashlib and hmac import first and do without (their
documented fallback, as on a Python built without OpenSSL). NTLM's MD5 and HMAC, the SMB 3.1.1
preauth integrity's SHA-512 and the SMB 2 signing key's SHA-256 then come from CPython's _md5,
_sha512 and _sha256, and a guest Samba watch never maps libcrypto: 0.45 MB of its private
memory, 1.4 MB of its proportional share beside three others (bench/RESULTS.md). A watch that
signs with SMB 3 keys or logs on with Kerberos loads libcrypto through cryptography or the
Kerberos libraries, which link it themselves.

About 1 MB of every watch's private memory, 6 MB of a Samba watch's (bench/RESULTS.md, "Before
and after"). In their place the import gives a stand-in module: reading any name of it, or
calling or reading an attribute of a name an importer took from it (`from M import N`),
imports the real module and hands the real object over, so nothing changes for a caller but
when the import happens. Code that never asks for one of them never meets its stand-in; code
that asks for more of it than this table lists gets the real module at once, and a module
imported already is left as it is.

install() runs when the fswatch package is imported, before anything of fswatch imports
dataclasses or a probe's libraries.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from typing import Any, Dict, Optional, Sequence, Tuple

# Each deferred module, and the names its importers take from it with `from M import N` at their
# own import (the stand-in has those, as forwarders; any other name loads the real module).
DEFERRED: Dict[str, Tuple[str, ...]] = {
    "inspect": ("Signature",),  # dataclasses; cryptography.utils (in an annotation)
    "traceback": (),  # logging
    "textwrap": (),  # smbprotocol.structure
    "timeit": (),  # smbprotocol.transport
    "spnego._credssp": ("CredSSPProxy",),  # spnego.auth
    "spnego._kerberos": ("KerberosV5Msg",),  # spnego._spnego
    "logging.config": (),  # spnego
    "smbprotocol.open": ("Open",),  # smbprotocol.connection
    # cryptography 38's OpenSSL backend and its PKCS#7 serializer (every use of the backend: the
    # SMB signing keys' KDF, pyspnego's NTLM MACs) name these in their functions' annotations only.
    "cryptography.x509": ("Certificate", "CertificateSigningRequest", "CertificateRevocationList"),
    # ... and its SSH key format, for keys a watch never reads or writes.
    "cryptography.hazmat.primitives.serialization.ssh": ("load_ssh_private_key", "load_ssh_public_key"),
    # ... and the two modules that import its OpenSSL backend at their own import (~3 MB): the KDF
    # (smbprotocol.session's, which fswatch.probes.smb.ProbeSession replaces) and AES-GCM/CCM
    # (smbprotocol.connection's, for signing with GMAC and for encryption: a session that uses
    # them loads them then). fswatch.probes.smbkeys has the rest of what a logon needs.
    "cryptography.hazmat.primitives.kdf.kbkdf": ("KBKDFHMAC", "CounterLocation", "Mode"),  # smbprotocol.session
    "cryptography.hazmat.primitives.ciphers.aead": (),  # smbprotocol.connection
    "smbprotocol.ioctl": ("CtlCode", "IOCTLFlags", "SMB2IOCTLRequest", "SMB2IOCTLResponse",  # smbprotocol.tree
                          "SMB2ValidateNegotiateInfoRequest", "SMB2ValidateNegotiateInfoResponse"),
}
# Names a stand-in answers itself, exactly as the real module would, because a watch uses them on
# every probe and they are one line each: smbprotocol.structure asks inspect.isclass() of a field
# (the real module, with ast, dis and tokenize, is ~0.9 MB of a Samba watch's private memory).
ANSWERED: Dict[str, Dict[str, Any]] = {
    "inspect": {"isclass": lambda obj: isinstance(obj, type)},  # Lib/inspect.py's own definition
}
MARK = "__fswatch_stand_in__"
# A module of no use without another (fswatch never imports either): not found while that one cannot be.
USELESS_WITHOUT: Dict[str, str] = {"gssapi": "krb5"}  # spnego._gss: HAS_GSSAPI needs both
# Modules not found at all, and why: their importers fall back to what CPython has itself.
NOT_FOUND: Dict[str, str] = {"_hashlib": "hashlib and hmac use CPython's own digests"}


class _StandIns:
    """The finder and loader of the stand-ins: each module once, then the real one as usual."""

    def __init__(self) -> None:
        self.waiting = set(DEFERRED)

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None
    ) -> Optional[ModuleSpec]:
        if fullname in NOT_FOUND:
            raise ModuleNotFoundError(f"No module named {fullname!r} ({NOT_FOUND[fullname]}: fswatch.core.deferred)",
                                      name=fullname)
        if fullname in USELESS_WITHOUT:
            if importlib.util.find_spec(USELESS_WITHOUT[fullname]) is None:
                raise ModuleNotFoundError(f"No module named {fullname!r} (useless without "
                                          f"{USELESS_WITHOUT[fullname]}: fswatch.core.deferred)", name=fullname)
            return None
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        if not self.waiting and not USELESS_WITHOUT and not NOT_FOUND and self in sys.meta_path:
            sys.meta_path.remove(self)
        return ModuleSpec(fullname, self)

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # a plain module

    def exec_module(self, module: Any) -> None:
        name = module.__name__
        for taken in DEFERRED[name]:
            setattr(module, taken, _Forward(name, taken))
        for answered, answer in ANSWERED.get(name, {}).items():
            setattr(module, answered, answer)
        module.__getattr__ = lambda attr: _real_attribute(name, attr)  # PEP 562: any other name
        setattr(module, MARK, True)


def _real(name: str) -> Any:
    """The real module, imported now in place of the stand-in. The stand-in, still held by
    those that imported it, takes the real module's names: from then on they read the real
    objects from it (cryptography's isinstance(cert, x509.Certificate) needs the real class)."""
    stand_in = sys.modules.get(name)
    if not getattr(stand_in, MARK, False):
        return importlib.import_module(name)
    del sys.modules[name]
    real = importlib.import_module(name)
    vars(stand_in).update({key: value for key, value in vars(real).items() if not key.startswith("__")})
    return real


class _Forward:
    """A name an importer took from a deferred module: calling it, or reading an attribute of it
    (a class's method, an enum's member), uses the real object, imported now."""

    __slots__ = ("_module", "_name")
    # What typing asks of each name in an annotation such as Optional[x509.Certificate] (a type
    # variable? generic?): answered "no" here, since a name in an annotation is not a use. None of
    # the deferred names is a type variable or a generic class.
    TYPING_QUESTIONS = frozenset({"__typing_subst__", "__parameters__"})

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    def _object(self) -> Any:
        return getattr(_real(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._object()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        if attribute in _Forward.TYPING_QUESTIONS:
            raise AttributeError(attribute)
        return getattr(self._object(), attribute)

    def __instancecheck__(self, instance: Any) -> bool:  # isinstance(x, forward): the real class's answer
        return isinstance(instance, self._object())

    def __subclasscheck__(self, subclass: Any) -> bool:
        return issubclass(subclass, self._object())

    def __repr__(self) -> str:
        return f"<{self._module}.{self._name}, imported at its first use>"


def _real_attribute(module: str, name: str) -> Any:
    if name.startswith("__"):  # the import system's own questions (__path__, __spec__...): not a use
        raise AttributeError(name)
    return getattr(_real(module), name)


def wanted(name: str) -> None:
    """fswatch itself is about to use `name` (fswatch.probes.kerberos: gssapi, without pykrb5):
    find it from now on, whatever USELESS_WITHOUT says. A failed import is not cached by Python,
    so a library that was told it is missing earlier (pyspnego) simply keeps not using it."""
    USELESS_WITHOUT.pop(name, None)


def install() -> None:
    if not any(isinstance(f, _StandIns) for f in sys.meta_path):
        finder = _StandIns()
        finder.waiting -= set(sys.modules)  # already imported for real: nothing to defer
        if finder.waiting or USELESS_WITHOUT or NOT_FOUND:
            sys.meta_path.insert(0, finder)
