"""Card-to-card duplication under a key group (issue 4), on every transport under test."""

from __future__ import annotations

import os

import pytest
from dup_helpers import PIN_BACKUP, PIN_MAIN, personalised_pair

from cardsmith.core import crypto, errors
from cardsmith.core.card import Card
from cardsmith.duplication import DuplicationError, DuplicationSession, duplicate
from cardsmith.duplication.session import ExportHeader, group_check, kek
from cardsmith.protocol.codes import (
    BLOB_KEY_EXPORT,
    EXPORT_CONFIRMED,
    EXPORT_NONE,
    EXPORT_PENDING,
    KEY_TYPE_PAIR,
    KEY_TYPE_PRIVATE,
    PIN_REFERENCE,
    Ins,
)

pytestmark = pytest.mark.card
PAIR = KEY_TYPE_PAIR


def _ready(pair: tuple[Card, Card], key2: bytes = b"\x22" * 32, key3: bytes = b"\x33" * 32,
           key1: bytes = b"\x11" * 32) -> tuple[DuplicationSession, DuplicationSession]:
    """Both cards personalised, PINs verified, the full group set, a key pair on the main card."""
    main, backup = personalised_pair(pair, key1)
    main.verify_pin(PIN_MAIN)
    backup.verify_pin(PIN_BACKUP)
    for card in (main, backup):
        card.put_slot(2, key2)
        card.put_slot(3, key3)
    main.generate()
    return main, backup


def test_duplication_end_to_end_backup_decrypts_what_was_encrypted_to_the_main_card(card_pair) -> None:
    main, backup = personalised_pair(card_pair)
    result = duplicate(main, backup, PIN_MAIN, PIN_BACKUP)
    assert result.export_counter == 1
    s, d = main.status(), backup.status()
    assert (s.role_name, d.role_name) == ("main", "backup")
    assert s.export_state == EXPORT_CONFIRMED and s.locked and d.locked
    assert d.key_id == s.key_id and d.source_id == main.card_id
    point = main.public_key()
    assert backup.public_key() == point  # the pair was copied (patent Figs. 26/27)
    data_key = os.urandom(32)
    envelope = crypto.ecies_wrap(point, data_key)
    assert backup.decrypt(envelope) == data_key
    assert main.decrypt(envelope) == data_key
    assert backup.check_value(envelope) == crypto.kcv(data_key)


def test_private_only_export_makes_a_decrypt_only_backup(card_pair) -> None:
    main, backup = personalised_pair(card_pair)
    duplicate(main, backup, PIN_MAIN, PIN_BACKUP, key_type=KEY_TYPE_PRIVATE)
    with pytest.raises(errors.NotFoundError):
        backup.public_key()
    data_key = os.urandom(32)
    assert backup.decrypt(crypto.ecies_wrap(main.public_key(), data_key)) == data_key


def test_export_blob_is_what_the_format_says_and_the_host_can_check_it(card_pair) -> None:
    main, backup = _ready(card_pair)
    blob = main.export(backup.card_id, PAIR)
    h = ExportHeader.parse(blob)
    assert (h.version, h.blob_type, h.key_type, h.slots) == (1, BLOB_KEY_EXPORT, PAIR, 3)
    assert (h.source_id, h.dest_id, h.key_id, h.counter) == (main.card_id, backup.card_id, main.status().key_id, 1)
    assert len(blob) == 32 + 16 + 112 + 16
    # the host holding every slot can open it: the card's CMAC, KDF and CBC agree with the host's
    plain = crypto.aead_open(kek([b"\x11" * 32, b"\x22" * 32, b"\x33" * 32]), blob, 32)
    assert plain[32:] == main.public_key() and len(plain) == 97
    assert main.status().group_check == group_check([b"\x11" * 32, b"\x22" * 32, b"\x33" * 32])


def test_second_export_is_refused_and_a_lost_response_gets_the_identical_blob(card_pair) -> None:
    main, backup = _ready(card_pair)
    first = main.export(backup.card_id, PAIR)
    assert main.export(backup.card_id, PAIR) == first  # response lost: the same bytes again
    with pytest.raises(errors.WrongStateError):
        main.export(b"\x01" * 8, PAIR)  # never a second, different export
    with pytest.raises(errors.WrongStateError):
        main.export(backup.card_id, KEY_TYPE_PRIVATE)
    main.confirm(backup.import_key(first))
    with pytest.raises(errors.WrongStateError):
        main.export(backup.card_id, PAIR)
    assert main.status().export_counter == 1


