"""Card-to-card key duplication and files encrypted to a card (applet classes HolderPin and Duplication, CLI
`duplicate`, `key`, `pin`, `files`; docs/duplication.md).

- :class:`DuplicationSession`: one card's PIN, key group, key pair, export/import and in-card decryption;
- :func:`duplicate`: the two-reader workflow that makes a blank card the backup of a main card;
- :mod:`.files`: the .csef file format, encrypt / decrypt / share, and recovery onto a new main card.
"""

from .session import DuplicationError, DuplicationSession, DupStatus, personalise
from .workflow import DuplicationResult, duplicate, identify

__all__ = ["DupStatus", "DuplicationError", "DuplicationResult", "DuplicationSession", "duplicate", "identify",
           "personalise"]
