"""Exit codes: the CLI's alone. The library raises typed errors; this maps each class to a code.

  0 ok, 1 other failure, 2 usage error, 3 no reader / no card / reader lost,
  4 the card refused a command, 5 simulator or build output missing, 6 bad data (tampered, malformed),
  130 interrupted (Ctrl-C; cli/__init__.py, from click's Abort).
(README.md and docs/cli.md document the same list.)
"""

from __future__ import annotations

from ..core import errors
from ..core.storage import StorageError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NO_CARD = 3
EXIT_CARD_REFUSED = 4
EXIT_ENVIRONMENT = 5
EXIT_BAD_DATA = 6
EXIT_INTERRUPTED = 130

# The most specific class listed wins (checked along the exception's MRO).
_CODES: dict[type[BaseException], int] = {
    errors.UsageError: EXIT_USAGE,
    errors.ReaderError: EXIT_NO_CARD,
    errors.CardRefusedError: EXIT_CARD_REFUSED,
    errors.CardRejectedError: EXIT_CARD_REFUSED,
    errors.CardNotReadyError: EXIT_CARD_REFUSED,
    errors.EnvironmentProblem: EXIT_ENVIRONMENT,
    errors.BadDataError: EXIT_BAD_DATA,
    errors.ProtocolError: EXIT_BAD_DATA,
    StorageError: EXIT_FAILURE,
}


def exit_code(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return EXIT_FAILURE
