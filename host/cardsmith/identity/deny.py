"""The terminal's deny list of card numbers (IDU): from the issuer server, or from a file the issuer signed.

A signed deny file is JSON: ``{"format": "cardsmith-deny/1", "version": N, "card_numbers": [16 hex digits,
...], "signature": r || s in hex}``, the signature the issuer key's ECDSA-SHA256 over ``"CDL1"`` and the
canonical JSON (sorted keys, no spaces) of the other three fields. A terminal takes a file only if the
issuer key it trusts signed it and its version is not older than the list it holds (an old list could
un-deny a stolen card).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..core.crypto import ecdsa_sign, ecdsa_verify
from ..core.errors import BadDataError, NotGenuineError, UsageError
from ..core.fileio import atomic_write
from ..trust import Issuer
from .formats import IDU_LENGTH

FORMAT = "cardsmith-deny/1"
LABEL = b"CDL1"
CARD_NUMBER = re.compile(r"^[0-9A-F]{16}$")


def _signed_bytes(version: int, numbers: list[str]) -> bytes:
    body = {"format": FORMAT, "version": version, "card_numbers": numbers}
    return LABEL + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def card_number(text: str) -> bytes:
    value = text.strip().upper()
    if not CARD_NUMBER.match(value):
        raise UsageError(f"{text!r} is not a card number: {2 * IDU_LENGTH} hex digits")
    return bytes.fromhex(value)


def write_signed(issuer: Issuer, path: Path, version: int, numbers: list[bytes]) -> dict:
    if version < 1:
        raise UsageError("a deny list's version is 1 or more, and grows with every new list")
    listed = sorted({n.hex().upper() for n in numbers})
    doc = {"format": FORMAT, "version": version, "card_numbers": listed,
           "signature": ecdsa_sign(issuer.key, _signed_bytes(version, listed)).hex().upper()}
    atomic_write(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return doc


def read_signed(path: Path, issuer_point: bytes) -> tuple[int, set[bytes]]:
    """The version and card numbers of a signed deny file; NotGenuineError unless the issuer signed it."""
    try:
        doc = json.loads(path.read_text())
        version, listed, signature = doc["version"], doc["card_numbers"], bytes.fromhex(doc["signature"])
        if doc.get("format") != FORMAT or not isinstance(version, int) or not isinstance(listed, list):
            raise ValueError("not a cardsmith deny list")
        numbers = {card_number(n) for n in listed}
    except OSError as exc:
        raise UsageError(f"cannot read the deny file {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, UsageError) as exc:
        raise BadDataError(f"{path} is not a cardsmith deny list ({exc}): ask the issuer for the file again") from None
    if not ecdsa_verify(issuer_point, _signed_bytes(version, listed), signature):
        raise NotGenuineError(f"{path} does not carry the issuer's signature: altered, or another issuer's; "
                              "nothing changed")
    return version, numbers


def from_server(answer: dict) -> tuple[int, set[bytes], set[bytes], bool]:
    """The server's answer (``/v1/deny``): version, card numbers added, removed, and whether it is the full list."""
    def cards(rows: list[dict]) -> set[bytes]:
        return {bytes.fromhex(r["value"]) for r in rows if r.get("kind") == "card"}

    return int(answer["version"]), cards(answer.get("entries", [])), cards(answer.get("removed", [])), \
        bool(answer.get("full", True))
