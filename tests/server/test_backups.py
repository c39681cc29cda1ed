"""The backup catalogue through HTTP, with backups a simulated card really made: content-addressed idempotent
upload, never a row overwritten, the chain per card, orphan differentials and altered files refused."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import client

from cardsmith.backup.fileformat import H_SEQ
from cardsmith.core.card import Card

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backup"))
from backup_helpers import Store, personalise, write_page  # noqa: E402 - the backup group's helpers


@pytest.fixture(scope="module")
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Three backups of one card: full, diff, diff (the files' bytes)."""
    transport = request.getfixturevalue("simulator").transport(3)
    transport.replace_card(b"")
    card = Card(transport)
    card.select()
    personalise(card)
    store = Store(tmp_path_factory.mktemp("store"))
    out = []
    for n, kind in enumerate(["full", "diff", "diff"]):
        write_page(card, n, 0x40 + n)
        _, blob = store.backup(card, kind)
        out.append(blob.encode())
    card.close()
    return out


def _put(http, data: bytes):  # noqa: ANN001, ANN202
    return http.put(f"/v1/backups/{hashlib.sha256(data).hexdigest()}", content=data,
                    headers={"content-type": "application/octet-stream"})


def test_upload_is_idempotent_and_the_chain_is_served_back(deployment, files: list[bytes]) -> None:
    with client(deployment.server, deployment.station) as http:
        first = _put(http, files[0])
        assert first.status_code == 201 and first.json()["type"] == "full"
        again = _put(http, files[0])
        assert again.status_code == 200 and again.json() == first.json()
        assert [_put(http, f).status_code for f in files[1:]] == [201, 201]
        card_id = first.json()["card_id"]
        chain = http.get(f"/v1/cards/{card_id}/chain").json()
        assert [e["type"] for e in chain["chain"]] == ["full", "diff", "diff"]
        assert chain["latest_seq"] == chain["chain"][-1]["seq"] and len(chain["chain"]) == 3
        for f, e in zip(files, chain["chain"], strict=True):
            assert http.get(f"/v1/backups/{e['digest']}").content == f
        assert http.get("/v1/cards").json() == [{"card_id": card_id, "backups": 3, "latest_seq": chain["latest_seq"]}]
        assert len(http.get("/v1/backups", params={"card_id": card_id}).json()) == 3


def test_an_altered_header_is_refused_and_the_catalogue_keeps_the_genuine_row(deployment, files) -> None:
    with client(deployment.server, deployment.station) as http:
        _put(http, files[0])
        before = http.get("/v1/backups").json()
        tampered = bytearray(files[0])
        header_at = 11  # file magic (8), version (1), header length (2)
        tampered[header_at + H_SEQ + 3] ^= 0x01  # the clear sequence number: the MACs are untouched
        refused = _put(http, bytes(tampered))
        assert refused.status_code == 409 and "nothing was changed" in refused.json()["detail"]
        assert http.get("/v1/backups").json() == before


def test_a_body_that_is_not_its_digest_or_not_a_backup_is_refused(deployment, files) -> None:
    with client(deployment.server, deployment.station) as http:
        before = http.get("/v1/backups").json()
        wrong = http.put(f"/v1/backups/{hashlib.sha256(b'other').hexdigest()}", content=files[0])
        assert wrong.status_code == 400 and "changed on the way" in wrong.json()["detail"]
        garbage = _put(http, b"CSBKFILE\x01 not really")
        assert garbage.status_code == 422 and "not a valid backup file" in garbage.json()["detail"]
        assert http.put("/v1/backups/NOT-A-DIGEST", content=b"x").status_code == 422
        assert http.get(f"/v1/backups/{'a' * 64}").status_code == 404
        assert http.get("/v1/backups").json() == before


def test_a_differential_without_its_base_is_refused_as_an_orphan(deployment, files) -> None:
    # The other issuer's catalogue holds none of this card's backups: its differential would be an orphan.
    with client(deployment.server, deployment.other_station) as globex:
        refused = _put(globex, files[1])
        assert refused.status_code == 409 and "take a full backup" in refused.json()["detail"]
        assert globex.get("/v1/backups").json() == []
        assert _put(globex, files[0]).status_code == 201  # its own copy, in its own scope
        assert _put(globex, files[2]).status_code == 409  # builds on files[1], which globex lacks
        assert _put(globex, files[1]).status_code == 201
    with client(deployment.server, deployment.station) as acme:
        assert len(acme.get("/v1/backups").json()) == 3  # acme's rows untouched by globex's uploads
