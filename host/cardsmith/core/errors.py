"""Typed errors. Each carries a message that says what happened and what to do, and an exit code.

Exit codes (documented in README.md and docs/cli.md):
  0 ok, 1 other failure, 2 usage error, 3 no reader / no card / reader lost,
  4 the card refused a command, 5 simulator or build output missing, 6 bad data (tampered, malformed).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NO_CARD = 3
EXIT_CARD_REFUSED = 4
EXIT_ENVIRONMENT = 5
EXIT_BAD_DATA = 6


class CardsmithError(Exception):
    """Base class: ``str(err)`` is the message for the user."""

    exit_code = EXIT_FAILURE


class UsageError(CardsmithError):
    exit_code = EXIT_USAGE


class ReaderError(CardsmithError):
    """No reader, no card, several readers match, or the reader/card went away mid-operation."""

    exit_code = EXIT_NO_CARD


class NoReaderError(ReaderError):
    pass


class AmbiguousReaderError(ReaderError):
    pass


class NoCardError(ReaderError):
    pass


class CardRemovedError(ReaderError):
    """The card or reader disappeared during an exchange: the command's outcome is unknown."""


class EnvironmentProblem(CardsmithError):
    """Something the host needs is not installed or not built (the JVM, the applet classes, pcscd)."""

    exit_code = EXIT_ENVIRONMENT


class BadDataError(CardsmithError):
    exit_code = EXIT_BAD_DATA


class ProtocolError(CardsmithError):
    """The card answered something the protocol does not allow (too short, malformed TLV)."""

    exit_code = EXIT_BAD_DATA


class CardRefusedError(CardsmithError):
    """The card answered a status word other than 9000."""

    exit_code = EXIT_CARD_REFUSED

    def __init__(self, sw: int, command: str, message: str) -> None:
        self.sw = sw
        self.command = command
        super().__init__(f"{command}: card answered {sw:04X}: {message}")


class WrongPinError(CardRefusedError):
    def __init__(self, sw: int, command: str, message: str) -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, command, f"{message}, {self.tries_left} tries left")


class SecurityStatusError(CardRefusedError):
    """6982: the PIN or an authentication is needed first."""


class BlockedError(CardRefusedError):
    """6983: no tries left."""


class WrongStateError(CardRefusedError):
    """6985: the card is in the wrong state (lifecycle, session) for this command."""


class IntegrityError(CardRefusedError):
    """6A80: bad data or failed integrity check; the card changed nothing."""


class NotSupportedError(CardRefusedError):
    """6A81, 6D00, 6E00, 6882: the card or applet lacks the function."""


class CardMemoryError(CardRefusedError):
    """6A84: not enough memory on the card."""


class NotFoundError(CardRefusedError):
    """6A88: referenced data not found."""


class WrongLengthError(CardRefusedError):
    """6700: wrong length."""


class WrongParametersError(CardRefusedError):
    """6A86: incorrect P1-P2."""


class ChainInterruptedError(CardRefusedError):
    """6883: a command chain was interrupted."""


class CardBugError(CardRefusedError):
    """6F00: an uncaught exception in the applet."""
