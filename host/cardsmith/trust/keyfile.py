"""Private keys at rest: encrypted PKCS#8 PEM files (the `cryptography` package), written durably.

The passphrase is the caller's to obtain (the CLI prompts for it or reads an environment variable, never a
command-line argument); a wrong one or a file that is not a P-256 key is a UsageError saying so.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..core.errors import UsageError
from ..core.fileio import atomic_write


def save(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> None:
    if not passphrase:
        raise UsageError("an empty passphrase would leave the key file unprotected: give one")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase))
    atomic_write(path, pem)
    path.chmod(0o600)


def load(path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the key file {path} ({exc.strerror})") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot open the key file {path}: wrong passphrase, or not an encrypted PKCS#8 "
                         f"key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UsageError(f"{path} holds another kind of key: cardsmith keys are P-256")
    return key


def generate() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
