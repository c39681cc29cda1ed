"""The session layer every capability builds on: the card session (chaining, GET RESPONSE, extended length,
the trace), APDUs, TLV, the crypto mirrors, durable files, local storage, key parsing and typed errors.

Nothing here knows how a card is reached (cardsmith.transport) or what a capability does.
"""

from .card import Card, CardInfo, WireStats

__all__ = ["Card", "CardInfo", "WireStats"]
