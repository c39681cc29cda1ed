"""Forgeries and replays: an emulator replaying a genuine card, SA1/SA2 and every signed field altered, the
card key swapped, records altered, replayed or with a lower ATC."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from emulator import emulator
from identity_helpers import IDU, NS, NT, PIN, issued, issuer, registered, terminal

from cardsmith.core import tlv
from cardsmith.core.card import Card
from cardsmith.core.crypto import ecdsa_sign, point_of
from cardsmith.core.errors import SecurityStatusError
from cardsmith.identity import ForgedCard, IdentitySession, TerminalLog, UsageRecord
from cardsmith.identity.formats import RECORD_LABEL, sa1_message, su_message
from cardsmith.protocol.codes import ID_PURPOSE_CARD, Ins, Tag


@pytest.fixture
def genuine(card: Card) -> tuple[Card, bytes]:
    """An issued card with a PIN, and its GET_IDENTITY answer as the wire carried it."""
    issued(card)
    registered(card)
    return card, card.call(Ins.GET_IDENTITY)


def _altered(raw: bytes, tag: int, index: int) -> bytes:
    out = bytearray()
    for t, v in tlv.decode(raw):
        if t == tag:
            v = bytearray(v)
            v[index] ^= 0x01
        out += bytes([t, len(v)]) + bytes(v)
    return bytes(out)


@pytest.mark.card
def test_emulator_replaying_a_genuine_card_is_refused(genuine: tuple[Card, bytes]) -> None:
    card, raw = genuine
    term = terminal()
    r = os.urandom(16)
    recorded = card.call(Ins.AUTHENTICATE_CARD, data=r)  # a genuine answer, to an earlier nonce
    fake = emulator({Ins.GET_IDENTITY: raw, Ins.AUTHENTICATE_CARD: recorded})
    assert term.read(fake).nt == NT.encode()  # the static data alone looks genuine...
    with pytest.raises(ForgedCard) as refused:
        term.verify(fake)  # ...but it cannot sign this terminal's fresh nonce
    assert refused.value.reason == "not-genuine" and "emulator" in str(refused.value)
    with pytest.raises(ForgedCard):
        term.verify(fake, PIN)  # "PIN OK" is a signature, not a status word


@pytest.mark.card
def test_every_byte_of_sa1_sa2_and_what_they_cover(genuine: tuple[Card, bytes]) -> None:
    _card, raw = genuine
    term = terminal()
    fields = dict(tlv.decode(raw))
    checked = 0
    for tag in (Tag.ID_SA1, Tag.ID_SA2, Tag.ID_NT, Tag.ID_PUBLIC_KEY, Tag.ID_CARD_NUMBER, Tag.ID_EXPIRY):
        for i in range(len(fields[tag])):
            fake = emulator({Ins.GET_IDENTITY: _altered(raw, tag, i)})
            with pytest.raises(ForgedCard) as refused:
                term.read(fake)
            assert refused.value.reason == "forged", (tag, i)
            checked += 1
    assert checked == 64 + 64 + len(NT) + 65 + 8 + 2


@pytest.mark.card
def test_card_key_swapped(genuine: tuple[Card, bytes]) -> None:
    """An emulator with a key of its own: with the genuine SA1 it fails SA1, it cannot get another SA1."""
    _card, raw = genuine
    own = ec.generate_private_key(ec.SECP256R1())
    fields = dict(tlv.decode(raw))
    fields[Tag.ID_PUBLIC_KEY] = point_of(own.public_key())

    def sign(data: bytes) -> bytes:
        x = os.urandom(16)
        return x + own.sign(su_message(ID_PURPOSE_CARD, data[:16], x, NT.encode(), IDU), ec.ECDSA(hashes.SHA256()))

    swapped = b"".join(bytes([t, len(v)]) + v for t, v in fields.items())
    with pytest.raises(ForgedCard) as refused:
        terminal().verify(emulator({Ins.GET_IDENTITY: swapped, Ins.AUTHENTICATE_CARD: sign}))
    assert refused.value.reason == "forged"
    # and an SA1 made by another issuer over the swapped key is no better
    other = ec.generate_private_key(ec.SECP256R1())
    expiry = datetime.date(2000, 1, 1) + datetime.timedelta(days=int.from_bytes(fields[Tag.ID_EXPIRY], "big"))
    fields[Tag.ID_SA1] = ecdsa_sign(other, sa1_message(NT.encode(), fields[Tag.ID_SA2], fields[Tag.ID_PUBLIC_KEY],
                                                     IDU, expiry))
    with pytest.raises(ForgedCard):
        terminal().verify(emulator({Ins.GET_IDENTITY: b"".join(bytes([t, len(v)]) + v for t, v in fields.items()),
                                    Ins.AUTHENTICATE_CARD: sign}))


@pytest.mark.card
def test_card_refuses_signatures_not_from_its_issuer(card: Card) -> None:
    from identity_helpers import EXPIRY

    from cardsmith.trust import enrol_card

    enrol_card(card, issuer())
    session = IdentitySession(card)
    commit, key = session.put_identity(NT.encode(), NS.encode(), IDU, EXPIRY)
    from cardsmith.identity.formats import sa2_message

    good_sa2 = ecdsa_sign(issuer().key, sa2_message(commit))
    good_sa1 = ecdsa_sign(issuer().key, sa1_message(NT.encode(), good_sa2, key, IDU, EXPIRY))
    other = ec.generate_private_key(ec.SECP256R1())
    for sa2, sa1 in ((ecdsa_sign(other, sa2_message(commit)), good_sa1), (good_sa2, bytes(64)),
                     (good_sa2, ecdsa_sign(issuer().key, sa1_message(b"1", good_sa2, key, IDU, EXPIRY)))):
        with pytest.raises(SecurityStatusError):
            session.put_signatures(sa2, sa1)
    session.put_signatures(good_sa2, good_sa1)
    assert session.identity().sa1_valid(issuer().public_key)


@pytest.mark.card
def test_usage_record_altered_replayed_or_lower_atc(genuine: tuple[Card, bytes], tmp_path) -> None:
    card, raw = genuine
    log = TerminalLog(tmp_path / "t.db")
    term = terminal(log=log)
    first = term.charge(card, 500, PIN)
    identity = IdentitySession(card).identity()
    # altered in any byte of what the card signed: refused
    for i in range(len(first.body)):
        body = bytearray(first.body)
        body[i] ^= 0x01
        with pytest.raises(ForgedCard):
            try:
                altered = UsageRecord.parse(bytes(body) + first.signature)
            except Exception as exc:  # a byte of the layout itself: not even a record
                raise ForgedCard("layout", str(exc)) from None
            term.check_record(identity, altered)
    # a genuine record again (the replay of a charge): its ATC is not above the logged one
    with pytest.raises(ForgedCard) as replay:
        term.check_record(identity, first)
    assert replay.value.reason == "record-atc"
    # an emulator answering a new charge with the recorded record: not this charge's nonce
    fake = emulator({Ins.GET_IDENTITY: raw, Ins.GENERATE_USAGE_RECORD: first.encode()})
    with pytest.raises(ForgedCard) as replayed:
        term.charge(fake, 500, PIN, secure=False)
    assert replayed.value.reason == "record-replayed"
    # a lower ATC: a second terminal log that has seen ATC 2 refuses the card's ATC-1 record
    second = term.charge(card, 1, PIN)
    assert second.atc == first.atc + 1 and second.valid_under(identity.public_key)
    with pytest.raises(ForgedCard) as lower:
        term.check_record(identity, first)  # genuine, but its ATC is below the last one logged
    assert lower.value.reason == "record-atc" and "(2)" in str(lower.value)
    assert not UsageRecord.parse(first.body + second.signature).valid_under(identity.public_key)
    assert RECORD_LABEL == b"CUR1"
    assert [r.record.atc for r in log.records()] == [1, 2]
