"""``Card.send`` never sends a secured command twice (docs/security.md, "Secure messaging"): not in chained
form after a 6700 to extended length, not with another Le after a 6Cxx. The status word comes back as it is
and the session goes on; a plain command sent while a session is open ends it on both sides."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from trust_helpers import enrolled, open_session

from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.protocol.codes import Ins
from cardsmith.transport import Transport
from cardsmith.trust import TrustSession

pytestmark = pytest.mark.card

BIG = bytes(range(256)) * 2 + b"tail"  # 516 bytes: extended length, or three chained parts


class Intercepting:
    """A reader between host and card: ``answer(apdu, forward)`` decides what the host gets back."""

    def __init__(self, inner: Transport, answer: Callable[[bytes, Callable[[bytes], bytes]], bytes]) -> None:
        self.inner, self.answer = inner, answer
        self.name = inner.name
        self.supports_extended = True
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.answer(apdu, self.inner.transmit)

    def reset(self) -> bytes:
        return self.inner.reset()

    def atr(self) -> bytes:
        return self.inner.atr()

    def close(self) -> None:
        self.inner.close()


def extended(apdu: bytes) -> bool:
    return len(apdu) > 5 and apdu[4] == 0


def in_session(card: Card) -> None:
    enrolled(card)
    open_session(card)
    card.extended = True


def intercept(card: Card, answer: Callable[[bytes, Callable[[bytes], bytes]], bytes]) -> Intercepting:
    proxy = Intercepting(card.transport, answer)
    card.transport = proxy
    return proxy


def test_a_reader_refusing_extended_length_gets_the_6700_back_and_the_session_goes_on(card: Card) -> None:
    # the reader answers 6700 to an extended APDU without passing it on: the card never saw it
    proxy = intercept(card, lambda apdu, forward: b"\x67\x00" if extended(apdu) else forward(apdu))
    in_session(card)
    channel = card.channel
    assert channel is not None
    before = channel.counter
    proxy.sent.clear()
    with pytest.raises(errors.WrongLengthError):
        card.call(Ins.ECHO, data=BIG)
    assert len(proxy.sent) == 1 and extended(proxy.sent[0]) and proxy.sent[0][0] == 0x84  # not sent again
    assert card.extended is False
    # the session lives on: the next command goes chained under the next counter, and the card takes it
    assert card.call(Ins.ECHO, data=BIG) == BIG
    assert channel.counter == before + 2
    assert [a[0] for a in proxy.sent[1:4]] == [0x94, 0x94, 0x84]  # then GET RESPONSE for the answer
    assert all(a[:2] == b"\x00\xc0" for a in proxy.sent[4:])
    assert TrustSession(card).status().session


def test_a_6700_after_the_card_ran_the_command_is_no_reason_to_run_it_again(card: Card) -> None:
    # the card ran the command (its counter moved on) but the host got 6700: a re-send would be a replay
    ran: list[bytes] = []

    def answer(apdu: bytes, forward: Callable[[bytes], bytes]) -> bytes:
        response = forward(apdu)
        if extended(apdu) and apdu[0] == 0x84 and apdu[1] == Ins.ECHO:
            ran.append(response)
            return b"\x67\x00"
        return response

    proxy = intercept(card, answer)
    in_session(card)
    proxy.sent.clear()
    with pytest.raises(errors.WrongLengthError):
        card.call(Ins.ECHO, data=BIG)
    assert len(proxy.sent) == 1 and ran[0][-2:] == b"\x90\x00"  # the card ran it, once
    # no replay reached the card (it would have answered 6988 and ended the session): it goes on
    assert card.call(Ins.ECHO, data=b"after") == b"after"
    assert TrustSession(card).status().session


def test_a_6cxx_to_a_secured_command_is_not_answered_with_a_second_try(card: Card) -> None:
    def answer(apdu: bytes, forward: Callable[[bytes], bytes]) -> bytes:
        if apdu[0] == 0x84 and apdu[1] == Ins.ECHO:
            return b"\x6c\x10"
        return forward(apdu)

    proxy = intercept(card, answer)
    in_session(card)
    proxy.sent.clear()
    with pytest.raises(errors.CardRefusedError) as err:
        card.call(Ins.ECHO, data=b"x")
    assert err.value.sw == 0x6C10 and len(proxy.sent) == 1
    assert card.call(Ins.GET_INFO)  # the session goes on


def test_a_plain_command_sent_inside_a_session_ends_it_on_the_host_too(card: Card) -> None:
    enrolled(card)
    open_session(card)
    assert card.send(CommandApdu(0x80, Ins.ECHO, 0, 0, b"plain", 256)).data == b"plain"
    with pytest.raises(errors.SessionEndedError, match="plain command"):
        card.call(Ins.ECHO, data=b"x")
    card.channel = None
    assert not TrustSession(card).status().session  # the card ended it as well
    # a plain command refused for its length is not sent again inside a session either
    open_session(card)
    card.extended = True
    proxy = intercept(card, lambda apdu, forward: b"\x67\x00" if extended(apdu) else forward(apdu))
    assert card.send(CommandApdu(0x80, Ins.ECHO, 0, 0, BIG, 256)).sw == 0x6700
    assert len(proxy.sent) == 1
