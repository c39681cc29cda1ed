"""A card's refusal said in words: what happened and the next step, not only a status word."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardsmith.cli import exitcodes
from cli_helpers import base_env, run

pytestmark = pytest.mark.card
KEY1 = "11" * 32


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Its own service: these tests personalise, issue and block cards."""
    env = base_env(tmp_path_factory.mktemp("messages"))
    assert run(env, "sim", "start", "--cards", "3").returncode == 0
    yield env
    run(env, "sim", "stop")


def test_generating_a_second_key_pair(cards: dict[str, str]) -> None:
    assert run(cards, "-r", "sim 0", "key", "personalise", "--pin", "1234", "--key1", KEY1).returncode == 0
    assert run(cards, "-r", "sim 0", "key", "generate", "--pin", "1234").returncode == 0
    again = run(cards, "-r", "sim 0", "key", "generate", "--pin", "1234")
    assert again.returncode == exitcodes.EXIT_CARD_REFUSED
    assert "6985" in again.stderr and "already has its key pair" in again.stderr and "key public" in again.stderr


def test_personalising_an_issued_card(cards: dict[str, str]) -> None:
    assert run(cards, "-r", "sim 1", "apdu", "--strict", "803C0000").returncode == 0  # CLOSE_PERSONALISATION
    for args in (["key", "personalise", "--pin", "1234", "--key1", KEY1],
                 ["data", "define", "1", "--first-page", "0", "--pages", "4"]):
        out = run(cards, "-r", "sim 1", *args)
        assert out.returncode == exitcodes.EXIT_CARD_REFUSED, out.stderr
        assert "this card is ISSUED" in out.stderr and "use a blank card" in out.stderr and '-r "sim N"' in out.stderr


def test_region_sizes_are_named_before_the_card_answers(cards: dict[str, str]) -> None:
    geometry = json.loads(run(cards, "-r", "sim 2", "--json", "info").stdout)["data_area"]
    total = geometry["page_count"]
    out = run(cards, "-r", "sim 2", "data", "define", "1", "--first-page", "0", "--pages", str(total + 1))
    assert out.returncode == exitcodes.EXIT_USAGE and f"holds 1..{total} pages" in out.stderr, out.stderr
    one = run(cards, "-r", "sim 2", "data", "define", "1", "--first-page", str(total - 1), "--pages", "2")
    assert one.returncode == exitcodes.EXIT_USAGE and "holds 1..1 page on this card" in one.stderr
    assert run(cards, "-r", "sim 2", "data", "define", "1", "--first-page", "0", "--pages", "4").returncode == 0
    overlap = run(cards, "-r", "sim 2", "data", "define", "2", "--first-page", "2", "--pages", "4")
    assert overlap.returncode == exitcodes.EXIT_USAGE and "overlaps region 1 (pages 0-3)" in overlap.stderr


def test_a_blocked_pin_says_what_to_do(cards: dict[str, str]) -> None:
    assert run(cards, "-r", "sim 2", "key", "personalise", "--pin", "1234", "--key1", KEY1).returncode == 0
    tries = [run(cards, "-r", "sim 2", "pin", "verify", "--pin", "0000").stderr for _ in range(3)]
    assert "2 tries left" in tries[0] and "1 try left" in tries[1] and "PIN is blocked" in tries[2]
    blocked = run(cards, "-r", "sim 2", "pin", "verify", "--pin", "1234")  # even the right PIN, now
    assert blocked.returncode == exitcodes.EXIT_CARD_REFUSED and "6983" in blocked.stderr
    assert "PIN is blocked" in blocked.stderr and "files recover" in blocked.stderr



def test_destructive_commands_need_yes_without_a_terminal(cards: dict[str, str], tmp_path: Path) -> None:
    # sim 0 has a PIN and a key pair (test_generating_a_second_key_pair)
    env = dict(cards, CARDSMITH_PIN="1234")
    lock = run(env, "-r", "sim 0", "key", "lock")
    assert lock.returncode == exitcodes.EXIT_USAGE and "add --yes" in lock.stderr
    status = json.loads(run(env, "-r", "sim 0", "--json", "key", "status").stdout)
    assert not status["key_group"]["locked"]  # nothing was sent
    plain = tmp_path / "a.txt"
    plain.write_text("one")
    assert run(env, "-r", "sim 0", "files", "encrypt", str(plain)).returncode == 0
    sealed = tmp_path / "a.txt.csef"
    first = sealed.read_bytes()
    again = run(env, "-r", "sim 0", "files", "encrypt", str(plain))
    assert again.returncode == exitcodes.EXIT_USAGE and "a.txt.csef exists and would be replaced" in again.stderr
    assert sealed.read_bytes() == first
    over = run(env, "-r", "sim 0", "files", "decrypt", str(sealed))  # a.txt is there
    assert over.returncode == exitcodes.EXIT_USAGE and "a.txt exists" in over.stderr
    plain.write_text("changed")
    assert run(env, "-r", "sim 0", "files", "decrypt", str(sealed), "--yes").returncode == 0
    assert plain.read_text() == "one"
    peer = tmp_path / "peer.pub"
    assert run(env, "-r", "sim 0", "key", "public", "-o", str(peer)).returncode == 0
    assert run(env, "-r", "sim 0", "files", "share", str(sealed), "--peer-key", str(peer)).returncode == 0
    shared = next(tmp_path.glob("a.txt.csef.peer-*"))
    first = shared.read_bytes()
    refused = run(env, "-r", "sim 0", "files", "share", str(sealed), "--peer-key", str(peer))
    assert refused.returncode == exitcodes.EXIT_USAGE and f"{shared.name} exists and would be" in refused.stderr
    assert "add --yes" in refused.stderr and shared.read_bytes() == first
    assert run(env, "-r", "sim 0", "files", "share", str(sealed), "--peer-key", str(peer), "--yes").returncode == 0
    assert run(env, "-r", "sim 0", "key", "lock", "--yes").returncode == 0
    assert json.loads(run(env, "-r", "sim 0", "--json", "key", "status").stdout)["key_group"]["locked"]
    clear = run(env, "-r", "sim 0", "bundle-clear")
    assert clear.returncode == exitcodes.EXIT_USAGE and "add --yes" in clear.stderr