def test_locked_key_group_refuses_key_set_and_export(card_pair) -> None:
    main, backup = _ready(card_pair)
    main.lock()
    with pytest.raises(errors.WrongStateError):
        main.export(backup.card_id, PAIR)
    with pytest.raises(errors.WrongStateError):
        main.put_slot(2, b"\x22" * 32)
    with pytest.raises(errors.WrongStateError):
        main.clear_holder_keys()
    assert main.status().export_state == EXPORT_NONE


def test_slots_are_write_once_and_key1_is_personalisation_only(card_pair) -> None:
    main, _ = personalised_pair(card_pair)
    with pytest.raises(errors.SecurityStatusError):
        main.put_slot(2, b"\x22" * 32)  # no PIN
    main.verify_pin(PIN_MAIN)
    main.put_slot(2, b"\x22" * 32)
    main.put_slot(2, b"\x22" * 32)  # the same value: a retry
    with pytest.raises(errors.WrongStateError):
        main.put_slot(2, b"\x23" * 32)
    with pytest.raises(errors.WrongStateError):
        main.put_slot(1, b"\x11" * 32)  # Key1 is set already
    with pytest.raises(errors.WrongLengthError):
        main.put_slot(3, b"\x33" * 16)
    main.card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    with pytest.raises(errors.WrongStateError):
        main.put_pin("9999")


def test_export_refused_before_the_group_is_complete_and_without_the_pin(card_pair) -> None:
    main, backup = personalised_pair(card_pair)
    main.verify_pin(PIN_MAIN)
    main.generate()
    main.put_slot(2, b"\x22" * 32)
    with pytest.raises(errors.WrongStateError):
        main.export(backup.card_id, PAIR)
    main.put_slot(3, b"\x33" * 32)
    main.card.reset()  # the PIN state ends with the session
    with pytest.raises(errors.SecurityStatusError):
        main.export(backup.card_id, PAIR)
    assert main.status().export_state == EXPORT_NONE


def test_tampered_tag_is_refused_and_nothing_stored(card_pair) -> None:
    main, backup = _ready(card_pair)
    blob = main.export(backup.card_id, PAIR)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(errors.IntegrityError):
        backup.import_key(bytes(tampered))
    assert backup.status().role_name == "none"


def test_different_key_group_on_the_backup(request, transport_kind) -> None:
    from conftest import fresh_card

    pair = (fresh_card(request, transport_kind, 0), fresh_card(request, transport_kind, 1))
    main, backup = personalised_pair(pair, b"\x11" * 32, backup_key1=b"\x12" * 32)
    main.verify_pin(PIN_MAIN)
    backup.verify_pin(PIN_BACKUP)
    for card in (main, backup):
        card.put_slot(2, b"\x22" * 32)
        card.put_slot(3, b"\x33" * 32)
    main.generate()
    assert main.status().group_check != backup.status().group_check
    blob = main.export(backup.card_id, PAIR)
    with pytest.raises(errors.IntegrityError):
        backup.import_key(blob)
    st = backup.status()
    assert st.role_name == "none" and st.key_id is None
    with pytest.raises(DuplicationError, match="same key group"):
        duplicate(main, backup, PIN_MAIN, PIN_BACKUP)


@pytest.mark.parametrize("field,offset", [
    ("version", 0), ("type", 1), ("key type", 2), ("slots", 3), ("source id", 4), ("destination id", 12),
    ("key id", 20), ("counter", 28), ("length", 31), ("iv", 32), ("ciphertext", 60), ("ciphertext end", 159),
    ("tag", 160), ("tag end", 175),
])
def test_every_field_of_the_export_blob_tampered_is_refused_and_nothing_stored(card_pair, field, offset) -> None:
    main, backup = _ready(card_pair)
    blob = main.export(backup.card_id, PAIR)
    tampered = bytearray(blob)
    tampered[offset] ^= 0x01
    with pytest.raises((errors.IntegrityError, errors.WrongLengthError)):
        backup.import_key(bytes(tampered))
    st = backup.status()
    assert st.role_name == "none" and st.key_id is None
    with pytest.raises(errors.NotFoundError):
        backup.public_key()
    # and the genuine blob still imports afterwards
    main.confirm(backup.import_key(blob))
    assert backup.status().role_name == "backup"


def test_truncated_or_extended_blob_and_bad_receipt(card_pair) -> None:
    main, backup = _ready(card_pair)
    blob = main.export(backup.card_id, PAIR)
    for bad in (blob[:-1], blob + b"\x00", blob[:40]):
        with pytest.raises((errors.IntegrityError, errors.WrongLengthError)):
            backup.import_key(bad)
    with pytest.raises(errors.IntegrityError):
        main.confirm(bytes(16))
    assert main.status().export_state == EXPORT_PENDING
    receipt = backup.import_key(blob)
    assert backup.import_key(blob) == receipt  # receipt lost: the same blob gets the same receipt
    main.confirm(receipt)
    main.confirm(receipt)  # idempotent


