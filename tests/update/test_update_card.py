"""Capability update on the card: the certificate, device authentication, delivery in both modes, and every
refusal of the chain's card side (docs/update.md)."""

from __future__ import annotations

import os

import pytest
from update_helpers import (
    PIN,
    authorise,
    deliver,
    install_params,
    issuer,
    open_station_session,
    other_issuer,
    package,
    ready,
    service,
    verify_pin,
)

from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.core.crypto import ecdsa_verify_der
from cardsmith.protocol.codes import UPDATE_ACK_ALREADY, UPDATE_ACK_APPLIED, Ins, Sw
from cardsmith.update.package import auth_message
from cardsmith.update.session import UpdateSession

pytestmark = pytest.mark.card


def test_a_package_is_applied_read_back_and_acknowledged_by_the_card(card: Card) -> None:
    cert = ready(card)
    cert.verify(issuer().public_key)
    assert UpdateSession(card).certificate() == cert
    svc = service()
    pkg = package(cert, payload=b"new network password")
    card_nonce, d = authorise(card, pkg, svc)
    ack = UpdateSession(card).deliver(d.certificate, d.date, d.signature, pkg)
    assert (ack.status, ack.record, ack.version, ack.digest) == (UPDATE_ACK_APPLIED, 0, 1, pkg.digest)
    ack.verify(cert, card_nonce)
    assert UpdateSession(card).read_record(0) == b"new network password"
    status = UpdateSession(card).status().records[0]
    assert (status.state_name, status.version, status.length, status.digest) == ("applied", 1, 20, pkg.digest)


def test_add_replace_delete_in_both_modes_and_4kib_records(request: pytest.FixtureRequest,
                                                              transport_kind: str) -> None:
    from conftest import fresh_card

    card = fresh_card(request, transport_kind, 0, install_params(records=2, record_size=4096))
    cert = ready(card)
    svc = service()
    big = os.urandom(4096)
    assert deliver(card, package(cert, record=0, payload=big), svc).status == UPDATE_ACK_APPLIED
    assert UpdateSession(card).read_record(0) == big
    assert deliver(card, package(cert, record=0, op="replace", version=7, payload=b"short now"), svc).version == 7
    assert UpdateSession(card).read_record(0) == b"short now"
    # mode 2: stored encrypted; USE_DATA only inside an authenticated session, and never READ_RECORD
    assert deliver(card, package(cert, record=1, payload=b"sso-token", mode="store"), svc).status == UPDATE_ACK_APPLIED
    assert UpdateSession(card).status().records[1].state_name == "stored"
    with pytest.raises(errors.NotFoundError):
        UpdateSession(card).read_record(1)
    with pytest.raises(errors.SecurityStatusError):
        UpdateSession(card).use_data(1)
    open_station_session(card)
    verify_pin(card)
    assert UpdateSession(card).use_data(1) == b"sso-token"
    card.channel = None
    card.reset()
    verify_pin(card)
    assert deliver(card, package(cert, record=0, op="delete", version=8, payload=b""), svc).version == 8
    records = UpdateSession(card).status().records
    assert records[0].state_name == "empty" and records[0].version == 8
    with pytest.raises(errors.NotFoundError):
        UpdateSession(card).read_record(0)
    # add after a delete needs a higher version, and then works
    with pytest.raises(errors.WrongStateError):
        deliver(card, package(cert, record=0, op="add", version=8, payload=b"again"), svc)
    deliver(card, package(cert, record=0, op="add", version=9, payload=b"again"), svc)
    assert UpdateSession(card).read_record(0) == b"again"
    # operations the record's state does not allow
    with pytest.raises(errors.WrongStateError):
        deliver(card, package(cert, record=0, op="add", version=10), svc)
    deliver(card, package(cert, record=1, op="delete", version=2, payload=b""), svc)
    with pytest.raises(errors.WrongStateError):
        deliver(card, package(cert, record=1, op="replace", version=3), svc)


def test_the_same_package_again_is_acknowledged_without_being_applied_again(card: Card) -> None:
    cert = ready(card)
    svc = service()
    pkg = package(cert, payload=b"v1")
    deliver(card, pkg, svc)
    card_nonce, d = authorise(card, pkg, svc)
    ack = UpdateSession(card).deliver(d.certificate, d.date, d.signature, pkg)
    assert ack.status == UPDATE_ACK_ALREADY and ack.version == 1 and ack.digest == pkg.digest
    ack.verify(cert, card_nonce)  # signed over the new session's nonce
    assert UpdateSession(card).read_record(0) == b"v1"


