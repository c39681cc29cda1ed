"""Self-issuance on the card: PUT_BUNDLE, START_BUNDLE, progress, resume, CLEAR, replay, tearing."""

from __future__ import annotations

import inspect

import pytest

import power_cut
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.issuance import (
    CLEAR_AND_RETRY,
    REJECT,
    RESUME,
    IssuanceSession,
    ProgressTable,
    Rule,
)
from cardsmith.issuance.bundle import DEV_PERSO_KEY, BundlePlan, InnerCommand, seal, seal_perso_key
from cardsmith.protocol import PROTOCOL
from cardsmith.protocol.codes import Ins, Tag
from conftest import fresh_card

pytestmark = pytest.mark.card

ECHO = InnerCommand.named("ECHO", data=b"hello")
INFO = InnerCommand.named("GET_INFO")
BAD = InnerCommand.named("GET_INFO", p1=1)  # 6A86
CLOSE = InnerCommand.named("CLOSE_PERSONALISATION")


def sealed(commands: list[InnerCommand], checkpoints: list[int] | None = None, *, seq: int = 7,
           card_id: bytes = bytes(8), key: bytes = DEV_PERSO_KEY) -> bytes:
    cps = list(range(2, len(commands) + 1)) if checkpoints is None else checkpoints
    return seal(key, BundlePlan(commands, cps).encode(), sequence=seq, card_id=card_id)


def power_back(card: Card) -> None:
    """Power up after a simulated tear; through pcscd the vpcd reader may take a while to see the card."""
    reset = card.transport.reset
    if "wait" in inspect.signature(reset).parameters:
        reset(wait=60)  # type: ignore[call-arg]
    else:
        reset()
    card.select()


def lifecycle(card: Card) -> str:
    return card.info().lifecycle_name


def test_a_bundle_runs_every_inner_command_and_closes_personalisation(card: Card) -> None:
    info = card.info()
    assert "SELF_ISSUANCE" in info.capability_names
    count, cps, seq = IssuanceSession(card).put_bundle(sealed([ECHO, INFO, CLOSE], card_id=info.card_id))
    assert (count, cps, seq) == (3, 2, 7)
    assert IssuanceSession(card).status().name == "READY"
    result = IssuanceSession(card).start()
    assert result.complete and (result.done, result.count, result.inner_sw) == (3, 3, 0x9000)
    st = IssuanceSession(card).status()
    assert (st.name, st.done, st.last_sequence) == ("DONE", 3, 7)
    assert lifecycle(card) == "ISSUED"


def test_extended_length_issues_a_card_in_two_exchanges(card: Card) -> None:
    card.extended = True
    envelope = sealed([ECHO, INFO, ECHO, CLOSE])
    card.stats.reset()
    IssuanceSession(card).put_bundle(envelope)
    assert IssuanceSession(card).start().complete
    assert card.stats.exchanges == 2


def test_a_bundle_larger_than_one_command_goes_in_chunks(card: Card) -> None:
    big = [InnerCommand.named("ECHO", data=bytes([i]) * 200) for i in range(8)]
    envelope = sealed(big + [CLOSE])
    assert len(envelope) > 1022  # more than one PUT_BUNDLE
    IssuanceSession(card).put_bundle(envelope)
    assert IssuanceSession(card).status().received == len(envelope)
    assert IssuanceSession(card).start().complete


@pytest.mark.parametrize("damage", ["ciphertext", "mac", "header_sequence", "header_card", "truncated",
                                    "extended", "wrong_key"])
def test_damaged_bundles_are_refused_before_any_inner_command(card: Card, damage: str) -> None:
    envelope = bytearray(sealed([CLOSE]))
    if damage == "ciphertext":
        envelope[40] ^= 1
    elif damage == "mac":
        envelope[-1] ^= 1
    elif damage == "header_sequence":
        envelope[13] ^= 1
    elif damage == "header_card":
        envelope[2:10] = bytes(range(1, 9))
    elif damage == "truncated":
        envelope = envelope[:-16]
    elif damage == "extended":
        envelope += bytes(16)
    elif damage == "wrong_key":
        envelope = bytearray(sealed([CLOSE], key=bytes(16)))
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(bytes(envelope))
    assert IssuanceSession(card).status().name == "EMPTY"
    with pytest.raises(errors.WrongStateError):
        IssuanceSession(card).start()
    assert lifecycle(card) == "INSTALLED"  # CLOSE never ran


