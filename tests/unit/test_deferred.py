"""fswatch.core.deferred: what a watch's libraries import and never use is not loaded
by a probe, and is there, whole, the moment anything uses it. Each case in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.loaded import cryptographys_own

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_samba_probe_never_loads_credssp_tls_x509_the_openssl_backend_or_the_logging_configuration():
    out = run("""
        import json, sys
        import fswatch.probes.samba
        from fswatch.core import deferred
        print(json.dumps(sorted(m for m in ("ssl", "tempfile", "cryptography.x509", "email", "spnego.tls",
                                            "cryptography.hazmat.backends.openssl.backend",
                                            "logging.handlers", "socketserver", "pickle", "smbprotocol.create_contexts",
                                            "smbprotocol.file_info", "ast", "dis")
                                 if m in sys.modules and not getattr(sys.modules[m], "__fswatch_stand_in__", False))))
        print(json.dumps({m: getattr(sys.modules[m], "__fswatch_stand_in__", False)
                          for m in deferred.DEFERRED if m in sys.modules}))  # the rest: not even imported
    """)
    loaded, stand_ins = (json.loads(line) for line in out.splitlines())
    # What the installed cryptography loads itself (tests/loaded.py) is not the watch's to defer.
    own = cryptographys_own()
    assert set(loaded) - own == set()
    assert {m for m, stand_in in stand_ins.items() if not stand_in} - own == set()


def test_using_credssp_loads_the_real_module():
    out = run("""
        import sys
        import fswatch.probes.samba
        import spnego
        context = spnego.client("user", "password", hostname="server", protocol="credssp")
        module = sys.modules["spnego._credssp"]
        print(type(context).__name__, type(context).__module__, getattr(module, "__fswatch_stand_in__", False))
        print(module.CredSSPProxy is type(context), "ssl" in sys.modules)
    """)
    assert out.splitlines() == ["CredSSPProxy spnego._credssp False", "True True"]


def test_any_other_name_of_it_loads_the_real_module_too():
    out = run("""
        import fswatch.probes
        from spnego._credssp import CredSSPProxy, _create_tls_context
        import spnego._credssp as real
        print(callable(_create_tls_context), real.CredSSPProxy.__name__)
    """)
    assert out == "True CredSSPProxy"


def test_the_logging_configuration_is_there_when_asked_for():
    out = run("""
        import logging, sys
        import fswatch.probes.samba
        logging.config.dictConfig({"version": 1, "loggers": {"x": {"level": "INFO"}}})
        from logging.config import fileConfig
        print(logging.getLogger("x").level, callable(fileConfig), "logging.handlers" in sys.modules)
    """)
    assert out == "20 True True"


def test_nothing_is_deferred_that_was_imported_already():
    out = run("""
        import logging.config, sys
        import fswatch.probes.samba
        module = sys.modules["logging.config"]
        print(getattr(module, "__fswatch_stand_in__", False), hasattr(logging.config, "dictConfig"))
    """)
    assert out == "False True"


def test_the_names_taken_from_a_stand_in_are_the_real_objects_at_their_first_use():
    """What the libraries do with the names they took: construct (Open, the IOCTL requests),
    read a member (CtlCode's), call a class method (KerberosV5Msg.unpack) - each on the real
    object, the real module imported then."""
    out = run("""
        import sys
        import fswatch.probes.samba
        import smbprotocol.connection as connection, smbprotocol.tree as tree, spnego._spnego as sp
        print(tree.CtlCode.FSCTL_VALIDATE_NEGOTIATE_INFO == 0x00140204, type(tree.SMB2IOCTLRequest()).__name__)
        print(connection.Open.__name__ if hasattr(connection.Open, "__name__") else "forward",
              callable(sp.KerberosV5Msg.unpack))
        print([getattr(sys.modules[m], "__fswatch_stand_in__", False)
               for m in ("smbprotocol.ioctl", "spnego._kerberos", "smbprotocol.open")])
    """)
    assert out.splitlines() == ["True SMB2IOCTLRequest", "Open True", "[False, False, False]"]


def test_a_dataclass_without_a_docstring_still_gets_one():
    """dataclasses asks inspect for the signature it writes into an undocumented class's
    docstring: the real inspect, then (every fswatch dataclass has a docstring of its own)."""
    out = run("""
        import sys
        import fswatch
        import dataclasses
        print(getattr(sys.modules["inspect"], "__fswatch_stand_in__", False))

        @dataclasses.dataclass
        class Point:
            x: int
            y: int = 0

        print(Point.__doc__, getattr(sys.modules["inspect"], "__fswatch_stand_in__", False))
    """)
    assert out.splitlines() == ["True", "Point(x: int, y: int = 0) False"]


def test_gssapi_is_not_found_without_krb5_and_imported_as_usual_with_it(tmp_path):
    """pyspnego uses gssapi only with krb5 beside it: without krb5 a watch never loads gssapi
    (3.4 MB of C code), as on a node without it; with krb5, gssapi is there as ever."""
    (tmp_path / "gssapi").mkdir()
    (tmp_path / "gssapi" / "__init__.py").write_text("REAL = True\n")
    code = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import fswatch.probes.samba
        import spnego._gss
        try:
            import gssapi
            found = gssapi.REAL
        except ModuleNotFoundError:
            found = False
        print(found, spnego._gss.HAS_GSSAPI, "gssapi" in sys.modules)
    """
    assert run(code) == "False False False"
    (tmp_path / "krb5.py").write_text("")
    assert run(code) == "True False True"  # the fake gssapi has no gssapi.raw: pyspnego still cannot use it


def test_cryptography_works_whole_with_x509_deferred():
    """The OpenSSL backend (every signing key's KDF, every NTLM MAC) loads without x509, which
    it and PKCS#7 name in annotations only; the first use of x509 - through the backend's and
    PKCS#7's own reference, isinstance included - gets the real classes, everywhere after."""
    out = run("""
        import sys
        import fswatch.probes.samba
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode
        from cryptography.hazmat.primitives.serialization import pkcs7
        key = KBKDFHMAC(hashes.SHA256(), Mode.CounterMode, 16, 4, 4, CounterLocation.BeforeFixed,
                        b"SMBSigningKey", b"", None).derive(b"k" * 16)
        print(len(key), "cryptography.x509.base" in sys.modules)
        print(isinstance(object(), pkcs7.x509.Certificate), "cryptography.x509.base" in sys.modules)
        from cryptography import x509
        backend = sys.modules["cryptography.hazmat.backends.openssl.backend"]
        print(backend.x509.Certificate is x509.Certificate is pkcs7.x509.Certificate, x509.Certificate.__module__)
    """)
    assert out.splitlines() == ["16 False", "False True", "True cryptography.x509.base"]


def test_ssh_keys_load_with_their_format_deferred():
    out = run("""
        import sys
        import fswatch.probes.samba
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
        print("cryptography.hazmat.primitives.serialization.ssh" in sys.modules and getattr(
            sys.modules["cryptography.hazmat.primitives.serialization.ssh"], "__fswatch_stand_in__", False))
        key = ed25519.Ed25519PrivateKey.generate().public_key()
        line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        again = serialization.load_ssh_public_key(line)
        print(line.split()[0].decode(), again.public_bytes(serialization.Encoding.OpenSSH,
                                                          serialization.PublicFormat.OpenSSH) == line)
    """)
    assert out.splitlines() == ["True", "ssh-ed25519 True"]


def test_an_ntlm_logon_and_the_smb3_keys_never_load_the_openssl_backend(tmp_path):
    """A whole NTLM exchange (pyspnego's client against its server: the key exchange's RC4, the
    sealing handles) and an SMB 3 key derivation, in a Samba watch's process: cryptography's
    OpenSSL backend (~3 MB of private memory) is never imported (fswatch.probes.smbkeys)."""
    users = tmp_path / "ntlm-users"
    users.write_text("DOM:alice:secret\n")
    out = run(f"""
        import os, sys
        os.environ["NTLM_USER_FILE"] = {str(users)!r}
        import fswatch.probes.samba
        from fswatch.probes import smb
        import spnego
        client = spnego.client("DOM\\\\alice", "secret", hostname="server", protocol="ntlm")
        server = spnego.server(protocol="ntlm")
        token = client.step()
        while not client.complete:
            token = client.step(server.step(token))
        server.step(token) if token else None
        key = smb.ProbeSession._smb3kdf(None, client.session_key, b"SMBSigningKey\\x00", b"x" * 64)
        print(client.session_key == server.session_key, len(key),
              "cryptography.hazmat.backends.openssl.backend" in sys.modules)
        print("_hashlib" in sys.modules, "libcrypto" in open("/proc/self/maps").read())
    """)
    assert out.splitlines() == ["True 16 False", "False False"]


def test_digests_come_from_cpython_itself_and_are_right():
    """_hashlib (OpenSSL's digests) is not found: hashlib and hmac take CPython's own, and give
    the standard's answers (FIPS 180-2's "abc", RFC 2202's first HMAC-MD5 case)."""
    out = run("""
        import sys
        import fswatch
        import hashlib, hmac
        print(hashlib.sha512(b"abc").hexdigest()[:16], hashlib.sha256(b"abc").hexdigest()[:16],
              hmac.new(b"\\x0b" * 16, b"Hi There", "md5").hexdigest(), hashlib.md5(b"").hexdigest()[:8])
        print("_hashlib" in sys.modules, "libcrypto" in open("/proc/self/maps").read())
        try:
            import _hashlib
        except ModuleNotFoundError as exc:
            print(exc)
    """)
    assert out.splitlines() == [
        "ddaf35a193617aba ba7816bf8f01cfea 9294727a3638bb1c13f48ef8158bfc9d d41d8cd9", "False False",
        "No module named '_hashlib' (hashlib and hmac use CPython's own digests: fswatch.core.deferred)",
    ]


def test_inspect_answers_isclass_itself_and_a_signature_in_an_annotation_is_no_use():
    """smbprotocol.structure asks inspect.isclass() on every probe, cryptography.utils names
    inspect.Signature in an annotation: neither loads the real inspect (~0.9 MB, with ast and dis);
    isclass answers as Lib/inspect.py does, and any other name is the real module's."""
    out = run("""
        import sys
        import fswatch
        import inspect

        def f(s: inspect.Signature) -> inspect.Signature:
            return s

        answers = [inspect.isclass(x) for x in (int, 1, type, inspect, None)]
        print(answers, getattr(sys.modules["inspect"], "__fswatch_stand_in__", False), "ast" in sys.modules)
        print(inspect.signature(f).parameters["s"].name, inspect.isclass is sys.modules["inspect"].isclass)
        print(getattr(sys.modules["inspect"], "__fswatch_stand_in__", False), "ast" in sys.modules)
    """)
    assert out.splitlines() == ["[True, False, True, False, False] True False", "s True", "False True"]
