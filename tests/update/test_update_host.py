"""The remote-update formats on the host alone (docs/update.md): packages, certificates, the sealed issuer
authenticator, the issuer's CSV; every malformed input is a typed error saying what is wrong."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cardsmith.core.crypto import point_of
from cardsmith.core.errors import BadDataError, NotGenuineError, UsageError
from cardsmith.protocol.codes import UPDATE_HEADER_LENGTH, UPDATE_MAX_RECORD_SIZE, UPDATE_MAX_STORED
from cardsmith.trust import Issuer
from cardsmith.update.issuer import UpdateSpec, load_certificates_csv, sign_update
from cardsmith.update.package import (
    Package,
    UpdateCertificate,
    build_package,
    open_for_service,
    open_package,
    seal_for_service,
)

ISSUER = Issuer(ec.generate_private_key(ec.SECP256R1()))
DEC = ec.generate_private_key(ec.SECP256R1())
AUTH = ec.generate_private_key(ec.SECP256R1())
CARD = bytes.fromhex("0102030405060708")
CERT = UpdateCertificate.issue(ISSUER.key, CARD, point_of(AUTH.public_key()), point_of(DEC.public_key()))
DAY = datetime.date(2030, 1, 1)


def test_a_package_round_trips_and_only_the_cards_key_opens_it() -> None:
    pkg = build_package(ISSUER.key, CERT, record=3, op="replace", version=9, expiry=DAY, payload=b"p" * 100,
                        mode="store")
    again = Package.parse(pkg.encode())
    assert again == pkg and again.summary()["op"] == "replace" and again.summary()["mode"] == "store"
    assert (again.card_id, again.record, again.version, again.expiry, again.payload_length) == (CARD, 3, 9, DAY, 100)
    assert len(pkg.header) == UPDATE_HEADER_LENGTH and b"p" * 16 not in pkg.encode()
    pkg.verify(ISSUER.public_key)
    assert open_package(DEC, pkg) == b"p" * 100
    with pytest.raises(BadDataError):
        open_package(ec.generate_private_key(ec.SECP256R1()), pkg)
    with pytest.raises(NotGenuineError):
        pkg.verify(Issuer(ec.generate_private_key(ec.SECP256R1())).public_key)
    with pytest.raises(BadDataError):
        Package.parse(pkg.encode()[:-1])


@pytest.mark.parametrize("kw,what", [
    ({"op": "move"}, "unknown operation"), ({"mode": "later"}, "unknown mode"), ({"record": 256}, "record"),
    ({"version": 0}, "version"), ({"op": "delete", "payload": b"x"}, "no payload"),
    ({"payload": bytes(UPDATE_MAX_RECORD_SIZE + 1)}, "at most"),
    ({"mode": "store", "payload": bytes(UPDATE_MAX_STORED + 1)}, "at most"),
])
def test_impossible_packages_are_refused_before_signing(kw: dict, what: str) -> None:
    args = {"record": 0, "op": "add", "version": 1, "expiry": DAY, "payload": b"x", "mode": "apply"} | kw
    with pytest.raises(UsageError, match=what):
        build_package(ISSUER.key, CERT, **args)


def test_certificates_and_the_sealed_authenticator() -> None:
    assert UpdateCertificate.parse(CERT.encode()) == CERT
    CERT.verify(ISSUER.public_key)
    with pytest.raises(NotGenuineError, match="another issuer"):
        CERT.verify(Issuer(ec.generate_private_key(ec.SECP256R1())).public_key)
    forged = bytearray(CERT.encode())
    forged[20] ^= 1
    with pytest.raises(NotGenuineError, match="signature"):
        UpdateCertificate.parse(bytes(forged)).verify(ISSUER.public_key)
    with pytest.raises(BadDataError):
        UpdateCertificate.parse(CERT.encode()[:-1])
    service = ec.generate_private_key(ec.SECP256R1())
    sealed = seal_for_service(point_of(service.public_key()), CERT)
    assert CARD not in sealed and open_for_service(service, sealed) == CERT
    with pytest.raises(BadDataError):
        open_for_service(ec.generate_private_key(ec.SECP256R1()), sealed)
    with pytest.raises(NotGenuineError):  # another issuer's card: signed packages for it are refused
        sign_update(Issuer(ec.generate_private_key(ec.SECP256R1())), CERT, UpdateSpec(0, "add", 1, DAY, b"x"))


def test_the_issuers_csv(tmp_path: Path) -> None:
    good = tmp_path / "cards.csv"
    good.write_text(f"name,update_certificate\nA,{CERT.encode().hex()}\nB,{CERT.encode().hex().upper()}\n")
    assert load_certificates_csv(good) == [CERT, CERT]
    (tmp_path / "bad.csv").write_text(f"update_certificate\n{CERT.encode().hex()}\nzz\n")
    with pytest.raises(BadDataError, match="line 3"):
        load_certificates_csv(tmp_path / "bad.csv")
    (tmp_path / "nocol.csv").write_text("cert\nab\n")
    with pytest.raises(UsageError, match="update_certificate"):
        load_certificates_csv(tmp_path / "nocol.csv")
    with pytest.raises(UsageError, match="cannot read"):
        load_certificates_csv(tmp_path / "missing.csv")
