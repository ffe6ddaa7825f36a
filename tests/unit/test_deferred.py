"""fswatch.probes.deferred: what the Samba probe's libraries import and never use is not loaded
by a probe, and is there, whole, the moment anything uses it. Each case in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_samba_probe_never_loads_credssp_tls_x509_or_the_logging_configuration():
    out = run("""
        import sys
        import fswatch.probes.samba
        print(sorted(m for m in ("ssl", "tempfile", "cryptography.x509", "email", "spnego.tls", "logging.handlers",
                                 "socketserver", "pickle") if m in sys.modules))
        print([getattr(sys.modules[m], "__fswatch_stand_in__", False) for m in ("spnego._credssp", "logging.config")])
    """)
    assert out.splitlines() == ["[]", "[True, True]"]


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
