"""readers, info, apdu."""

from __future__ import annotations

import click

from ..core.errors import UsageError
from .context import Settings, pass_settings


@click.command()
@pass_settings
def readers(settings: Settings) -> None:
    """List readers (simulated and PC/SC) with card presence and ATR.

    \b
    Example:  cardsmith readers --json
    """
    from ..transport.readers import list_readers

    found, problem = list_readers()
    rows = [{"name": r.name, "kind": r.kind, "card": r.card_present, "atr": r.atr.hex().upper() if r.atr else None,
             "note": r.note} for r in found]
    lines = []
    for r in rows:
        state = ("card " + (r["atr"] or "present")) if r["card"] else "no card"
        note = f"  ({r['note']})" if r["note"] else ""
        lines.append(f"{r['name']:<32} {state}{note}")
    if problem:
        lines.append(f"PC/SC readers not listed: {problem}")
    settings.emit({"readers": rows, "pcsc_problem": problem}, "\n".join(lines))


@click.command()
@pass_settings
def doctor(settings: Settings) -> None:
    """Check java, the simulator, pcscd, readers and the card (applet and version); say what to fix.

    \b
    Example:  cardsmith doctor            (simulated card 0)
              cardsmith -r "Gemalto" doctor   (a PC/SC reader's card)
    """
    from ..core.errors import EnvironmentProblem
    from ..transport.doctor import FAIL, diagnose

    checks = diagnose(settings.reader)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<24} {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':<30} fix: {c.fix}")
    settings.emit({"checks": [c.as_json() for c in checks]}, "\n".join(lines))
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        raise EnvironmentProblem(f"doctor: {', '.join(failed)} failed (the fix is printed beside each)")


@click.command()
@pass_settings
def info(settings: Settings) -> None:
    """Show the card's applet version, id, lifecycle, memory and data-area geometry.

    \b
    Example:  cardsmith -r "sim 1" info --json
    """
    with settings.open_card() as card:
        data = card.info()
        reader = card.transport.name
    j = data.as_json()
    text = "\n".join([
        f"reader            {reader}",
        f"applet version    {j['applet_version']}",
        f"card id           {j['card_id']}",
        f"lifecycle         {j['lifecycle']}",
        f"capabilities      {', '.join(j['capabilities']) or '-'}",
        f"algorithms        {', '.join(j['algorithms']) or '-'}",
        f"persistent free   {data.persistent_free} bytes",
        f"transient free    {data.transient_reset_free} (reset) / {data.transient_deselect_free} (deselect) bytes",
        f"data area         {data.page_count} pages x {data.page_size} bytes"
        f" = {data.page_count * data.page_size} bytes",
        f"buffers           command {data.command_buffer}, response {data.response_buffer} bytes",
        f"transactions      commit buffer {_or_unknown(data.commit_capacity)} bytes,"
        f" largest write {_or_unknown(data.max_write)} bytes",
    ])
    settings.emit({"reader": reader, **j}, text)


def _or_unknown(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _parse_hex(text: str) -> bytes:
    from ..core.keys import parse_hex

    data = parse_hex(text, "the APDU")
    if len(data) < 4:
        raise UsageError(f"an APDU needs at least CLA INS P1 P2 (4 bytes): {text!r}")
    return data


@click.command()
@click.argument("apdus", nargs=-1, required=True)
@click.option("--no-select", is_flag=True, help="Do not select the cardsmith applet first.")
@click.option("--strict", is_flag=True, help="Exit with code 4 if any status word is not 9000.")
@pass_settings
def apdu(settings: Settings, apdus: tuple[str, ...], no_select: bool, strict: bool) -> None:
    """Send raw APDUs given in hex, e.g. `cardsmith apdu 8030000000`. 61xx is followed with GET RESPONSE.

    \b
    Example:  cardsmith -v apdu 8030000000        (GET INFO, with the trace)
    """
    from ..core.apdu import sw_message
    from ..core.card import Card
    from ..transport.readers import open_reader
    from .exitcodes import EXIT_CARD_REFUSED

    commands = [_parse_hex(a) for a in apdus]
    results = []
    card = Card(open_reader(settings.reader), trace=settings.trace if settings.verbose else None)
    with card:
        if not no_select:
            card.select()
        for command in commands:
            response = card.transmit_raw(command)
            results.append({"command": command.hex().upper(), "data": response.data.hex().upper(),
                            "sw": f"{response.sw:04X}", "meaning": sw_message(response.sw)})
    text = "\n".join(f"> {r['command']}\n< {r['data']} {r['sw']} ({r['meaning']})".replace("<  ", "< ")
                     for r in results)
    settings.emit(results, text)
    if strict and any(r["sw"] != "9000" for r in results):
        raise SystemExit(EXIT_CARD_REFUSED)
