"""Host mirrors of the card's symmetric primitives (the `cryptography` package does the AES)."""

from __future__ import annotations

from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16


def cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B) of ``data`` under ``key`` (16, 24 or 32 bytes)."""
    c = _cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def kdf(key: bytes, constant: int, bits: int = 256, context: bytes = b"") -> bytes:
    """NIST SP 800-108 counter mode with AES-CMAC as PRF, in the SCP03 layout:
    CMAC(key, 00*11 || constant || 00 || L (2 bytes, bits) || i (1 byte) || context), i = 1, 2, ..."""
    out = b""
    i = 1
    while len(out) * 8 < bits:
        block = bytes(11) + bytes([constant, 0]) + bits.to_bytes(2, "big") + bytes([i]) + context
        out += cmac(key, block)
        i += 1
    return out[: bits // 8]


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 0x80 then zeros to a whole block (always adds at least one byte)."""
    data = data + b"\x80"
    return data + bytes(-len(data) % BLOCK)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80") or len(data) - len(stripped) >= BLOCK:
        raise ValueError("bad ISO 9797-1 method 2 padding")
    return stripped[:-1]


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()
