"""Host mirrors of the card's cryptographic building blocks (cryptography package); docs/architecture.md.

- ``cmac``: AES-CMAC (NIST SP 800-38B).
- ``kdf``: SP 800-108 counter mode with CMAC as PRF, the backup format's layout (label bytes, any length).
- ``kdf256``: the same KDF in the SCP03 layout, 32-byte output (duplication, bundles).
- ``aes_cbc_encrypt`` / ``aes_cbc_decrypt``: AES-CBC without padding; ``pad`` / ``unpad``: ISO 9797-1 m2.
- ``aead_seal`` / ``aead_open``: AES-256-CBC + CMAC (encrypt-then-MAC) over header || IV || ciphertext,
  keys derived from one key with ``kdf256`` (labels 04 / 06).
- ``ecies_*``: ephemeral ECDH on P-256 -> the shared x coordinate keys ``aead_seal``.
- ``mac_equal``: the one comparison for MACs, tags and secrets (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from .errors import BadDataError

BLOCK = 16
LABEL_ENC = 0x04
LABEL_MAC = 0x06
POINT_LENGTH = 65
KEY_ID_LENGTH = 8


def cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC, 16-byte tag."""
    c = CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def mac_equal(a: bytes, b: bytes) -> bool:
    """Constant-time equality for MACs, tags, check values and secrets (never ``==`` on those)."""
    return hmac.compare_digest(a, b)


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


def kdf256(key: bytes, label: int, context: bytes = b"") -> bytes:
    """32 bytes from ``key``: CMAC(key, 00*11 || label || 00 || 0100 || i || context) for i = 1, 2."""
    fixed = bytes(11) + bytes([label, 0]) + (256).to_bytes(2, "big")
    return b"".join(cmac(key, fixed + bytes([i]) + context) for i in (1, 2))


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 method 2: 80 then zeros to a whole number of blocks (always adds at least one byte)."""
    data = data + b"\x80"
    return data + bytes(-len(data) % BLOCK)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80") or len(data) - len(stripped) >= BLOCK:
        raise BadDataError("bad padding after decryption: the data is corrupt")
    return stripped[:-1]


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def aead_seal(key: bytes, header: bytes, plaintext: bytes, context: bytes = b"", iv: bytes | None = None) -> bytes:
    """header || IV || AES-CBC(pad(plaintext)) || CMAC tag (16)."""
    enc, mac = kdf256(key, LABEL_ENC, context), kdf256(key, LABEL_MAC, context)
    iv = iv if iv is not None else os.urandom(BLOCK)
    body = header + iv + _cbc(enc, iv, pad(plaintext), True)
    return body + cmac(mac, body)


def aead_open(key: bytes, blob: bytes, header_length: int, context: bytes = b"") -> bytes:
    """The plaintext of an ``aead_seal`` blob; BadDataError if the tag or the padding is wrong."""
    ct_len = len(blob) - header_length - 2 * BLOCK
    if ct_len <= 0 or ct_len % BLOCK:
        raise BadDataError("sealed data has an impossible length: it is truncated or not of this format")
    enc, mac = kdf256(key, LABEL_ENC, context), kdf256(key, LABEL_MAC, context)
    body, tag = blob[:-BLOCK], blob[-BLOCK:]
    if not mac_equal(cmac(mac, body), tag):
        raise BadDataError("integrity check failed: the data was altered or the key is wrong")
    iv = blob[header_length:header_length + BLOCK]
    return unpad(_cbc(enc, iv, blob[header_length + BLOCK:-BLOCK], False))


# ---------------------------------------------------------------- P-256 and ECIES

def public_key_from_point(point: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise BadDataError(f"not a P-256 public key ({len(point)} bytes): {exc}") from exc


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def ecdsa_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA-SHA256 over message as r || s (64 bytes), the form the card parses."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecdsa_verify(point: bytes, message: bytes, signature: bytes) -> bool:
    """Whether signature (r || s, 64 bytes) is the key at point's ECDSA-SHA256 signature over message."""
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    return ecdsa_verify_der(point, message, der)


def ecdsa_verify_der(point: bytes, message: bytes, der: bytes) -> bool:
    """Whether der (a DER signature, as the card's Signature.sign makes it) verifies under the key at point."""
    try:
        public_key_from_point(point).verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id(point: bytes) -> bytes:
    """A card key's id: the first 8 bytes of SHA-256 of its uncompressed point."""
    return hashlib.sha256(point).digest()[:KEY_ID_LENGTH]


def kcv(data_key: bytes) -> bytes:
    """Key check value of a data key: SHA-256('KCV1' || key), first 8 bytes (what DECRYPT P1=01 returns)."""
    return hashlib.sha256(b"KCV1" + data_key).digest()[:8]


ENVELOPE_HEADER = 77
BLOB_VERSION = 1
BLOB_ENVELOPE = 2


def ecies_seal(recipient_point: bytes, prefix: bytes, plaintext: bytes, context: bytes) -> bytes:
    """The one ECIES construction: prefix || ephemeral point (65) || ciphertext length (2) as the header,
    then the aead_seal body under the x coordinate of ECDH(ephemeral, recipient) with ``context``."""
    recipient = public_key_from_point(recipient_point)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    shared = ephemeral.exchange(ec.ECDH(), recipient)
    header = prefix + point_of(ephemeral.public_key()) + len(pad(plaintext)).to_bytes(2, "big")
    return aead_seal(shared, header, plaintext, context=context)


def ecies_open(private_key: ec.EllipticCurvePrivateKey, blob: bytes, prefix_length: int, context: bytes) -> bytes:
    """The plaintext of an ``ecies_seal`` blob whose prefix has ``prefix_length`` bytes; BadDataError when
    it does not open."""
    if len(blob) < prefix_length + POINT_LENGTH + 2 + 2 * BLOCK:
        raise BadDataError("sealed data is too short: truncated or not of this format")
    ephemeral = public_key_from_point(blob[prefix_length:prefix_length + POINT_LENGTH])
    shared = private_key.exchange(ec.ECDH(), ephemeral)
    return aead_open(shared, blob, prefix_length + POINT_LENGTH + 2, context=context)


def ecies_wrap(recipient_point: bytes, data_key: bytes) -> bytes:
    """A data-key envelope for a card (docs/duplication.md): version, type, key id, ephemeral point,
    ciphertext length, then the aead_seal body under the ECDH secret (context = recipient key id)."""
    kid = key_id(recipient_point)
    return ecies_seal(recipient_point, bytes([BLOB_VERSION, BLOB_ENVELOPE]) + kid, data_key, kid)


def envelope_key_id(envelope: bytes) -> bytes:
    if len(envelope) < ENVELOPE_HEADER or envelope[0] != BLOB_VERSION or envelope[1] != BLOB_ENVELOPE:
        raise BadDataError("not a cardsmith data-key envelope (wrong version or type byte)")
    return envelope[2:2 + KEY_ID_LENGTH]


def ecies_unwrap(private_key: ec.EllipticCurvePrivateKey, envelope: bytes) -> bytes:
    """Host-side unwrap (tests, and hosts holding a software key)."""
    kid = envelope_key_id(envelope)
    return ecies_open(private_key, envelope, 2 + KEY_ID_LENGTH, kid)
