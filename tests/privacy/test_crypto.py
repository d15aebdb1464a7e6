"""Primitives and the start-up known-answer tests (R20, F22)."""

import hashlib
import os

import pytest

from gridgov.privacy import crypto
from gridgov.privacy.apps import PrivacyConfig


def test_known_answer_tests_pass_here():
    assert crypto.self_test() == ["sm3-available", "sm3-abc", "sm4-gbt32907", "hmac-sm3", "aes-256-gcm", "sm4-gcm"]


@pytest.mark.parametrize("alg", [crypto.AES_256_GCM, crypto.SM4_GCM])
def test_aead_round_trip_and_tamper(alg):
    aead = crypto.Aead(os.urandom(32), alg)
    sealed = aead.seal("金丝雀".encode(), b"row-1")
    assert aead.open(sealed, b"row-1") == "金丝雀".encode()
    assert "金丝雀".encode() not in sealed
    # Every seal has a fresh random nonce: equal plaintexts never give equal ciphertexts.
    assert aead.seal("金丝雀".encode(), b"row-1")[:12] != sealed[:12]
    with pytest.raises(crypto.DecryptionError):
        aead.open(sealed, b"row-2")  # other associated data
    with pytest.raises(crypto.DecryptionError):
        aead.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"row-1")
    with pytest.raises(crypto.DecryptionError):
        crypto.Aead(os.urandom(32), alg).open(sealed, b"row-1")  # other key
    with pytest.raises(crypto.DecryptionError):
        aead.open(b"short", b"row-1")


def test_a_broken_library_refuses_to_start(monkeypatch):
    real_new = hashlib.new

    def broken_sm3(name, data=b"", **kw):
        if name == "sm3":
            return real_new("sha256", data)  # an OpenSSL "without SM3" that lies
        return real_new(name, data, **kw)

    monkeypatch.setattr(crypto.hashlib, "new", broken_sm3)
    with pytest.raises(crypto.StartupSelfTestError, match="sm3-abc"):
        crypto.self_test()
    config = PrivacyConfig("gridgov.privacy", __import__("gridgov.privacy", fromlist=["x"]))
    with pytest.raises(crypto.StartupSelfTestError):
        config.ready()


def test_keyed_hash_is_hmac_sm3():
    import hmac

    assert crypto.keyed_hash(b"k", b"m") == hmac.new(b"k", b"m", "sm3").digest()
    assert len(crypto.keyed_hash(b"k", b"m")) == 32
