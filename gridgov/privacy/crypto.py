"""Cryptographic primitives for personal data (个人信息加密): AEAD ciphers, the keyed hash
behind blind indexes, and the known-answer tests run at start-up.

Everything goes through the `cryptography` package (OpenSSL) and the standard library:
AES-256-GCM by default, SM4-GCM (商用密码, GB/T 32907) when the deployment asks for it,
SM3 / HMAC-SM3 (GB/T 32905) from `hashlib`. Nonces are random 96-bit values; a nonce is
never derived from data.
"""

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
TAG_BYTES = 16
# Envelope letters: short, because every encrypted column carries one.
AES_256_GCM = "a"
SM4_GCM = "s"
CIPHERS = {"aes-256-gcm": AES_256_GCM, "sm4-gcm": SM4_GCM}


class DecryptionError(Exception):
    """A ciphertext failed authentication: wrong key, wrong row/column, or tampered bytes."""


class StartupSelfTestError(RuntimeError):
    """A known-answer test failed: the crypto library cannot be trusted on this machine."""


def derive(key: bytes | bytearray, label: bytes, hash_name: str = "sha256") -> bytes:
    """A sub-key for one purpose, so one secret is never used by two algorithms."""
    return hmac.new(bytes(key), b"gridgov:" + label, hash_name).digest()


class Aead:
    """One symmetric key ready to seal and open, for one cipher letter."""

    __slots__ = ("_aes", "_sm4", "alg")

    def __init__(self, key: bytes | bytearray, alg: str):
        self.alg = alg
        if alg == AES_256_GCM:
            self._aes = AESGCM(derive(key, b"aes-256-gcm"))
            self._sm4 = None
        elif alg == SM4_GCM:
            self._aes = None
            self._sm4 = derive(key, b"sm4-gcm", "sm3")[:16]
        else:
            raise ValueError(f"unknown cipher {alg!r}")

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        if self._aes is not None:
            return nonce + self._aes.encrypt(nonce, plaintext, aad)
        encryptor = Cipher(algorithms.SM4(self._sm4), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return nonce + body + encryptor.tag

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("ciphertext too short")
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            if self._aes is not None:
                return self._aes.decrypt(nonce, body, aad)
            decryptor = Cipher(algorithms.SM4(self._sm4), modes.GCM(nonce, body[-TAG_BYTES:])).decryptor()
            decryptor.authenticate_additional_data(aad)
            return decryptor.update(body[:-TAG_BYTES]) + decryptor.finalize()
        except InvalidTag:
            raise DecryptionError("authentication failed") from None


def keyed_hash(key: bytes, message: bytes, hash_name: str = "sm3") -> bytes:
    """HMAC of `message` (HMAC-SM3 by default): the blind index of a normalised value."""
    return hmac.new(key, message, hash_name).digest()


def zero(buffer: bytearray) -> None:
    """Overwrite key material we hold in a mutable buffer once it has been used."""
    for i in range(len(buffer)):
        buffer[i] = 0


# --- known-answer tests (自检) ------------------------------------------------------------


def self_test() -> list[str]:
    """Run the known-answer tests; return the names that passed, raise on the first failure.

    SM3 "abc" (GB/T 32905 appendix A), SM4 single block (GB/T 32907 appendix A), HMAC-SM3
    against a hand-built HMAC over hashlib's SM3, AES-256-GCM (NIST GCM test case 14) and an
    SM4-GCM round trip with a tampered tag rejected."""
    passed = []

    def check(name: str, ok: bool) -> None:
        if not ok:
            raise StartupSelfTestError(f"crypto known-answer test failed: {name}")
        passed.append(name)

    check("sm3-available", "sm3" in hashlib.algorithms_available)
    check("sm3-abc", hashlib.new("sm3", b"abc").hexdigest()
          == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")  # pragma: allowlist secret
    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(k), modes.ECB()).encryptor()  # one block of the standard's vector only  # noqa: S305 (known-answer test of one block)
    check("sm4-gbt32907", (encryptor.update(k) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246")  # pragma: allowlist secret
    key, msg = b"gridgov-kat-key", b"abc"
    inner = hashlib.new("sm3", bytes(b ^ 0x36 for b in key.ljust(64, b"\0")) + msg).digest()
    outer = hashlib.new("sm3", bytes(b ^ 0x5C for b in key.ljust(64, b"\0")) + inner).digest()
    check("hmac-sm3", keyed_hash(key, msg, "sm3") == outer)
    # NIST SP 800-38D test case 14: 256-bit zero key, zero IV, one zero block.
    out = AESGCM(bytes(32)).encrypt(bytes(12), bytes(16), None)
    check("aes-256-gcm", out.hex() == "cea7403d4d606b6e074ec5d3baf39d18" "d0d1c8a799996bf0265b98b5d48ab919")  # pragma: allowlist secret
    sm4 = Aead(k, SM4_GCM)
    sealed = sm4.seal(b"gridgov", b"aad")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    try:
        sm4.open(tampered, b"aad")
        rejected = False
    except DecryptionError:
        rejected = True
    check("sm4-gcm", sm4.open(sealed, b"aad") == b"gridgov" and rejected)
    return passed
