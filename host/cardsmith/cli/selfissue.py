"""prepare (data preparer), issue / bundle-status (technician), personalise (conventional baseline)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from ..core.errors import UsageError
from .context import Settings, confirm, pass_settings, yes_option

KEY_HELP = "Personalisation key: `dev` (the documented development key) or 32/64 hex digits."


@click.command()
@click.argument("profile_path", metavar="PROFILE", type=click.Path(exists=True, dir_okay=False))
@click.argument("records_path", metavar="RECORDS.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The batch file to write (one sealed bundle per record).")
@click.option("--per-card", "per_card", type=click.Path(file_okay=False),
              help="Also write one batch file per record into this folder.")
@click.option("--key", "key_text", default="dev", show_default=True, envvar="CARDSMITH_PERSO_KEY", help=KEY_HELP)
@click.option("--master-key", "master_text", envvar="CARDSMITH_MASTER_KEY",
              help="Issuer master key (hex) for the profile's {derive = ...} keys.")
@click.option("--sequence", type=int, help="Bundle sequence number (default: the current Unix time).")
@pass_settings
def prepare(settings: Settings, profile_path: str, records_path: str, out_path: str, per_card: str | None,
            key_text: str, master_text: str | None, sequence: int | None) -> None:
    """Build sealed bundles from a personalisation profile and cardholder records (data preparer).

    \b
    Example:  cardsmith prepare profile.toml cardholders.csv -o batch.json
    """
    from ..core.fileio import atomic_write
    from ..issuance.bundle import parse_key
    from ..issuance.profile import Profile, prepare_batch, read_records
    from ..issuance.station import parse_master_key

    profile = Profile.load(profile_path)
    records = read_records(records_path)
    batch = prepare_batch(profile, records, parse_key(key_text), master=parse_master_key(master_text),
                          sequence=sequence)
    atomic_write(out_path, json.dumps(batch, indent=1).encode())
    if per_card:
        for b in batch["bundles"]:
            one = dict(batch, bundles=[b])
            atomic_write(Path(per_card) / f"{b['record_id']}.json", json.dumps(one, indent=1).encode())
    sizes = [len(b["bundle"]) // 2 for b in batch["bundles"]]
    settings.emit({"out": out_path, "bundles": len(sizes), "sequence": batch["sequence"], "bytes": sizes},
                  f"{len(sizes)} bundles (sequence {batch['sequence']}, {min(sizes)}-{max(sizes)} bytes each) "
                  f"-> {out_path}")


@click.command()
@click.argument("batch_path", metavar="BATCH", type=click.Path(exists=True, dir_okay=False))
@click.option("--record", "record_id", help="Issue this record (default: the next one not yet issued).")
@click.option("--count", default=1, show_default=True, help="Cards to issue, one after another.")
@click.option("--no-wait", is_flag=True, help="Do not wait for a card swap between cards (the next card is "
              "already in the reader).")
@click.option("--swap-timeout", default=600.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for each card to leave or arrive.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Issuance log (SQLite).")
@click.option("--clear", "clear_first", is_flag=True, help="CLEAR a half-applied bundle on the card first.")
@click.option("--reissue", is_flag=True, help="Issue a --record the log shows issued already (a replaced card).")
@pass_settings
def issue(settings: Settings, batch_path: str, record_id: str | None, count: int, no_wait: bool,
          swap_timeout: float, log_path: str | None, clear_first: bool, reissue: bool) -> None:
    """Write the card's bundle and START it (technician); resumes a card pulled half way.

    With --count N the station waits between cards for the card to leave the reader and the next one to
    arrive (card events: nothing to press), tells the same card coming back from a new one, and prints one
    line per card as it is done. With --server each record is reserved on the server first (offline: the
    local log, outcomes queued for `cardsmith sync`).

    
    Example:  cardsmith -r "sim 2" issue batch.json      (the next record not issued yet)
              cardsmith -r "Gemalto" issue batch.json --count 20
    """
    from ..issuance import IssuanceLog, IssuingStation, StationRun
    from ..issuance.profile import load_batch
    from ..remote import Outbox, ServerReservations

    batch = load_batch(batch_path)
    with settings.server_client() as server:
        reservations = ServerReservations(server, batch, str(Path(batch_path).resolve()), Outbox(),
                                          settings.notice) if server else None
        station = IssuingStation(batch, IssuanceLog(log_path), settings.open_card, reservations)
        todo = station.todo(record_id, count, reissue=reissue)
        events = None
        if len(todo) > 1 and not no_wait:
            from ..transport.events import watch

            events = watch(settings.reader)

        def say(line: str) -> None:
            click.echo(line, err=True)

        def swap(n: int, entry: dict, previous) -> None:  # noqa: ANN001 - a CardResult
            if events is not None:
                station.wait_for_next(events, previous, entry, say, swap_timeout)

        run = StationRun(log_path=str(station.log.path))
        try:
            for result in station.run(todo, clear_first=clear_first, before_card=swap):
                run.results.append(result)
                if not settings.as_json:
                    click.echo(result.describe())  # as each card is done, not at the end
        finally:
            if events is not None:
                events.close()
    closes = batch.get("steps", [])[-1:] == ["CLOSE_PERSONALISATION"]  # the profile's close (default true)
    if settings.as_json:
        settings.emit({"results": [r.as_json() for r in run.results], "log": run.log_path,
                       "lifecycle": "ISSUED" if closes else "INSTALLED"}, "")
    elif any(r.result == "issued" for r in run.results):
        click.echo("each card issued is now ISSUED: its bundle closed personalisation for good" if closes else
                   "each card issued stays INSTALLED: the profile has close = false (a development card)")
    run.raise_for_rejected()


@click.command("bundle-status")
@pass_settings
def bundle_status_cmd(settings: Settings) -> None:
    """Show where self-issuance stands on the card (no personalisation data is shown).

    \b
    Example:  cardsmith -r "sim 2" bundle-status --json
    """
    from ..issuance import IssuanceSession

    with settings.open_card() as card:
        st = IssuanceSession(card).status()
        card_id = card.info().card_id.hex().upper()
    data = {"card_id": card_id, "status": st.name, "commands": st.count, "committed": st.done, "next": st.next_command,
            "failed_at": st.failed_at or None, "inner_sw": f"{st.inner_sw:04X}" if st.failed_at else None,
            "last_consumed_sequence": st.last_sequence, "store_size": st.store_size,
            "received": st.received, "key_generation": st.key_generation}
    text = (f"card {card_id}: {st.name}, {st.done}/{st.count} committed, next command {st.next_command}"
            + (f", command {st.failed_at} failed with {st.inner_sw:04X}" if st.failed_at else "")
            + f"\nstore {st.received}/{st.store_size} bytes, last consumed sequence {st.last_sequence},"
              f" key generation {st.key_generation}")
    settings.emit(data, text)


@click.command("bundle-clear")
@yes_option
@pass_settings
def bundle_clear(settings: Settings, yes: bool) -> None:
    """CLEAR: erase the bundle and everything personalisation wrote (not after ISSUED).

    \b
    Example:  cardsmith -r "sim 1" bundle-clear --yes
    """
    from ..issuance import IssuanceSession

    confirm("CLEAR erases the bundle and everything personalisation wrote on this card. Clear it?", yes)
    with settings.open_card() as card:
        IssuanceSession(card).clear()
    settings.emit({"cleared": True}, "cleared: the card is blank again")


@click.command()
@click.argument("profile_path", metavar="PROFILE", type=click.Path(exists=True, dir_okay=False))
@click.argument("records_path", metavar="RECORDS.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--record", "record_id", required=True, help="The record to personalise.")
@click.option("--master-key", "master_text", envvar="CARDSMITH_MASTER_KEY", help="Issuer master key (hex).")
@pass_settings
def personalise(settings: Settings, profile_path: str, records_path: str, record_id: str,
                master_text: str | None) -> None:
    """Conventional personalisation, command by command in clear (the baseline self-issuance replaces).

    \b
    Example:  cardsmith personalise profile.toml cardholders.csv --record E1001
    """
    from ..issuance import IssuanceSession
    from ..issuance.profile import Profile, build_plan, read_records
    from ..issuance.station import parse_master_key

    profile = Profile.load(profile_path)
    records = [r for r in read_records(records_path) if r.get(profile.record_id) == record_id]
    if not records:
        raise UsageError(f"record {record_id!r} is not in {records_path}")
    plan = build_plan(profile, records[0], parse_master_key(master_text))
    with settings.open_card() as card:
        IssuanceSession(card).personalise_conventional(plan.commands)
        exchanges = card.stats.exchanges
    settings.emit({"record_id": record_id, "commands": len(plan.commands), "exchanges": exchanges},
                  f"{record_id}: {len(plan.commands)} commands sent in clear ({exchanges} exchanges)")


@click.group()
def issuance() -> None:
    """The issuance log: which card received which record, and how it went."""


@issuance.command("log")
@click.option("--record", "record_id", help="Only this record.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Issuance log (default: "
              "$CARDSMITH_HOME/issuance.sqlite).")
@pass_settings
def issuance_log(settings: Settings, record_id: str | None, log_path: str | None) -> None:
    """List the issuance log, oldest first.

    \b
    Example:  cardsmith issuance log --record E1001
    """
    from ..issuance import IssuanceLog

    entries = IssuanceLog(log_path).entries(record_id)
    rows = [f"{e.time}  {e.record_id:<12} card {e.card_id}  {e.result:<11} {e.profile}/{e.sequence}"
            + (f"  command {e.failed_at} failed with {e.sw}" if e.failed_at else "")
            + (f"  ({e.actions})" if e.actions else "") for e in entries]
    settings.emit([dataclasses.asdict(e) for e in entries], "\n".join(rows) if rows else "the issuance log is empty")
