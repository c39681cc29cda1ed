"""The card pulled at every step of delivery and application (docs/update.md, "Power loss"): after each cut
the record holds the old package or the new one, whole, and delivering again finishes or acknowledges."""

from __future__ import annotations

import os

import pytest
from update_helpers import authorise, deliver, install_params, package, ready, service, verify_pin

import power_cut
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.update.session import UpdateSession
from conftest import fresh_card

pytestmark = pytest.mark.card

WALK = 60


@pytest.mark.parametrize("mode", ["apply", "store"])
def test_a_replacement_torn_at_every_fault_point_leaves_old_or_new(request: pytest.FixtureRequest,
                                                                   transport_kind: str, mode: str) -> None:
    card = fresh_card(request, transport_kind, 0, install_params(records=2, record_size=2048))
    cert = ready(card)
    svc = service()
    size = 2048 if mode == "apply" else 800
    old, new = os.urandom(size), os.urandom(size)
    deliver(card, package(cert, payload=old, mode=mode), svc)
    v2 = package(cert, op="replace", version=2, payload=new, mode=mode)
    seen = {"old": 0, "new": 0}
    step = 1 if transport_kind == "sim" else 3  # a tear through vpcd costs about a second (docs/benchmarks.md)
    for n in range(0, WALK, step):
        _, d = authorise(card, v2, svc)
        power_cut.arm(card, n)
        try:
            ack = UpdateSession(card).deliver(d.certificate, d.date, d.signature, v2)
        except errors.CardRemovedError:
            power_cut.power_back(card)
        else:
            power_cut.disarm(card)
            assert ack.version == 2
            break
        verify_pin(card)
        status = UpdateSession(card).status().records[0]
        current = read(card, mode)
        if status.version == 1:
            seen["old"] += 1
            assert current == old and status.digest != v2.digest
        else:
            seen["new"] += 1  # switched, the acknowledgement lost: the next delivery acknowledges again
            assert status.version == 2 and status.digest == v2.digest and current == new
            assert deliver(card, v2, svc).status_name == "already"
            break
    else:
        pytest.fail("the delivery never completed")
    assert seen["old"] >= 3 // step + 1  # cut while staging chunks, before and inside the switch
    assert read(card, mode) == new


def read(card: Card, mode: str) -> bytes:
    if mode == "apply":
        return UpdateSession(card).read_record(0)
    from update_helpers import open_station_session

    open_station_session(card)
    verify_pin(card)
    data = UpdateSession(card).use_data(0)
    card.channel = None
    card.reset()
    verify_pin(card)
    return data


def test_pulled_between_the_delivery_commands_the_session_is_gone_and_nothing_changed(card: Card) -> None:
    cert = ready(card)
    svc = service()
    deliver(card, package(cert, payload=b"one"), svc)
    v2 = package(cert, op="replace", version=2, payload=b"two" * 150)
    session = UpdateSession(card)
    _, d = authorise(card, v2, svc)
    session.card.call(0xAC, p1=0, data=d.certificate + d.date.to_bytes(2, "big") + d.signature + v2.header,
                      expect_data=False)
    session.card.call(0xAC, p1=1, data=v2.body[:512], expect_data=False)
    card.reset()
    verify_pin(card)
    with pytest.raises(errors.WrongStateError):  # the update session ended with the power
        session.card.call(0xAC, p1=1, data=v2.body[512:], expect_data=False)
    assert session.read_record(0) == b"one"
    deliver(card, v2, svc)
    assert session.read_record(0) == b"two" * 150


def test_update_enrolment_torn_at_every_fault_point_finishes_with_one_certified_key_pair(
        request: pytest.FixtureRequest, transport_kind: str) -> None:
    from update_helpers import issuer

    from cardsmith.trust import enrol_card
    from cardsmith.update.issuer import enrol_for_updates

    cuts = 0
    for n in range(WALK):
        card = fresh_card(request, transport_kind, 0)
        enrol_card(card, issuer())
        power_cut.arm(card, n)
        try:
            enrol_for_updates(card, issuer())
        except errors.CardRemovedError:
            power_cut.power_back(card)
            cuts += 1
        else:
            power_cut.disarm(card)
            break
        # after the cut: enrolment finishes, and the certificate names the keys the card signs and decrypts with
        cert = enrol_for_updates(card, issuer())
        assert UpdateSession(card).public_keys() == (cert.auth_key, cert.decryption_key)
        from cardsmith.duplication import DuplicationSession

        DuplicationSession(card).put_pin("1234")
        verify_pin(card)
        deliver(card, package(cert, payload=b"after a cut"), service())
        assert UpdateSession(card).read_record(0) == b"after a cut"
    else:
        pytest.fail("update enrolment never completed")
    assert cuts >= 2  # cut in the key generation and in the certificate's transaction
