"""Typed errors of the library. Each carries a message that says what happened and what to do.

The library raises these and never exits; the CLI maps each class to an exit code (cardsmith.cli.exitcodes).
"""

from __future__ import annotations


class CardsmithError(Exception):
    """Base class: ``str(err)`` is the message for the user."""


class UsageError(CardsmithError):
    """The caller asked for something impossible or contradictory (bad option, bad input value)."""


class ReaderError(CardsmithError):
    """No reader, no card, several readers match, or the reader/card went away mid-operation."""


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


class BadDataError(CardsmithError):
    """A file, blob or document is malformed, truncated or fails its integrity check."""


class ProtocolError(CardsmithError):
    """The card answered something the protocol does not allow (too short, malformed TLV)."""


class CardNotReadyError(CardsmithError):
    """The card is not in the state the command needs (not personalised for it, for one); the host found out
    before sending the command, and the message names the command that gets it there."""


class CardRejectedError(CardsmithError):
    """A workflow's policy set the card aside (the issuance progress table rejected it, for one)."""


class CardRefusedError(CardsmithError):
    """The card answered a status word other than 9000."""

    def __init__(self, sw: int, command: str, message: str) -> None:
        self.sw = sw
        self.command = command
        super().__init__(f"{command}: card answered {sw:04X}: {message}")


class WrongPinError(CardRefusedError):
    def __init__(self, sw: int, command: str, message: str) -> None:
        from .text import count

        self.tries_left = sw & 0x0F
        super().__init__(sw, command, f"{message}, {count(self.tries_left, 'try', 'tries')} left")


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


class SecureMessagingError(CardRefusedError):
    """6988: the card found a secured command's MAC, counter or padding wrong and ended the session."""


class NotGenuineError(BadDataError):
    """A card's or host's certificate, signature or session receipt does not check out: not the issuer's."""


class SessionEndedError(ReaderError):
    """The authenticated session is gone (card reset, reselected, a bad MAC): open a new one."""


class CardBugError(CardRefusedError):
    """6F00: an uncaught exception in the applet."""


class ServerError(CardsmithError):
    """The issuer server refused a request (cardsmith.remote)."""

    def __init__(self, message: str, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class ServerUnavailable(ServerError):
    """The issuer server cannot be reached, timed out, or answered 503: the station works on its local store
    and `cardsmith sync` uploads later; nothing was changed on the server by the failed request."""


class ServerAuthError(ServerError, UsageError):
    """401/403: the station's key is missing, unknown, revoked, or lacks the role."""


class ServerConflict(ServerError, BadDataError):
    """409: the server holds something this request contradicts (it changed nothing)."""
