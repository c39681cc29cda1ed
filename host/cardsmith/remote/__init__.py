"""The station side of the issuer server (docs/server.md): used when `--server URL` / CARDSMITH_SERVER is set,
the station's key from CARDSMITH_SERVER_KEY or the file CARDSMITH_SERVER_KEY_FILE.

- :class:`ServerClient` (:mod:`.client`): the HTTP client, typed errors, retries;
- :mod:`.backups`: backups with the server's catalogue (pull, backup, restore, push);
- :class:`ServerReservations` (:mod:`.issuance`): records reserved through the server for
  :class:`cardsmith.issuance.IssuingStation`; :class:`Outbox` (:mod:`.outbox`): outcomes not yet on the server;
- :func:`sync` (:mod:`.sync`): what a station did offline, uploaded.

This package never imports ``cardsmith_server``: it speaks HTTP to it.
"""

from .client import ServerClient, read_key
from .issuance import ServerReservations
from .outbox import Outbox
from .sync import SyncReport, sync


def connect(url: str) -> ServerClient:
    """A client of the server at ``url`` with this station's key."""
    return ServerClient(url, read_key())


__all__ = ["Outbox", "ServerClient", "ServerReservations", "SyncReport", "connect", "read_key", "sync"]
