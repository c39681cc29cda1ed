"""Every PC/SC connection cardsmith opens is released explicitly, never left to the garbage collector (which at
interpreter exit prints pyscard's "Exception ignored ... Failed to release context")."""

from __future__ import annotations

import pytest

from cardsmith.transport import pcsc


class FakeConnection:
    def __init__(self, log: list[str], name: str, present: bool) -> None:
        self.log, self.name, self.present = log, name, present

    def connect(self, disposition: int | None = None) -> None:
        from smartcard.Exceptions import NoCardException

        if not self.present:
            raise NoCardException("no card", 0x8010000C)

    def getATR(self) -> list[int]:  # noqa: N802 - pyscard's name
        return [0x3B, 0x00]

    def release(self) -> None:
        self.log.append(f"release {self.name}")


class FakeReader:
    def __init__(self, log: list[str], name: str, present: bool) -> None:
        self.log, self.name, self.present = log, name, present

    def __str__(self) -> str:
        return self.name

    def createConnection(self) -> FakeConnection:  # noqa: N802 - pyscard's name
        return FakeConnection(self.log, self.name, self.present)


def test_listing_readers_releases_each_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("smartcard")
    log: list[str] = []
    found = [FakeReader(log, "with card", True), FakeReader(log, "empty", False)]
    monkeypatch.setattr(pcsc, "_pyscard", lambda: lambda: found)
    listed = pcsc.describe_readers()
    assert [(r.name, r.card_present) for r in listed] == [("with card", True), ("empty", False)]
    assert log == ["release with card", "release empty"]


def test_a_failed_connect_and_close_release_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("smartcard")
    from cardsmith.core.errors import NoCardError

    log: list[str] = []
    monkeypatch.setattr(pcsc, "_pyscard", lambda: lambda: [FakeReader(log, "empty", False)])
    with pytest.raises(NoCardError):
        pcsc.PcscTransport("empty")
    assert log == ["release empty"]
    transport = object.__new__(pcsc.PcscTransport)
    transport._conn = FakeConnection(log, "open", True)
    transport.close()
    assert log[-1] == "release open"
