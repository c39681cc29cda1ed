"""Issuers, services and enrolled cards for the update tests (imported by name)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives.asymmetric import ec

from cardsmith.core.card import Card
from cardsmith.core.crypto import ecdsa_sign, point_of
from cardsmith.duplication import DuplicationSession
from cardsmith.protocol.codes import Tag
from cardsmith.trust import Issuer, TrustSession, enrol_card
from cardsmith.update.issuer import enrol_for_updates
from cardsmith.update.package import Ack, Package, UpdateCertificate, build_package, delivery_message
from cardsmith.update.session import UpdateSession

PIN = "1234"
FAR = datetime.date.today() + datetime.timedelta(days=365)


@cache
def issuer(name: str = "issuer") -> Issuer:
    del name
    return Issuer(ec.generate_private_key(ec.SECP256R1()))


@dataclass(frozen=True)
class Service:
    """A remote-update service: its key and the issuer's certificate of it (role service)."""

    key: ec.EllipticCurvePrivateKey
    certificate: bytes


def service(by: Issuer | None = None, role: str = "service") -> Service:
    key = ec.generate_private_key(ec.SECP256R1())
    credential = (by or issuer()).certify(point_of(key.public_key()), role, 0, days=30)
    return Service(key, credential.certificate.encode())


def install_params(records: int | None = None, record_size: int | None = None) -> bytes:
    out = b""
    if records is not None:
        out += bytes([Tag.INSTALL_UPDATE_RECORDS, 2]) + records.to_bytes(2, "big")
    if record_size is not None:
        out += bytes([Tag.INSTALL_UPDATE_RECORD_SIZE, 2]) + record_size.to_bytes(2, "big")
    return out


def ready(card: Card, by: Issuer | None = None, pin: str | None = PIN) -> UpdateCertificate:
    """Trust-enrolled, update keys certified, a holder PIN set and verified."""
    enrol_card(card, by or issuer())
    cert = enrol_for_updates(card, by or issuer())
    if pin is not None:
        DuplicationSession(card).put_pin(pin)
        verify_pin(card)
    return cert


def verify_pin(card: Card, pin: str = PIN) -> None:
    DuplicationSession(card).verify_pin(pin)


def package(cert: UpdateCertificate, *, record: int = 0, op: str = "add", version: int = 1,
            payload: bytes = b"secret-password", mode: str = "apply", expiry: datetime.date = FAR,
            by: Issuer | None = None) -> Package:
    return build_package((by or issuer()).key, cert, record=record, op=op, version=version, expiry=expiry,
                         payload=payload, mode=mode)


@dataclass
class Delivery:
    """What a server sends for one package in one session: its certificate, date and signature."""

    certificate: bytes
    date: int
    signature: bytes


def authorise(card: Card, pkg: Package, svc: Service, server_nonce: bytes | None = None,
              date: int | None = None) -> tuple[bytes, Delivery]:
    """INTERNAL_AUTHENTICATE with a fresh server nonce, then the service's delivery signature for ``pkg``."""
    nonce = server_nonce or os.urandom(32)
    card_nonce, _sig = UpdateSession(card).authenticate(nonce)
    day = date if date is not None else (datetime.date.today() - datetime.date(2000, 1, 1)).days
    cert_id = UpdateSession(card).certificate().card_id
    message = delivery_message(cert_id, card_nonce, nonce, day, pkg.digest)
    return card_nonce, Delivery(svc.certificate, day, ecdsa_sign(svc.key, message))


def deliver(card: Card, pkg: Package, svc: Service) -> Ack:
    _, d = authorise(card, pkg, svc)
    return UpdateSession(card).deliver(d.certificate, d.date, d.signature, pkg)


def other_issuer() -> Issuer:
    return Issuer(ec.generate_private_key(ec.SECP256R1()))


def open_station_session(card: Card, by: Issuer | None = None) -> None:
    """An authenticated session as a station of the issuer (secure messaging from then on)."""
    key = ec.generate_private_key(ec.SECP256R1())
    credential = (by or issuer()).certify(point_of(key.public_key()), "station", 0, days=7)
    TrustSession(card).open(credential, key)
