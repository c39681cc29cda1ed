"""Self-issuance from a sealed bundle of chained commands (applet class Bundle, CLI `prepare`, `issue`,
`bundle-status`, `bundle-clear`, `personalise`; docs/self-issuance.md).

- :class:`IssuanceSession`: one card's bundle store: write, START, status, CLEAR, personalisation key;
- :mod:`.bundle`: the bundle plaintext and its envelope; :mod:`.profile`: profiles and records -> batches;
- :mod:`.progress`: the progress table; :mod:`.station`: the issuing-station loop; :mod:`.log`: its log.
"""

from .log import IssuanceLog
from .progress import CLEAR_AND_RETRY, REJECT, RESUME, ProgressTable, Rule
from .session import BundleStatus, IssuanceRejected, IssuanceSession, IssueOutcome, StartResult
from .station import IssuingStation, StationRun

__all__ = ["CLEAR_AND_RETRY", "REJECT", "RESUME", "BundleStatus", "IssuanceLog", "IssuanceRejected",
           "IssuanceSession", "IssueOutcome", "IssuingStation", "ProgressTable", "Rule", "StartResult",
           "StationRun"]