def test_a_bundle_cut_short_is_not_accepted(card: Card) -> None:
    envelope = sealed([ECHO, CLOSE])
    # only the first part arrives, then START: the card has nothing checked to run
    card.call(Ins.PUT_BUNDLE, p1=0, data=b"\x00\x00" + envelope[:40], expect_data=False)
    assert IssuanceSession(card).status().name == "LOADING"
    with pytest.raises(errors.WrongStateError):
        IssuanceSession(card).start()
    # chunks out of order are refused, and the bundle can be sent again from the start
    with pytest.raises(errors.WrongStateError):
        card.call(Ins.PUT_BUNDLE, p1=0x80, data=(100).to_bytes(2, "big") + envelope[100:], expect_data=False)
    IssuanceSession(card).put_bundle(envelope)
    assert IssuanceSession(card).start().complete


def test_a_consumed_bundle_cannot_run_again_nor_be_replayed(card: Card) -> None:
    envelope = sealed([ECHO, INFO], seq=9)
    IssuanceSession(card).put_bundle(envelope)
    assert IssuanceSession(card).start().complete
    with pytest.raises(errors.WrongStateError):
        IssuanceSession(card).start()  # consumed
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(envelope)  # replayed: sequence 9 was consumed
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(sealed([ECHO], seq=8))  # older still
    IssuanceSession(card).clear()
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(envelope)  # CLEAR does not forget what was consumed
    IssuanceSession(card).put_bundle(sealed([ECHO, CLOSE], seq=10))
    assert IssuanceSession(card).start().complete


def test_a_bundle_bound_to_another_card_is_refused(card_pair: tuple[Card, Card]) -> None:
    a, b = card_pair
    envelope = sealed([CLOSE], card_id=a.info().card_id)
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(b).put_bundle(envelope)
    with pytest.raises(errors.UsageError, match="insert the right card"):
        IssuanceSession(b).issue(envelope)
    IssuanceSession(a).put_bundle(envelope)
    assert IssuanceSession(a).start().complete


def test_inner_failure_reports_its_number_and_status_word(card: Card) -> None:
    IssuanceSession(card).put_bundle(sealed([ECHO, INFO, BAD, CLOSE]))
    result = IssuanceSession(card).start()
    assert not result.complete
    assert (result.failed_at, result.inner_sw, result.done, result.count) == (3, 0x6A86, 2, 4)
    st = IssuanceSession(card).status()
    assert (st.name, st.failed_at, st.inner_sw, st.next_command) == ("FAILED", 3, 0x6A86, 3)
    assert lifecycle(card) == "INSTALLED"
    # resume: the card starts at the failed command again, not at 1
    again = IssuanceSession(card).start()
    assert (again.failed_at, again.done) == (3, 2)
    with pytest.raises(errors.WrongStateError):
        IssuanceSession(card).put_bundle(sealed([CLOSE], seq=8))  # a half-applied bundle blocks a new one
    IssuanceSession(card).clear()
    assert IssuanceSession(card).status().name == "EMPTY"


def test_a_failure_inside_a_unit_rolls_the_whole_unit_back(card: Card) -> None:
    # one unit: CLOSE then a failing command; CLOSE must not stay applied
    IssuanceSession(card).put_bundle(sealed([ECHO, CLOSE, BAD], checkpoints=[2]))
    result = IssuanceSession(card).start()
    assert (result.failed_at, result.inner_sw, result.done) == (3, 0x6A86, 1)
    assert lifecycle(card) == "INSTALLED"
    assert IssuanceSession(card).status().next_command == 2  # resume from the unit's checkpoint


def test_self_issuance_commands_cannot_be_inner_commands(card: Card) -> None:
    with pytest.raises(errors.UsageError):
        BundlePlan([InnerCommand(Ins.START_BUNDLE)]).encode()
    # crafted by hand, the card refuses the structure
    plain = (1).to_bytes(2, "big") + b"\x00" + bytes([Ins.START_BUNDLE, 0, 0, 0, 0])
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(seal(DEV_PERSO_KEY, plain, sequence=3))


def test_unknown_inner_command_fails_at_its_position(card: Card) -> None:
    IssuanceSession(card).put_bundle(sealed([ECHO, InnerCommand(0x3A), CLOSE]))
    result = IssuanceSession(card).start()
    assert (result.failed_at, result.inner_sw) == (2, 0x6D00)


