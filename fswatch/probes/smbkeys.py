"""The two key functions of an SMB logon, in Python: RC4 for NTLM, the SP 800-108 KDF for SMB 3.

A logon that signs nothing (a guest's, or one where neither side requires signing) still runs
two cipher functions: NTLM sends the session key RC4-encrypted (MS-NLMP KXKEY, and pyspnego
primes two RC4 handles for sealing), and SMB 3 derives the session's signing, encryption and
application keys with the KDF in counter mode (MS-SMB2 3.1.4.2). pyspnego and smbprotocol call
cryptography's OpenSSL backend for them, and importing that backend costs every Samba watch
about 3 MB of private memory (its ~60 modules: RSA, DSA, EC, DH, the X25519/448 and Ed25519/448
keys, the serializers) for 16 bytes of RC4 and a few HMACs per probe (bench/RESULTS.md, "Before
and after"). These two are small enough to write here from the specifications; a session that
signs or encrypts (a user's, a Kerberos one) still loads the backend at its first signature,
for AES-CMAC, AES-GMAC and AES-CCM/GCM. fswatch.core.deferred defers the modules that import the
backend at their own import (the KDF's and AES-GCM/CCM's).

tests/unit/test_smbkeys.py checks both against cryptography's for many keys and lengths.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import List, Optional


class RC4:
    """RC4 (the keystream pyspnego's RC4Handle gives): update() encrypts or decrypts the next
    bytes of the stream, reset() starts it again. The key schedule runs at the first update, as
    pyspnego primes two sealing handles after every logon that SMB never uses."""

    def __init__(self, key: bytes) -> None:
        if not 1 <= len(key) <= 256:  # as cryptography's ARC4: its key sizes are 40..2048 bits
            raise ValueError(f"Invalid key size ({len(key) * 8}) for RC4.")
        self._key = bytes(key)
        self._state: Optional[List[int]] = None
        self._i = self._j = 0

    def reset(self) -> None:
        self._state = None
        self._i = self._j = 0

    def _schedule(self) -> List[int]:
        key, n, s, j = self._key, len(self._key), list(range(256)), 0
        for i in range(256):
            j = (j + s[i] + key[i % n]) & 0xFF
            s[i], s[j] = s[j], s[i]
        return s

    def update(self, data: bytes) -> bytes:
        s = self._state
        if s is None:
            s = self._state = self._schedule()
        i, j, out = self._i, self._j, bytearray(data)
        for n in range(len(out)):
            i = (i + 1) & 0xFF
            j = (j + s[i]) & 0xFF
            s[i], s[j] = s[j], s[i]
            out[n] ^= s[(s[i] + s[j]) & 0xFF]
        self._i, self._j = i, j
        return bytes(out)


_U32 = struct.Struct(">L")


def smb3kdf(ki: bytes, label: bytes, context: bytes, length: int = 16) -> bytes:
    """KDF in counter mode with HMAC-SHA256 (NIST SP 800-108 5.1, r = 32, L = 8 x length), as
    MS-SMB2 3.1.4.2 uses it: K(i) = HMAC(Ki, [i]32 || Label || 0x00 || Context || [L]32);
    smbprotocol's Session._smb3kdf with the same arguments."""
    fixed = label + b"\x00" + context + _U32.pack(length * 8)
    out = b""
    counter = 1
    while len(out) < length:
        out += hmac.new(ki, _U32.pack(counter) + fixed, hashlib.sha256).digest()
        counter += 1
    return out[:length]
