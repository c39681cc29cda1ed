"""Length-prefixed frames (u16 big-endian length + body), as vpcd and the cardsmith simulator use."""

from __future__ import annotations

import socket
import struct


def send_frame(sock: socket.socket, body: bytes) -> None:
    if len(body) > 0xFFFF:
        raise ValueError("frame too long")
    sock.sendall(struct.pack(">H", len(body)) + body)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        part = sock.recv(n - len(chunks))
        if not part:
            raise ConnectionError("connection closed by peer")
        chunks += part
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">H", recv_exactly(sock, 2))
    return recv_exactly(sock, length)
