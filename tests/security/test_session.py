"""The authenticated session: set-up, secure messaging, and the attacks on both (docs/security.md)."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from trust_helpers import enrolled, issuer, open_session, station

from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.core.crypto import point_of
from cardsmith.dataarea import DataAreaSession
from cardsmith.duplication import DuplicationSession
from cardsmith.issuance import IssuanceSession
from cardsmith.protocol.codes import CERT_LENGTH, PIN_TRY_LIMIT, Ins, Permission, Sw
from cardsmith.trust import Credential, TrustSession, enrol_card

PIN = "1234"

pytestmark = pytest.mark.card


def test_a_session_runs_commands_encrypted_with_the_certificates_permissions(card: Card) -> None:
    enrolled(card)
    card.stats.reset()
    channel = open_session(card, Permission.BACKUP | Permission.VALUE)
    assert card.stats.exchanges == 2  # set-up after SELECT
    status = TrustSession(card).status()
    assert status.session and status.permissions == Permission.BACKUP | Permission.VALUE
    assert card.call(Ins.ECHO, data=b"hello") == b"hello"
    assert card.call(Ins.ECHO, p1=1, data=(1000).to_bytes(2, "big")) == bytes(i % 256 for i in range(1000))
    big = bytes(range(256)) * 4
    assert card.call(Ins.ECHO, data=big) == big
    assert channel.counter == 4  # GET INFO and three ECHOs, each under its own counter


# ---------------------------------------------------------------- set-up attacks

def authenticate_raw(card: Card, cert: bytes, key: ec.EllipticCurvePrivateKey) -> int:
    """OPEN_SESSION, then AUTHENTICATE with ``cert`` as given (maybe tampered) and a valid proof of possession
    by ``key`` over it: only the certificate itself can make the card refuse. Returns the status word."""
    card.channel = None
    answer = card.call(Ins.OPEN_SESSION)
    card_eph, card_id = answer[:65], answer[65 + 5:65 + 13]
    host_eph = point_of(ec.generate_private_key(ec.SECP256R1()).public_key())
    r, s = decode_dss_signature(key.sign(b"CSS1" + card_id + card_eph + host_eph + cert, ec.ECDSA(hashes.SHA256())))
    data = cert + host_eph + r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return card.send(CommandApdu(0x80, Ins.AUTHENTICATE, 0, 0, data, 256)).sw


def no_session(card: Card) -> None:
    """The card has no session open: GET INFO says so, and a secured command finds nothing to unwrap it."""
    card.channel = None
    assert not TrustSession(card).status().session
    assert card.send(CommandApdu(0x84, Ins.GET_INFO, 0, 0, bytes(10), 256)).sw == Sw.SECURITY_STATUS_NOT_SATISFIED


def test_a_certificate_from_another_issuer_opens_nothing(card: Card) -> None:
    enrolled(card)
    credential, key = station(by=issuer("another"))
    with pytest.raises(errors.SecurityStatusError):
        TrustSession(card).open(Credential(credential.certificate, issuer().public_key), key)
    no_session(card)
    # nor does a host that trusts the other issuer take this card for genuine
    with pytest.raises(errors.NotGenuineError, match="another issuer"):
        TrustSession(card).open(credential, key)


def test_an_expired_certificate_opens_nothing_once_the_card_has_seen_a_later_date(card: Card) -> None:
    enrolled(card)  # the card's certificate is effective today: the card's date is today
    today = datetime.date.today()
    old, key = station(effective=today - datetime.timedelta(days=10), days=5)
    with pytest.raises(errors.SecurityStatusError):
        TrustSession(card).open(old, key)
    no_session(card)
    # a certificate effective in a week moves the card's date on: one valid today is expired for it then
    future, fkey = station(effective=today + datetime.timedelta(days=7), days=7)
    TrustSession(card).open(future, fkey)
    card.reset()
    current, ckey = station(effective=today, days=3)
    with pytest.raises(errors.SecurityStatusError):
        TrustSession(card).open(current, ckey)
    assert TrustSession(card).status().date == (today - datetime.date(2000, 1, 1)).days + 7


def test_a_cards_certificate_opens_no_session_and_a_role_without_the_permission_is_refused(card: Card) -> None:
    enrolled(card)
    # the card's own certificate replayed by someone who even had its key would still open nothing
    key = ec.generate_private_key(ec.SECP256R1())
    as_card = issuer().certify(point_of(key.public_key()), "card", 0)
    assert authenticate_raw(card, as_card.certificate.encode(), key) == Sw.SECURITY_STATUS_NOT_SATISFIED
    no_session(card)
    # a terminal certificate without `value` cannot write the purse
    DataAreaSession(card).define_region(2, 4, 1, value=True)
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    open_session(card, Permission.WRITE, role="terminal")
    with pytest.raises(errors.SecurityStatusError):
        DataAreaSession(card).write(2, 0, (10**6).to_bytes(4, "big"))
    open_session(card, Permission.WRITE | Permission.VALUE, role="terminal")
    DataAreaSession(card).write(2, 0, (99).to_bytes(4, "big"))
    assert DataAreaSession(card).read(2, 0, 4) == (99).to_bytes(4, "big")


def test_every_byte_of_a_certificate_tampered_is_refused(card: Card) -> None:
    enrolled(card)
    credential, key = station()
    cert = credential.certificate.encode()
    assert authenticate_raw(card, cert, key) == 0x9000  # the untouched one opens a session
    accepted = []
    for i in range(CERT_LENGTH):
        tampered = bytearray(cert)
        tampered[i] ^= 0x01 if i != 2 else 0x02  # the version byte: 01 -> 03, not 00
        sw = authenticate_raw(card, bytes(tampered), key)
        if sw not in (Sw.SECURITY_STATUS_NOT_SATISFIED, Sw.WRONG_DATA):
            accepted.append(f"byte {i}: {sw:04X}")
        assert not TrustSession(card).status().session
    assert not accepted, accepted


def test_a_wrong_proof_of_possession_is_refused_and_one_try_per_challenge(card: Card) -> None:
    enrolled(card)
    credential, _ = station()
    thief_key = ec.generate_private_key(ec.SECP256R1())  # has the certificate, not its key
    assert authenticate_raw(card, credential.certificate.encode(), thief_key) == Sw.SECURITY_STATUS_NOT_SATISFIED
    no_session(card)
    # AUTHENTICATE again without a new challenge
    assert card.send(CommandApdu(0x80, Ins.AUTHENTICATE, 0, 0, bytes(300), 256)).sw == Sw.CONDITIONS_NOT_SATISFIED


def test_an_emulator_with_a_copied_card_certificate_is_told_apart(card: Card, monkeypatch: pytest.MonkeyPatch) -> None:
    """An emulator can present a genuine card's certificate, but not the receipt its private key makes."""
    enrolled(card)
    real_send = card.send

    def emulator(command: CommandApdu, *, sensitive: bool = False):  # noqa: ANN202
        response = real_send(command, sensitive=sensitive)
        if command.ins == Ins.AUTHENTICATE and response.sw == 0x9000:
            return type(response)(bytes(16), 0x9000)  # it cannot compute the receipt
        return response

    monkeypatch.setattr(card, "send", emulator)
    credential, key = station()
    with pytest.raises(errors.NotGenuineError, match="did not prove"):
        TrustSession(card).open(credential, key)
    assert card.channel is None


