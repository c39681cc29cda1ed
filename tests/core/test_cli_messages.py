"""A card's refusal said in words: what happened and the next step, not only a status word."""

from __future__ import annotations

import json
from collections.abc import Iterator

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

