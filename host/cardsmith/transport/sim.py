"""The embedded simulator transport: jCardSim in a JVM (applet/sim SimBridge), over loopback TCP."""

from __future__ import annotations

import socket

from ..core.errors import CardRemovedError, EnvironmentProblem, NoCardError, ReaderError
from .framing import recv_frame, send_frame

OP_TRANSMIT = b"T"
OP_RESET = b"R"
OP_ATR = b"A"
OP_INFO = b"I"
OP_EJECT = b"X"
OP_INSERT = b"N"
OP_QUIT = b"Q"
OP_FRESH = b"F"

ST_OK = 0
ST_BAD_SLOT = 1
ST_ERROR = 2
ST_NO_CARD = 3
ST_TORN = 4

SIM_READER_PREFIX = "cardsmith-sim"


def sim_reader_name(slot: int) -> str:
    return f"{SIM_READER_PREFIX} {slot}"


class SimConnection:
    """One TCP connection to a SimBridge; requests are answered in order."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60.0) -> None:
        self.address = (host, port)
        try:
            self._sock = socket.create_connection(self.address, timeout=timeout)
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot reach the card simulator on {host}:{port} ({exc}); "
                "start it with `cardsmith sim start` or check `cardsmith sim status`"
            ) from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, op: bytes, slot: int = 0, data: bytes = b"") -> bytes:
        try:
            send_frame(self._sock, op + bytes([slot]) + data)
            reply = recv_frame(self._sock)
        except OSError as exc:  # includes ConnectionError and timeouts
            raise CardRemovedError(
                f"lost the card simulator in the middle of a command ({exc}); the command's outcome is "
                "unknown: check `cardsmith sim status` and run the operation again"
            ) from exc
        status, body = reply[0], reply[1:]
        if status == ST_OK:
            return body
        message = body.decode("utf-8", "replace")
        if status == ST_NO_CARD:
            raise NoCardError(f"{message}: insert the card (simulated: `cardsmith sim insert`) and retry")
        if status == ST_TORN:
            raise CardRemovedError(f"{message}: the command's effect is rolled back or complete, never half")
        if status == ST_BAD_SLOT:
            raise ReaderError(message)
        raise ReaderError(f"simulator error: {message}")

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


class SimTransport:
    """One simulated card (a slot of a SimBridge)."""

    supports_extended = True

    def __init__(self, connection: SimConnection, slot: int, owner: object | None = None) -> None:
        self._conn = connection
        self.slot = slot
        self.name = sim_reader_name(slot)
        self._owner = owner  # keeps an ephemeral simulator alive as long as this transport

    @property
    def ephemeral(self) -> bool:
        """The card lives only as long as this transport (no `cardsmith sim` service behind it)."""
        return self._owner is not None

    def transmit(self, apdu: bytes) -> bytes:
        return self._conn.request(OP_TRANSMIT, self.slot, apdu)

    def reset(self) -> bytes:
        return self._conn.request(OP_RESET, self.slot)

    def atr(self) -> bytes:
        return self._conn.request(OP_ATR, self.slot)

    def eject(self) -> None:
        """Takes the simulated card out of its reader (the vpcd reader sees it removed too)."""
        self._conn.request(OP_EJECT, self.slot)

    def insert(self) -> None:
        """Puts the card back (a power-on reset)."""
        self._conn.request(OP_INSERT, self.slot)

    def replace_card(self, install_params: bytes = b"") -> bytes:
        """Puts a newly installed card in this slot (new card id, empty); returns its ATR."""
        return self._conn.request(OP_FRESH, self.slot, install_params)

    def close(self) -> None:
        self._conn.close()
        owner, self._owner = self._owner, None
        if owner is not None and hasattr(owner, "stop"):
            owner.stop()