# ---------------------------------------------------------------- secure-messaging attacks

def test_a_replayed_secured_command_ends_the_session(card: Card) -> None:
    enrolled(card)
    channel = open_session(card)
    wrapped = channel.wrap(CommandApdu(0x80, Ins.ECHO, 0, 0, b"pay 10", 256))
    first = card.send(wrapped)
    assert first.sw == 0x9000 and channel.unwrap(first.data, "ECHO") == b"pay 10"
    assert card.send(wrapped).sw == Sw.SM_DATA_INCORRECT  # the same counter again
    no_session(card)


def test_reordered_secured_commands_end_the_session(card: Card) -> None:
    enrolled(card)
    channel = open_session(card)
    one = channel.wrap(CommandApdu(0x80, Ins.ECHO, 0, 0, b"one", 256))
    two = channel.wrap(CommandApdu(0x80, Ins.ECHO, 0, 0, b"two", 256))
    assert card.send(two).sw == 0x9000
    assert card.send(one).sw == Sw.SM_DATA_INCORRECT
    no_session(card)


@pytest.mark.parametrize("where", ["mac", "ciphertext", "counter", "header"])
def test_a_flipped_bit_ends_the_session_and_runs_nothing(card: Card, where: str) -> None:
    enrolled(card)
    DataAreaSession(card).define_region(1, 0, 1)
    channel = open_session(card)
    wrapped = channel.wrap(CommandApdu(0x80, Ins.WRITE_DATA, 1, 0, bytes(2) + b"forged", 256))
    data = bytearray(wrapped.data)
    p1 = wrapped.p1
    if where == "mac":
        data[-1] ^= 0x01
    elif where == "ciphertext":
        data[2] ^= 0x01
    elif where == "counter":
        data[1] ^= 0x02
    else:
        p1 ^= 0x01  # the header is MACed too
    sw = card.send(CommandApdu(wrapped.cla, wrapped.ins, p1, wrapped.p2, bytes(data), 256)).sw
    assert sw == Sw.SM_DATA_INCORRECT
    with pytest.raises(errors.SecurityStatusError):  # the card kept nothing to unwrap the next one with
        card.call(Ins.ECHO, data=b"x")
    no_session(card)
    assert DataAreaSession(card).read(1, 0, 6) == bytes(6)


