"""User-given keys and hex: one parser, one clear error per mistake (never a ValueError traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardsmith.core.errors import UsageError
from cardsmith.core.keys import parse_hex, read_key_file


def test_hex_is_read_with_white_space_and_colons() -> None:
    assert parse_hex("00 11:22\n33", "--key", (4,)) == bytes.fromhex("00112233")


@pytest.mark.parametrize("text, words", [("00zz", "not hexadecimal"), ("001", "not hexadecimal"),
                                         ("0011", "is 16 bytes (32 hex digits), got 2")])
def test_bad_hex_names_the_option_and_the_form(text: str, words: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_hex(text, "--key", (16,))
    assert "--key" in str(err.value) and words in str(err.value)


def test_a_key_file_holds_raw_bytes_or_hex(tmp_path: Path) -> None:
    key = bytes(range(16))
    raw, hexed = tmp_path / "raw.key", tmp_path / "hex.key"
    raw.write_bytes(key)
    hexed.write_text(key.hex().upper() + "\n")
    assert read_key_file(raw, "--key-file", (16,)) == key
    assert read_key_file(hexed, "--key-file", (16,)) == key


def test_a_key_file_of_the_wrong_size_or_missing_is_one_clear_error(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"\x01\x02\x03")
    with pytest.raises(UsageError, match="holds 3 bytes; a key file holds the key as 16 raw bytes or as hex"):
        read_key_file(short, "--key-file", (16,))
    with pytest.raises(UsageError, match="cannot read"):
        read_key_file(tmp_path / "absent.key", "--key-file", (16,))


def test_a_secret_file_is_one_line_with_its_trailing_newline_stripped(tmp_path: Path) -> None:
    from cardsmith.core.keys import read_secret_file

    for content, expected in ((b"1234\n", "1234"), (b"1234", "1234"), (b"12 34\r\n", "12 34"), (b" 1234\n", " 1234")):
        (tmp_path / "pin").write_bytes(content)
        assert read_secret_file(tmp_path / "pin", "--pin-file") == expected


@pytest.mark.parametrize(("content", "words"), [
    (b"", "is empty"), (b"\n", "is empty"), (b"1234\n5678\n", "more than one line"), (b"\xff\xfe", "is not text"),
])
def test_a_bad_secret_file_is_one_clear_error(tmp_path: Path, content: bytes, words: str) -> None:
    from cardsmith.core.keys import read_secret_file

    (tmp_path / "pin").write_bytes(content)
    with pytest.raises(UsageError, match=words) as exc:
        read_secret_file(tmp_path / "pin", "--pin-file")
    assert str(exc.value).startswith("--pin-file: ") and "\n" not in str(exc.value)
    with pytest.raises(UsageError, match=r"--pin-file: cannot read .*missing \(No such file"):
        read_secret_file(tmp_path / "missing", "--pin-file")
