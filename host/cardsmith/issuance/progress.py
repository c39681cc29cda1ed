"""The progress table (the self-issuance patent's progress management table): a failure point -> an action.

The data preparer writes it into the batch; the station applies it to what START_BUNDLE reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import UsageError

RESUME = "resume"
CLEAR_AND_RETRY = "clear_and_retry"
REJECT = "reject"
ACTIONS = (RESUME, CLEAR_AND_RETRY, REJECT)


@dataclass(frozen=True)
class Rule:
    """Failure at an inner command in [first, last] with a status word in ``sws`` (empty: any) -> action."""

    action: str
    first: int = 1
    last: int = 0xFFFF
    sws: tuple[int, ...] = ()

    def matches(self, failed_at: int, sw: int) -> bool:
        return self.first <= failed_at <= self.last and (not self.sws or sw in self.sws)


@dataclass
class ProgressTable:
    """The patent's progress management table: which action a failure at inner command k calls for.
    The first matching rule wins; no match: ``default``. An interruption (card pulled, power lost) is
    always resumed: the card rolled the interrupted unit back."""

    rules: list[Rule] = field(default_factory=list)
    default: str = CLEAR_AND_RETRY

    def action(self, failed_at: int, sw: int) -> str:
        for rule in self.rules:
            if rule.matches(failed_at, sw):
                return rule.action
        return self.default

    @classmethod
    def from_json(cls, data: dict | None) -> ProgressTable:
        if not data:
            return cls()
        rules = []
        for r in data.get("rules", []):
            action = r["action"]
            if action not in ACTIONS:
                raise UsageError(f"progress table: unknown action {action!r}; use one of {', '.join(ACTIONS)}")
            first, _, last = str(r.get("commands", "1-65535")).partition("-")
            rules.append(Rule(action, int(first), int(last or first),
                              tuple(int(s, 16) for s in r.get("sw", []))))
        default = data.get("default", CLEAR_AND_RETRY)
        if default not in ACTIONS:
            raise UsageError(f"progress table: unknown default action {default!r}")
        return cls(rules, default)

    def to_json(self) -> dict:
        return {"default": self.default,
                "rules": [{"action": r.action, "commands": f"{r.first}-{r.last}",
                           "sw": [f"{s:04X}" for s in r.sws]} for r in self.rules]}
