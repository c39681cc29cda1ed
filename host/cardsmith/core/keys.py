"""Reading keys and hex strings given by a user: one parser, one set of messages.

A key arrives as hex on the command line or in an environment variable, or as a key file that holds either
the raw bytes or their hex (one line, surrounding white space ignored). A PIN or other secret kept in a file
for scripts is read by ``read_secret_file`` (one line, its trailing newline stripped). A wrong length or a
non-hex digit is a UsageError naming the option and the expected form, never a ``ValueError`` traceback.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from .errors import UsageError


def parse_hex(text: str, what: str, lengths: Collection[int] | None = None) -> bytes:
    """``text`` (hex digits, white space and colons allowed) as bytes of one of ``lengths``."""
    cleaned = "".join(text.split()).replace(":", "")
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise UsageError(f"{what} is not hexadecimal: {text[:40]!r}") from None
    _check_length(data, what, lengths)
    return data


def read_key_file(path: Path | str, what: str, lengths: Collection[int]) -> bytes:
    """A key file: the raw key bytes, or the key in hex."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc.strerror})") from exc
    if len(raw) in lengths:
        return raw
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    if text and len(text) // 2 in lengths:
        return parse_hex(text, f"{what} ({path})", lengths)
    raise UsageError(f"{what}: {path} holds {len(raw)} bytes; a key file holds the key as "
                     f"{_lengths(lengths)} raw bytes or as hex")


def read_secret_file(path: Path | str, what: str) -> str:
    """A secret (a PIN, a key in hex) kept in a file for scripts, as ykman reads them: the file holds one line;
    its trailing newline is stripped and nothing else is. A missing, unreadable, empty or multi-line file is a
    UsageError naming ``what`` and the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what}: {path} is not text (a secret file holds one line)") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise UsageError(f"{what}: {path} is empty (a secret file holds one line)")
    if "\n" in text or "\r" in text:
        raise UsageError(f"{what}: {path} holds more than one line (a secret file holds one line)")
    return text


def _check_length(data: bytes, what: str, lengths: Collection[int] | None) -> None:
    if lengths is not None and len(data) not in lengths:
        raise UsageError(f"{what} is {_lengths(lengths)} bytes ({' or '.join(str(2 * n) for n in sorted(lengths))} "
                         f"hex digits), got {len(data)}")


def _lengths(lengths: Collection[int]) -> str:
    return " or ".join(str(n) for n in sorted(lengths))
