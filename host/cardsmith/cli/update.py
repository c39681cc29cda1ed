"""update (the client's chain against the issuer server; the card's records) and the issuer's update
commands (`issuer sign-update`, `issuer update-service`), docs/update.md."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import click

from ..core.errors import BadDataError, UsageError
from .context import Settings, pass_settings, secret, secret_file_option


def issuer_key_from(path: Path) -> bytes:
    """The issuer's public key a client was given: a file with the point in hex (`cardsmith issuer init` prints
    it) or any certificate file of the issuer (its ISSUER KEY block)."""
    from ..core.crypto import POINT_LENGTH, public_key_from_point
    from ..trust.credential import Credential

    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the issuer key file {path} ({exc.strerror})") from exc
    if b"-----BEGIN CARDSMITH" in text:
        return Credential.parse(text, str(path)).issuer_key
    try:
        point = bytes.fromhex(text.decode("ascii", "replace").strip())
    except ValueError:
        raise BadDataError(f"{path} holds neither an issuer public key in hex nor a cardsmith certificate "
                           "file") from None
    if len(point) != POINT_LENGTH:
        raise BadDataError(f"{path}: an issuer public key has {POINT_LENGTH} bytes, this has {len(point)}")
    public_key_from_point(point)
    return point


def _pin(pin_from_env: str | None, pin_file: Path | None) -> str:
    if pin_from_env:
        value = os.environ.get(pin_from_env)
        if not value:
            raise UsageError(f"--pin-from-env {pin_from_env}: that environment variable is not set or empty")
        return value
    return secret(None, "PIN", "CARDSMITH_PIN", file=pin_file, file_option="--pin-file")


@click.group(invoke_without_command=True)
@click.option("--issuer-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The issuer's public key (hex file, or any certificate file of the issuer): the card must be "
                   "its. Default: $CARDSMITH_ISSUER_KEY_FILE.")
@click.option("--pin-from-env", metavar="VAR", help="Read the holder PIN from environment variable VAR "
              "(unattended runs, e.g. at network login); else --pin-file, $CARDSMITH_PIN, else asked.")
@secret_file_option("pin", "holder PIN")
@click.pass_context
def update(ctx: click.Context, issuer_key: Path | None, pin_from_env: str | None, pin_file: Path | None) -> None:
    """Fetch and apply the issuer's updates for this card from the server (--server); subcommands read the
    card's records. Prints each step of the chain, then what changed (record ids and versions, never data).

    \b
    Example:  cardsmith --server https://issuer.example:8470 update --issuer-key issuer.pub
    """
    if ctx.invoked_subcommand is not None:
        return
    settings: Settings = ctx.obj
    from ..update.chain import run_update

    key_path = issuer_key or (Path(os.environ["CARDSMITH_ISSUER_KEY_FILE"])
                              if os.environ.get("CARDSMITH_ISSUER_KEY_FILE") else None)
    if key_path is None:
        raise UsageError("the client needs the issuer's public key: --issuer-key FILE or $CARDSMITH_ISSUER_KEY_FILE")
    point = issuer_key_from(key_path)
    pin = _pin(pin_from_env, pin_file)
    with settings.server_client(required=True) as server, settings.open_card() as card:
        assert server is not None
        def show(step: str, detail: str) -> None:
            if not settings.as_json:  # --json: stdout is one document, the steps are in it as changes
                click.echo(f"{step}: {detail}")

        result = run_update(card, server, point, pin, show)
    lines = [f"card {result.card_id}: " + (f"{len(result.changes)} update(s)" if result.changes else
                                           "no update pending")]
    lines += [f"  record {c.record} version {c.version} {c.op} ({c.mode}): {c.result}"
              + (f": {c.detail}" if c.detail else "") for c in result.changes]
    settings.emit(result.as_json(), "\n".join(lines))
    if any(c.result == "refused" for c in result.changes):
        raise BadDataError("the card refused an update (listed above): the issuer must sign a new package")


@update.command()
@pass_settings
def status(settings: Settings) -> None:
    """The card's update records: state, version, length (no PIN needed, no data shown).

    \b
    Example:  cardsmith update status
    """
    from ..update.session import UpdateSession

    with settings.open_card() as card:
        st = UpdateSession(card).status()
    lines = [f"update certificate: {'stored' if st.certified else 'none (personalise with `issuer enrol`)'}; "
             f"{st.record_count} records of up to {st.record_size} bytes"]
    lines += [f"  record {r.record}: {r.state_name}, version {r.version}, {r.length} bytes" for r in st.records]
    settings.emit(st.as_json(), "\n".join(lines))


@update.command()
@pass_settings
def certificate(settings: Settings) -> None:
    """Print the card's update certificate in hex (the issuer's CSV for `issuer sign-update --cards`).

    \b
    Example:  cardsmith update certificate
    """
    from ..update.session import UpdateSession

    with settings.open_card() as card:
        cert = UpdateSession(card).certificate()
    settings.emit({"card_id": cert.card_id.hex().upper(), "update_certificate": cert.encode().hex()},
                  cert.encode().hex())


@update.command()
@click.argument("record", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the record's data (it is never printed).")
@click.option("--pin-from-env", metavar="VAR", help="Read the holder PIN from environment variable VAR.")
@secret_file_option("pin", "holder PIN")
@pass_settings
def read(settings: Settings, record: int, out: Path, pin_from_env: str | None, pin_file: Path | None) -> None:
    """Write an applied (mode 1) record's data to a file, after the holder PIN.

    \b
    Example:  cardsmith update read 0 --out password.txt
    """
    from ..core.fileio import atomic_write
    from ..duplication.session import DuplicationSession
    from ..update.session import UpdateSession

    pin = _pin(pin_from_env, pin_file)
    with settings.open_card() as card:
        DuplicationSession(card).verify_pin(pin)
        data = UpdateSession(card).read_record(record)
    atomic_write(out, data)
    settings.emit({"record": record, "bytes": len(data), "out": str(out)}, f"record {record}: {len(data)} bytes "
                  f"written to {out}")


# ---------------------------------------------------------------- the issuer's side (cardsmith issuer ...)

@click.command("sign-update")
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True, help="The issuer's root key.")
@click.option("--card-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="One card: a file with its update certificate in hex (`cardsmith update certificate`).")
@click.option("--cards", type=click.Path(dir_okay=False, path_type=Path),
              help="Many cards: a CSV with a column update_certificate (hex), one row per card.")
@click.option("--record", type=click.IntRange(0, 255), required=True, help="The record on the card.")
@click.option("--op", type=click.Choice(["add", "replace", "delete"]), required=True)
@click.option("--version", "version", type=click.IntRange(1, 0xFFFFFFFF), required=True,
              help="Above the record's current version (the card refuses anything else).")
@click.option("--expiry", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="The last day the card accepts the package (YYYY-MM-DD).")
@click.option("--mode", type=click.Choice(["apply", "store"]), default="apply", show_default=True,
              help="apply: decrypted and written at delivery; store: kept encrypted, decrypted at each use.")
@click.option("--payload-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The record's new data (not for delete).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the packages (<card id>-r<record>-v<version>.pkg).")
@click.option("--upload", is_flag=True, help="Also upload each package to the issuer server (--server).")
@pass_settings
def sign_update(settings: Settings, key_path: Path, card_cert: Path | None, cards: Path | None, record: int, op: str,
                version: int, expiry: datetime.datetime, mode: str, payload_file: Path | None, out: Path,
                upload: bool) -> None:
    """Build and sign update packages offline, each encrypted to one card (the server cannot read or forge one).

    \b
    Example:  cardsmith issuer sign-update --key issuer.key --cards cards.csv --record 0 --op replace \\
                --version 2 --expiry 2027-06-30 --payload-file new-password.txt --out packages/ --upload
    """
    from ..core.fileio import atomic_write
    from ..trust.issuer import load_issuer
    from ..update.issuer import UpdateSpec, load_certificates_csv
    from ..update.issuer import sign_update as sign_one
    from ..update.package import UpdateCertificate
    from .trust import ISSUER_PASSPHRASE, passphrase

    if (card_cert is None) == (cards is None):
        raise UsageError("give one card with --card-cert FILE or many with --cards CSV")
    if op == "delete" and payload_file is not None:
        raise UsageError("a delete carries no payload: leave out --payload-file")
    if op != "delete" and payload_file is None:
        raise UsageError(f"an {op} needs the record's data: --payload-file FILE")
    try:
        payload = payload_file.read_bytes() if payload_file else b""
    except OSError as exc:
        raise UsageError(f"cannot read {payload_file} ({exc.strerror})") from exc
    if card_cert is not None:
        try:
            text = card_cert.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read {card_cert} ({exc.strerror})") from exc
        try:
            certs = [UpdateCertificate.parse(bytes.fromhex(text))]
        except ValueError:
            raise BadDataError(f"{card_cert} is not an update certificate in hex") from None
    else:
        assert cards is not None
        certs = load_certificates_csv(cards)
    root = load_issuer(key_path, passphrase(ISSUER_PASSPHRASE, f"the issuer key {key_path}"))
    spec = UpdateSpec(record, op, version, expiry.date(), payload, mode)
    packages = [sign_one(root, cert, spec) for cert in certs]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for pkg in packages:
        path = out / f"{pkg.card_id.hex().upper()}-r{pkg.record}-v{pkg.version}.pkg"
        atomic_write(path, pkg.encode())
        rows.append(pkg.summary() | {"file": str(path), "uploaded": False})
    if upload:
        with settings.server_client(required=True) as server:
            assert server is not None
            for row, pkg in zip(rows, packages, strict=True):
                entry, _new = server.upload_update(pkg.encode())
                row["uploaded"], row["server_id"] = True, entry["id"]
    text = "\n".join(f"card {r['card_id']} record {r['record']} version {r['version']} {r['op']} ({r['mode']}, "
                     f"{r['payload_bytes']} bytes): {r['file']}" + (" uploaded" if r["uploaded"] else "")
                     for r in rows)
    settings.emit(rows, text)


@click.command("update-service")
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True, help="The issuer's root key.")
@click.option("--days", type=int, default=90, show_default=True, help="Validity of the service's certificate.")
@pass_settings
def update_service(settings: Settings, key_path: Path, days: int) -> None:
    """Set up the server's update service (an admin key): its key, made on the server, certified by the issuer.

    \b
    Example:  cardsmith --server http://127.0.0.1:8470 issuer update-service --key issuer.key  (admin key)
    """
    from ..trust.issuer import load_issuer
    from .trust import ISSUER_PASSPHRASE, passphrase

    root = load_issuer(key_path, passphrase(ISSUER_PASSPHRASE, f"the issuer key {key_path}"))
    with settings.server_client(required=True) as server:
        assert server is not None
        point = bytes.fromhex(server.update_service_key()["public_key"])
        cert = root.certify(point, "service", 0, days=days).certificate
        view = server.put_update_service(cert.encode(), root.public_key)
    settings.emit(view, f"update service ready: key {point.hex()[:16].upper()}... certified until {cert.expiry}")
