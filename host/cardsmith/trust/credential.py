"""A credential file: a certificate and the issuer's root public key it chains to (the trust anchor that
tells a genuine card from an emulator). Text, two armoured blocks; the private key is a separate file
(``keyfile``)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.crypto import POINT_LENGTH, public_key_from_point
from ..core.errors import BadDataError, UsageError
from ..core.fileio import atomic_write
from .certificate import Certificate

_BLOCK = re.compile(r"-----BEGIN CARDSMITH (CERTIFICATE|ISSUER KEY)-----\s*(.*?)\s*-----END CARDSMITH \1-----", re.S)


@dataclass(frozen=True)
class Credential:
    certificate: Certificate
    issuer_key: bytes  # the issuer's root public key, an uncompressed P-256 point

    def encode(self) -> bytes:
        def block(name: str, data: bytes) -> str:
            body = base64.b64encode(data).decode()
            return f"-----BEGIN CARDSMITH {name}-----\n{body}\n-----END CARDSMITH {name}-----\n"

        return (block("CERTIFICATE", self.certificate.encode()) + block("ISSUER KEY", self.issuer_key)).encode()

    @classmethod
    def parse(cls, text: bytes, where: str = "the credential") -> Credential:
        blocks = {}
        for name, body in _BLOCK.findall(text.decode("ascii", "replace")):
            try:
                blocks[name] = base64.b64decode(body, validate=False)
            except ValueError as exc:
                raise BadDataError(f"{where}: the {name.lower()} block is not base64 ({exc})") from None
        if set(blocks) != {"CERTIFICATE", "ISSUER KEY"}:
            raise BadDataError(f"{where} is not a cardsmith certificate file (needs a CERTIFICATE and an ISSUER "
                               "KEY block): make one with `cardsmith issuer certify`")
        issuer = blocks["ISSUER KEY"]
        if len(issuer) != POINT_LENGTH:
            raise BadDataError(f"{where}: the issuer key has {len(issuer)} bytes, not {POINT_LENGTH}")
        public_key_from_point(issuer)
        return cls(Certificate.parse(blocks["CERTIFICATE"]), issuer)

    def save(self, path: Path) -> None:
        atomic_write(path, self.encode())

    @classmethod
    def load(cls, path: Path) -> Credential:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the certificate file {path} ({exc.strerror})") from exc
        return cls.parse(text, str(path))


def inspect(path: Path) -> tuple[Certificate, str]:
    """A credential file's certificate and whether the issuer key it carries signed it ("valid", or why not)."""
    from ..core.errors import NotGenuineError

    credential = Credential.load(path)
    try:
        credential.certificate.verify(credential.issuer_key)
    except NotGenuineError as exc:
        return credential.certificate, f"INVALID: {exc}"
    return credential.certificate, "valid"
