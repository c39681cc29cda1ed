"""Remote data update (docs/update.md): the card session, the formats, the issuer's tools, the client chain."""

from .package import Ack, Package, UpdateCertificate, build_package
from .session import RecordStatus, UpdateSession, UpdateStatus

__all__ = ["Ack", "Package", "RecordStatus", "UpdateCertificate", "UpdateSession", "UpdateStatus", "build_package"]
