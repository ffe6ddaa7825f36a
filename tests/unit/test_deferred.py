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


def test_a_samba_probe_never_loads_credssp_tls_or_x509():
    out = run("""
        import sys
        import fswatch.probes.samba
        print(sorted(m for m in ("ssl", "tempfile", "cryptography.x509", "email", "spnego.tls") if m in sys.modules))
        print(getattr(sys.modules["spnego._credssp"], "__fswatch_stand_in__", False))
    """)
    assert out.splitlines() == ["[]", "True"]


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