def test_a_response_replayed_into_a_later_session_is_refused(card: Card, monkeypatch: pytest.MonkeyPatch) -> None:
    enrolled(card)
    first = open_session(card)
    old = card.send(first.wrap(CommandApdu(0x80, Ins.ECHO, 0, 0, b"balance 100", 256)))
    assert first.unwrap(old.data, "ECHO") == b"balance 100"
    card.reset()
    open_session(card)
    real_send = card.send
    monkeypatch.setattr(card, "send", lambda command, *, sensitive=False: (real_send(command), old)[1])
    with pytest.raises(errors.BadDataError, match="fails its MAC"):
        card.call(Ins.ECHO, data=b"balance 5")
    with pytest.raises(errors.SessionEndedError):
        card.call(Ins.ECHO, data=b"x")


def test_a_session_does_not_survive_a_reset_or_a_plain_command(card: Card) -> None:
    enrolled(card)
    DataAreaSession(card).define_region(2, 4, 1, value=True)
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    channel = open_session(card, Permission.VALUE)
    pending = channel.wrap(CommandApdu(0x80, Ins.WRITE_DATA, 2, 0, bytes(2) + b"\x00\x00\x27\x10", 256))
    card.reset()
    with pytest.raises(errors.SessionEndedError, match="reset"):
        card.call(Ins.ECHO, data=b"x")
    card.channel = None
    assert card.send(pending).sw == Sw.SECURITY_STATUS_NOT_SATISFIED  # the card kept no key
    # a plain command inside a session ends it and gets none of its permissions
    channel = open_session(card, Permission.VALUE)
    card.channel = None
    with pytest.raises(errors.SecurityStatusError):
        DataAreaSession(card).write(2, 0, b"\x00\x00\x27\x10")
    no_session(card)
    assert DataAreaSession(card).read(2, 0, 4) == bytes(4)


# ---------------------------------------------------------------- what a session is for

def test_value_regions_and_the_pin_reset_through_a_session(card: Card) -> None:
    enrolled(card)
    DataAreaSession(card).define_region(2, 4, 1, value=True)
    DataAreaSession(card).define_region(3, 5, 1, read_pin=True)
    dup = DuplicationSession(card)
    dup.put_pin(PIN)
    DataAreaSession(card).write(3, 0, b"secret")
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    for _ in range(3):
        with pytest.raises(errors.CardRefusedError):
            dup.verify_pin("0000")
    assert dup.status().tries_left == 0
    open_session(card, Permission.WRITE | Permission.VALUE)
    with pytest.raises(errors.SecurityStatusError):  # value is not pin_reset
        dup.reset_pin("4321")
    DataAreaSession(card).write(2, 0, (500).to_bytes(4, "big"))
    open_session(card, Permission.PIN_RESET)
    dup.reset_pin("4321")
    assert dup.status().tries_left == PIN_TRY_LIMIT
    dup.verify_pin("4321")  # encrypted on the wire
    assert DataAreaSession(card).read(3, 0, 6) == b"secret"
    card.channel = None  # a plain command: the session ends, and so does the PIN verified inside it
    with pytest.raises(errors.SecurityStatusError):
        DataAreaSession(card).read(3, 0, 6)
    assert DataAreaSession(card).read(2, 0, 4) == (500).to_bytes(4, "big")


def test_the_pin_travels_encrypted_and_the_trace_masks_it(card: Card) -> None:
    enrolled(card)
    DuplicationSession(card).put_pin(PIN)
    lines: list[str] = []
    card.trace = lines.append
    open_session(card)
    DuplicationSession(card).verify_pin(PIN)
    wire = " ".join(line for line in lines if line.startswith(">")).replace(" ", "")
    assert PIN.encode().hex().upper() not in wire
    secured = [line for line in lines if line.startswith("= secured VERIFY")]
    assert secured and "masked" in secured[0] and secured[0].endswith("9000")
    assert PIN.encode().hex(" ").upper() not in " ".join(lines)


def test_personalisation_of_trust_is_once_and_checked(card: Card) -> None:
    trust = TrustSession(card)
    with pytest.raises(errors.WrongStateError):  # no issuer key, no session
        card.call(Ins.OPEN_SESSION)
    trust.put_issuer_key(issuer().public_key)
    with pytest.raises(errors.WrongStateError):  # fixed once set
        trust.put_issuer_key(issuer("another").public_key)
    with pytest.raises(errors.NotFoundError):
        trust.card_certificate()
    # a certificate of another key, or for another card, is not this card's
    other = issuer().certify(point_of(ec.generate_private_key(ec.SECP256R1()).public_key()), "card", 0,
                             holder_id=card.info().card_id)
    with pytest.raises(errors.IntegrityError):
        trust.put_card_certificate(other.certificate)
    wrong_id = issuer().certify(trust.card_public_key(), "card", 0, holder_id=bytes(8))
    with pytest.raises(errors.IntegrityError):
        trust.put_card_certificate(wrong_id.certificate)
    cert = enrol_card(card, issuer())
    assert trust.card_certificate() == cert and cert.public_key == trust.card_public_key()
    with pytest.raises(errors.WrongStateError):
        trust.put_card_certificate(cert)
    # CLEAR keeps all of it
    IssuanceSession(card).clear()
    status = trust.status()
    assert status.issuer_key and status.card_certificate and status.issuer_key_id == issuer().key_id
