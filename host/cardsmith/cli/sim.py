"""cardsmith sim start|status|stop|eject|insert: the simulated cards that keep state between commands."""

from __future__ import annotations

import click

from .context import Settings, pass_settings


@click.group()
def sim() -> None:
    """Start, inspect and stop the simulated cards (jCardSim in a background JVM).

    While the service runs, every command without --reader uses its card 0, and cards keep their
    contents between commands. `sim stop` ends it: the simulated cards and their contents are gone.
    """


@sim.command()
@click.option("--cards", default=2, show_default=True, type=click.IntRange(1, 8), help="Simulated cards.")
@click.option("--page-size", type=click.Choice(["16", "32", "64", "128", "256"]), help="Data-area page size.")
@click.option("--pages", "page_count", type=click.IntRange(1, 512), help="Data-area page count.")
@click.option("--vpcd", metavar="HOST:PORT", help="Also plug the cards into vpcd (PC/SC), slot i at PORT+i.")
@pass_settings
def start(settings: Settings, cards: int, page_size: str | None, page_count: int | None, vpcd: str | None) -> None:
    """Start the simulator service in the background.

    \b
    Example:  cardsmith sim start --cards 6
    """
    from ..transport import simulator

    state = simulator.start_service(simulator.SimOptions(
        cards=cards, page_size=int(page_size) if page_size else None, page_count=page_count, vpcd=vpcd))
    verb = "already running" if state.get("already_running") else "started"
    settings.emit(state, f"simulator {verb}: {state['cards']} cards, pid {state['pid']}, port {state['port']}"
                  + (f", vpcd {state['vpcd']}" if state.get("vpcd") else ""))


@sim.command()
@pass_settings
def status(settings: Settings) -> None:
    """Say whether the simulator service runs, and with which cards.

    \b
    Example:  cardsmith sim status --json
    """
    from ..transport import simulator

    state = simulator.service_state()
    if not state:
        dead = simulator.dead_service()
        text = (f"simulator service died (pid {dead.get('pid')}): its cards are gone; `cardsmith sim start` "
                "starts new ones" if dead else "simulator not running (start it with `cardsmith sim start`)")
        settings.emit({"running": False, "died": bool(dead)}, text)
        raise SystemExit(3)
    settings.emit({"running": True, **state},
                  f"simulator running: {state['cards']} cards, pid {state['pid']}, port {state['port']}")


@sim.command()
@pass_settings
def stop(settings: Settings) -> None:
    """Stop the simulator service (its cards and their contents are gone).

    \b
    Example:  cardsmith sim stop
    """
    from ..transport import simulator

    stopped = simulator.stop_service()
    settings.emit({"stopped": stopped}, "simulator stopped" if stopped else "simulator was not running")


def _slot_transport(slot: int):
    from ..core.errors import NoReaderError
    from ..transport import simulator

    transport = simulator.service_transport(slot)
    if transport is None:  # no service, no simulated reader to take a card out of: exit 3 like any missing reader
        raise NoReaderError("the simulator service is not running, so there is no simulated reader: "
                            "`cardsmith sim start` first")
    return transport


@sim.command()
@click.argument("slot", type=int, default=0)
@pass_settings
def eject(settings: Settings, slot: int) -> None:
    """Take simulated card SLOT out of its reader (to try what a pulled card does).

    \b
    Example:  cardsmith sim eject 1
    """
    transport = _slot_transport(slot)
    try:
        transport.eject()
    finally:
        transport.close()
    settings.emit({"slot": slot, "present": False}, f"card {slot} ejected")


@sim.command()
@click.argument("slot", type=int, default=0)
@click.option("--new", "new_card", is_flag=True, help="A new blank card instead (new card id), as at an issuing desk.")
@pass_settings
def insert(settings: Settings, slot: int, new_card: bool) -> None:
    """Put simulated card SLOT back (a power-on reset), or a new blank card with --new.

    \b
    Example:  cardsmith sim eject 1 && cardsmith sim insert 1 --new
    """
    transport = _slot_transport(slot)
    try:
        if new_card:
            transport.replace_card()  # a new card in the slot, then into the reader
            transport.insert()
        else:
            transport.insert()
    finally:
        transport.close()
    settings.emit({"slot": slot, "present": True, "new": new_card},
                  f"{'a new blank card' if new_card else f'card {slot}'} inserted in slot {slot}")
