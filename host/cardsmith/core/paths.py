"""Where cardsmith keeps its files and finds its build output."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Per-user state: simulator service state, catalogues. ``CARDSMITH_HOME`` overrides."""
    base = os.environ.get("CARDSMITH_HOME")
    path = Path(base) if base else Path.home() / ".local" / "share" / "cardsmith"
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """The source checkout this package runs from (host/cardsmith/core/ -> the repository)."""
    return Path(__file__).resolve().parents[3]
