"""The applet's transport plumbing and core commands, on every transport under test."""

from __future__ import annotations

import pytest

import power_cut
from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.protocol import PROTOCOL
from cardsmith.protocol.codes import CARD_ID_LENGTH, DEFAULT_PAGE_COUNT, DEFAULT_PAGE_SIZE, Ins

pytestmark = pytest.mark.card


def test_get_info_describes_a_fresh_card(card: Card) -> None:
    info = card.info()
    assert info.version == tuple(PROTOCOL.meta["applet_version"])
    assert len(info.card_id) == CARD_ID_LENGTH
    assert info.lifecycle_name == "INSTALLED"
    assert {"EXTENDED_LENGTH", "CHAINING"} <= set(info.capability_names)
    assert (info.page_size, info.page_count) == (DEFAULT_PAGE_SIZE, DEFAULT_PAGE_COUNT)
    assert info.command_buffer == PROTOCOL.meta["command_buffer_size"]
    assert info.persistent_free > 0 and info.transient_deselect_free > 0
    # jCardSim offers every algorithm the applet asks for
    assert set(info.algorithm_names) == {"AES_CBC", "AES_ECB", "SHA256", "ECDSA_SHA256", "ECDH_PLAIN"}


def test_each_card_gets_its_own_random_id(card_pair: tuple[Card, Card]) -> None:
    a, b = card_pair
    assert a.info().card_id != b.info().card_id


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 600, 1024])
def test_echo_round_trips_every_length(card: Card, size: int) -> None:
    data = bytes((i * 7) % 256 for i in range(size))
    assert card.call(Ins.ECHO, data=data) == data


@pytest.mark.parametrize("extended", [True, False])
def test_long_input_by_chaining_or_extended_length(card: Card, extended: bool) -> None:
    card.extended = extended
    data = bytes(range(256)) * 4
    card.stats.reset()
    assert card.call(Ins.ECHO, data=data) == data
    # extended: one exchange in; chained: 5 parts in; the 1024-byte answer comes back in 61xx parts
    # when short (4 x 256) and at once when extended.
    assert card.stats.exchanges == (1 if extended else 5 + 3)


def test_long_output_through_get_response(card: Card) -> None:
    card.extended = False
    out = card.call(Ins.ECHO, p1=1, data=(1000).to_bytes(2, "big"))
    assert out == bytes(i % 256 for i in range(1000))


def test_input_longer_than_the_buffer_is_refused(card: Card) -> None:
    with pytest.raises(errors.WrongLengthError):
        card.call(Ins.ECHO, data=bytes(PROTOCOL.meta["command_buffer_size"] + 1))
    assert card.call(Ins.ECHO, data=b"ok") == b"ok"  # and the card is fine afterwards


def test_unknown_instruction_is_6d00(card: Card) -> None:
    assert card.send(CommandApdu(0x80, 0x3A, ne=256)).sw == 0x6D00


def test_wrong_class_is_6e00(card: Card) -> None:
    assert card.send(CommandApdu(0x00, Ins.GET_INFO, ne=256)).sw == 0x6E00
    assert card.send(CommandApdu(0xA0, Ins.GET_INFO, ne=256)).sw == 0x6E00


def test_secure_messaging_outside_a_session_is_refused(card: Card) -> None:
    """cardsmith's own format (CLA 84 / 04) needs an authenticated session (6982, tests/security/
    test_session.py); the ISO formats (b4-b3 = 10, 11) are not supported at all."""
    assert card.send(CommandApdu(0x84, Ins.GET_INFO, data=bytes(10), ne=256)).sw == 0x6982
    assert card.send(CommandApdu(0x04, Ins.VERIFY, 0, 0x81, data=bytes(10), ne=256)).sw == 0x6982
    assert card.send(CommandApdu(0x8C, Ins.GET_INFO, ne=256)).sw == 0x6882
    assert card.send(CommandApdu(0x88, Ins.GET_INFO, ne=256)).sw == 0x6882
    # further logical channels (ISO 7816-4: b7 set): b6 is their secure-messaging bit
    assert card.send(CommandApdu(0xE0, Ins.GET_INFO, ne=256)).sw == 0x6982
    assert card.send(CommandApdu(0x60, Ins.ECHO, data=b"x", ne=256)).sw == 0x6982


@pytest.mark.parametrize("cla", [0x81, 0x83, 0xC0, 0xC5, 0xCF])
def test_logical_channel_bits_are_not_secure_messaging(card: Card, cla: int) -> None:
    """Channels 1-3 (CLA 81-83) and 4-19 (C0-CF): the channel number is not read as secure messaging."""
    r = card.exchange(CommandApdu(cla, Ins.GET_INFO, ne=256).encode())
    assert r.sw == 0x9000 and r.data == card.call(Ins.GET_INFO)


def test_chaining_on_a_further_logical_channel(card: Card) -> None:
    # CLA D3: proprietary class, channel 7, chaining bit (b5) set
    assert card.exchange(CommandApdu(0xD3, Ins.ECHO, 0, 0, b"\x01" * 10).encode()).sw == 0x9000
    r = card.exchange(CommandApdu(0xC3, Ins.ECHO, 0, 0, b"\x02" * 5, 256).encode())
    assert (r.sw, r.data) == (0x9000, b"\x01" * 10 + b"\x02" * 5)