def test_the_chain_on_the_card_needs_the_pin_then_device_authentication(card: Card) -> None:
    cert = ready(card, pin=None)
    session = UpdateSession(card)
    with pytest.raises(errors.SecurityStatusError):
        session.authenticate(os.urandom(32))
    from cardsmith.duplication import DuplicationSession

    DuplicationSession(card).put_pin(PIN)
    card.reset()
    with pytest.raises(errors.SecurityStatusError):
        session.authenticate(os.urandom(32))
    verify_pin(card)
    # delivery before INTERNAL_AUTHENTICATE: refused
    svc = service()
    pkg = package(cert)
    with pytest.raises(errors.WrongStateError):
        session.deliver(svc.certificate, 0, bytes(64), pkg)
    server_nonce = os.urandom(32)
    card_nonce, sig = session.authenticate(server_nonce)
    assert ecdsa_verify_der(cert.auth_key, auth_message(cert.card_id, card_nonce, server_nonce), sig)
    # a reset ends the update session (and the PIN)
    card.reset()
    verify_pin(card)
    with pytest.raises(errors.WrongStateError):
        session.deliver(svc.certificate, 0, bytes(64), pkg)


def test_the_update_certificate_is_checked_and_set_once(card: Card) -> None:
    from cardsmith.trust import enrol_card
    from cardsmith.update.issuer import enrol_for_updates
    from cardsmith.update.package import UpdateCertificate

    enrol_card(card, issuer())
    session = UpdateSession(card)
    assert not session.status().certified
    with pytest.raises(errors.NotFoundError):
        session.certificate()
    auth, dec = session.public_keys()
    card_id = card.info().card_id
    other = other_issuer()
    with pytest.raises(errors.SecurityStatusError):  # another issuer's
        session.put_certificate(UpdateCertificate.issue(other.key, card_id, auth, dec))
    with pytest.raises(errors.IntegrityError):  # keys swapped: genuine, but not this card's
        session.put_certificate(UpdateCertificate.issue(issuer().key, card_id, dec, auth))
    good = UpdateCertificate.issue(issuer().key, card_id, auth, dec)
    forged = good.encode()[:-1] + bytes([good.encode()[-1] ^ 1])
    assert card.send(CommandApdu(0x80, Ins.PUT_UPDATE_CERTIFICATE, 0, 0, forged)).sw == Sw.SECURITY_STATUS_NOT_SATISFIED
    session.put_certificate(good)
    assert enrol_for_updates(card, issuer()) == good  # already certified: read back, checked
    with pytest.raises(errors.WrongStateError):
        session.put_certificate(good)
    assert session.public_keys() == (auth, dec)  # generated once: the same keys again


def test_an_issued_card_never_generates_update_keys(card: Card) -> None:
    card.close_personalisation()
    assert card.send(CommandApdu(0x80, Ins.GENERATE_UPDATE_KEYS, 0, 0, ne=256)).sw == Sw.CONDITIONS_NOT_SATISFIED
    assert not UpdateSession(card).status().certified


def test_get_info_reports_the_store_and_clear_empties_it(request: pytest.FixtureRequest, transport_kind: str) -> None:
    from conftest import fresh_card

    card = fresh_card(request, transport_kind, 0, install_params(records=3, record_size=1000))
    status = UpdateSession(card).status()
    assert (status.certified, status.record_count, status.record_size) == (False, 3, 1000)
    cert = ready(card)
    deliver(card, package(cert, record=2, version=5, payload=b"kept until CLEAR"), service())
    card.channel = None
    card.call(Ins.CLEAR_BUNDLE, expect_data=False)
    after = UpdateSession(card).status()
    assert after.certified and all(r.state_name == "empty" and r.version == 0 for r in after.records)
    assert UpdateSession(card).certificate() == cert  # the keys and their certificate stay, as the trust keys do


def test_install_parameters_out_of_range_make_the_install_fail(request: pytest.FixtureRequest) -> None:
    from conftest import fresh_card

    for params in (install_params(records=0), install_params(records=9), install_params(record_size=4097),
                   install_params(records=4, record_size=4096)):
        with pytest.raises(errors.ReaderError, match="SystemException"):  # jCardSim's word for a failed install
            fresh_card(request, "sim", 0, params)
