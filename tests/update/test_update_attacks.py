"""Attacks on the card side of remote update (docs/update.md, "Refusals"): forged, altered, replayed,
misaddressed, expired packages, deliveries moved between sessions or cards, and the decryption oracle."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from update_helpers import (
    Delivery,
    authorise,
    deliver,
    other_issuer,
    package,
    ready,
    service,
)

from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.core.crypto import point_of
from cardsmith.protocol.codes import UPDATE_HEADER_LENGTH, Ins, Sw
from cardsmith.update.package import Package, UpdateCertificate
from cardsmith.update.session import UpdateSession

pytestmark = pytest.mark.card


def raw_deliver(card: Card, d: Delivery, header: bytes, body: bytes, signature: bytes) -> int:
    """The three DELIVER_UPDATE steps with the bytes as given; the first status word that is not 9000."""
    steps = [(0, d.certificate + d.date.to_bytes(2, "big") + d.signature + header)]
    steps += [(1, body[at:at + 1000]) for at in range(0, len(body), 1000)]
    steps.append((2, signature))
    for p1, data in steps:
        sw = card.send(CommandApdu(0x80, Ins.DELIVER_UPDATE, p1, 0, data, 256)).sw
        if sw != 0x9000:
            return sw
    return 0x9000


def test_a_package_signed_by_anyone_but_the_issuer_is_refused(card: Card) -> None:
    cert = ready(card)
    svc = service()
    forged = package(cert, by=other_issuer())
    with pytest.raises(errors.SecurityStatusError):
        deliver(card, forged, svc)
    # the server's own key cannot sign a package either: it is not the issuer's
    from cardsmith.core.crypto import ecdsa_sign
    from cardsmith.update.package import PACKAGE_LABEL

    by_service = Package.parse(forged.sealed + ecdsa_sign(svc.key, PACKAGE_LABEL + forged.sealed))
    with pytest.raises(errors.SecurityStatusError):
        deliver(card, by_service, svc)
    assert UpdateSession(card).status().records[0].version == 0


def test_a_package_altered_in_any_byte_is_refused_and_changes_nothing(card: Card) -> None:
    cert = ready(card)
    svc = service()
    pkg = package(cert, payload=b"p" * 40)
    encoded = pkg.encode()
    accepted = {Sw.WRONG_DATA, Sw.SECURITY_STATUS_NOT_SATISFIED, Sw.NOT_ENOUGH_MEMORY, Sw.WRONG_LENGTH,
                Sw.CONDITIONS_NOT_SATISFIED}
    for i in range(len(encoded)):
        bad = bytearray(encoded)
        bad[i] ^= 0x01
        nonce_pkg = Package(pkg.card_id, pkg.record, pkg.op, pkg.mode, pkg.version, pkg.expiry, pkg.payload_length,
                            bytes(bad[:-64]), bytes(bad[-64:]))
        # the service signs what it is given (a server holding an altered package): only the card's checks stop it
        _, d = authorise(card, nonce_pkg, svc)
        sw = raw_deliver(card, d, bytes(bad[:UPDATE_HEADER_LENGTH]), bytes(bad[UPDATE_HEADER_LENGTH:-64]),
                         bytes(bad[-64:]))
        assert sw in accepted, f"byte {i}: {sw:04X}"
    status = UpdateSession(card).status().records
    assert all(r.version == 0 and r.state_name == "empty" for r in status)
    deliver(card, pkg, svc)  # the genuine one still goes in
    assert UpdateSession(card).read_record(0) == b"p" * 40


def test_replays_of_an_older_or_the_same_version_change_nothing(card: Card) -> None:
    cert = ready(card)
    svc = service()
    v1 = package(cert, payload=b"old password")
    deliver(card, v1, svc)
    v2 = package(cert, op="replace", version=2, payload=b"new password")
    deliver(card, v2, svc)
    with pytest.raises(errors.WrongStateError):  # rollback to v1
        deliver(card, package(cert, op="replace", version=1, payload=b"old password"), svc)
    with pytest.raises(errors.WrongStateError):  # the genuine v1 package itself
        deliver(card, v1, svc)
    with pytest.raises(errors.WrongStateError):  # another package under the current version
        deliver(card, package(cert, op="replace", version=2, payload=b"other"), svc)
    assert deliver(card, v2, svc).status_name == "already"  # the same package: acknowledged, not re-applied
    assert UpdateSession(card).read_record(0) == b"new password"


def test_a_package_for_another_card_is_refused(card_pair: tuple[Card, Card]) -> None:
    a, b = card_pair
    cert_a, cert_b = ready(a), ready(b)
    svc = service()
    for_b = package(cert_b)
    with pytest.raises(errors.IntegrityError):
        deliver(a, for_b, svc)
    # the same payload re-addressed to A but encrypted to B's key: the card cannot open it
    misencrypted = UpdateCertificate(cert_a.card_id, cert_a.issuer_key_id, cert_a.auth_key, cert_b.decryption_key)
    with pytest.raises(errors.IntegrityError):
        deliver(a, package(misencrypted), svc)
    assert UpdateSession(a).status().records[0].version == 0


def test_an_expired_package_is_refused(card: Card) -> None:
    cert = ready(card)
    svc = service()
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    with pytest.raises(errors.WrongStateError):
        deliver(card, package(cert, expiry=yesterday), svc)
    # a server date before the expiry does not help once the card's own date is past it: the card's date
    # moved with the service certificate it saw (effective today)
    pkg = package(cert, expiry=yesterday)
    _, d = authorise(card, pkg, svc, date=(yesterday - datetime.date(2000, 1, 1)).days - 5)
    with pytest.raises(errors.WrongStateError):
        UpdateSession(card).deliver(d.certificate, d.date, d.signature, pkg)


def test_a_delivery_recorded_in_one_session_is_refused_in_another_and_on_another_card(
        card_pair: tuple[Card, Card]) -> None:
    a, b = card_pair
    cert = ready(a)
    ready(b)
    svc = service()
    pkg = package(cert)
    _, recorded = authorise(a, pkg, svc)
    # a new session on the same card: new card nonce, the recorded service signature no longer matches
    UpdateSession(a).authenticate(os.urandom(32))
    with pytest.raises(errors.SecurityStatusError):
        UpdateSession(a).deliver(recorded.certificate, recorded.date, recorded.signature, pkg)
    # the same server nonce again: the card's own nonce still differs
    nonce = os.urandom(32)
    _, d1 = authorise(a, pkg, svc, server_nonce=nonce)
    UpdateSession(a).authenticate(nonce)
    with pytest.raises(errors.SecurityStatusError):
        UpdateSession(a).deliver(d1.certificate, d1.date, d1.signature, pkg)
    # another card, in its own session
    UpdateSession(b).authenticate(os.urandom(32))
    with pytest.raises(errors.IntegrityError):
        UpdateSession(b).deliver(recorded.certificate, recorded.date, recorded.signature, pkg)
    # a certificate that is not the update service's (a station's) cannot deliver
    station = service(role="station")
    with pytest.raises(errors.SecurityStatusError):
        deliver(a, pkg, station)
    from update_helpers import service as make_service

    foreign = make_service(by=other_issuer())
    with pytest.raises(errors.SecurityStatusError):
        deliver(a, pkg, foreign)
    assert UpdateSession(a).status().records[0].version == 0


def test_internal_authenticate_fed_an_update_ciphertext_decrypts_nothing(card: Card) -> None:
    """The decryption oracle (digest section 5, item 5): INTERNAL_AUTHENTICATE only ever signs, with a fresh
    card nonce and the authentication key, and never returns anything of the plaintext."""
    cert = ready(card)
    ct = package(cert, payload=b"the secret").encode()
    session = UpdateSession(card)
    # it takes exactly a 32-byte nonce: an update ciphertext is refused by length...
    assert card.send(CommandApdu(0x80, Ins.INTERNAL_AUTHENTICATE, 0, 0, ct[:200], 256)).sw == Sw.WRONG_LENGTH
    # ...and any 32 bytes of it are only signed: the answer verifies under the certified authentication key
    from cardsmith.core.crypto import ecdsa_verify_der
    from cardsmith.update.package import auth_message

    for at in range(0, len(ct) - 32, 32):
        card_nonce, sig = session.authenticate(ct[at:at + 32])
        assert ecdsa_verify_der(cert.auth_key, auth_message(cert.card_id, card_nonce, ct[at:at + 32]), sig)
        assert b"the secret" not in card_nonce + sig
    assert session.status().records[0].version == 0


def test_no_command_answers_differently_for_a_ciphertext_its_key_opens(request: pytest.FixtureRequest) -> None:
    """Every command of the protocol, fed this card's package under P1 = 0, 1, 2, answers exactly as a twin
    card in the same state answers a package of the same form addressed to it but encrypted to another key:
    nothing the card says depends on whether its decryption key opens what it was given. (The embedded
    simulator only: 270 resets, and the transport plays no part in what the card answers.)"""
    from conftest import fresh_card

    card, twin = fresh_card(request, "sim", 0), fresh_card(request, "sim", 1)
    ct = package(ready(card), payload=b"the secret").encode()
    twin_cert = ready(twin)
    decoy_cert = UpdateCertificate(twin_cert.card_id, twin_cert.issuer_key_id, twin_cert.auth_key,
                                   point_of(ec.generate_private_key(ec.SECP256R1()).public_key()))
    decoy = package(decoy_cert, payload=b"the secret").encode()
    assert len(decoy) == len(ct)
    from update_helpers import verify_pin

    from cardsmith.protocol import PROTOCOL

    for name, ins in PROTOCOL.instructions.items():
        if name in ("TEST_FAULT", "GET_RESPONSE"):
            continue
        cla = 0x00 if ins.cla == "iso" else 0x80
        for p1 in (0, 1, 2):
            answers = []
            for c, blob in ((card, ct), (twin, decoy)):
                c.reset()
                verify_pin(c)
                rsp = c.send(CommandApdu(cla, ins.code, p1, 0, blob[:255], 256))
                assert b"the secret" not in rsp.data, name
                answers.append(rsp.sw)
            assert answers[0] == answers[1], (name, p1, [f"{a:04X}" for a in answers])
    assert UpdateSession(card).status().records[0].version == 0