def test_an_iso_class_on_a_further_channel_is_still_the_wrong_class(card: Card) -> None:
    assert card.exchange(CommandApdu(0x40, Ins.GET_INFO, ne=256).encode()).sw == 0x6E00


def test_wrong_parameters_and_lengths(card: Card) -> None:
    assert card.send(CommandApdu(0x80, Ins.GET_INFO, 1, 0, ne=256)).sw == 0x6A86
    assert card.send(CommandApdu(0x80, Ins.ECHO, 2, 0, b"", ne=256)).sw == 0x6A86
    assert card.send(CommandApdu(0x80, Ins.ECHO, 1, 0, b"\x01", ne=256)).sw == 0x6700
    assert card.send(CommandApdu(0x80, Ins.ECHO, 1, 0, b"\x7f\xff", ne=256)).sw == 0x6700


def test_an_interrupted_chain_is_discarded(card: Card) -> None:
    first = CommandApdu(0x90, Ins.ECHO, 0, 0, b"\x01" * 10)
    assert card.exchange(first.encode()).sw == 0x9000
    # a different command in the middle of the chain
    assert card.exchange(CommandApdu(0x80, Ins.GET_INFO, ne=256).encode()).sw == 0x6883
    # the chain is gone: a new command starts clean
    assert card.call(Ins.ECHO, data=b"\x02") == b"\x02"


def test_get_response_without_pending_data_is_refused(card: Card) -> None:
    assert card.exchange(bytes.fromhex("00C0000000")).sw == 0x6985


def test_short_le_gets_61xx_then_the_rest(card: Card) -> None:
    r = card.exchange(CommandApdu(0x80, Ins.ECHO, 1, 0, (300).to_bytes(2, "big"), 256).encode())
    assert r.sw == 0x612C and len(r.data) == 256  # 44 bytes left
    r2 = card.exchange(bytes.fromhex("00C000002C"))
    assert r2.sw == 0x9000 and r2.data == bytes(i % 256 for i in range(256, 300))


@pytest.mark.parametrize("le", [0x7FFF, 0x8000, 0x9000, 0xFFFF])
def test_any_extended_le_gets_the_whole_answer(card: Card, le: int) -> None:
    """Ne is capped at the response buffer: an Le of 0x8000 or more is no negative length (6F00 or nothing)."""
    info = card.call(Ins.GET_INFO)
    r = card.exchange(bytes([0x80, Ins.GET_INFO, 0, 0, 0]) + le.to_bytes(2, "big"))
    assert (r.sw, r.data) == (0x9000, info)
    r = card.exchange(bytes([0x80, Ins.ECHO, 1, 0, 0, 0, 2]) + (1000).to_bytes(2, "big") + le.to_bytes(2, "big"))
    assert (r.sw, r.data) == (0x9000, bytes(i % 256 for i in range(1000)))


def test_malformed_apdus_never_get_6f00(card: Card) -> None:
    """Odd shapes: truncated Lc, Lc longer than the data, extended header alone. No uncaught exception."""
    for raw in ["80300000", "8032000005AA", "803200000000", "80320000000005AA", "8032000000", "80320000FF"]:
        sw = card.exchange(bytes.fromhex(raw)).sw
        assert sw != 0x6F00, raw
    assert card.call(Ins.ECHO, data=b"still fine") == b"still fine"


def test_host_refuses_to_send_less_than_a_header(card: Card) -> None:
    with pytest.raises(errors.UsageError):
        card.exchange(bytes.fromhex("8030"))


def test_close_personalisation_is_one_way(card: Card) -> None:
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    assert card.info().lifecycle_name == "ISSUED"
    with pytest.raises(errors.WrongStateError):
        card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)


def test_state_survives_a_power_cycle(card: Card) -> None:
    before = card.info()
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    card.reset()
    after = card.info()
    assert after.card_id == before.card_id and after.lifecycle_name == "ISSUED"


def test_pending_response_dies_with_a_reset(card: Card) -> None:
    r = card.exchange(CommandApdu(0x80, Ins.ECHO, 1, 0, (300).to_bytes(2, "big"), 256).encode())
    assert r.sw1 == 0x61
    card.reset()
    assert card.exchange(bytes.fromhex("00C0000000")).sw == 0x6985


def test_power_loss_rolls_back_the_open_transaction(card: Card) -> None:
    """The test build's fault injector: a tear inside CLOSE PERSONALISATION leaves the card INSTALLED."""
    power_cut.arm(card, 0)  # the first fault point cuts the power
    with pytest.raises(errors.CardRemovedError):
        card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    card.reset()
    assert card.info().lifecycle_name == "INSTALLED"
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)  # disarmed after firing: now it completes
    assert card.info().lifecycle_name == "ISSUED"


def test_production_build_has_no_fault_injector() -> None:
    from cardsmith.transport.simulator import EphemeralSimulator, SimOptions

    sim = EphemeralSimulator(SimOptions(cards=1, build="prod"))
    try:
        card = Card(sim.transport(0))
        card.select()
        with pytest.raises(errors.NotSupportedError):
            power_cut.arm(card, 0)
    finally:
        sim.stop()
