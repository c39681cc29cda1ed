"""Install-time memory of the production applet (tools/card_footprint.py), as docs/card-requirements.md
reports it: the measurement must see the data area and the transient buffers the applet is built on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cardsmith.protocol import load

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import card_footprint  # noqa: E402
from cardsmith.protocol.codes import (
    DEFAULT_PAGE_COUNT,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_COUNT,
    SM_COUNTER_LENGTH,
    SM_MAC_LENGTH,
)


@pytest.fixture(scope="module")
def footprint() -> dict[str, dict]:
    return card_footprint.measure()  # one JVM for both installs


def _arrays(result: dict, memory: str) -> dict[str, int]:
    return {a["path"]: a["bytes"] for a in result["arrays"] if a["memory"] == memory}


def test_data_area_is_persistent_and_sized_by_install_parameters(footprint: dict[str, dict]) -> None:
    default = _arrays(footprint["default"], "persistent")
    largest = _arrays(footprint["largest"], "persistent")
    page_bytes = DEFAULT_PAGE_SIZE * DEFAULT_PAGE_COUNT
    assert sum(v for k, v in default.items() if k.startswith("applet.dataArea.segments[")) == page_bytes
    max_bytes = card_footprint.LARGEST_PAGE_SIZE * MAX_PAGE_COUNT
    assert sum(v for k, v in largest.items() if k.startswith("applet.dataArea.segments[")) == max_bytes
    # The only thing install parameters change is the data area (pages, dirty bits, segment table).
    grown = footprint["largest"]["persistent_array_bytes"] - footprint["default"]["persistent_array_bytes"]
    segments = (max_bytes + 8191) // 8192
    assert grown == (max_bytes - page_bytes) + (MAX_PAGE_COUNT - DEFAULT_PAGE_COUNT) // 8 + (
        segments - 1
    ) * 2


def test_io_buffers_are_clear_on_deselect(footprint: dict[str, dict]) -> None:
    for result in footprint.values():
        deselect = _arrays(result, "deselect")
        meta = load().meta
        # room for what secure messaging adds to a full buffer: counter, MAC, a block of padding
        sm = SM_COUNTER_LENGTH + SM_MAC_LENGTH + 16
        assert deselect["applet.cmd"] == meta["command_buffer_size"] + sm
        assert deselect["applet.rsp"] == meta["response_buffer_size"] + sm
        assert result["transient_deselect_bytes"] == sum(deselect.values())
        assert "applet.cmd" not in _arrays(result, "persistent")


def test_platform_objects_are_the_probed_algorithms(footprint: dict[str, dict]) -> None:
    objects = footprint["default"]["platform_objects"]
    assert objects["javacardx.crypto.Cipher"] == 2  # AES-CBC and AES-ECB, shared by every capability
    assert objects["javacard.security.RandomData"] == 1
    assert footprint["default"]["static_array_bytes"] >= 4 * 32 + 65  # the P-256 domain parameters


def test_key_objects_are_counted_by_the_memory_their_type_names(footprint: dict[str, dict]) -> None:
    result = footprint["default"]
    keys = {k["path"].rsplit(".", 1)[-1] if "[" not in k["path"].rsplit(".", 1)[-1] else k["path"]: k
            for k in result["keys"]}
    # session keys and the one-shot MAC key are transient; the card's own keys persistent
    for name in ("kEnc", "kMac", "kTmp", "key"):
        assert keys[name]["memory"] == "deselect" and keys[name]["type"] == "TYPE_AES_TRANSIENT_DESELECT"
    assert keys["kUnique"]["memory"] == "persistent"
    assert sum(1 for k in result["keys"] if ".kCommon[" in k["path"]) == 2  # the two common-key slots
    # an EC key holds its value and the curve: private S 32 + domain 195, public W 65 + domain 195
    pair = {k["path"].rsplit(".", 1)[-1]: k for k in result["keys"] if ".pair." in k["path"]}
    assert pair["getPrivate()"]["bytes"] == 227 and pair["getPublic()"]["bytes"] == 260
    # RE-ENCRYPT's ephemeral scalar: transient where the card has the type; jCardSim lacks it (the fallback)
    # (RE-ENCRYPT's and the session's: the same P256.newEphemeralKeyPair)
    ephemeral = [k for k in result["keys"] if ".ephemeral.getPrivate()" in k["path"]]
    assert len(ephemeral) == 2 and {k["type"] for k in ephemeral} <= {"TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT",
                                                                      "TYPE_EC_FP_PRIVATE"}
    for memory in ("persistent", "deselect", "reset"):
        assert result["key_bytes"][memory] == sum(k["bytes"] for k in result["keys"] if k["memory"] == memory)