@pytest.mark.parametrize(("rules", "expected", "result"), [
    ([Rule(REJECT, 3, 3, (0x6A86,))], [REJECT], "rejected"),
    ([Rule(CLEAR_AND_RETRY, 1, 5)], [CLEAR_AND_RETRY, REJECT], "rejected"),
    ([Rule(RESUME)], [RESUME, REJECT], "rejected"),
])
def test_the_progress_table_decides_what_the_station_does(card: Card, rules: list[Rule], expected: list[str],
                                                          result: str) -> None:
    outcome = IssuanceSession(card).issue(sealed([ECHO, INFO, BAD, CLOSE]), ProgressTable(rules), retries=1)
    assert outcome.actions == expected and outcome.result == result
    assert outcome.start is not None and (outcome.start.failed_at, outcome.start.inner_sw) == (3, 0x6A86)
    assert IssuanceSession(card).status().name == "EMPTY"  # rejected cards are cleared back to blank
    assert lifecycle(card) == "INSTALLED"


def test_interruption_at_every_point_resumes_without_applying_anything_twice(
        request: pytest.FixtureRequest, transport_kind: str) -> None:
    # CLOSE_PERSONALISATION in the middle is the witness: applied twice it would fail with 6985.
    commands = [ECHO, CLOSE, INFO, ECHO, INFO]
    # The embedded simulator walks every fault point. Through pcscd each tear makes vpcd's reader see the
    # card leave and come back (seconds each), so PC/SC samples the walk: the first point, one inside the
    # CLOSE unit, one after it, and the last.
    sample = None if transport_kind == "sim" else {0, 4, 8, 14}
    for checkpoints in ([2, 3, 4, 5], [3]):
        n = 0
        while True:
            if sample is not None and n not in sample:
                n += 1
                if n > max(sample):
                    break
                continue
            card = fresh_card(request, transport_kind, 0)
            IssuanceSession(card).put_bundle(sealed(commands, checkpoints))
            power_cut.arm(card, n)
            try:
                result = IssuanceSession(card).start()
            except errors.CardRemovedError:
                power_back(card)
                st = IssuanceSession(card).status()
                # resumes at a checkpoint (unit start), and what the committed units did is on the card
                assert st.next_command in [1, *checkpoints, len(commands) + 1]
                assert lifecycle(card) == ("ISSUED" if st.done >= 2 else "INSTALLED")
                if st.name == "DONE":  # the power went after the last unit committed: nothing left to do
                    assert st.done == len(commands)
                else:
                    assert st.name == "RUNNING"
                    result = IssuanceSession(card).start()
                    assert result.complete, (checkpoints, n, result)
                assert IssuanceSession(card).status().name == "DONE"
                assert lifecycle(card) == "ISSUED"
                n += 1
                continue
            power_cut.disarm(card)
            assert result.complete
            break
        assert n >= len(commands)  # every inner command was interrupted at least once (or sampled)


def test_the_station_resumes_a_card_pulled_during_start(card: Card) -> None:
    envelope = sealed([ECHO, INFO, ECHO, CLOSE])
    IssuanceSession(card).put_bundle(envelope)
    power_cut.arm(card, 3)  # the 4th fault point: inside command 2's unit
    with pytest.raises(errors.CardRemovedError):
        IssuanceSession(card).start()
    power_back(card)
    st = IssuanceSession(card).status()
    assert (st.name, st.done, st.next_command, st.sequence) == ("RUNNING", 1, 2, 7)
    card.stats.reset()
    outcome = IssuanceSession(card).issue(envelope)  # the station sees its own bundle part-run: no rewrite, START
    assert outcome.ok and outcome.actions == [RESUME]
    assert card.stats.exchanges == 3  # GET INFO, BUNDLE_STATUS, START_BUNDLE
    assert lifecycle(card) == "ISSUED"


def test_after_issued_every_personalisation_command_is_refused(card: Card) -> None:
    IssuanceSession(card).put_bundle(sealed([ECHO, CLOSE]))
    assert IssuanceSession(card).start().complete
    refused = {}
    for name, ins in PROTOCOL.instructions.items():
        if "lifecycle INSTALLED" not in ins.preconditions:
            continue
        # whatever the parameters and data, never accepted; with well-formed ones, 6985 (wrong lifecycle)
        sws = set()
        for p1 in (0, 1):
            for data in (b"", bytes(6), bytes(16), bytes(17)):
                with pytest.raises(errors.CardRefusedError) as exc:
                    card.call(ins.code, p1=p1, data=data)
                sws.add(exc.value.sw)
        refused[name] = sws
    assert refused and all(0x6985 in sws for sws in refused.values()), refused
    assert {"PUT_BUNDLE", "START_BUNDLE", "CLEAR_BUNDLE", "SET_PERSO_KEY", "CLOSE_PERSONALISATION"} <= set(refused)


