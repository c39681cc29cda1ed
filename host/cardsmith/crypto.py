"""Host mirrors of the card's cryptographic building blocks (cryptography package).

Small, obviously named primitives: AES-CMAC (NIST SP 800-38B), the SP 800-108 counter-mode KDF with CMAC
as PRF, AES-CBC without padding.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC


def cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC, 16-byte tag."""
    c = CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def kdf(key: bytes, label: bytes, context: bytes, length: int = 16) -> bytes:
    """SP 800-108 counter mode, PRF = AES-CMAC: CMAC(key, i || label || 00 || context || L), L in bits (2 bytes)."""
    out = b""
    i = 1
    while len(out) < length:
        out += cmac(key, bytes([i]) + label + b"\x00" + context + (length * 8).to_bytes(2, "big"))
        i += 1
    return out[:length]


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()
