"""Card events: waiting for a card to leave or arrive in one reader, as an issuing desk needs.

PC/SC readers are watched with ``SCardGetStatusChange`` (pcscd wakes us; no polling of the card, nothing sent
to it); the simulator service's slots are polled through the bridge's ATR request (`sim eject` / `sim insert`
are the card events there). Nothing here opens a session on the card.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..core.errors import NoCardError, ReaderError, UsageError

POLL = 0.05  # seconds between looks at a simulated slot


class CardEvents(Protocol):
    name: str

    def present(self) -> bool: ...

    def wait(self, present: bool, timeout: float) -> bool:
        """Blocks until a card is (``present``) or is not in the reader; False when ``timeout`` passed."""
        ...

    def close(self) -> None: ...


class SimEvents:
    def __init__(self, slot: int) -> None:
        from . import simulator

        transport = simulator.service_transport(slot)
        if transport is None:
            raise UsageError("waiting for card swaps on a simulated reader needs the simulator service "
                             "(`cardsmith sim start`): without it each command has its own cards")
        self._transport = transport
        self.name = transport.name

    def present(self) -> bool:
        try:
            self._transport.atr()
            return True
        except NoCardError:
            return False

    def wait(self, present: bool, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.present() != present:
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL)
        return True

    def close(self) -> None:
        self._transport.close()


class PcscEvents:
    def __init__(self, name: str) -> None:
        from smartcard.scard import SCARD_S_SUCCESS, SCARD_SCOPE_USER, SCardEstablishContext

        hresult, self._ctx = SCardEstablishContext(SCARD_SCOPE_USER)
        if hresult != SCARD_S_SUCCESS:
            raise ReaderError(f"PC/SC is unavailable for card events (is pcscd running?): {hresult:#x}")
        self.name = name
        self._state = self._status(0)[0]

    def _status(self, timeout_ms: int, known: int | None = None) -> tuple[int, bool]:
        """(event state, timed out) of the reader, waiting up to ``timeout_ms`` for a change from ``known``."""
        from smartcard.scard import (
            SCARD_E_TIMEOUT,
            SCARD_S_SUCCESS,
            SCARD_STATE_UNAWARE,
            SCardGetErrorMessage,
            SCardGetStatusChange,
        )

        hresult, states = SCardGetStatusChange(self._ctx, timeout_ms,
                                               [(self.name, SCARD_STATE_UNAWARE if known is None else known)])
        if hresult == SCARD_E_TIMEOUT:
            return (known or 0), True
        if hresult != SCARD_S_SUCCESS:
            raise ReaderError(f"reader {self.name!r}: {SCardGetErrorMessage(hresult).strip()}: check the reader "
                              "and `cardsmith readers`")
        return states[0][1], False

    def present(self) -> bool:
        from smartcard.scard import SCARD_STATE_PRESENT

        self._state = self._status(0)[0]
        return bool(self._state & SCARD_STATE_PRESENT)

    def wait(self, present: bool, timeout: float) -> bool:
        from smartcard.scard import SCARD_STATE_CHANGED, SCARD_STATE_PRESENT

        deadline = time.monotonic() + timeout
        self._state = self._status(0)[0]
        while bool(self._state & SCARD_STATE_PRESENT) != present:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            state, timed_out = self._status(int(min(left, 1.0) * 1000), self._state & ~SCARD_STATE_CHANGED)
            if not timed_out:
                self._state = state
        return True

    def close(self) -> None:
        from smartcard.scard import SCardReleaseContext

        SCardReleaseContext(self._ctx)


def watch(spec: str | None) -> CardEvents:
    """Card events of the reader ``spec`` names (as --reader does; none: simulated card 0)."""
    import os

    from .readers import resolve
    from .sim import SIM_READER_PREFIX, sim_reader_name

    spec = spec or os.environ.get("CARDSMITH_READER") or None
    kind, name = ("sim", sim_reader_name(0)) if spec is None else resolve(spec)
    if kind == "pcsc":
        return PcscEvents(name)
    return SimEvents(int(name[len(SIM_READER_PREFIX):]))
