"""The modules a process loads itself, for the tests that count what a watch loads
(tests/unit/test_watch_cost.py, tests/unit/test_deferred.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import FrozenSet

ROOT = Path(__file__).resolve().parents[1]

# What smbprotocol takes from cryptography (connection.py, session.py), after fswatch's stand-ins.
_CRYPTOGRAPHY = """
    import json, sys
    import fswatch  # fswatch.core.deferred's stand-ins first, as in a watch

    def real():
        return {name for name, module in sys.modules.items() if not getattr(module, "__fswatch_stand_in__", False)}

    before = real()
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import cmac, hashes
    from cryptography.hazmat.primitives.ciphers import aead, algorithms
    from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC
    print(json.dumps(sorted(real() - before)))
"""


def cryptographys_own() -> FrozenSet[str]:
    """What cryptography's modules that smbprotocol imports load themselves. It depends on the
    release. What Debian 12's python3-cryptography (38) would load and a watch does not use is
    deferred (fswatch.core.deferred): inspect (cryptography.utils names inspect.Signature in an
    annotation), its OpenSSL backend (imported by the KDF's and AES-GCM's modules) and x509. A
    Samba watch cannot help the rest."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_CRYPTOGRAPHY)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return frozenset(json.loads(proc.stdout))
