"""fswatch.probes.smbkeys against cryptography's own RC4 and KDF, which they stand in for."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

from fswatch.probes import smbkeys


def _arc4(key: bytes):  # type: ignore[no-untyped-def]
    return Cipher(algorithms.ARC4(key), mode=None).encryptor()


@pytest.mark.parametrize("key_length", [5, 7, 8, 10, 16, 20, 24, 32])
def test_rc4_is_cryptographys_keystream_across_updates_and_after_reset(key_length):
    rng = random.Random(key_length)
    for _ in range(20):
        key = rng.randbytes(key_length)
        ours, theirs = smbkeys.RC4(key), _arc4(key)
        for size in (0, 1, 16, 300, 7):  # one stream across several updates
            data = rng.randbytes(size)
            assert ours.update(data) == theirs.update(data)
        ours.reset()
        data = rng.randbytes(64)
        assert ours.update(data) == _arc4(key).update(data)


@pytest.mark.parametrize("key", [b"", bytes(257)])
def test_rc4_refuses_a_key_cryptography_refuses(key):
    with pytest.raises(ValueError):
        smbkeys.RC4(key)
    with pytest.raises(ValueError):
        _arc4(key)


def _kbkdf(ki: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """smbprotocol's Session._smb3kdf (1.x), verbatim but for the default backend."""
    return KBKDFHMAC(
        algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=length, rlen=4, llen=4,
        location=CounterLocation.BeforeFixed, label=label, context=context, fixed=None,
    ).derive(ki)


@pytest.mark.parametrize("length", [16, 32, 33, 64, 100])
def test_kdf_is_sp800_108_counter_mode_as_smbprotocol_derives_it(length):
    rng = random.Random(length)
    for label, context in [(b"SMBSigningKey\x00", rng.randbytes(64)), (b"SMB2AESCCM\x00", b"ServerIn \x00"),
                           (b"SMBC2SCipherKey\x00", rng.randbytes(64)), (b"x", b"")]:
        ki = rng.randbytes(16)
        assert smbkeys.smb3kdf(ki, label, context, length) == _kbkdf(ki, label, context, length)


def test_the_smb_logon_uses_them():
    """What fswatch.probes.smb installs: NTLM's RC4 handle and the session's KDF."""
    import spnego._ntlm_raw.crypto as ntlm_crypto

    from fswatch.probes import smb

    assert ntlm_crypto.rc4init(b"k" * 16).__class__ is smbkeys.RC4
    session = smb.ProbeSession.__new__(smb.ProbeSession)
    key, label, context = b"k" * 16, b"SMB2APP\x00", b"SmbRpc\x00"
    assert session._smb3kdf(key, label, context) == _kbkdf(key, label, context, 16)