def test_backup_card_never_exports_and_refuses_a_second_import(card_pair) -> None:
    main, backup = _ready(card_pair)
    blob = main.export(backup.card_id, PAIR)
    backup.import_key(blob)
    with pytest.raises(errors.WrongStateError):
        backup.export(main.card_id, PAIR)
    with pytest.raises(errors.WrongStateError):
        backup.generate()


def test_readers_swapped_same_card_and_wrong_role_are_detected(card_pair) -> None:
    main, backup = personalised_pair(card_pair)
    main.verify_pin(PIN_MAIN)
    main.generate()
    with pytest.raises(DuplicationError, match="swapped"):
        duplicate(backup, main, PIN_BACKUP, PIN_MAIN)
    with pytest.raises(DuplicationError, match="same card"):
        duplicate(main, DuplicationSession(card_pair[0]), PIN_MAIN, PIN_MAIN)
    duplicate(main, backup, PIN_MAIN, PIN_BACKUP, lock=False)
    with pytest.raises(DuplicationError, match="backup card"):
        duplicate(backup, main, PIN_BACKUP, PIN_MAIN)


def test_pin_try_counter_blocks_and_survives_reset(card) -> None:
    kc = DuplicationSession(card)
    kc.put_pin("1234")
    with pytest.raises(errors.WrongPinError) as e:
        kc.verify_pin("0000")
    assert e.value.tries_left == 2
    card.reset()
    with pytest.raises(errors.WrongPinError) as e:
        kc.verify_pin("0000")
    assert e.value.tries_left == 1
    kc.verify_pin("1234")  # resets the counter
    assert kc.status().tries_left == 3 and kc.status().pin_verified
    card.reset()
    assert not kc.status().pin_verified
    for left in (2, 1):
        with pytest.raises(errors.WrongPinError):
            kc.verify_pin("0000")
        assert kc.status().tries_left == left
    with pytest.raises(errors.BlockedError):
        kc.verify_pin("0000")
    with pytest.raises(errors.BlockedError):
        kc.verify_pin("1234")
    assert kc.status().tries_left == 0


def test_change_pin(card) -> None:
    kc = DuplicationSession(card)
    with pytest.raises(errors.WrongStateError):
        kc.verify_pin("1234")  # no PIN set yet
    kc.put_pin("1234")
    with pytest.raises(errors.WrongPinError):
        kc.change_pin("9999", "4321")
    kc.change_pin("1234", "4321")
    assert kc.status().pin_verified
    card.reset()
    with pytest.raises(errors.WrongPinError):
        kc.verify_pin("1234")
    kc.verify_pin("4321")
    with pytest.raises(errors.WrongLengthError):
        kc.card.call(Ins.VERIFY, 0, PIN_REFERENCE, b"12", expect_data=False)
    assert kc.status().tries_left == 3  # a malformed PIN costs no try


def test_a_run_that_died_between_the_two_key_sets_is_restarted_cleanly(card_pair) -> None:
    main, backup = personalised_pair(card_pair)
    main.verify_pin(PIN_MAIN)
    main.put_slot(2, os.urandom(32))  # the host set Key2 on the main card, then died: that key is gone
    main.card.reset()
    result = duplicate(main, backup, PIN_MAIN, PIN_BACKUP)
    assert any("cleared the holder keys" in step for step in result.steps)
    assert backup.status().role_name == "backup"


def test_a_run_that_died_after_the_export_is_finished_without_the_lost_keys(card_pair) -> None:
    main, backup = _ready(card_pair)
    blob = main.export(backup.card_id, PAIR)  # the response went nowhere: the host process died
    main.card.reset()
    backup.card.reset()
    # a new run, which never knew Key2/Key3
    result = duplicate(main, backup, PIN_MAIN, PIN_BACKUP, lock=False)
    assert result.export_counter == 1
    assert main.status().export_state == EXPORT_CONFIRMED
    # the blob the new run imported is the one the dead run was given: its receipt confirms
    main.confirm(backup.import_key(blob))


def test_clear_holder_keys_is_refused_once_an_export_started(card_pair) -> None:
    main, backup = _ready(card_pair)
    main.export(backup.card_id, PAIR)
    with pytest.raises(errors.WrongStateError):
        main.clear_holder_keys()
    backup.import_key(main.export(backup.card_id, PAIR))
    with pytest.raises(errors.WrongStateError):
        backup.clear_holder_keys()
