"""BER-TLV with one-byte tags, as the applet writes it."""

from __future__ import annotations

from .errors import ProtocolError


def encode(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    elif n < 0x10000:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    else:
        raise ValueError("TLV value too long")
    return bytes([tag]) + length + value


def decode(data: bytes) -> list[tuple[int, bytes]]:
    """Flat list of (tag, value); raises ProtocolError on truncated input."""
    out = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise ProtocolError(f"truncated TLV at offset {i}")
        tag, first = data[i], data[i + 1]
        i += 2
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            width = first - 0x80
            if i + width > len(data):
                raise ProtocolError(f"truncated TLV length at offset {i}")
            length = int.from_bytes(data[i : i + width], "big")
            i += width
        else:
            raise ProtocolError(f"unsupported TLV length byte {first:02X} at offset {i - 1}")
        if i + length > len(data):
            raise ProtocolError(f"TLV tag {tag:02X} claims {length} bytes, {len(data) - i} left")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def as_dict(data: bytes) -> dict[int, bytes]:
    return dict(decode(data))
