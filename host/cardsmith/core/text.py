"""Wording shared by messages: English plurals ("1 try left", "2 pages")."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``word`` for one, else ``many`` (default: ``word`` + "s"); without the number."""
    return word if n == 1 else (many or word + "s")


def count(n: int, word: str, many: str | None = None) -> str:
    """``"1 page"``, ``"3 pages"``."""
    return f"{n} {plural(n, word, many)}"
