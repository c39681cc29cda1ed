"""The operator's page: each section shows what the API holds, every value escaped, refused without an admin
key; and the page in headless Debian chromium (driven by Playwright) from the real server process, with a
screenshot checked: a PNG of the viewport's size that is not blank, and the page's text holds the batch."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import httpx
import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import client

from cardsmith.core.card import Card

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backup"))
from backup_helpers import Store, personalise, write_page  # noqa: E402 - the backup group's helpers

CHROMIUM = "/usr/bin/chromium"
# polyglot.md: headless Debian chromium as root on a closed network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROFILE = 'Spring <b>"hires"</b> & co'
MARKUP = "<script>alert(1)</script>"
REASON = "lost <i>on the bus</i> & 'stolen'"
CARD = "00000000000000C1"
DENIED = "00000000000000C2"


@pytest.fixture(scope="module")
def filled(request: pytest.FixtureRequest, deployment, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """A batch half issued, one card's real full backup (a simulated card's), usage records with a gap, and a
    deny-list entry, all through the API."""
    transport = request.getfixturevalue("simulator").transport(3)
    transport.replace_card(b"")
    card = Card(transport)
    card.select()
    personalise(card)
    write_page(card, 0, 0x41)
    _, blob = Store(tmp_path_factory.mktemp("store")).backup(card, "full")
    card.close()
    data = blob.encode()
    server = deployment.server
    with client(server, deployment.station) as desk, client(server, deployment.terminal) as term, \
            client(server, deployment.admin) as admin:
        assert desk.put(f"/v1/backups/{hashlib.sha256(data).hexdigest()}", content=data,
                        headers={"Content-Type": "application/octet-stream"}).status_code == 201
        batch = desk.post("/v1/batches", json={
            "format": "cardsmith-batch-1", "profile": PROFILE, "sequence": 1, "steps": ["write"],
            "bundles": [{"record_id": f"R{i}", "card_id": None, "bundle": "00"} for i in range(4)]}).json()
        for n in range(2):
            r = desk.post(f"/v1/batches/{batch['batch_id']}/reservations", json={}).json()
            assert desk.post(f"/v1/reservations/{r['reservation']}",
                             json={"card_id": f"{0xA0 + n:016X}", "result": "issued"}).status_code == 200
        records = [{"card_id": CARD, "counter": c, "time": "2026-01-02T03:04:05+00:00", "event": "payment",
                    "data": {"note": MARKUP, "tag": "<tag>"}} for c in (1, 2, 5)]
        assert term.post("/v1/usage", json={"records": records}).json()["stored"] == 3
        assert admin.put(f"/v1/deny/card/{DENIED}", json={"reason": REASON}).status_code == 201
        api = {"batches": admin.get("/v1/batches").json(), "cards": admin.get("/v1/cards").json(),
               "backups": admin.get("/v1/backups").json(), "usage": admin.get("/v1/usage/cards").json(),
               "deny": admin.get("/v1/deny").json()}
    return api


def _section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    end = html.find("<h2 ", start)
    return html[start:end if end > 0 else None]


def test_each_section_shows_what_the_api_holds_escaped(deployment, filled) -> None:
    with client(deployment.server, deployment.admin) as admin:
        page = admin.get("/operator")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    html = page.text
    assert "<script" not in html and "<b>" not in html and "<i>" not in html  # nothing the API holds is markup

    batches = _section(html, "batches")
    for b in filled["batches"]:
        assert "Spring &lt;b&gt;&quot;hires&quot;&lt;/b&gt; &amp; co" in batches
        assert f"<td>{b['batch_id']}</td>" in batches and f"<td>{b['records']}</td>" in batches
        assert b["counts"] == {"free": 2, "reserved": 0, "issued": 2} and "50%" in batches

    cards = _section(html, "cards")
    assert [c["card_id"] for c in filled["cards"]] and all(c["card_id"] in cards for c in filled["cards"])
    for e in filled["backups"]:
        assert e["digest"][:16] in cards and f"<td>{e['size']}</td>" in cards and e["type"] in cards

    used = _section(html, "usage")
    (summary,) = filled["usage"]
    assert summary["card_id"] == CARD and summary["missing"] == 2
    assert f"<td>{CARD}</td><td>3</td><td>1</td><td>5</td><td>2</td><td>3</td>" in used
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in used and "&lt;tag&gt;" in used

    denied = _section(html, "deny")
    assert [e["value"] for e in filled["deny"]["entries"]] == [DENIED] and DENIED in denied
    assert "lost &lt;i&gt;on the bus&lt;/i&gt; &amp; &#x27;stolen&#x27;" in denied


def test_refused_without_an_admin_key_and_signing_in_sets_an_httponly_cookie(deployment, filled) -> None:
    url = deployment.server.url
    assert httpx.get(f"{url}/operator").status_code == 401
    assert httpx.get(f"{url}/operator", cookies={"cardsmith_operator": "csk_nonsense"}).status_code == 401
    for key in (deployment.station, deployment.terminal):
        assert httpx.get(f"{url}/operator", headers={"Authorization": f"Bearer {key}"}).status_code == 403
        assert httpx.get(f"{url}/operator", params={"key": key}).status_code == 403
    assert PROFILE not in httpx.get(f"{url}/operator", params={"key": deployment.other_station}).text

    with httpx.Client(base_url=url) as browser:
        signed = browser.get("/operator", params={"key": deployment.admin})
        assert signed.status_code == 303 and signed.headers["location"] == "/operator"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/operator" in cookie
        page = browser.get("/operator")
        assert page.status_code == 200 and "Spring &lt;b&gt;" in page.text
        assert browser.get("/operator/logout").status_code == 200
        assert browser.get("/operator").status_code == 401
    assert deployment.admin not in "\n".join(deployment.server.log_lines())  # the key is never logged


def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and unfiltered rows of an 8-bit RGB/RGBA non-interlaced PNG (what
    chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, bpp, rows


def test_the_page_in_headless_chromium_with_a_screenshot(deployment, filled, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0:
            pytest.skip("Debian chromium is missing and setup needs root to install it: sudo bash scripts/setup.sh")
        pytest.fail("Debian chromium is missing: bash scripts/setup.sh installs it")
    from playwright.sync_api import sync_playwright

    width, height = 1200, 900
    shot = tmp_path / "operator.png"
    profile = tempfile.mkdtemp(prefix="cardsmith-chromium-")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": width, "height": height})
            try:
                page = browser.new_page()
                answer = page.goto(f"{deployment.server.url}/operator?key={deployment.admin}")
                assert answer is not None and answer.status == 200 and page.url.endswith("/operator")
                text = page.inner_text("body")
                page.screenshot(path=str(shot))
                cookies = {c["name"]: c for c in browser.cookies()}
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert PROFILE in text and "Batches" in text and DENIED in text and MARKUP in text  # shown as text, not run
    assert cookies["cardsmith_operator"]["httpOnly"] is True
    w, h, bpp, rows = _png_pixels(shot.read_bytes())
    assert (w, h) == (width, height)
    colours = {row[i:i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 4)}
    assert len(colours) > 4, f"the screenshot is blank ({len(colours)} colours)"
