"""The operator's page: one read-only, server-rendered HTML page of the caller's issuer (batches and their
progress, cards and their backups, usage records, remote updates, the deny list), behind an admin key.

Signing in: open ``/operator?key=csk_...`` once; an admin key is answered with a cookie holding it (HttpOnly,
SameSite=Strict, Path=/operator, Secure over HTTPS) and a redirect to ``/operator``, so the key leaves the
address bar and history at once. ``Authorization: Bearer csk_...`` works too (scripts, tests). The cookie
holds the key itself, so that no server process keeps a session a second process would need; the key is
checked against the database on every request, so revoking it locks the page at once. ``/operator/logout``
clears the cookie. Every value is escaped (html.escape), the page carries no script (its
Content-Security-Policy refuses any), and nothing on it changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from . import auth, catalogue, deny, issuance, updates, usage
from .db import update_packages, usage_records

router = APIRouter(include_in_schema=False)
COOKIE = "cardsmith_operator"
PATH = "/operator"
LIMIT = 500  # rows shown per section; the API pages through the rest
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; "
           "frame-ancestors 'none'", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #999}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;
font-size:.9em}th{background:#e8edf3}.bar{display:inline-block;width:10em;height:.8em;background:#ddd}
.bar span{display:block;height:100%;background:#2a7}.note{color:#666;font-size:.85em}code{font-size:.9em}"""


