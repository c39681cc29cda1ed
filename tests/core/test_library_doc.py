"""docs/library.md is a tested script: its Python blocks run in order, in one namespace, on simulated cards.

They are the workflows driven from Python without click: backup and chain verification, duplication and
files, the issuing station.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "library.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_library_guide_runs_as_written(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "library_doc"}
    opened = []
    try:
        for n, block in enumerate(blocks, 1):
            exec(compile(block, f"{DOC.name} block {n}", "exec"), namespace)
            opened += [v for v in namespace.values() if hasattr(v, "transport") and v not in opened]
    finally:
        for card in opened:
            (getattr(card, "card", card)).close()
    out = capsys.readouterr().out
    assert "INSTALLED" in out and "issued" in out
