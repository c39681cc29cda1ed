"""PC/SC readers through pyscard: physical readers, and jCardSim behind pcscd + vpcd."""

from __future__ import annotations

from ..core.errors import CardRemovedError, EnvironmentProblem, NoCardError, ReaderError
from . import ReaderInfo


def _pyscard():
    try:
        from smartcard.System import readers
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise EnvironmentProblem(
            "pyscard is not installed, so PC/SC readers are unavailable: run `make setup` "
            "(it needs the Debian packages swig and libpcsclite-dev to build)"
        ) from exc
    return readers


def _leave_card() -> int:
    """Disposition for probing connections (listing readers): leave the card as it is. pyscard's default
    (unpower on disconnect) resets the card under every other connection to it, which then fails with
    "Card was reset": listing readers must never disturb a session in progress."""
    from smartcard.scard import SCARD_LEAVE_CARD

    return SCARD_LEAVE_CARD


def _release(conn) -> None:  # noqa: ANN001 - a pyscard CardConnection
    """Disconnects and releases the connection's PC/SC context now. pyscard establishes one context per
    connection and otherwise releases it in ``__del__``, which at interpreter exit runs after pcsclite has
    let go of its contexts and prints "Exception ignored ... Failed to release context"."""
    try:
        conn.release()
    except Exception:  # noqa: BLE001 - the card or pcscd is already gone; nothing is left to release
        pass


class PcscUnavailable(ReaderError):
    """pcscd is not running, or PC/SC cannot be used at all."""


def reader_names() -> list[str]:
    """Names of the PC/SC readers; raises PcscUnavailable when pcscd cannot be reached."""
    readers = _pyscard()
    try:
        return [str(r) for r in readers()]
    except Exception as exc:  # pyscard raises EstablishContextException and others
        raise PcscUnavailable(
            f"PC/SC is unavailable ({exc.__class__.__name__}): is pcscd running? "
            "Start it with `sudo systemctl start pcscd` (or `sudo pcscd`)"
        ) from exc


def describe_readers() -> list[ReaderInfo]:
    from smartcard.Exceptions import CardConnectionException, NoCardException

    readers = _pyscard()
    out = []
    try:
        found = readers()
    except Exception as exc:
        raise PcscUnavailable(f"PC/SC is unavailable ({exc.__class__.__name__}): is pcscd running?") from exc
    for reader in found:
        conn = reader.createConnection()
        try:
            conn.connect(disposition=_leave_card())
            atr = bytes(conn.getATR())
            out.append(ReaderInfo(str(reader), "pcsc", True, atr))
        except (NoCardException, CardConnectionException):
            out.append(ReaderInfo(str(reader), "pcsc", False, None))
        finally:
            _release(conn)
    return out


class PcscTransport:
    """One card in a PC/SC reader (shared mode, T=0 or T=1 as the card offers)."""

    def __init__(self, reader_name: str) -> None:
        from smartcard.Exceptions import CardConnectionException, NoCardException

        self.name = reader_name
        try:
            self._conn = self._connect()
        except NoCardException as exc:
            raise NoCardError(f"no card in reader {reader_name!r}: insert a card and retry") from exc
        except CardConnectionException as exc:
            raise NoCardError(
                f"cannot connect to the card in {reader_name!r} ({exc}): the card may be mute or inserted "
                "the wrong way round; reinsert it and retry"
            ) from exc
        # Extended length is tried first and dropped by the card layer on 6700 (reader or card without it).
        self.supports_extended = True

    def _connect(self):  # -> smartcard CardConnection
        """A new connection to the reader's card (a removed card invalidates the old one)."""
        from smartcard.pcsc.PCSCCardConnection import translateprotocolheader

        readers = _pyscard()
        matches = [r for r in readers() if str(r) == self.name]
        if not matches:
            raise ReaderError(f"reader {self.name!r} disappeared: check the cable and `cardsmith readers`")
        conn = matches[0].createConnection()
        try:
            conn.connect()
        except BaseException:
            _release(conn)
            raise
        # transmit() calls SCardTransmit with these directly: pyscard's connection object adds observers, a
        # decorator and two list conversions per exchange, a third of the host's cost (docs/benchmarks.md)
        pcsc_conn = getattr(conn, "component", conn)
        self._hcard = pcsc_conn.hcard
        self._pci = translateprotocolheader(pcsc_conn.getProtocol())
        return conn

    def transmit(self, apdu: bytes) -> bytes:
        from smartcard.scard import SCARD_S_SUCCESS, SCardGetErrorMessage, SCardTransmit

        hresult, response = SCardTransmit(self._hcard, self._pci, list(apdu))
        if hresult != SCARD_S_SUCCESS or len(response) < 2:  # no status word: the card lost power mid-command
            why = SCardGetErrorMessage(hresult) if hresult != SCARD_S_SUCCESS else "no status word"
            raise CardRemovedError(
                f"the card in {self.name!r} stopped answering ({why.strip()}): it was probably removed; the last "
                "command's outcome is unknown. Reinsert it and run the operation again"
            )
        return bytes(response)

    def reset(self, wait: float = 10.0) -> bytes:
        """Power-cycles the card; waits up to ``wait`` seconds for a card that was pulled to be back."""
        import time

        try:
            self._conn.disconnect()  # pyscard's default disposition: unpower the card
        except Exception:
            pass  # the card is already gone
        _release(self._conn)
        deadline = time.monotonic() + wait
        while True:
            try:
                self._conn = self._connect()
                return self.atr()
            except ReaderError:
                raise
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise NoCardError(f"no card in {self.name!r} after a reset ({exc}): reinsert it and retry") from exc
                time.sleep(0.1)

    def atr(self) -> bytes:
        return bytes(self._conn.getATR())

    def close(self) -> None:
        _release(self._conn)
