"""The trust model's host side (docs/security.md): certificates, the issuer, authenticated sessions."""

from .certificate import Certificate, parse_permissions, permission_names
from .credential import Credential
from .issuer import Issuer, enrol_card
from .session import SecureChannel, TrustSession, TrustStatus

__all__ = ["Certificate", "Credential", "Issuer", "SecureChannel", "TrustSession", "TrustStatus", "enrol_card",
           "parse_permissions", "permission_names"]
