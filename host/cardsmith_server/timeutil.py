"""Timestamps the server writes: ISO 8601 UTC with microseconds (sortable as text)."""

from __future__ import annotations

import datetime as dt


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
