"""The production classes through an Oracle Java Card kit's own converter and off-card verifier (tools/jc_kit.py).

Runs only when JC_HOME names a kit (no package registry carries one, so CI skips it): a 3.1/3.2 kit converts
for Java Card 3.0.4, a 3.0.4 kit for its own version, a 3.0.5 kit for 3.0.5 (docs/card-requirements.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from applet_helpers import compile_like_ant

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import jc_kit  # noqa: E402

# javacard.framework's export version per Java Card release (the API specification's package versions)
FRAMEWORK_AID = "A0000000620101"
FRAMEWORK_VERSION = {"3.0.4": "1.5", "3.0.5": "1.6"}


@pytest.fixture(scope="module")
def kit() -> jc_kit.Kit:
    home = os.environ.get("JC_HOME")
    if not home:
        pytest.skip("JC_HOME is not set: point it at an Oracle Java Card kit to convert and verify the applet "
                    "(docs/card-requirements.md, 'Converting with an Oracle kit')")
    return jc_kit.Kit.at(Path(home))


@pytest.fixture(scope="module")
def target(kit: jc_kit.Kit) -> str:
    """3.0.4, the version the applet claims, when the kit converts for it; else the kit's own (a 3.0.5 kit)."""
    for version in ("3.0.4", "3.0.5"):
        if kit.targets(version):
            return version
    pytest.fail(f"the kit in {kit.root} (version {kit.version}) converts for neither Java Card 3.0.4 nor 3.0.5")


def test_production_classes_convert_and_pass_the_off_card_verifier(
    kit: jc_kit.Kit, target: str, tmp_path: Path
) -> None:
    cap = jc_kit.convert(kit, ROOT / "build" / "classes" / "applet", target, tmp_path)
    assert "0 errors" in jc_kit.verify(kit, cap, target)
    fmt, imports = jc_kit.cap_versions(cap)
    assert fmt == "2.1"  # what 3.0.4 and 3.0.5 cards load (3.1+ kits default to 2.3 without a target)
    assert imports[FRAMEWORK_AID] == FRAMEWORK_VERSION[target]


def test_the_converter_rejects_what_a_card_cannot_run(kit: jc_kit.Kit, target: str, tmp_path: Path) -> None:
    # the int accumulator and String of the subset check's fixture: the check's verdict is the converter's
    fixture = ROOT / "tests" / "fixtures" / "jc_nonconforming" / "cardsmith" / "fixture" / "IntCounter.java"
    classes = compile_like_ant([fixture], tmp_path / "classes")
    package = jc_kit.Package("cardsmith.fixture", "F06361726473000001", "cardsmith.fixture.IntCounter",
                             "F0636172647300000101")
    with pytest.raises(jc_kit.KitError, match="unsupported String type constant"):
        jc_kit.convert(kit, classes, target, tmp_path / "out", package)


def test_a_kit_refuses_a_target_it_cannot_make(kit: jc_kit.Kit, tmp_path: Path) -> None:
    with pytest.raises(jc_kit.KitError, match="cannot convert for Java Card 2.2.2"):
        jc_kit.convert(kit, ROOT / "build" / "classes" / "applet", "2.2.2", tmp_path)
