"""Capability identity (docs/identity.md): offline issuer-signed identity, PIN registration, usage records."""

from .formats import Identity, IdentityState, UsageRecord
from .issuer import issue_identity, new_idu
from .session import IdentitySession
from .terminal import ForgedCard, Terminal, TerminalRefusal
from .terminal_log import TerminalLog

__all__ = ["ForgedCard", "Identity", "IdentitySession", "IdentityState", "Terminal", "TerminalLog",
           "TerminalRefusal", "UsageRecord", "issue_identity", "new_idu"]
