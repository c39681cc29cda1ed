"""Finding a reader by name substring (as gp and ykman do), opening it, and opening the applet on its card."""

from __future__ import annotations

import os

from ..core.card import Card, TraceSink
from ..core.errors import AmbiguousReaderError, EnvironmentProblem, NoReaderError, ReaderError
from . import ReaderInfo, Transport
from .sim import SIM_READER_PREFIX, sim_reader_name

DEFAULT_SIM_CARDS = 2


def _sim_readers() -> list[ReaderInfo]:
    from . import simulator

    state = simulator.service_state()
    if not state:
        dead = simulator.dead_service()
        if dead:
            return [ReaderInfo(sim_reader_name(i), "sim", False, None, "simulator service died: `cardsmith sim "
                               "start` again") for i in range(int(dead.get("cards", DEFAULT_SIM_CARDS)))]
        return [ReaderInfo(sim_reader_name(i), "sim", True, None, "embedded simulator, started on demand")
                for i in range(DEFAULT_SIM_CARDS)]
    out = []
    for slot in range(int(state["cards"])):
        transport = simulator.service_transport(slot)
        assert transport is not None
        note = f"simulator service, port {state['port']}"
        try:
            out.append(ReaderInfo(transport.name, "sim", True, transport.atr(), note))
        except ReaderError:  # the card is ejected
            out.append(ReaderInfo(transport.name, "sim", False, None, note))
        finally:
            transport.close()
    return out


def list_readers() -> tuple[list[ReaderInfo], str | None]:
    """All readers (simulated first, then PC/SC) and, when PC/SC is unavailable, why."""
    from . import pcsc

    readers = _sim_readers()
    try:
        readers += pcsc.describe_readers()
        problem = None
    except (pcsc.PcscUnavailable, EnvironmentProblem) as exc:
        problem = str(exc)
    return readers, problem


def _pcsc_names() -> tuple[list[str], str | None]:
    from . import pcsc

    try:
        return pcsc.reader_names(), None
    except (pcsc.PcscUnavailable, EnvironmentProblem) as exc:
        return [], str(exc)


def resolve(spec: str) -> tuple[str, str]:
    """(kind, full name) of the one reader whose name contains ``spec`` (case-insensitive)."""
    from . import simulator

    state = simulator.service_state()
    sim_count = int(state["cards"]) if state else DEFAULT_SIM_CARDS
    candidates = [("sim", sim_reader_name(i)) for i in range(sim_count)]
    pcsc_names, problem = _pcsc_names()
    candidates += [("pcsc", n) for n in pcsc_names]
    exact = [c for c in candidates if c[1].lower() == spec.lower()]
    matches = exact or [c for c in candidates if spec.lower() in c[1].lower()]
    listing = "\n".join(f"  {name}" for _, name in candidates) or "  (none)"
    if not matches:
        hint = f"\nPC/SC: {problem}" if problem else ""
        raise NoReaderError(f"no reader matches {spec!r}. Readers:\n{listing}{hint}")
    if len(matches) > 1:
        names = "\n".join(f"  {name}" for _, name in matches)
        raise AmbiguousReaderError(
            f"{len(matches)} readers match {spec!r}:\n{names}\nname one of them more precisely with --reader"
        )
    return matches[0]


def open_reader(spec: str | None = None) -> Transport:
    """Opens the card in the named reader. No name: ``CARDSMITH_READER``, else simulated card 0."""
    from . import simulator

    spec = spec or os.environ.get("CARDSMITH_READER") or None
    if spec is None:
        kind, name = "sim", sim_reader_name(0)
    else:
        kind, name = resolve(spec)
    if kind == "pcsc":
        from .pcsc import PcscTransport

        return PcscTransport(name)
    slot = int(name[len(SIM_READER_PREFIX):])
    service = simulator.service_transport(slot)
    if service is not None:
        return service
    dead = simulator.dead_service()
    if dead:  # never fall back silently to a fresh card: the user's cards were in that service
        raise NoReaderError(f"the simulator service (pid {dead.get('pid')}, started {dead.get('started', '?')}) is "
                            "no longer running, and its cards are gone: `cardsmith sim start` starts new ones "
                            f"(`cardsmith sim stop` forgets the old one; its log: {simulator.log_file()})")
    return simulator.EphemeralSimulator().transport(slot, owns=True)


def open_card(reader: str | None = None, trace: TraceSink | None = None) -> Card:
    """Opens the reader (see :func:`open_reader`) and selects the cardsmith applet on its card."""
    card = Card(open_reader(reader), trace=trace)
    try:
        card.select()
    except BaseException:
        card.close()
        raise
    return card
