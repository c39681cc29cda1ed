"""Encrypted backup and restore, full and by changed pages (applet class Backup, CLI `backup`, `restore`,
`backups`; docs/backup.md).

- :class:`BackupSession`: the card side (state, backup, restore, the family key);
- :mod:`.fileformat`: the card's header and records and the file holding one backup;
- :mod:`.catalogue`: which backups exist, in which state;
- :mod:`.chain`: the store on disk and its chains (find, load, verify, import, export) without a card.
"""

from .catalogue import Catalogue, Entry, SqliteCatalogue
from .chain import chain_for, default_dir, find, latest, load, open_catalogue, restore_target, verify
from .fileformat import BackupBlob
from .session import BackupSession, BackupState

__all__ = ["BackupBlob", "BackupSession", "BackupState", "Catalogue", "Entry", "SqliteCatalogue", "chain_for",
           "default_dir", "find", "latest", "load", "open_catalogue", "restore_target", "verify"]
