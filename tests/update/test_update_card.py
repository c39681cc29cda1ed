"""Capability update on the card: the certificate, device authentication, delivery in both modes, and every
refusal of the chain's card side (docs/update.md)."""

from __future__ import annotations

import datetime
import os

import pytest
from update_helpers import (
    PIN,
    authorise,
    deliver,
    install_params,
    issuer,
    package,
    ready,
    service,
    verify_pin,
)

from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.protocol.codes import UPDATE_ACK_ALREADY, UPDATE_ACK_APPLIED, Ins, Sw
from cardsmith.trust import Issuer
from cardsmith.update.package import auth_message, verifies
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
