"""`cardsmith doctor`: what the README's troubleshooting section describes, checked, each with what to fix.

Checks, in order: java, the simulator build, the simulator service, pyscard, pcscd, the PC/SC readers and
their cards (listed without disturbing a session: SCARD_LEAVE_CARD), and the card in the reader you would use
(`--reader`, else simulated card 0): applet present and its version. Only that one card is selected; other
readers are only listed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..core.errors import CardsmithError

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn (works, but something is missing for some uses), fail
    detail: str
    fix: str = ""

    def as_json(self) -> dict:
        return asdict(self)


def diagnose(reader: str | None = None) -> list[Check]:
    from . import pcsc, simulator
    from .readers import open_card

    checks: list[Check] = []
    try:
        checks.append(Check("java", OK, simulator.java()))
    except CardsmithError as exc:
        checks.append(Check("java", FAIL, str(exc), "install a JDK 17: `make setup` (as root) does it"))
    try:
        checks.append(Check("simulator build", OK, simulator.classpath()))
    except CardsmithError as exc:
        checks.append(Check("simulator build", FAIL, str(exc), "`make setup` (or `ant compile`)"))

    state = simulator.service_state()
    dead = simulator.dead_service()
    if state:
        checks.append(Check("simulator service", OK, f"running: {state['cards']} cards, pid {state['pid']}, "
                                                     f"port {state['port']}"))
    elif dead:
        checks.append(Check("simulator service", FAIL, f"died (pid {dead.get('pid')}); its cards are gone",
                            "`cardsmith sim stop`, then `cardsmith sim start`"))
    else:
        checks.append(Check("simulator service", OK, "not running: each command starts a simulator for itself",
                            "`cardsmith sim start` keeps simulated cards between commands"))

    try:
        pcsc._pyscard()
        checks.append(Check("pyscard", OK, "installed"))
        try:
            names = pcsc.reader_names()
            checks.append(Check("pcscd", OK, "reachable"))
            if not names:
                checks.append(Check("PC/SC readers", WARN, "none", "plug in a CCID reader (`lsusb` shows it)"))
            for r in pcsc.describe_readers():
                if r.card_present:
                    checks.append(Check(f"reader {r.name}", OK, f"card present, ATR {r.atr.hex().upper()}"
                                        if r.atr else "card present"))
                else:
                    checks.append(Check(f"reader {r.name}", WARN, "no card",
                                        "insert a card, chip first and facing the contacts"))
        except CardsmithError as exc:
            checks.append(Check("pcscd", WARN, str(exc), "`sudo systemctl start pcscd` (in a container: "
                                                         "`sudo pcscd --foreground &`)"))
    except CardsmithError as exc:
        checks.append(Check("pyscard", WARN, str(exc), "`make setup` (needs swig and libpcsclite-dev)"))

    if not any(c.status == FAIL and c.name in ("java", "simulator build", "simulator service") for c in checks) \
            or reader:
        checks.append(_probe(reader, open_card))
    return checks


def _probe(reader: str | None, open_card) -> Check:  # noqa: ANN001 - readers.open_card
    name = f"card in {reader or 'simulated card 0'}"
    try:
        with open_card(reader) as card:
            info = card.info()
    except CardsmithError as exc:
        fix = ("load the applet (README: Building the CAP file and loading it)" if "not on this card" in str(exc)
               else "see the message; `cardsmith readers` lists the readers")
        return Check(name, FAIL, str(exc).splitlines()[0], fix)
    version = ".".join(map(str, info.version))
    return Check(name, OK, f"cardsmith applet {version}, card {info.card_id.hex().upper()}, {info.lifecycle_name}")