def test_the_personalisation_key_can_be_replaced_and_not_rolled_back(card: Card) -> None:
    new = bytes(range(32))
    change = seal_perso_key(DEV_PERSO_KEY, new, sequence=20)
    assert IssuanceSession(card).set_perso_key(change) == 1
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(sealed([CLOSE], seq=21))  # the development key is gone
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).set_perso_key(change)  # replayed key change
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(sealed([CLOSE], seq=20, key=new))  # sequence 20 consumed by the key change
    IssuanceSession(card).put_bundle(sealed([ECHO, CLOSE], seq=21, key=new))
    assert IssuanceSession(card).start().complete


def test_install_parameters_set_the_store_size_and_the_key(request: pytest.FixtureRequest,
                                                           transport_kind: str) -> None:
    key = bytes(range(100, 116))
    params = (bytes([Tag.INSTALL_BUNDLE_SIZE, 2]) + (128).to_bytes(2, "big")
              + bytes([Tag.INSTALL_PERSO_KEY, 16]) + key)
    card = fresh_card(request, transport_kind, 0, params)
    assert IssuanceSession(card).status().store_size == 128
    with pytest.raises(errors.IntegrityError):
        IssuanceSession(card).put_bundle(sealed([CLOSE]))  # development key: not this card's
    with pytest.raises(errors.CardMemoryError):
        IssuanceSession(card).put_bundle(sealed([InnerCommand.named("ECHO", data=bytes(200))], key=key))
    IssuanceSession(card).put_bundle(sealed([ECHO, CLOSE], key=key))
    assert IssuanceSession(card).start().complete


def test_an_inner_command_answering_more_than_the_response_buffer_fails_cleanly(card: Card) -> None:
    """An inner ECHO of 1100 bytes (more than the 1024-byte response buffer): FAILED with its status word,
    never 6F00 from START nor a bundle left RUNNING; START again fails the same way, CLEAR recovers."""
    long_echo = InnerCommand.named("ECHO", data=bytes(1100))
    IssuanceSession(card).put_bundle(sealed([ECHO, long_echo, CLOSE]))
    for _ in range(2):
        result = IssuanceSession(card).start()
        assert (result.complete, result.failed_at, result.inner_sw, result.done) == (False, 2, 0x6700, 1)
        st = IssuanceSession(card).status()
        assert (st.name, st.failed_at, st.inner_sw) == ("FAILED", 2, 0x6700)
    assert lifecycle(card) == "INSTALLED"
    IssuanceSession(card).clear()
    assert IssuanceSession(card).status().name == "EMPTY"


def test_a_unit_larger_than_the_commit_buffer_fails_whole_and_cleanly(card: Card) -> None:
    """One unit of writes that together exceed the card's commit buffer: the card's transaction overflows
    (6A84, as TransactionException.BUFFER_FULL on a real card), nothing of the unit is applied, the bundle
    is FAILED at the unit's last command, and the units before it stay applied."""
    info = card.info()
    assert info.max_write is not None and info.commit_capacity is not None
    n = info.max_write
    writes = [InnerCommand.named("WRITE_DATA", data=bytes([1]) + (i * n).to_bytes(2, "big") + b"\xAB" * n)
              for i in range(info.commit_capacity // n + 1)]
    define = InnerCommand.named("DEFINE_REGION", data=bytes([1, 0, 0, 0, 0, 32]))
    IssuanceSession(card).put_bundle(sealed([define, *writes, CLOSE], checkpoints=[2, len(writes) + 2]))
    result = IssuanceSession(card).start()
    assert (result.complete, result.failed_at, result.inner_sw, result.done) == (False, len(writes) + 1, 0x6A84, 1)
    assert IssuanceSession(card).status().name == "FAILED"
    assert DataAreaSession(card).read(1, 0, len(writes) * n) == bytes(len(writes) * n)  # not one byte applied
    assert lifecycle(card) == "INSTALLED"
    # each of the same writes alone fits: the card works on
    for w in writes:
        card.call(Ins.WRITE_DATA, data=w.data, expect_data=False)
    assert DataAreaSession(card).read(1, 0, len(writes) * n) == b"\xAB" * (len(writes) * n)
