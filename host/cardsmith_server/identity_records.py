"""The usage verifier of the identity capability (docs/identity.md, "On the server").

A ``cardsmith-identity/1`` record carries in ``data`` the card's identity (Nt, SA2, SA1, identity key, IDU,
expiry) and the record bytes the card signed, and the card's DER signature in ``signature``. The server
checks SA1 under the root key configured for the uploading terminal's issuer (so the identity key is the
issuer's card's), the signature under that key over ``"CUR1" || record``, and that the record's own fields
are the ones the upload names (card number, ATC, time, charge, terminal): a forged or altered record is
refused with the reason. An issuer without a configured key gets its identity records stored
``unverified`` (signature kept, checkable later), as records of format ``cardsmith-usage/1`` are.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from cardsmith.core.errors import CardsmithError
from cardsmith.identity.formats import Identity, UsageRecord

from .auth import Principal
from .usage import FORMAT_IDENTITY, InvalidRecord, Verifier, no_card_keys


def check_identity_record(issuer_point: bytes, record: dict) -> None:
    """InvalidRecord unless ``record`` (as uploaded, normalised) is what a card of this issuer signed."""
    data = record["data"]
    try:
        identity = Identity.decode(bytes.fromhex(str(data["identity"])))
        signed = UsageRecord.parse(bytes.fromhex(str(data["record"])) + bytes.fromhex(record["signature"] or ""))
    except (KeyError, ValueError, CardsmithError) as exc:
        raise InvalidRecord(f"not an identity usage record ({exc})") from None
    if not identity.sa1_valid(issuer_point):
        raise InvalidRecord("the card's identity does not carry the issuer's SA1: a forged card")
    if not signed.valid_under(identity.public_key):
        raise InvalidRecord("the record does not carry the card's signature: altered or invented")
    claims = {"card number": (signed.idu.hex().upper(), record["card_id"]),
              "card": (signed.idu, identity.idu),
              "ATC": (signed.atc, record["counter"]),
              "time": (signed.time.strftime("%Y-%m-%dT%H:%M:%SZ"), record["time"]),
              "charge": (signed.charge, data.get("charge")),
              "terminal": (signed.terminal_id.hex().upper(), str(data.get("terminal_id", "")).upper())}
    wrong = [name for name, (card_says, upload_says) in claims.items() if card_says != upload_says]
    if wrong:
        raise InvalidRecord(f"the upload's {', '.join(wrong)} differ from what the card signed")


def identity_verifier(keys: dict[str, bytes]) -> Verifier:
    def verify(conn: Connection, who: Principal, record: dict) -> str:
        if record["format"] != FORMAT_IDENTITY:
            return no_card_keys(conn, who, record)
        point = keys.get(who.issuer)
        if point is None:
            return "unverified"
        check_identity_record(point, record)
        return "verified"

    return verify