def _h(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return escape(str(value), quote=True)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_h(title)}</title>'
           f'<style>{STYLE}</style></head><body>{body}</body></html>')
    return HTMLResponse(doc, status_code=status, headers=HEADERS)


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], raw: set[int] = frozenset()) -> str:
    """A table; every cell escaped except the columns in ``raw`` (markup this module made from escaped parts)."""
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if i in raw else _h(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _more(shown: int, total: int, api: str) -> str:
    return f'<p class="note">{shown} of {total} shown; <code>{_h(api)}</code> lists all.</p>' if total > shown else ""


def _batches(conn: sa.Connection, who: auth.Principal) -> str:
    rows = []
    for b in issuance.list_batches(conn, who)[:LIMIT]:
        c, n = b["counts"], b["records"] or 0
        done = round(100 * c["issued"] / n) if n else 0
        bar = f'<span class="bar" title="{done}% issued"><span style="width:{done}%"></span></span> {done}%'
        rows.append((b["batch_id"], b["profile"], b["sequence"], n, c["issued"], c["reserved"], c["free"], bar,
                     b["created"]))
    if not rows:
        return '<p class="note">No batch yet.</p>'
    return _table(["batch", "profile", "sequence", "records", "issued", "reserved", "free", "progress", "created"],
                  rows, raw={7})


def _cards(conn: sa.Connection, who: auth.Principal) -> str:
    cards = catalogue.cards(conn, who)
    if not cards:
        return '<p class="note">No backup yet.</p>'
    entries = catalogue.entries(conn, who, limit=LIMIT * 4)
    by_card: dict[str, list[dict]] = {}
    for e in entries:
        by_card.setdefault(e["card_id"], []).append(e)
    out = [_table(["card", "backups", "latest sequence"],
                  [(c["card_id"], c["backups"], c["latest_seq"]) for c in cards[:LIMIT]]),
           _more(min(len(cards), LIMIT), len(cards), "GET /v1/cards")]
    for card_id, rows in by_card.items():
        out.append(f"<h3>Card {_h(card_id)}</h3>")
        out.append(_table(["sequence", "type", "key version", "pages", "records", "size", "created", "uploaded by",
                           "digest"],
                          [(e["seq"], e["type"], e["key_version"], e["pages"], e["records"], e["size"], e["created"],
                            e["uploaded_by"], e["digest"][:16] + "…") for e in rows]))
    out.append(_more(len(entries), sum(c["backups"] for c in cards), "GET /v1/backups"))
    return "".join(out)


def _usage(conn: sa.Connection, who: auth.Principal) -> str:
    summary = usage.cards(conn, who, limit=LIMIT)
    if not summary:
        return '<p class="note">No usage record yet.</p>'
    out = [_table(["card", "records", "first counter", "last counter", "missing", "unverified"],
                  [(s["card_id"], s["records"], s["first"], s["last"], s["missing"], s["unverified"])
                   for s in summary])]
    total = conn.execute(sa.select(sa.func.count()).select_from(usage_records)
                         .where(usage_records.c.issuer == who.issuer)).scalar_one()
    recent = conn.execute(sa.select(usage_records).where(usage_records.c.issuer == who.issuer)
                          .order_by(usage_records.c.id.desc()).limit(LIMIT))
    out.append("<h3>Latest records</h3>")
    out.append(_table(["id", "card", "counter", "time", "event", "data", "verification", "terminal", "received"],
                      [(r.id, r.card_id, r.counter, r.time, r.event, r.data, r.verification, r.terminal, r.received)
                       for r in recent]))
    out.append(_more(min(total, LIMIT), total, "GET /v1/usage"))
    return "".join(out)


def _updates(conn: sa.Connection, who: auth.Principal) -> str:
    cards = updates.card_summary(conn, who.issuer, LIMIT)
    if not cards:
        return '<p class="note">No update package yet.</p>'
    out = [_table(["card", "pending", "delivered", "refused"],
                  [(c["card_id"], c["pending"], c["delivered"], c["refused"]) for c in cards])]
    total = conn.execute(sa.select(sa.func.count()).select_from(update_packages)
                         .where(update_packages.c.issuer == who.issuer)).scalar_one()
    recent = conn.execute(sa.select(update_packages).where(update_packages.c.issuer == who.issuer)
                          .order_by(update_packages.c.id.desc()).limit(LIMIT))
    out.append("<h3>Latest packages</h3>")
    out.append(_table(["id", "card", "record", "version", "op", "mode", "bytes", "expiry", "state", "why refused",
                       "deliveries", "uploaded", "delivered"],
                      [(r.id, r.card_id, r.record, r.version, r.op, r.mode, r.payload_bytes, r.expiry, r.state,
                        r.detail or "", r.attempts, r.created, r.delivered or "") for r in recent]))
    out.append(_more(min(total, LIMIT), total, "GET /v1/updates/packages"))
    return "".join(out)


def _deny(conn: sa.Connection, who: auth.Principal) -> str:
    listing = deny.listing(conn, who, None)
    head = f'<p class="note">Version {_h(listing["version"])}.</p>'
    if not listing["entries"]:
        return head + '<p class="note">Nothing denied.</p>'
    return head + _table(["kind", "value", "reason", "since version", "changed", "changed by"],
                         [(e["kind"], e["value"], e["reason"], e["version"], e["changed"], e["changed_by"])
                          for e in listing["entries"]])


def _who(request: Request) -> tuple[auth.Principal | None, str | None]:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    if not token:
        return None, None
    with request.app.state.engine.connect() as conn:
        return auth.authenticate(conn, token), token


def _refused(status: int, why: str) -> HTMLResponse:
    return _page("cardsmith: sign in", f"<h1>cardsmith operator</h1><p>{_h(why)}</p><p>Open <code>{PATH}?key="
                 "csk_...</code> once with an admin key of your issuer (<code>cardsmith server key add --role admin"
                 "</code> grants one); the page then remembers it in a cookie.</p>", status)


@router.get(PATH)
def operator_page(request: Request, key: str | None = None) -> Response:
    if key is not None:  # signing in: check, keep in a cookie, and take the key out of the address
        with request.app.state.engine.connect() as conn:
            who = auth.authenticate(conn, key)
        if who is None:
            return _refused(401, "That key is unknown, revoked or malformed.")
        if who.role != "admin":
            return _refused(403, f"A {who.role} key cannot open this page: it needs an admin key.")
        request.state.key_id = who.key_id
        answer = RedirectResponse(PATH, status_code=303, headers=HEADERS)
        answer.set_cookie(COOKIE, key, httponly=True, samesite="strict", path=PATH,
                          secure=request.url.scheme == "https")
        return answer
    who, _ = _who(request)
    if who is None:
        return _refused(401, "Not signed in (or the key was revoked).")
    request.state.key_id = who.key_id
    if who.role != "admin":
        return _refused(403, f"A {who.role} key cannot open this page: it needs an admin key.")
    with request.app.state.engine.connect() as conn:
        body = (f"<h1>cardsmith issuer {_h(who.issuer)}</h1>"
                f'<p class="note">Read-only, as of this request; signed in as {_h(who.name)} '
                f'(<a href="{PATH}/logout">sign out</a>).</p>'
                f'<h2 id="batches">Batches</h2>{_batches(conn, who)}'
                f'<h2 id="cards">Cards and their backups</h2>{_cards(conn, who)}'
                f'<h2 id="usage">Usage records</h2>{_usage(conn, who)}'
                f'<h2 id="updates">Remote updates</h2>{_updates(conn, who)}'
                f'<h2 id="deny">Deny list</h2>{_deny(conn, who)}')
    return _page(f"cardsmith: {who.issuer}", body)


@router.get(f"{PATH}/logout")
def operator_logout() -> Response:
    answer = _page("cardsmith: signed out", f'<p>Signed out. <a href="{PATH}">Sign in again</a>.</p>')
    answer.delete_cookie(COOKIE, path=PATH)
    return answer
